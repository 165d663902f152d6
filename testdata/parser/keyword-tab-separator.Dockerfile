FROM	a
RUN	echo	hi
