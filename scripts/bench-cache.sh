#!/usr/bin/env bash
# `make bench`, shared step cache (issue 19): the CI scenario. A Debian-based context whose RUN
# steps do about 15 s of real work (compressing generated data, a stand-in for a compile or a
# package install). Every run is a fresh CI runner: an empty cache directory, the base image
# pulled from the local docker-registry each time.
#   runner B cold      gvmc build (no shared cache)
#   runner B warm      gvmc build --cache-from type=registry,ref=...   target <= 0.35x cold
#   runner A           gvmc build --cache-to type=registry,ref=...     target <= 1.3x cold
# Medians of RUNS runs (default 3), in one run of this script.
set -euo pipefail
gvmc=$(readlink -f "${1:-.build/release/gvmc}")
runs=${RUNS:-3}
cd "$(dirname "$0")/.."
source scripts/bench-common.sh
bench_start docker-registry skopeo umoci /usr/bin/time
start_registry
push_dir_image "$rootfs" bench/debian
mkdir -p "$work/ctx"
# About 5 s of gzip -9 per step on this machine (2 cores), three steps.
cat > "$work/ctx/Dockerfile" <<DF
FROM $registry/bench/debian:v1
RUN mkdir -p /golem/output /app && seq 1 14000000 | gzip -9 > /app/a.gz
RUN seq 7 15000000 | gzip -9 > /app/b.gz && ls -l /app > /app/listing
RUN cat /app/a.gz /app/b.gz | gzip -d | gzip -9 > /app/c.gz
WORKDIR /app
VOLUME /golem/output
DF
# Each export goes to a tag of its own (an empty cache: every layer is archived and uploaded);
# the imports read the tag the last export wrote.
cache="type=registry,ref=$registry/bench/cache"
fresh() { rm -rf "$work/cache"; }
fresh_tag() { fresh; echo "ci-$RANDOM$RANDOM" > "$work/tag"; }
cold() { "$gvmc" build --progress quiet -o "$work/g.gvmi" --cache-dir "$work/cache" "$work/ctx"; }
export_run() { "$gvmc" build --progress quiet -o "$work/g.gvmi" --cache-dir "$work/cache" --cache-to "$cache:$(cat "$work/tag")" "$work/ctx"; }
import_run() { "$gvmc" build --progress quiet -o "$work/g.gvmi" --cache-dir "$work/cache" --cache-from "$cache:$(cat "$work/tag")" "$work/ctx"; }
export -f cold export_run import_run fresh fresh_tag
export work gvmc cache
prepare=fresh
read -r ct _ < <(measure cold)
prepare=fresh_tag
read -r et _ < <(measure export_run)
prepare=fresh
read -r it _ < <(measure import_run)
awk -v ct="$ct" -v et="$et" -v it="$it" 'BEGIN {
  printf "ci-cache  cold %.2f s  --cache-from %.2f s (%.2fx, target <= 0.35)  --cache-to %.2f s (%.2fx, target <= 1.3)\n", ct, it, it/ct, et, et/ct }'
echo "(every run: an empty cache directory, the Debian base image pulled from a local docker-registry; medians of $runs runs)"
