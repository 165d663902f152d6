FROM a
COPY a --chown=1 b
