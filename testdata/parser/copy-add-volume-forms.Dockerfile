FROM a
COPY a\ b c
COPY ["a b", "c d", "/dst/"]
ADD  src1   src2	/dst/
VOLUME /data /golem/input
VOLUME ["/golem/output"]
