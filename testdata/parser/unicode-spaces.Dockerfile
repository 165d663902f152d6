FROM a
RUN echo a b
ENV A=x y
LABEL a=b　c=d
