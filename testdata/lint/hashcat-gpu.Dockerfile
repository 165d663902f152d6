# syntax=docker/dockerfile:1
FROM --platform=linux/amd64 nvidia/cuda:12.2.0-runtime-ubuntu22.04
RUN apt-get update && apt-get install -y hashcat && rm -rf /var/lib/apt/lists/*
VOLUME /golem/input
VOLUME /golem/output/
VOLUME /golem
WORKDIR /golem/work
COPY wordlist.txt /golem/input/wordlist.txt
