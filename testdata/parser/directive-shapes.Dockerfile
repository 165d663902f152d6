#ESCAPE = `
#   syntax   =   docker/dockerfile:1.7   
FROM a
RUN echo `
  hi
