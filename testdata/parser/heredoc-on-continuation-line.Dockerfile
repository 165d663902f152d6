FROM a
RUN echo start \
  && cat <<EOF
body
EOF
