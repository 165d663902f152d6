FROM a
RUN --mount=type=cache,target=/root/.cache <<EOF
pip install -r requirements.txt
EOF
