#!/usr/bin/env bash
# Server benchmarks for docs/benchmarks.md, all in one run so the ratios are fair:
#  1. nginx (one worker) serving the bytes of one stored Patient as a static file: the reference;
#  2. medulla reads of that Patient by id;
#  3. medulla creates of a Synthea-sized Patient, durable (synchronous=full);
#  4. read latency (p50/p99) while the create load runs;
#  5. `medulla import` of the Synthea bundles.
# wrk: 1 thread, 64 connections, loopback. Usage: bench/run.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
build=${1:-build/release}
secs=${2:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/$build/medulla"
[[ -x "$bin" ]] || bin="$build/medulla"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rps() { sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p'; }

port=$(free_port)
MEDULLA_ACCESS_LOG=1 "$bin" serve --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

# A Synthea Patient without its id, as the create payload.
python3 - "$root" "$work" <<'PY'
import glob, json, sys
root, work = sys.argv[1], sys.argv[2]
bundle = sorted(glob.glob(f"{root}/tests/data/fhir/synthea/*.json"))[0]
pat = json.load(open(bundle))["entry"][0]["resource"]
pat.pop("id", None)
open(f"{work}/patient.json", "w").write(json.dumps(pat))
open(f"{work}/post.lua", "w").write(
    'wrk.method="POST"\nwrk.body=[==[%s]==]\nwrk.headers["Content-Type"]="application/fhir+json"\n'
    % json.dumps(pat))
PY
id=$(curl -s -X POST "http://127.0.0.1:$port/Patient" -H 'Content-Type: application/fhir+json' \
  --data-binary @"$work/patient.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
mkdir -p "$work/www"
curl -s "http://127.0.0.1:$port/Patient/$id" >"$work/www/p.json"
bytes=$(stat -c %s "$work/www/p.json")

nport=$(free_port)
cat >"$work/nginx.conf" <<NGINX
worker_processes 1; pid $work/nginx.pid; error_log $work/nginx.err; daemon off;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:$nport; root $work/www; } }
NGINX
nginx -c "$work/nginx.conf" &
pids+=($!)
sleep 0.5
nginx_rps=$(wrk -t1 -c64 -d"${secs}s" "http://127.0.0.1:$nport/p.json" | rps)
kill "${pids[-1]}"; unset 'pids[-1]'

read_rps=$(wrk -t1 -c64 -d"${secs}s" "http://127.0.0.1:$port/Patient/$id" | rps)
create_rps=$(wrk -t1 -c64 -d"${secs}s" -s "$work/post.lua" "http://127.0.0.1:$port/Patient" | rps)

# Reads under create load: 32 connections creating, 8 reading with latency recorded.
wrk -t1 -c32 -d"${secs}s" -s "$work/post.lua" "http://127.0.0.1:$port/Patient" >"$work/bg.txt" &
bg=$!
wrk -t1 -c8 -d"${secs}s" --latency "http://127.0.0.1:$port/Patient/$id" >"$work/lat.txt"
wait $bg
p50=$(awk '$1=="50%"{print $2}' "$work/lat.txt")
p99=$(awk '$1=="99%"{print $2}' "$work/lat.txt")
mixed_reads=$(rps <"$work/lat.txt")
mixed_creates=$(rps <"$work/bg.txt")

kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
rm -rf "$work/imp"
import_line=$("$bin" import --data-dir "$work/imp" "$root"/tests/data/fhir/synthea/*.json | head -1)

printf '| figure | value |\n|---|---|\n'
printf '| nginx static file (%s B), reads/s | %.0f |\n' "$bytes" "$nginx_rps"
printf '| medulla read by id, reads/s | %.0f (%.2f x nginx) |\n' "$read_rps" "$(echo "$read_rps / $nginx_rps" | bc -l)"
printf '| medulla create Patient (durable), creates/s | %.0f |\n' "$create_rps"
printf '| reads under create load: p50 / p99 latency | %s / %s (%.0f reads/s beside %.0f creates/s) |\n' "$p50" "$p99" "$mixed_reads" "$mixed_creates"
printf '| import of %s | %s |\n' "the Synthea bundles" "$import_line"
