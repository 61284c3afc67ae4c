#!/usr/bin/env bash
# Installs everything medulla needs to build, test and benchmark on Debian 12.
# Idempotent: packages already present are left alone; safe to run again.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config clang libclang-rt-14-dev clang-format
  # libraries (see docs/architecture.md for why each was chosen)
  libboost-dev libsimdjson-dev libsqlite3-dev libexpected-dev libmimalloc-dev libspdlog-dev libfmt-dev libcli11-dev
  libtomlplusplus-dev libssl-dev
  # routing: OSM PBF import (libosmium and its decoders), nested-dissection order (METIS)
  libosmium2-dev libprotozero-dev zlib1g-dev libbz2-dev libexpat1-dev libmetis-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev nodejs curl python3 openssl
  # the MQTT broker and its command-line client, for the device-reading tests (e2e_mqtt)
  mosquitto mosquitto-clients
)
# Tools used only by the benchmarks (bench/); installed when asked for.
if [[ "${MEDULLA_BENCH_DEPS:-0}" == 1 ]]; then
  packages+=(wrk nginx bc)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all Debian packages present"
fi

# npm comes with nodesource's nodejs; Debian's own nodejs needs the separate npm package.
if ! command -v npm >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends npm
fi
