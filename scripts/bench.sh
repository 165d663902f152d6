#!/usr/bin/env bash
# `make bench`: benchmarks, with peers measured in the same run where a peer exists.
# Parsing: a 10,000-line Dockerfile and the testdata corpus, in-process throughput (MB/s) and
# per-file time, plus whole-process time of `gvmc parse` next to BuildKit's parser (PyPI
# `dockerfile`, a Go extension in a Python process) on the same file.
set -euo pipefail
gvmc=${1:-.build/release/gvmc}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work/large.Dockerfile" <<'PY'
import sys
lines = ["# syntax=docker/dockerfile:1", "ARG BASE=debian:bookworm"]
i = 0
while len(lines) < 10000:
    lines += [f"FROM $BASE AS stage{i}",
              f"ENV A{i}=1 B{i}=\"two words\" C{i}=${{A{i}:-x}}",
              f"RUN --mount=type=cache,target=/var/cache/apt apt-get update \\",
              f"    && apt-get install -y --no-install-recommends curl ca-certificates \\",
              f"    && rm -rf /var/lib/apt/lists/*",
              f"COPY --chown=1000:1000 --chmod=0755 src/{i} /app/{i}/",
              f"RUN <<EOF",
              f"echo building {i}",
              f"EOF",
              f"LABEL org.example.n{i}=\"{i}\"",
              f"WORKDIR /golem/work",
              f"CMD [\"python3\", \"-m\", \"app\", \"{i}\"]"]
    i += 1
open(sys.argv[1], "w").write("\n".join(lines[:10000]) + "\n")
PY

echo "== parser throughput (in-process)"
"$gvmc" debug parse-bench --seconds 3 "$work/large.Dockerfile"
"$gvmc" debug parse-bench --seconds 3 testdata/parser/*.Dockerfile

echo "== whole process: gvmc parse vs BuildKit's parser (PyPI dockerfile), one typical file"
typical=testdata/parser/golem-node-service.Dockerfile
time_cmd() { # median of N runs, milliseconds
  local n=$1; shift
  python3 - "$n" "$@" <<'PY'
import subprocess, sys, time
n = int(sys.argv[1]); cmd = sys.argv[2:]
t = []
for _ in range(n):
    s = time.perf_counter(); subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True); t.append(time.perf_counter() - s)
t.sort(); print("%.2f" % (t[len(t)//2] * 1000))
PY
}
ours=$(time_cmd 30 "$gvmc" parse --format json "$typical")
echo "gvmc parse:            ${ours} ms (median of 30)"
if [ -x .venv/bin/python ] && .venv/bin/python -c 'import dockerfile' 2>/dev/null; then
  peer=$(time_cmd 30 .venv/bin/python -c "import dockerfile,sys; dockerfile.parse_file(sys.argv[1])" "$typical")
  echo "BuildKit (PyPI) parse: ${peer} ms (median of 30)"
  python3 -c "print('ratio gvmc/BuildKit-PyPI: %.2f' % ($ours / $peer))"
else
  echo "peer skipped: .venv with the PyPI dockerfile package is missing (run make test-deps)"
fi
