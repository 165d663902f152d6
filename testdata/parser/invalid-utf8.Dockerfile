FROM a
RUN echo ÿþ bad
ENV A=Ã(
LABEL x="â‚"
CMD ["ÿ"]
