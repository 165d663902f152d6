#!/usr/bin/env bash
# Prints the directory of a Debian kernel for `gvmc run --vm` tests and benchmarks: the package
# linux-image-amd64 depends on, fetched with apt-get download and unpacked with dpkg-deb -x into
# .build/vm-kernel (once; nothing is installed in /boot), with its modules.dep made by depmod -b.
# The directory holds boot/vmlinuz-VERSION and lib/modules/VERSION.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.build/vm-kernel
if ! ls "$dir"/boot/vmlinuz-* >/dev/null 2>&1; then
  package=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  [ -n "$package" ] || { echo "fetch-vm-kernel: apt-cache knows no linux-image-amd64 (apt-get update?)" >&2; exit 1; }
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  (cd "$dir.tmp" && apt-get download "$package" >/dev/null 2>&1) || { echo "fetch-vm-kernel: apt-get download $package failed" >&2; exit 1; }
  dpkg-deb -x "$dir.tmp"/*.deb "$dir.tmp/root"
  version=$(ls "$dir.tmp/root/lib/modules")
  command -v depmod >/dev/null || { echo "fetch-vm-kernel: depmod missing (apt-get install kmod)" >&2; exit 1; }
  depmod -b "$dir.tmp/root" "$version"
  rm -rf "$dir" && mv "$dir.tmp/root" "$dir" && rm -rf "$dir.tmp"
fi
readlink -f "$dir"
