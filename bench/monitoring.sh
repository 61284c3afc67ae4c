#!/usr/bin/env bash
# Server benchmarks of the monitoring lane for docs/benchmarks.md ("Monitoring: ingest and alert
# latency"), each on a fresh data directory with the default configuration (secured: an
# administrator's token on every request, as a gateway would hold):
#  1. HTTP NDJSON ingest, durable: wrk posting batches of 1,000 new heart-rate readings
#     (bench/telemetry_ingest.lua); every batch is answered after its group commit. Then the
#     server is stopped and the telemetry file's size per reading is reported.
#  2. MQTT ingest through mosquitto: the readings are published (npm mqtt, QoS 1) while
#     medulla is stopped, so the broker holds them for medulla's persistent session; medulla
#     is then started and timed until every reading is stored (`medulla_telemetry_readings` on
#     /metrics, nothing queued). What is measured is medulla taking readings from the broker,
#     not the publisher. Once with one reading per message, once with ten.
#  3. Alert latency: bench/monitoring_load.mjs latency, at RATE readings/s of background load.
# Usage: [PARTS="http mqtt latency"] bench/monitoring.sh [BUILD_DIR] [SECONDS] [RATE]
# (PARTS: the parts to run, all by default).
set -euo pipefail
build=${1:-build/release}
secs=${2:-10}
rate=${3:-100000}
parts=" ${PARTS:-http mqtt latency} "
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/$build/medulla"
[[ -x "$bin" ]] || bin="$build/medulla"
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() {  # start DIR PORT [ENV...]: a server on 127.0.0.1:PORT; its pid in $server
  local dir=$1 p=$2
  shift 2
  env "$@" "$bin" serve --data-dir "$dir" --listen "127.0.0.1:$p" >>"$dir.log" 2>&1 &
  server=$!
  pids+=("$server")
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$p/healthz" >/dev/null && return; sleep 0.05; done
  echo "medulla did not start: $(tail -5 "$dir.log")" >&2
  exit 1
}
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }
metric() {  # metric PORT TOKEN NAME
  curl -sf -H "Authorization: Bearer $2" "http://127.0.0.1:$1/metrics" | awk -v n="$3" '$1==n{print $2}'
}

# 1. HTTP ingest.
http_lines=() stored="" disk=""
if [[ $parts == *" http "* ]]; then
port=$(free_port)
start "$work/http" "$port"
token=$("$bin" token --data-dir "$work/http" --role admin | tail -1)
# Three runs back to back on the same server: the store grows (and its audit log with it).
for run in 1 2 3; do
  out=$(TOKEN=$token wrk -t1 -c16 -d"${secs}s" -s "$root/bench/telemetry_ingest.lua" \
    "http://127.0.0.1:$port/telemetry")
  http_lines+=("run $run: $(echo "$out" | sed -n 's/^readings\/s: //p') readings/s (batch latency p50/p99 $(echo "$out" | sed -n 's/^latency p50\/p99 ms: //p') ms, refused $(echo "$out" | sed -n 's/^refused requests: //p'))")
done
stored=$(metric "$port" "$token" medulla_telemetry_readings)
stop "$server"
# On disk, three ways: the coded blocks alone; the file compacted (VACUUM INTO: every live page,
# SQLite's own overhead included); and the files as the run left them (the WAL and the pages
# freed when pending rows were folded into blocks, which later writes reuse).
disk=$(python3 - "$work/http/telemetry.db" "$work/compact.db" <<'PY'
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
coded, count = db.execute("SELECT SUM(length(data)), SUM(count) FROM blocks").fetchone()
db.execute(f"VACUUM INTO '{sys.argv[2]}'")
files = sum(os.path.getsize(sys.argv[1] + s) for s in ("", "-wal") if os.path.exists(sys.argv[1] + s))
print(f"{count} readings: coded blocks {coded / count:.2f} B/reading, file compacted "
      f"{os.path.getsize(sys.argv[2]) / count:.2f} B/reading, files as left {files / count:.2f} B/reading")
PY
)
fi

# 2. MQTT ingest.
mqtt_lines=()
if [[ $parts == *" mqtt "* ]]; then
bport=$(free_port)
cat >"$work/mosquitto.conf" <<CONF
listener $bport 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages 1000
max_queued_messages 2000000
CONF
"$mosquitto" -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
pids+=($!)
sleep 0.5
for per_message in 1 10; do
  dir="$work/mqtt$per_message"
  readings=$((per_message == 1 ? 500000 : 2000000))
  mport=$(free_port)
  mqtt_env=(MEDULLA_MQTT_BROKER="127.0.0.1:$bport" MEDULLA_MQTT_CLIENT_ID="bench$per_message")
  start "$dir" "$mport" "${mqtt_env[@]}"
  mtoken=$("$bin" token --data-dir "$dir" --role admin | tail -1)
  # 200 wearables, each assigned to its patient (Device.patient), in one transaction.
  python3 - "$dir/devices.json" <<'PY'
import json, sys
entries = [{"resource": {"resourceType": "Device", "id": f"mqb{i}",
                         "patient": {"reference": f"Patient/mqb{i}"}},
            "request": {"method": "PUT", "url": f"Device/mqb{i}"}} for i in range(200)]
json.dump({"resourceType": "Bundle", "type": "transaction", "entry": entries}, open(sys.argv[1], "w"))
PY
  curl -sf -o /dev/null -H "Authorization: Bearer $mtoken" -H 'Content-Type: application/fhir+json' \
    --data-binary @"$dir/devices.json" "http://127.0.0.1:$mport/"
  sleep 1  # subscribed, and the device assignments are in the record
  stop "$server"
  published=$(node "$root/bench/monitoring_load.mjs" mqtt-publish "$bport" 200 "$readings" "$per_message")
  t0=$(date +%s.%N)
  start "$dir" "$mport" "${mqtt_env[@]}"
  while :; do
    n=$(metric "$mport" "$mtoken" medulla_telemetry_readings)
    q=$(metric "$mport" "$mtoken" medulla_telemetry_queued_readings)
    [[ ${n:-0} -ge $readings && ${q:-1} -eq 0 ]] && break
    sleep 0.05
  done
  t1=$(date +%s.%N)
  stop "$server"
  mqtt_lines+=("$(printf '%.0f' "$(echo "$readings / ($t1 - $t0)" | bc -l)") readings/s, $per_message per message ($readings readings from medulla's start to the last one durable; $published)")
done
fi

# 3. Alert latency under load.
latency=""
if [[ $parts == *" latency "* ]]; then
lport=$(free_port)
start "$work/latency" "$lport"
ltoken=$("$bin" token --data-dir "$work/latency" --role admin | tail -1)
latency=$(node "$root/bench/monitoring_load.mjs" latency "http://127.0.0.1:$lport" "$ltoken" "$rate" "$((secs * 6))")
stop "$server"
fi

echo "## HTTP NDJSON ingest (durable), batches of 1,000"
printf -- '- %s\n' "${http_lines[@]}"
echo "- on disk ($stored stored): $disk"
echo "## MQTT ingest through mosquitto"
printf -- '- %s\n' "${mqtt_lines[@]}"
echo "## Alert latency, reading to websocket"
printf -- '- %s\n' "$latency"
