FROM a
COPY --chmod=755 <<EOF /usr/local/bin/run.sh
#!/bin/sh
echo run
EOF
