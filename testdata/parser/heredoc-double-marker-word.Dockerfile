FROM a
RUN cat <<EOF<<X
RUN echo after
