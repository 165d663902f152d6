FROM python:3.11-slim AS deps
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1
COPY --from=deps /usr/local/lib/python3.11/site-packages /usr/local/lib/python3.11/site-packages
COPY task.py /golem/work/task.py
WORKDIR /golem/work
VOLUME /golem/work /golem/output
CMD python3 task.py
