FROM a
RUN echo a<<EOF
RUN echo "<<EOF"
RUN echo '<<EOF'
