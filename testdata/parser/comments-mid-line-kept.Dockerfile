FROM a
RUN echo hi # not a comment
ENV C=#fff
LABEL x=#y
