#!/usr/bin/env docker
# escape=`
FROM a
RUN a \
 b
