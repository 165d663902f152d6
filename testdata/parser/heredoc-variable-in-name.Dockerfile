FROM a
RUN <<$X
body
$X
