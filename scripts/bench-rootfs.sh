#!/usr/bin/env bash
# Prints the path of the benchmarks' Debian minbase rootfs (debootstrap, created once and cached
# in .build/bench-rootfs): a realistic ~120 MB / 6,700-entry tree.
set -euo pipefail
cd "$(dirname "$0")/.."
rootfs=.build/bench-rootfs
if [ ! -x "$rootfs/bin/sh" ]; then
  command -v debootstrap >/dev/null || { echo "bench: debootstrap missing (apt-get install debootstrap)" >&2; exit 1; }
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  echo "bench: creating a Debian minbase rootfs in $rootfs (debootstrap, once)" >&2
  rm -rf "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "${mirror:-http://deb.debian.org/debian}" >/dev/null
fi
readlink -f "$rootfs"
