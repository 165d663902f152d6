FROM a
RUN ["sh", "-c", "cat <<EOF"]
