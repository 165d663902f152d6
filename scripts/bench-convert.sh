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
reg_pid=
cleanup() { [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/reg.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/regdata}}
http: {addr: 127.0.0.1:$port}
YML
docker-registry serve "$work/reg.yml" >"$work/reg.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
# The image: the Debian rootfs as one gzip layer (as `docker build` of a debootstrap tarball has).
tar -C "$rootfs" --numeric-owner --xattrs -cf "$work/layer.tar" .
umoci init --layout "$work/src" >/dev/null
umoci new --image "$work/src:v1" >/dev/null
umoci raw add-layer --image "$work/src:v1" "$work/layer.tar" >/dev/null
umoci config --image "$work/src:v1" --architecture amd64 --os linux --config.env PATH=/usr/bin:/bin >/dev/null
skopeo copy -q --dest-tls-verify=false "oci:$work/src:v1" "docker://127.0.0.1:$port/bench/debian:v1"
rm -f "$work/layer.tar"
ref=127.0.0.1:$port/bench/debian:v1
echo "image: $ref ($(du -sh --apparent-size "$work/src/blobs" | cut -f1) in the layout; rootfs $(du -sh --apparent-size "$rootfs" | cut -f1))"

peer() {  # $1 = cold|warm, $2 = compressor
  [ "$1" = cold ] && rm -rf "$work/peer"
  rm -rf "$work/bundle" "$work/p.sqfs"
  skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$work/peer:v1" &&
  umoci unpack --image "$work/peer:v1" "$work/bundle" >/dev/null &&
  mksquashfs "$work/bundle/rootfs" "$work/p.sqfs" -noappend -comp "$2" -processors 2 -quiet -no-progress >/dev/null
}
ours() {  # $1 = cold|warm, $2 = compressor
  [ "$1" = cold ] && rm -rf "$work/cache"
  "$gvmc" convert "$ref" -o "$work/g.gvmi" --cache-dir "$work/cache" --compression "$2" --jobs 2 >/dev/null 2>&1
}
export -f peer ours
export work ref gvmc

# median wall seconds and max RSS (KB) over $runs runs of `bash -c "$1 $2 $3"`
measure() {
  local times=() mem=0
  for _ in $(seq "$runs"); do
    [ "$2" = warm ] && bash -c "$1 warm $3" >/dev/null 2>&1   # make sure the cache is filled
    sync
    /usr/bin/time -f "%e %M" -o "$work/time" bash -c "$1 $2 $3" >/dev/null 2>&1 || { echo "bench: $1 $2 $3 failed" >&2; exit 1; }
    read -r t m < "$work/time"
    times+=("$t"); [ "$m" -gt "$mem" ] && mem=$m
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v mem="$mem" '{a[NR]=$1} END {print a[int((NR+1)/2)], mem}'
}

printf '%-5s %-5s %9s %9s %7s %9s\n' cache comp gvmc_s peer_s ratio gvmc_MB
for comp in gzip lzo; do
  for cache in cold warm; do
    read -r pt _ < <(measure peer "$cache" "$comp")
    read -r gt gm < <(measure ours "$cache" "$comp")
    awk -v c="$cache" -v z="$comp" -v gt="$gt" -v pt="$pt" -v gm="$gm" 'BEGIN {
      printf "%-5s %-5s %9.2f %9.2f %7.2f %9.1f\n", c, z, gt, pt, gt/pt, gm/1024 }'
  done
done
echo "(peer = skopeo copy + umoci unpack + mksquashfs -processors 2; ratio = gvmc / peer, target <= 0.33; gvmc_MB = peak RSS, target <= 256)"
