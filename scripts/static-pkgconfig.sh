#!/usr/bin/env bash
# Writes pkg-config files into DIR that link the compression libraries from their static
# archives (-l:libz.a ...), keeping the system's include flags. The release build puts DIR first
# on PKG_CONFIG_PATH: fewer shared objects to load at every gvmc start (lint runs per file).
set -euo pipefail
dir=$1
mkdir -p "$dir"
for spec in zlib:z liblzma:lzma liblz4:lz4 lzo2:lzo2 libzstd:zstd libdeflate:deflate; do
  name=${spec%%:*}; lib=${spec#*:}
  archive=$(gcc -print-file-name="lib$lib.a")
  [ -f "$archive" ] || { echo "static-pkgconfig: lib$lib.a not found; linking $name dynamically" >&2; continue; }
  printf 'Name: %s\nDescription: %s, static archive\nVersion: %s\nLibs: -l:lib%s.a\nCflags: %s\n' \
    "$name" "$name" "$(pkg-config --modversion "$name")" "$lib" "$(pkg-config --cflags "$name")" > "$dir/$name.pc"
done
