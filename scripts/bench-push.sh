#!/usr/bin/env bash
# `make bench`, push: `gvmc push` of a ~300 MB .gvmi against `gvmkit-build -d FILE --push
# --nologin` (the real uploader, PyPI gvmkit-build==0.3.19 in .venv), both to the local test
# registry (Tests/TestSupport/Fixtures/golem_registry.py), each run on a fresh registry state, gvmkit-build's
# descriptor cache removed so it hashes the file as on a first push. Reports median wall times, the
# ratio (target <= 0.5) and gvmc's peak RSS (target <= 96 MiB), for two files:
#   built:   the image as `gvmc pack` wrote it; gvmc recorded its hashes then (the cache's
#            hashes/), so the push makes its descriptor without reading the file again.
#   foreign: a copy of it (another inode, no record), which gvmc hashes as gvmkit-build does.
# The test registry runs on the same cores as the client, which a real registry does not. It
# verifies every chunk's SHA-256 and the whole file's SHA3-224 as the Golem registry does (about
# 1 s of CPU per 300 MB, charged here to whichever client runs); the row `built, no file hash`
# starts it with --no-file-hash (chunks still checked), which leaves the clients' own work. The
# registry's CPU time is printed beside the times.
set -euo pipefail
gvmc=$(readlink -f "${1:-.build/release/gvmc}")
runs=${RUNS:-5}
megabytes=${PUSH_MB:-300}
cd "$(dirname "$0")/.."
gvmkit=.venv/bin/gvmkit-build
for tool in python3 /usr/bin/time "$gvmkit"; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing (make test-deps)"; exit 1; }
done
work=$(mktemp -d)
server_pid=
stop_server() { [ -n "$server_pid" ] && { kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; }; server_pid=; }

# The registry's files in memory when /dev/shm is there (the disk is not what is measured).
state=$(mktemp -d -p "$([ -w /dev/shm ] && echo /dev/shm || echo "$work")")
trap 'stop_server; rm -rf "$work" "$state"' EXIT

# A fresh registry (empty state) on a free port: $url.
start_server() {
  rm -rf "$state" && mkdir -p "$state"
  rm -f "$work/port"
  python3 Tests/TestSupport/Fixtures/golem_registry.py "$state" "$work/port" $server_args 2>>"$work/server.log" &
  server_pid=$!
  for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
  url=http://127.0.0.1:$(cat "$work/port")
}

# An image of incompressible bytes (lz4: the squashfs costs little to make and is the data's size).
mkdir -p "$work/root"
head -c "${megabytes}M" /dev/urandom > "$work/root/data"
"$gvmc" pack --compression lz4 --cache-dir "$work/cache" -o "$work/big.gvmi" "$work/root" >/dev/null 2>&1
rm -rf "$work/root"
cp "$work/big.gvmi" "$work/foreign.gvmi"
size=$(stat -c %s "$work/big.gvmi")
echo "push: $(awk -v s="$size" 'BEGIN { printf "%.0f MB", s / 1e6 }') .gvmi, $runs runs each, fresh registry state per run, $(nproc) processors"

# run NAME COMMAND...: wall seconds, peak RSS (KB) and the registry's CPU seconds of one run
# against a fresh registry
run() {
  local name=$1; shift
  start_server
  rm -f "$work"/*.descr.bin
  sync
  REGISTRY_URL=$url /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/out" 2>&1 ||
    { echo "bench: $name failed:" >&2; tail -5 "$work/out" "$work/server.log" >&2; exit 1; }
  local server_cpu
  server_cpu=$(awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$server_pid/stat")
  stop_server
  echo "$(cat "$work/time") $server_cpu"
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-22s %7s %7s %6s %8s %10s %10s\n' file gvmc_s peer_s ratio gvmc_MB srv_cpu_g srv_cpu_p
for case in built built-no-file-hash foreign; do
  file=${case%%-*} server_args=
  image=$work/big.gvmi
  [ "$file" = foreign ] && image=$work/foreign.gvmi
  [ "$case" = built-no-file-hash ] && server_args=--no-file-hash
  ours_t=() peer_t=() ours_s=() peer_s=() mem=0
  for _ in $(seq "$runs"); do
    read -r t m c < <(run gvmc "$gvmc" push "$image" --cache-dir "$work/cache" --progress quiet)
    ours_t+=("$t") ours_s+=("$c"); [ "$m" -gt "$mem" ] && mem=$m
    # The foreign file's record, made by that push, is removed: every run hashes it.
    [ "$file" = foreign ] && rm -rf "$work/cache/hashes/"*
    read -r t _ c < <(run gvmkit-build "$gvmkit" -d "$image" --push --nologin --hide-progress)
    peer_t+=("$t") peer_s+=("$c")
  done
  gt=$(median "${ours_t[@]}"); pt=$(median "${peer_t[@]}")
  awk -v f="${case//-/ }" -v gt="$gt" -v pt="$pt" -v gm="$mem" -v sg="$(median "${ours_s[@]}")" -v sp="$(median "${peer_s[@]}")" \
    'BEGIN { printf "%-22s %7.2f %7.2f %6.2f %8.1f %10.2f %10.2f\n", f, gt, pt, gt/pt, gm/1024, sg, sp }'
  echo "  (runs gvmc: ${ours_t[*]} s; gvmkit-build: ${peer_t[*]} s)"
done
echo "(peer = gvmkit-build 0.3.19 -d FILE --push --nologin; ratio = gvmc / peer, target <= 0.5;"
echo " gvmc_MB = peak RSS, target <= 96; srv_cpu = the test registry's CPU seconds per push, median)"
