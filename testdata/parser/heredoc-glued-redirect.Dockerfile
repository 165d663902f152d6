FROM a
RUN cat <<EOF>/out
hello
EOF>/out
