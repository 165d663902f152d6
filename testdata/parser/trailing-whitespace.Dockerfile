FROM a   
RUN echo hi   	
ENV A=b   
