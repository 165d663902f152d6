# syntax=docker/dockerfile:1.7
FROM debian:bookworm-slim
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN <<EOT bash
  set -ex
  apt-get update
  apt-get install -y --no-install-recommends \
      blender ffmpeg
  rm -rf /var/lib/apt/lists/*
EOT
COPY <<-"EOF" /golem/work/render.sh
	#!/bin/bash
	blender -b "$1" -o /golem/output/frame_#### -f 1
	EOF
RUN chmod +x /golem/work/render.sh
VOLUME /golem/work /golem/output /golem/resource
