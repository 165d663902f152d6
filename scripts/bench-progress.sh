#!/usr/bin/env bash
# `make bench`, progress display (issue 20): what the display costs.
#   1. The Debian context built with --progress=tty into a pseudo-terminal (script) against
#      --progress=quiet in the same pseudo-terminal: target within 2%.
#   2. A RUN step printing 100,000 lines (shown by the plain printer, piped as CI pipes it)
#      against the same step with its output sent to /dev/null inside the step: target <= 5%.
# Every build --no-cache (the step runs each time) with a warm base image; medians of RUNS (5).
set -euo pipefail
gvmc=$(readlink -f "${1:-.build/release/gvmc}")
runs=${RUNS:-5}
cd "$(dirname "$0")/.."
source scripts/bench-common.sh
bench_start umoci script busybox /usr/bin/time
dir_layout "$rootfs" "$work/layout"
mkdir -p "$work/debian" "$work/lines" "$work/silent"
cat > "$work/debian/Dockerfile" <<DF
FROM oci-layout://$work/layout:v1
RUN mkdir -p /golem/output /app && cp -r /usr/share/perl5 /app/perl && echo ok > /app/ok
RUN rm -rf /usr/share/doc/* && useradd -m -u 1000 worker && ls -lR /usr/share | head -2000
WORKDIR /app
VOLUME /golem/output
DF
printf 'FROM oci-layout://%s/layout:v1\nRUN seq 1 100000\n' "$work" > "$work/lines/Dockerfile"
printf 'FROM oci-layout://%s/layout:v1\nRUN seq 1 100000 > /dev/null\n' "$work" > "$work/silent/Dockerfile"
inpty() {  # mode context
  script -qfec "stty cols 100 rows 40; $gvmc build --no-cache --progress $1 --cache-dir $work/cache -o $work/o.gvmi $work/$2" /dev/null >/dev/null
}
piped() { "$gvmc" build --no-cache --progress plain --cache-dir "$work/cache" -o "$work/o.gvmi" "$work/$1" 2>&1 | cat >/dev/null; }
export -f inpty piped
export work gvmc
bash -c "piped debian" >/dev/null 2>&1   # the base image unpacked once
read -r tty _ < <(measure inpty tty debian)
read -r quiet _ < <(measure inpty quiet debian)
read -r lines _ < <(measure piped lines)
read -r silent _ < <(measure piped silent)
awk -v t="$tty" -v q="$quiet" -v l="$lines" -v s="$silent" 'BEGIN {
  printf "progress  tty %.2f s, quiet %.2f s in a pseudo-terminal: %+.1f%% (target within 2%%)\n", t, q, (t / q - 1) * 100
  printf "progress  RUN printing 100,000 lines %.2f s, the same to /dev/null %.2f s: %+.1f%% (target <= 5%%)\n", l, s, (l / s - 1) * 100 }'
echo "(release build; --no-cache builds from a warm base image; medians of $runs runs)"
