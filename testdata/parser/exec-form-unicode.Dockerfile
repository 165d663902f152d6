FROM a
CMD ["echo", "héllo wörld ✓"]
