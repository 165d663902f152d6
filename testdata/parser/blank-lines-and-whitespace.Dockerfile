

   
FROM a
	
  RUN   b   

