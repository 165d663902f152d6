#!/usr/bin/env bash
# `make bench`, run: `gvmc run IMG -- /bin/true` on the Debian minbase image (whole process, median
# wall time; target <= 0.3 s) in sandbox mode, and the same run with --vm under TCG (boot to exit).
# The peer a user has today, ya-runtime-dbg, needs ya-runtime-vm and working KVM: neither is here,
# so the comparison is the VM mode of the same run.
set -euo pipefail
gvmc=$(readlink -f "${1:-.build/release/gvmc}")
runs=${RUNS:-11}
vm_runs=${VM_RUNS:-3}
cd "$(dirname "$0")/.."
rootfs=$(./scripts/bench-rootfs.sh)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo '{"Volumes":{"/golem/output":{}},"WorkingDir":"/root"}' > "$work/config.json"
"$gvmc" pack --config "$work/config.json" -o "$work/debian.gvmi" "$rootfs" >/dev/null 2>&1
echo "run: Debian minbase image $(du -h --apparent-size "$work/debian.gvmi" | cut -f1) ($rootfs)"

# median wall seconds of N runs of a command (its output discarded)
median() {
  local n=$1; shift
  local times=()
  for _ in $(seq "$n"); do
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    end=$(date +%s%N)
    times+=("$(( (end - start) / 1000 ))")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]/1e6}'
}

"$gvmc" run "$work/debian.gvmi" -- /bin/true 2>/dev/null || { echo "bench: gvmc run failed"; exit 1; }
sandbox=$(median "$runs" "$gvmc" run "$work/debian.gvmi" -- /bin/true)
echo "run: sandbox mode, gvmc run IMG -- /bin/true: median ${sandbox} s of $runs runs (target <= 0.3 s) [$( [ "$(id -u)" = 0 ] && echo "as root: kernel squashfs on a loop device" || echo "unprivileged: image unpacked by gvmc's reader")]"

if kernel=$(./scripts/fetch-vm-kernel.sh 2>/dev/null) && command -v qemu-system-x86_64 >/dev/null; then
  version=$(ls "$kernel/lib/modules")
  vm=$(median "$vm_runs" "$gvmc" run --vm --accel tcg --kernel "$kernel/boot/vmlinuz-$version" --modules "$kernel/lib/modules/$version" "$work/debian.gvmi" -- /bin/true)
  echo "run: VM mode (qemu TCG, Debian kernel $version), boot to exit of /bin/true: median ${vm} s of $vm_runs runs"
else
  echo "run: VM mode not measured (no qemu-system-x86_64 or no Debian kernel from scripts/fetch-vm-kernel.sh)"
fi
echo "run: ya-runtime-dbg not measured (it needs ya-runtime-vm installed and working KVM, which this machine lacks)"
