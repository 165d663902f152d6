FROM a
RUN echo \<<EOF
RUN echo x
