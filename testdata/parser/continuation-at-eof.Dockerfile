FROM a
RUN echo a \
