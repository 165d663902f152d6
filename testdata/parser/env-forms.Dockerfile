FROM a
ENV A=1 B="two words" C='single' D=
ENV E 1 2   3
ENV F=a\ b G="x\"y"
ENV "H"="quoted key"
ENV I==x
