#!/usr/bin/env bash
# Server benchmarks for docs/benchmarks.md, all in one run so the ratios are fair:
#  1. nginx (one worker) serving the bytes of one stored Patient as a static file: the reference;
#  2. medulla reads of that Patient by id, with a bearer token and an audit entry per read (the
#     default), and on a reference server with neither (security.enabled = false and
#     security.audit = false): the cost of security, as a ratio measured in the same run;
#  3. medulla creates of a Synthea-sized Patient, durable (synchronous=full), on both servers;
#  4. read latency (p50/p99) while the create load runs (secured server);
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

start() {  # start DIR PORT [ENV...]: a server on 127.0.0.1:PORT
  local dir=$1 p=$2
  shift 2
  env "$@" "$bin" serve --data-dir "$dir" --listen "127.0.0.1:$p" >"$dir.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$p/healthz" >/dev/null && break; sleep 0.1; done
}
port=$(free_port)
start "$work/data" "$port"
token=$("$bin" token --data-dir "$work/data" --role admin | tail -1)
auth="Authorization: Bearer $token"
rport=$(free_port)
start "$work/ref" "$rport" MEDULLA_SECURITY=off MEDULLA_AUDIT=off

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
create() {  # create PORT [HEADER]: the new Patient's id
  curl -s -X POST "http://127.0.0.1:$1/Patient" -H 'Content-Type: application/fhir+json' \
    ${2:+-H "$2"} --data-binary @"$work/patient.json" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
id=$(create "$port" "$auth")
rid=$(create "$rport")
mkdir -p "$work/www"
curl -s -H "$auth" "http://127.0.0.1:$port/Patient/$id" >"$work/www/p.json"
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

# The secured and the reference server take turns, three rounds each; the medians are reported
# (durable creates wait for fsync, whose latency varies from second to second on shared disks).
median() { sort -n | sed -n 2p; }
ref_reads=() reads=() ref_creates=() creates=()
for _ in 1 2 3; do
  ref_reads+=("$(wrk -t1 -c64 -d"${secs}s" "http://127.0.0.1:$rport/Patient/$rid" | rps)")
  reads+=("$(wrk -t1 -c64 -d"${secs}s" -H "$auth" "http://127.0.0.1:$port/Patient/$id" | rps)")
done
# Creates on a fresh pair of servers, as the foundation measured them, with the readers gone:
# otherwise the secured server's checkpointer would still be writing the reads' audit entries
# (hundreds of MB) into its database while the creates wait for their fsyncs.
kill "${pids[0]}" "${pids[1]}"; wait "${pids[0]}" "${pids[1]}" 2>/dev/null || true
pids=()
cport=$(free_port)
start "$work/cdata" "$cport"
ctoken=$("$bin" token --data-dir "$work/cdata" --role admin | tail -1)
crport=$(free_port)
start "$work/cref" "$crport" MEDULLA_SECURITY=off MEDULLA_AUDIT=off
# A pause before each round lets the other server's checkpointer finish writing the previous
# round's pages into its database: each round then starts on a quiet disk.
for _ in 1 2 3; do
  sleep "$secs"
  ref_creates+=("$(wrk -t1 -c64 -d"${secs}s" -s "$work/post.lua" "http://127.0.0.1:$crport/Patient" | rps)")
  sleep "$secs"
  creates+=("$(wrk -t1 -c64 -d"${secs}s" -s "$work/post.lua" -H "Authorization: Bearer $ctoken" \
    "http://127.0.0.1:$cport/Patient" | rps)")
done
ref_read_rps=$(printf '%s\n' "${ref_reads[@]}" | median)
read_rps=$(printf '%s\n' "${reads[@]}" | median)
ref_create_rps=$(printf '%s\n' "${ref_creates[@]}" | median)
create_rps=$(printf '%s\n' "${creates[@]}" | median)

# Reads under create load: 32 connections creating, 8 reading with latency recorded.
cauth="Authorization: Bearer $ctoken"
cid=$(create "$cport" "$cauth")
wrk -t1 -c32 -d"${secs}s" -s "$work/post.lua" -H "$cauth" "http://127.0.0.1:$cport/Patient" >"$work/bg.txt" &
bg=$!
wrk -t1 -c8 -d"${secs}s" --latency -H "$cauth" "http://127.0.0.1:$cport/Patient/$cid" >"$work/lat.txt"
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
printf '| medulla read by id, no token, no audit (reference), reads/s | %.0f (%.2f x nginx) |\n' "$ref_read_rps" "$(echo "$ref_read_rps / $nginx_rps" | bc -l)"
printf '| medulla read by id, token + audit entry, reads/s | %.0f (%.2f x nginx, %.2f x reference) |\n' "$read_rps" "$(echo "$read_rps / $nginx_rps" | bc -l)" "$(echo "$read_rps / $ref_read_rps" | bc -l)"
printf '| medulla create Patient (durable), no token, no audit (reference), creates/s | %.0f |\n' "$ref_create_rps"
printf '| medulla create Patient (durable), token + audit entry, creates/s | %.0f (%.2f x reference) |\n' "$create_rps" "$(echo "$create_rps / $ref_create_rps" | bc -l)"
printf '| reads under create load: p50 / p99 latency | %s / %s (%.0f reads/s beside %.0f creates/s) |\n' "$p50" "$p99" "$mixed_reads" "$mixed_creates"
printf '| import of %s | %s |\n' "the Synthea bundles" "$import_line"
