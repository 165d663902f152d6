FROM a
USER  app:app
WORKDIR /path with spaces/x
STOPSIGNAL SIGTERM
MAINTAINER John Doe <j@example.com>
