FROM a
RUN [null]
