#!/usr/bin/env bash
# OTLP input benchmark (BENCHMARKS.md, "OTLP logs input"): events/s of OTLP protobuf and OTLP/JSON
# logs next to the native event, decoding alone and through Engine.processOTLP / Engine.process.
# Compiles TokenwatchCore (no dependencies) with bench/otlp/main.swift into one optimised binary,
# so it needs no release build of the whole package.
#
#   bench/otlp.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
swiftc -O -wmo -module-name TokenwatchCore -o "$OUT/otlp-bench" \
  $(find "$ROOT/Sources/TokenwatchCore" -name '*.swift') "$ROOT/bench/otlp/main.swift" 2>&1 | grep -v warning || true
"$OUT/otlp-bench" "$ROOT/Tests/Fixtures/otlp"
