# check=skip=all
# escape=`
FROM a
RUN a `
 b
