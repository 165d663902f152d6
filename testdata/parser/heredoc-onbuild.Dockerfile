FROM a
ONBUILD RUN <<EOF
echo triggered
EOF
ONBUILD COPY <<EOF /x
data
EOF
