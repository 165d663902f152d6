FROM --platform=linux/arm64 alpine:3.19
RUN apk add --no-cache ffmpeg
WORKDIR /tmp/work
VOLUME /tmp/output
CMD ["ffmpeg", "-version"]
