FROM a
RUN <<A cat && <<B cat
first
A
second
B
