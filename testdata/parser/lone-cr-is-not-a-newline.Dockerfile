FROM aRUN b
RUN xy
