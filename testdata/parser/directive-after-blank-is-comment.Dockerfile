# syntax=x

# escape=`
FROM a
RUN echo \
  hi
