# Render frames with Blender on Golem providers.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends blender \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /golem/work
COPY render.py /golem/work/render.py
VOLUME /golem/input /golem/output
ENTRYPOINT ["blender", "-b", "-P", "/golem/work/render.py"]
