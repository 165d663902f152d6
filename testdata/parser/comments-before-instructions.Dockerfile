# stage docs
#
# base image
FROM a AS base
# ARG docs
ARG X=1
