#!/usr/bin/env bash
# `make bench`, the image writer: gvmc pack against mksquashfs on the same trees, same compressor
# and level (the defaults: gzip 9), both with 2 threads, in the same run. Reports median wall time, time ratio, output
# size ratio and peak memory. Trees: a Debian minbase rootfs (debootstrap, cached in
# .build/bench-rootfs) and its /usr/share (many small files).
set -euo pipefail
gvmc=${1:-.build/release/gvmc}
runs=${RUNS:-3}
cd "$(dirname "$0")/.."
command -v mksquashfs >/dev/null || { echo "bench: mksquashfs missing (apt-get install squashfs-tools)"; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "bench: /usr/bin/time missing (apt-get install time)"; exit 1; }
rootfs=$(./scripts/bench-rootfs.sh)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

source scripts/bench-common.sh

printf '%-12s %-5s %9s %9s %7s %12s %12s %7s %9s %9s\n' tree comp gvmc_s mksq_s ratio gvmc_bytes mksq_bytes size_r gvmc_MB mksq_MB
for tree in "debian:$rootfs" "small-files:$rootfs/usr/share"; do
  name=${tree%%:*}; dir=${tree#*:}
  for comp in gzip xz lz4; do
    read -r mt mm < <(measure mksquashfs "$dir" "$work/m.sqfs" -noappend -comp "$comp" -processors 2 -quiet -no-progress)
    read -r gt gm < <(measure "$gvmc" pack "$dir" -o "$work/g.gvmi" --compression "$comp" --jobs 2 --no-block-store)
    gs=$(stat -c %s "$work/g.gvmi"); ms=$(stat -c %s "$work/m.sqfs")
    awk -v n="$name" -v c="$comp" -v gt="$gt" -v mt="$mt" -v gs="$gs" -v ms="$ms" -v gm="$gm" -v mm="$mm" 'BEGIN {
      printf "%-12s %-5s %9.2f %9.2f %7.2f %12d %12d %7.3f %9.1f %9.1f\n", n, c, gt, mt, gt/mt, gs, ms, gs/ms, gm/1024, mm/1024 }'
  done
done
echo "(ratio = gvmc time / mksquashfs time, target <= 0.90; size_r = gvmc bytes incl. .gvmi trailer / mksquashfs bytes, target <= 1.01)"
