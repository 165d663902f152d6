FROM a
RUN --mount=type=bind,"source=a b",target=/x echo
RUN --mount=type=bind,source=a\ b,target=/y echo
COPY --chown='user:group' a b
