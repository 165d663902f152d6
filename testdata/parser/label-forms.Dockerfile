FROM a
LABEL org.opencontainers.image.title="My image" version=1.0
LABEL maintainer me@example.com
LABEL "com.example.multi"="a b" other=c
