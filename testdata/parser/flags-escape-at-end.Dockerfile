FROM a
RUN --foo\
