FROM a
# comment \
RUN echo hi
