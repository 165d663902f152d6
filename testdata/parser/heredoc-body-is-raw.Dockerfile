FROM a
RUN <<EOF
# not a comment
line with \

FROM not-an-instruction
EOF
