#!/usr/bin/env bash
# Runs each libFuzzer target for a fixed time on a seed corpus of real FHIR resources.
#   fuzz/run.sh BUILD_DIR SECONDS
set -euo pipefail
build=${1:-build/fuzz}
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for target in "$build"/*_fuzz; do
  name=$(basename "$target" _fuzz)
  corpus="$work/corpus-$name"
  mkdir -p "$corpus"
  # Seeds: fuzz/seeds-NAME/ (and fuzz/seeds-NAME.py) for each target; the resource target also gets the FHIR examples
  # (valid and deliberately broken) and a few Synthea resources.
  cp "$root"/fuzz/seeds-"$name"/* "$corpus/" 2>/dev/null || true
  # Binary seeds are made by a script rather than kept in git.
  if [[ -x "$root/fuzz/seeds-$name.py" ]]; then "$root/fuzz/seeds-$name.py" "$corpus"; fi
  if [[ "$name" == fhir_resource ]]; then
    cp "$root"/tests/data/fhir/examples/*/*.json "$corpus/" 2>/dev/null || true
  fi
  echo "fuzz: $(basename "$target") for ${seconds}s"
  "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$work/" "$corpus" 2>&1 | tail -n 12
done
