#!/usr/bin/env bash
# `make bench`, convert: `gvmc convert` against the Docker-less way of doing it today —
# `skopeo copy` (registry → OCI layout) + `umoci unpack` + `mksquashfs` — on the same image in a
# real local registry (docker-registry on 127.0.0.1), same compressor, 2 processors, in the same
# run. Cold: empty caches (gvmc's blob cache, skopeo's destination layout); warm: blobs already
# there. Reports median wall times, the ratio (target <= 0.33) and gvmc's peak RSS (target <= 256 MiB).
set -euo pipefail
gvmc=$(readlink -f "${1:-.build/release/gvmc}")
runs=${RUNS:-3}
cd "$(dirname "$0")/.."
for tool in docker-registry skopeo umoci mksquashfs /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing (make test-deps)"; exit 1; }
done
rootfs=$(./scripts/bench-rootfs.sh)
work=$(mktemp -d)
source scripts/bench-common.sh
trap cleanup_work EXIT
fresh_work_fs
start_registry
push_dir_image "$rootfs" bench/debian
ref=$registry/bench/debian:v1
echo "convert: $ref (Debian minbase, one gzip layer; rootfs $(du -sh --apparent-size "$rootfs" | cut -f1))"

peer() {  # compressor
  rm -rf "$work/bundle" "$work/p.sqfs"
  skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$work/peer:v1" &&
  umoci unpack --image "$work/peer:v1" "$work/bundle" >/dev/null &&
  mksquashfs "$work/bundle/rootfs" "$work/p.sqfs" -noappend -comp "$1" -processors 2 -quiet -no-progress >/dev/null
}
ours() { "$gvmc" convert "$ref" -o "$work/g.gvmi" --cache-dir "$work/cache" --compression "$1" --jobs 2 --no-block-store; }
export -f peer ours
export work ref gvmc

printf '%-5s %-5s %9s %9s %7s %9s %7s\n' cache comp gvmc_s peer_s ratio gvmc_MB size_r
for comp in gzip lzo; do
  for cache in cold warm; do
    if [ "$cache" = cold ]; then pp="rm -rf $work/peer"; op="rm -rf $work/cache"; else pp="peer $comp"; op="ours $comp"; fi
    read -r pt _ < <(prepare=$pp measure peer "$comp")
    read -r gt gm < <(prepare=$op measure ours "$comp")
    gs=$(stat -c %s "$work/g.gvmi"); ps=$(stat -c %s "$work/p.sqfs")
    awk -v c="$cache" -v z="$comp" -v gt="$gt" -v pt="$pt" -v gm="$gm" -v gs="$gs" -v ps="$ps" 'BEGIN {
      printf "%-5s %-5s %9.2f %9.2f %7.2f %9.1f %7.3f\n", c, z, gt, pt, gt/pt, gm/1024, gs/ps }'
  done
done
echo -e "(peer = skopeo copy + umoci unpack + mksquashfs -processors 2; ratio = gvmc / peer, target <= 0.33; gvmc_MB = peak RSS, target <= 256;\n size_r = gvmc .gvmi bytes / mksquashfs bytes; each tool at its default: gzip level 9; lzo: mksquashfs lzo1x_999 level 8, gvmc its own LZO1X encoder)"
