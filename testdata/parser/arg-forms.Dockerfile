ARG A
ARG B=1 C="two words" D=
FROM a
ARG E='x y' F
