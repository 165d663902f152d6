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

echo
echo "== gvmc build: testdata/demo-build/Dockerfile → .gvmi (offline, FROM scratch)"
context=$(mktemp -d)
out=$(mktemp -d)
trap 'rm -rf "$context" "$out"' EXIT
cp -a testdata/demo-build/. "$context/"
cp "$(command -v busybox)" "$context/busybox"
SOURCE_DATE_EPOCH=1700000000 "$gvmc" build -o "$out/demo-build.gvmi" "$context"
"$gvmc" inspect "$out/demo-build.gvmi"

echo
echo "== gvmc pack: a small root filesystem (made here, offline) → .gvmi"
rootfs=$(mktemp -d)
trap 'rm -rf "$context" "$out" "$rootfs"' EXIT
chmod 755 "$rootfs"
mkdir -p "$rootfs"/{bin,etc,proc,sys,dev,tmp,var/tmp,golem/work,golem/output}
printf '#!/bin/sh\necho "hello from a Golem VM"\n' > "$rootfs/golem/work/hello.sh"
chmod 755 "$rootfs/golem/work/hello.sh"
printf '127.0.0.1 localhost\n' > "$rootfs/etc/hosts"
: > "$rootfs/etc/resolv.conf"
echo golem > "$rootfs/etc/hostname"
SOURCE_DATE_EPOCH=1700000000 "$gvmc" pack "$rootfs" -o "$out/demo.gvmi" \
  --volume /golem/output --workdir /golem/work --entrypoint '["/golem/work/hello.sh"]'
echo
echo "== gvmc inspect"
"$gvmc" inspect --list "$out/demo.gvmi"
