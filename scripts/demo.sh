#!/usr/bin/env bash
# The README's demo: runs gvmc offline on the shipped example (testdata/demo/Dockerfile).
set -euo pipefail
gvmc=${1:-.build/release/gvmc}
cd "$(dirname "$0")/.."
echo "== gvmc parse --validate testdata/demo/Dockerfile"
"$gvmc" parse --validate testdata/demo/Dockerfile
echo
echo "== gvmc parse --format json (BuildKit's AST shape), first instruction"
"$gvmc" parse --format json testdata/demo/Dockerfile | sed -n 2p
