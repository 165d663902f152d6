FROM a
CMD ['single', 'quotes']
CMD ["unterminated"
CMD ["trailing",]
CMD ["c:\windows"]
CMD {"object": 1}
CMD [bare]
