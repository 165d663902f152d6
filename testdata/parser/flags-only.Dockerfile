FROM a
RUN --network=none
COPY --link
