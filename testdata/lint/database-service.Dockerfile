FROM postgres:16
ENV POSTGRES_PASSWORD=golem
VOLUME /var/lib/postgresql/data
VOLUME /usr
STOPSIGNAL SIGINT
