FROM a
RUN echo 안녕하세요
ENV GREETING="héllo wörld"
LABEL description="日本語"
