# foo=bar
# escape=`
FROM a
RUN echo \
 hi
