FROM --platform=linux/amd64 a AS b
COPY --from=b --chown=1000:1000 --chmod=0755 src /dst
RUN --mount=type=cache,target=/root/.cache --network=none echo hi
