FROM a
COPY <<EOF /empty
EOF
