# syntax2=foo
# escape=`
FROM a
