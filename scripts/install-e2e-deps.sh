#!/usr/bin/env bash
# Installs the end-to-end tests' npm packages (real third-party FHIR clients and validators)
# from tests/e2e/package-lock.json. Idempotent: does nothing when they are already installed.
set -euo pipefail
cd "$(dirname "$0")/../tests/e2e"
if [[ -d node_modules && node_modules/.package-lock.json -nt package-lock.json ]]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
