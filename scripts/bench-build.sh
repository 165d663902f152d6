#!/usr/bin/env bash
# `make bench`, build: `gvmc build` against `buildah bud` (chroot isolation, vfs storage) +
# `buildah push oci:` + `umoci unpack` + `mksquashfs`, same Dockerfiles, same compressor (lzo,
# as the issue's reference numbers), 2 processors, in the same run. Base images come from a
# local docker-registry: busybox (with a 50 MB COPY of many small files and RUN steps) and the
# Debian minbase rootfs (with RUN steps). Reports medians, the ratio (target <= 0.5) and peak RSS.
# BENCH_CONTEXTS="debian" runs one context; GVMC_FLAGS adds options to gvmc's builds (e.g.
# "--compression-level 7": lzo through liblzo2's lzo1x_999 at level 7).
set -euo pipefail
gvmc=$(readlink -f "${1:-.build/release/gvmc}")
runs=${RUNS:-3}
comp=${COMP:-lzo}
cd "$(dirname "$0")/.."
for tool in docker-registry skopeo umoci buildah mksquashfs busybox /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing (make test-deps)"; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench: build needs root (RUN steps)"; exit 1; }
rootfs=$(./scripts/bench-rootfs.sh)
work=$(mktemp -d)
source scripts/bench-common.sh
trap cleanup_work EXIT
fresh_work_fs
start_registry
mkdir -p "$work/bb/bin" "$work/bb/etc" "$work/bb/tmp"
cp "$(command -v busybox)" "$work/bb/bin/busybox"
chroot "$work/bb" /bin/busybox --install -s /bin
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$work/bb/etc/passwd"; printf 'root:x:0:\n' > "$work/bb/etc/group"
push_dir_image "$work/bb" bench/busybox
push_dir_image "$rootfs" bench/debian

# Context 1: busybox + 50 MB of small files (python's site-packages-like: 5,000 files of 10 KB).
mkdir -p "$work/ctx-busybox/data"
python3 - "$work/ctx-busybox/data" <<'PY'
import os, random, sys
random.seed(1)
for d in range(50):
    os.makedirs(f"{sys.argv[1]}/pkg{d}", exist_ok=True)
    for f in range(100):
        words = " ".join(random.choice(["alpha", "beta", "gamma", "delta", "import os", "def f(x):", "return x"]) for _ in range(1600))
        open(f"{sys.argv[1]}/pkg{d}/mod{f}.py", "w").write(words[:10240])
PY
cat > "$work/ctx-busybox/Dockerfile" <<DF
FROM $registry/bench/busybox:v1
COPY data /app/data
RUN mkdir -p /golem/output && cp -r /app/data/pkg0 /app/copy && echo done > /app/done
RUN find /app -name '*.py' | wc -l > /app/count
WORKDIR /app
VOLUME /golem/output
DF
mkdir -p "$work/ctx-debian"
cat > "$work/ctx-debian/Dockerfile" <<DF
FROM $registry/bench/debian:v1
RUN mkdir -p /golem/output /app && cp -r /usr/share/perl5 /app/perl && echo ok > /app/ok
RUN rm -rf /usr/share/doc/* && useradd -m -u 1000 worker
WORKDIR /app
VOLUME /golem/output
DF

peer() {  # context name
  local s="$work/buildah"
  rm -rf "$work/oci" "$work/bundle" "$work/p.sqfs"
  BUILDAH_ISOLATION=chroot buildah --root "$s/root" --runroot "$s/run" --storage-driver vfs bud --layers=false --tls-verify=false -q -t "bench-$1" "$work/ctx-$1" &&
  buildah --root "$s/root" --runroot "$s/run" --storage-driver vfs push -q "bench-$1" "oci:$work/oci:v1" &&
  umoci unpack --image "$work/oci:v1" "$work/bundle" >/dev/null &&
  mksquashfs "$work/bundle/rootfs" "$work/p.sqfs" -noappend -comp "$comp" -processors 2 -quiet -no-progress >/dev/null
}
ours() { "$gvmc" build --no-cache -o "$work/g.gvmi" --cache-dir "$work/cache" --compression "$comp" $GVMC_FLAGS --jobs 2 "$work/ctx-$1"; }
# Rebuilds with the cache (step cache and block store): unchanged, and after the last
# instruction changed (a LABEL appended each run: every RUN and COPY stays cached).
rebuild() { "$gvmc" build -o "$work/r.gvmi" --cache-dir "$work/cache" --compression "$comp" $GVMC_FLAGS --jobs 2 "$work/ctx-$1"; }
edited() { echo "LABEL rev=$RANDOM$RANDOM" >> "$work/ctx-$1/Dockerfile"; rebuild "$1"; }
export -f peer ours rebuild edited
GVMC_FLAGS=${GVMC_FLAGS:-}
export work gvmc comp GVMC_FLAGS

printf '%-8s %-5s %9s %9s %7s %9s %7s\n' base comp gvmc_s peer_s ratio gvmc_MB size_r
for ctx in ${BENCH_CONTEXTS:-busybox debian}; do
  # Base images pulled once by both beforehand (the steady state of a CI runner with a cache).
  bash -c "peer $ctx" >/dev/null 2>&1; bash -c "ours $ctx" >/dev/null 2>&1
  read -r pt _ < <(measure peer "$ctx")
  read -r gt gm < <(measure ours "$ctx")
  gs=$(stat -c %s "$work/g.gvmi"); ps=$(stat -c %s "$work/p.sqfs")
  awk -v c="$ctx" -v z="$comp" -v gt="$gt" -v pt="$pt" -v gm="$gm" -v gs="$gs" -v ps="$ps" 'BEGIN {
    printf "%-8s %-5s %9.2f %9.2f %7.2f %9.1f %7.3f\n", c, z, gt, pt, gt/pt, gm/1024, gs/ps }'
  bash -c "rebuild $ctx" >/dev/null 2>&1
  read -r ut _ < <(measure rebuild "$ctx")
  read -r et _ < <(measure edited "$ctx")
  awk -v c="$ctx" -v gt="$gt" -v ut="$ut" -v et="$et" 'BEGIN {
    printf "%-8s rebuild unchanged %.2f s (%.2fx the clean build, target <= 0.15), last instruction edited %.2f s (%.2fx, target <= 0.2)\n", c, ut, ut/gt, et, et/gt }'
done
echo -e "(peer = buildah bud + buildah push oci: + umoci unpack + mksquashfs -processors 2; ratio = gvmc / peer, target <= 0.5;\n size_r = gvmc .gvmi bytes / mksquashfs bytes; each tool at its default: gzip level 9; lzo: mksquashfs lzo1x_999 level 8, gvmc its own LZO1X encoder)"
