FROM a
RUN -- --version
RUN --network=none -- --x
