from a
Run echo hi
cOpY a b
Env a=b
