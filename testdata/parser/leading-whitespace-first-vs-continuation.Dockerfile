   FROM a
	 RUN echo \
      indented
