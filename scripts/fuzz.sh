#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer + AddressSanitizer of everything gvmc reads from an
# untrusted source: Dockerfiles (parser, expander), squashfs/.gvmi images, layer tarballs, git
# packs and pkt-lines, OCI manifests/indexes/configs, image references, .dockerignore patterns.
#
# Usage: scripts/fuzz.sh [SECONDS [TARGET...]]   (SECONDS "build" only builds the targets)
#   SECONDS is the whole run, shared evenly by the targets (default 60; `make fuzz FUZZ_SECONDS=N`);
#   FUZZ_RUNS=N ends each target after N executions if that comes first (the security issue's
#   long run: `FUZZ_RUNS=10000000 scripts/fuzz.sh 3600 TARGET`).
#   one target named alone gets all of it. Targets: parser image tar gitpack pktline manifest
#   reference dockerignore. Each target is built from the module sources it needs (instrumented);
#   swift-crypto, which the Registry module needs, is taken uninstrumented from `swift build`.
#   Corpora grow in .build-fuzz/corpus/TARGET (seeded from Fuzz/corpus and testdata), crashes
#   land in .build-fuzz/crashes/TARGET-*, libFuzzer's log in .build-fuzz/TARGET.log.
set -euo pipefail
seconds=${1:-60}
shift || true
all=(parser image tar gitpack pktline manifest reference dockerignore)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
cd "$(dirname "$0")/.."
out=.build-fuzz
mods=$out/modules
objs=$out/objects
mkdir -p "$mods" "$objs" "$out/crashes"
SAN=(-sanitize=fuzzer,address)
# Module search paths: the system libraries' module maps in Sources, generated ones for C targets.
INC=(-I "$mods")
for d in Sources/CZlib Sources/CDeflate Sources/CLzma Sources/CLz4 Sources/CLzo Sources/CZstd; do INC+=(-I "$d"); done
LIBS=(-lz -ldeflate -llzma -llz4 -llzo2 -lzstd -ldl)

fail() { cat "$1" >&2; echo "fuzz: $2" >&2; exit 1; }

