FROM a
ONBUILD RUN echo hi
ONBUILD COPY --from=x . /app
ONBUILD ADD ["a", "b"]
onbuild env a=b c=d
ONBUILD
