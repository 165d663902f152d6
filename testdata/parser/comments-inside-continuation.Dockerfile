FROM a
RUN apt-get update \
# comment
    # indented comment
  # comment ending in \
    && apt-get install -y curl
