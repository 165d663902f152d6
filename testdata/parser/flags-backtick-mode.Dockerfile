# escape=`
FROM a
RUN --mount=type=bind,source=a``b echo
