FROM a
ADD <<EOF /etc/motd
Welcome
EOF
