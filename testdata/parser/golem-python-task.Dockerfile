# syntax=docker/dockerfile:1
FROM python:3.11-slim AS base
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /golem/work
VOLUME /golem/input /golem/output

FROM base AS deps
COPY requirements.txt /tmp/
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install -r /tmp/requirements.txt

FROM deps
COPY --chown=root:root task.py /golem/work/task.py
RUN chmod +x /golem/work/task.py
ENTRYPOINT ["python3", "/golem/work/task.py"]
