FROM a
FOO bar baz
RUNN echo
