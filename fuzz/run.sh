#!/usr/bin/env bash
# Runs each libFuzzer target for a fixed time on a seed corpus of real FHIR resources.
#   fuzz/run.sh BUILD_DIR SECONDS
set -euo pipefail
build=${1:-build/fuzz}
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
# Seeds: the FHIR examples (valid and deliberately broken) and a few Synthea resources.
cp "$root"/tests/data/fhir/examples/*/*.json "$work/corpus/" 2>/dev/null || true
cp "$root"/fuzz/seeds/* "$work/corpus/" 2>/dev/null || true
for target in "$build"/*_fuzz; do
  echo "fuzz: $(basename "$target") for ${seconds}s"
  "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" 2>&1 | tail -n 12
done
