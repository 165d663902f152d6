FROM a
# escape=`
RUN echo \
  hi
