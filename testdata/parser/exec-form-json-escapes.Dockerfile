FROM a
CMD ["a\"b", "c\\d", "\u00e9\t", "\ud83d\ude00"]
