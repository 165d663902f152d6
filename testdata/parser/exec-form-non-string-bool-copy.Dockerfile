FROM a
COPY [true, "/x"]
