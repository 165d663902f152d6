FROM a
RUN ab\
cd
RUN echo 'x' \
 'y'
