#!/usr/bin/env bash
# `make bench`, push: `gvmc push` of a ~300 MB .gvmi against `gvmkit-build -d FILE --push
# --nologin` (the real uploader, PyPI gvmkit-build==0.3.19 in .venv), both to the local test
# registry (Tests/Fixtures/golem_registry.py), each run on a fresh registry state, gvmkit-build's
# descriptor cache removed so it hashes the file as on a first push. Reports median wall times, the
# ratio (target <= 0.5) and gvmc's peak RSS (target <= 96 MiB).
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
  python3 Tests/Fixtures/golem_registry.py "$state" "$work/port" 2>>"$work/server.log" &
  server_pid=$!
  for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
  url=http://127.0.0.1:$(cat "$work/port")
}

# An image of incompressible bytes (lz4: the squashfs costs little to make and is the data's size).
mkdir -p "$work/root"
head -c "${megabytes}M" /dev/urandom > "$work/root/data"
"$gvmc" pack --compression lz4 -o "$work/big.gvmi" "$work/root" >/dev/null 2>&1
rm -rf "$work/root"
size=$(stat -c %s "$work/big.gvmi")
echo "push: $(awk -v s="$size" 'BEGIN { printf "%.0f MB", s / 1e6 }') .gvmi, $runs runs each, fresh registry state per run, $(nproc) processors"

# run NAME COMMAND...: wall seconds and peak RSS (KB) of one run against a fresh registry
run() {
  local name=$1; shift
  start_server
  rm -f "$work/big.gvmi.descr.bin"
  sync
  REGISTRY_URL=$url /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/out" 2>&1 ||
    { echo "bench: $name failed:" >&2; tail -5 "$work/out" "$work/server.log" >&2; exit 1; }
  stop_server
  cat "$work/time"
}

ours_t=() peer_t=() mem=0
for _ in $(seq "$runs"); do
  read -r t m < <(run gvmc "$gvmc" push "$work/big.gvmi" --progress quiet)
  ours_t+=("$t"); [ "$m" -gt "$mem" ] && mem=$m
  read -r t _ < <(run gvmkit-build "$gvmkit" -d "$work/big.gvmi" --push --nologin --hide-progress)
  peer_t+=("$t")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
gt=$(median "${ours_t[@]}"); pt=$(median "${peer_t[@]}")
printf '%9s %9s %7s %9s\n' gvmc_s peer_s ratio gvmc_MB
awk -v gt="$gt" -v pt="$pt" -v gm="$mem" 'BEGIN { printf "%9.2f %9.2f %7.2f %9.1f\n", gt, pt, gt/pt, gm/1024 }'
echo "(runs gvmc: ${ours_t[*]} s; gvmkit-build: ${peer_t[*]} s. peer = gvmkit-build 0.3.19 -d FILE --push --nologin;"
echo " ratio = gvmc / peer, target <= 0.5; gvmc_MB = peak RSS, target <= 96)"
