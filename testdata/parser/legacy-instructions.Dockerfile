FROM ubuntu:22.04
MAINTAINER Jane <jane@example.com>
ENV DEBIAN_FRONTEND noninteractive
LABEL version 1.0
RUN apt-get update && apt-get install -y python3
ADD https://example.com/file.tar.gz /tmp/
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/x /x
ADD --keep-git-dir=true https://github.com/moby/buildkit.git#v0.10.1 /buildkit
EXPOSE 22 80/tcp
CMD /usr/sbin/sshd -D
