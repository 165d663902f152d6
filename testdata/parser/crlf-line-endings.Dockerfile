FROM alpine
RUN echo a \
  && echo b
COPY <<EOF /x
line1
EOF
CMD ["sh"]
