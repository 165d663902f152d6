FROM a
RUN --mount="" echo
RUN --x='' echo