# A C target of the package: its objects (instrumented) and a module map for swiftc.
c_module() {
  local name=$1 dir="$mods/$1"
  mkdir -p "$dir"
  printf 'module %s {\n    header "%s"\n    export *\n}\n' "$name" "$PWD/Sources/$name/include/$name.h" > "$dir/module.modulemap"
  INC+=(-I "$dir")
  for c in Sources/"$name"/*.c; do
    local o="$objs/$name-$(basename "$c" .c).o"
    [ "$o" -nt "$c" ] || clang -O2 -fsanitize=fuzzer-no-link,address -I "Sources/$name/include" -c "$c" -o "$o"
  done
}

# A Swift target of the package as a module of its own (whole-module, -enable-testing so the fuzz
# targets reach its internal parsers), rebuilt when a source is newer than its object.
swift_module() {
  local name=$1 o="$objs/$1.o"
  shift
  local newest
  newest=$(ls -t Sources/"$name"/*.swift | head -1)
  if [ ! -f "$o" ] || [ "$newest" -nt "$o" ]; then
    swiftc "${SAN[@]}" -O -wmo -parse-as-library -enable-testing -module-name "$name" "${INC[@]}" "$@" \
      -emit-module -emit-module-path "$mods/$name.swiftmodule" -c Sources/"$name"/*.swift -o "$o" \
      2>"$out/build-$name.log" || fail "$out/build-$name.log" "could not build module $name"
  fi
}

# swift-crypto (for Registry's SHA-1 and SSH code): the modules and objects `swift build` made.
crypto=()
use_crypto() {
  local debug=.build/debug
  [ -f "$debug/Modules/_CryptoExtras.swiftmodule" ] || swift build --target _CryptoExtras >"$out/build-crypto.log" 2>&1 ||
    fail "$out/build-crypto.log" "could not build swift-crypto"
  INC+=(-I "$debug/Modules" -I .build/checkouts/swift-crypto/Sources/CCryptoBoringSSL/include
        -I .build/checkouts/swift-crypto/Sources/CCryptoBoringSSLShims/include)
  mapfile -t crypto < <(find "$debug"/{Crypto,_CryptoExtras,CryptoBoringWrapper,SwiftASN1,CCryptoBoringSSL,CCryptoBoringSSLShims}.build \
    -name '*.o' 2>/dev/null)
}

want() { local t; for t in "${targets[@]}"; do [[ " $* " == *" $t "* ]] && return 0; done; return 1; }

# Modules each target needs, built once.
objects=()
c_module CDigest
objects+=("$objs"/CDigest-*.o)
if want parser dockerignore; then
  swift_module DockerfileSyntax
  objects+=("$objs/DockerfileSyntax.o")
fi
# The image documents (Codable OCI and Docker types): BuildPlan, GVMI and Registry use them.
if want dockerignore image gitpack pktline manifest reference; then
  swift_module ImageSpec
  objects+=("$objs/ImageSpec.o")
fi
if want dockerignore; then
  swift_module DockerfileInstructions
  swift_module BuildPlan
  objects+=("$objs/DockerfileInstructions.o" "$objs/BuildPlan.o")
fi
if want image tar gitpack pktline manifest reference; then
  c_module CSystem; c_module CLzoEncoder; c_module CDynamic
  objects+=("$objs"/CSystem-*.o "$objs"/CLzoEncoder-*.o "$objs"/CDynamic-*.o)
  swift_module SquashFS
  objects+=("$objs/SquashFS.o")
fi
if want image; then swift_module GVMI; objects+=("$objs/GVMI.o"); fi
if want tar gitpack pktline manifest reference; then swift_module Layers; objects+=("$objs/Layers.o"); fi
if want gitpack pktline manifest reference; then
  use_crypto
  swift_module SSHAgent
  swift_module BuildCache
  swift_module HTTPTransport
  swift_module GitSource
  swift_module Registry
  objects+=("$objs/SSHAgent.o" "$objs/BuildCache.o" "$objs/HTTPTransport.o" "$objs/GitSource.o" "$objs/Registry.o" "${crypto[@]}")
fi

# Every target links all modules built above (the linker drops what a target does not use).
build_target() {
  local t=$1 source
  source=$(ls Fuzz/*FuzzTarget.swift | grep -i "/$t" | head -1)
  [ -n "$source" ] || { echo "fuzz: no Fuzz/*FuzzTarget.swift for $t" >&2; exit 1; }
  local bin="$out/$t-fuzzer"
  if [ ! -x "$bin" ] || [ "$source" -nt "$bin" ] || [ -n "$(find Fuzz/Support -newer "$bin" -name '*.swift')" ] || [ -n "$(find "$objs" -newer "$bin" -name '*.o' | head -1)" ]; then
    swiftc "${SAN[@]}" -O -parse-as-library -module-name "Fuzz_$t" "${INC[@]}" "$source" Fuzz/Support/*.swift "${objects[@]}" "${LIBS[@]}" \
      -o "$bin" 2>"$out/build-$t.log" || fail "$out/build-$t.log" "could not build the $t fuzzer"
  fi
}

seed() {
  local t=$1 dir="$out/corpus/$1"
  mkdir -p "$dir"
  [ -d "Fuzz/corpus/$t" ] && cp -n Fuzz/corpus/"$t"/* "$dir/" 2>/dev/null
  case $t in
    parser) cp -n testdata/parser/*.Dockerfile testdata/lint/*.Dockerfile "$dir/" 2>/dev/null ;;
  esac
  true
}

per=$(( ${seconds/build/0} / ${#targets[@]} ))
[ "$per" -ge 1 ] || per=1
status=0
for t in "${targets[@]}"; do build_target "$t"; done
[ "$seconds" != build ] || { echo "fuzz: built ${targets[*]} in $out"; exit 0; }
for t in "${targets[@]}"; do
  seed "$t"
  max_len=4096
  case $t in image|tar|gitpack) max_len=65536 ;; esac
  echo "fuzz: $t for ${per}s"
  mkdir -p "$out/crashes"
  if "$out/$t-fuzzer" "$out/corpus/$t" -max_total_time="$per" -runs="${FUZZ_RUNS:--1}" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$out/crashes/$t-" -print_final_stats=1 2>"$out/$t.log"; then
    grep -E 'stat::number_of_executed_units|stat::new_units_added|stat::peak_rss_mb' "$out/$t.log" | sed "s/^/  /" || true
  else
    tail -40 "$out/$t.log" >&2
    echo "fuzz: $t FAILED — reproducer in $out/crashes/$t-*" >&2
    status=1
  fi
done
[ $status -eq 0 ] && echo "fuzz: no crash in ${#targets[@]} targets (${per}s each)"
exit $status
