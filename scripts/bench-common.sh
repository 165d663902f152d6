# Sourced by the benchmarks: timing (median wall time and peak RSS), a docker-registry on a free
# loopback port, and images made from a directory with umoci and pushed with skopeo. Needs $work
# (a temp dir the caller removes) and $runs.
reg_pid=
bench_fs=

# fresh_work_fs: put $work on a fresh ext4 (mkfs defaults, so with a journal) in a loop-mounted
# file, unless BENCH_FS=host. Both tools then start from the same clean filesystem. Why: on a
# journal-less ext4 (this machine's root), the inode allocator skips inodes deleted in the last
# 60 s and re-reads their inode table blocks (fs/ext4/ialloc.c, recently_deleted), so creating
# 5,000 files right after another run deleted 5,000 takes 4.5 s instead of 0.5 s and the numbers
# measure what the previous run deleted. Call before anything is written to $work.
fresh_work_fs() {
  [ "${BENCH_FS:-fresh}" = host ] && { echo "bench: \$work on the host filesystem (BENCH_FS=host)"; return; }
  [ "$(id -u)" = 0 ] || { echo "bench: \$work on the host filesystem (a fresh ext4 needs root to mount)"; return; }
  bench_fs="$work.ext4"
  trap 'exit 130' INT TERM  # so that the EXIT trap unmounts
  truncate -s "${BENCH_FS_SIZE:-16G}" "$bench_fs" && mkfs.ext4 -q "$bench_fs" && mount -o loop "$bench_fs" "$work" ||
    { echo "bench: cannot loop-mount a fresh ext4 (set BENCH_FS=host to use the host filesystem)" >&2; exit 1; }
  mkdir -p "$work/tmp"; export TMPDIR="$work/tmp"
  echo "bench: \$work on a fresh loop-mounted ext4 (mkfs.ext4 defaults; BENCH_FS=host to use the host filesystem)"
}
cleanup_work() {
  stop_registry
  if [ -n "$bench_fs" ]; then umount "$work" 2>/dev/null || umount -l "$work"; rm -f "$bench_fs"; fi
  rm -rf "$work"
}
start_registry() {
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
  registry=127.0.0.1:$port
}
stop_registry() { [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; reg_pid=; }

# dir_layout DIR LAYOUT: DIR as a one-layer linux/amd64 image LAYOUT:v1 (an OCI layout)
dir_layout() {
  tar -C "$1" --numeric-owner --xattrs -cf "$work/layer.tar" .
  umoci init --layout "$2" >/dev/null
  umoci new --image "$2:v1" >/dev/null
  umoci raw add-layer --image "$2:v1" "$work/layer.tar" >/dev/null
  umoci config --image "$2:v1" --architecture amd64 --os linux --config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin >/dev/null
  rm -f "$work/layer.tar"
}

# push_dir_image DIR NAME: DIR as a one-layer linux/amd64 image at $registry/NAME:v1
push_dir_image() {
  dir_layout "$1" "$work/layout-$2"
  skopeo copy -q --dest-tls-verify=false "oci:$work/layout-$2:v1" "docker://$registry/$2:v1"
  rm -rf "$work/layout-$2"
}

# bench_start TOOL...: the tools are there and we are root (RUN steps); then $work, on a fresh
# filesystem, removed at exit. Sets $rootfs (the Debian minbase tree).
bench_start() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "bench: $tool missing (make test-deps)"; exit 1; }
  done
  [ "$(id -u)" = 0 ] || { echo "bench: build needs root (RUN steps)"; exit 1; }
  rootfs=$(./scripts/bench-rootfs.sh)
  work=$(mktemp -d)
  trap cleanup_work EXIT
  fresh_work_fs
}

# median wall seconds and max RSS (KB) over $runs runs of `bash -c "$*"`; $prepare runs before each
measure() {
  local times=() mem=0
  for _ in $(seq "$runs"); do
    [ -n "${prepare:-}" ] && bash -c "$prepare" >/dev/null 2>&1
    sync
    /usr/bin/time -f "%e %M" -o "$work/time" bash -c "$*" >/dev/null 2>"$work/err" || { echo "bench: '$*' failed:" >&2; tail -5 "$work/err" >&2; exit 1; }
    read -r t m < "$work/time"
    times+=("$t"); [ "$m" -gt "$mem" ] && mem=$m
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v mem="$mem" '{a[NR]=$1} END {print a[int((NR+1)/2)], mem}'
}
