#!/usr/bin/env bash
# Coverage-guided fuzzing of the parser and expander with libFuzzer + AddressSanitizer.
# Usage: scripts/fuzz.sh SECONDS   (seeds: testdata/parser; crashes land in .build-fuzz/crashes)
set -euo pipefail
seconds=${1:-60}
cd "$(dirname "$0")/.."
out=.build-fuzz
mkdir -p "$out/corpus" "$out/crashes"
# DockerfileSyntax uses the CDigest C target: build it and give swiftc a module map for it.
mkdir -p "$out/cdigest"
printf 'module CDigest {\n    header "%s"\n    export *\n}\n' "$PWD/Sources/CDigest/include/CDigest.h" > "$out/cdigest/module.modulemap"
objects=()
for c in Sources/CDigest/*.c; do
  clang -O2 -fsanitize=fuzzer-no-link,address -I Sources/CDigest/include -c "$c" -o "$out/cdigest/$(basename "$c" .c).o"
  objects+=("$out/cdigest/$(basename "$c" .c).o")
done
if ! swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name DockerfileSyntax -I "$out/cdigest" \
     Sources/DockerfileSyntax/*.swift Fuzz/ParserFuzzTarget.swift "${objects[@]}" -o "$out/parser-fuzzer" 2>"$out/build.log"; then
  cat "$out/build.log" >&2
  echo "fuzz: could not build the libFuzzer target (see above)" >&2
  exit 1
fi
cp -n testdata/parser/*.Dockerfile "$out/corpus/" 2>/dev/null || true
echo "fuzz: running the parser fuzzer for ${seconds}s"
"$out/parser-fuzzer" "$out/corpus" -max_total_time="$seconds" -max_len=4096 \
  -artifact_prefix="$out/crashes/" -print_final_stats=1 2>"$out/fuzz.log" || {
  tail -40 "$out/fuzz.log" >&2
  echo "fuzz: FAILED — reproducer in $out/crashes/" >&2
  exit 1
}
grep -E 'stat::number_of_executed_units|stat::new_units_added' "$out/fuzz.log" || true
echo "fuzz: no crash in ${seconds}s"
