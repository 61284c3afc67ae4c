#!/usr/bin/env bash
# Search benchmarks at city scale, for docs/benchmarks.md (issue: FHIR search, transactions,
# bulk export). Usage:
#   bench/search_scale.sh [BUILD_DIR] [PATIENTS] [OBSERVATIONS_PER_PATIENT] [SECONDS]
# defaults: build/release 10000 200 10   (10,000 patients, 2,000,000 Observations; seed 20261121)
#
#  1. tools/gen_population.py writes the population as NDJSON (cached in $MEDULLA_BENCH_CACHE,
#     default /tmp/medulla-scale-<patients>-<obs>);
#     MEDULLA_BENCH_DATA=DIR keeps the imported store in DIR, and reuses it on the next run;
#  2. `medulla import` loads it (rate, and database and index size per 1M resources);
#  3. wrk (1 thread, 4 connections) runs each query with a random patient per request; the
#     server's own access log gives p50/p99 server time;
#  4. $export of the whole store, timed from kick-off to the complete manifest;
#  5. transactions of 100 entries (1 Patient + 99 Observations, urn:uuid references).
set -euo pipefail
build=${1:-build/release}
patients=${2:-10000}
obs=${3:-200}
secs=${4:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/$build/medulla"
[[ -x "$bin" ]] || bin="$build/medulla"
cache=${MEDULLA_BENCH_CACHE:-/tmp/medulla-scale-$patients-$obs}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

if [[ ! -f "$cache/patients.txt" ]]; then
  python3 "$root/tools/gen_population.py" --patients "$patients" --observations "$obs" \
    --seed 20261121 --out "$cache"
fi
total=$(cat "$cache"/*.ndjson | wc -l)
# MEDULLA_BENCH_DATA keeps the imported store (and reuses it when it exists): the import of
# the full scale takes a quarter of an hour.
data=${MEDULLA_BENCH_DATA:-$work/data}
if [[ -f "$data/medulla.db" ]]; then
  echo "import: reusing $data"
else
  start=$(date +%s.%N)
  "$bin" import --data-dir "$data" "$cache"/*.ndjson >/dev/null
  end=$(date +%s.%N)
  echo "import: $total resources in $(echo "$end - $start" | bc) s = $(echo "$total / ($end - $start)" | bc) /s (validated, indexed, durable)"
fi
python3 - "$data/medulla.db" "$total" <<'PY'
import sqlite3, sys
db, total = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
sizes = dict(c.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
index = sum(v for k, v in sizes.items() if k.startswith("ix_"))
allb = sum(sizes.values())
per = 1e6 / total
print(f"size: database {allb/1e9:.2f} GB ({allb*per/1e9:.2f} GB per 1M resources); "
      f"search index {index/1e9:.2f} GB ({index*per/1e9:.2f} GB per 1M resources)")
for k in sorted((k for k in sizes if k.startswith("ix_")), key=lambda k: -sizes[k]):
    print(f"  {k:20s} {sizes[k]*per/1e6:8.1f} MB per 1M resources")
PY

port=$(free_port)
MEDULLA_ACCESS_LOG=1 "$bin" serve --data-dir "$data" --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
base="http://127.0.0.1:$port"

# The load scripts pick a random generated patient per request.
python3 - "$cache/patients.txt" "$work" <<'PY'
import sys
path, work = sys.argv[1], sys.argv[2]
rows = [l.split() for l in open(path) if l.strip()]
lua_rows = ",".join('{"%s","%s","%s"}' % (r[0], r[1], r[2] if len(r) > 2 else "") for r in rows)
common = "math.randomseed(20261121)\nlocal P = {%s}\n" % lua_rows
queries = {
  "obs": 'local p = P[math.random(#P)]\nreturn wrk.format("GET", "/Observation?subject=Patient/" .. p[1] .. "&code=http://loinc.org|8867-4&date=ge2015-01-01&_sort=-date&_count=50")',
  "name": 'local p = P[math.random(#P)]\nreturn wrk.format("GET", "/Patient?name=" .. p[2] .. "&birthdate=" .. p[3])',
  "everything": 'local p = P[math.random(#P)]\nreturn wrk.format("GET", "/Patient/" .. p[1] .. "/$everything")',
}
for name, body in queries.items():
    open(f"{work}/{name}.lua", "w").write(common + "request = function()\n" + body + "\nend\n")
PY

# p50/p99 of the server's own time (access log "ms") for requests whose path starts with $1.
server_time() {
  python3 - "$work/serve.log" "$1" "$2" <<'PY'
import json, sys
log, prefix, since = sys.argv[1], sys.argv[2], int(sys.argv[3])
ms = []
with open(log) as f:
    for i, line in enumerate(f):
        if i < since or not line.startswith("{"): continue
        try: e = json.loads(line)
        except ValueError: continue
        if e.get("path", "").startswith(prefix) and e.get("status") == 200: ms.append(e["ms"])
ms.sort()
if not ms: print("no requests"); sys.exit()
q = lambda p: ms[min(len(ms) - 1, int(p * len(ms)))]
print(f"{len(ms)} requests, server time p50 {q(0.5):.2f} ms, p99 {q(0.99):.2f} ms")
PY
}
for q in obs:/Observation name:/Patient everything:/Patient/; do
  name=${q%%:*}; prefix=${q#*:}
  from=$(wc -l <"$work/serve.log")
  rps=$(wrk -t1 -c4 -d"${secs}s" -s "$work/$name.lua" "$base" | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p')
  echo "$name: $rps req/s; $(server_time "$prefix" "$from")"
done

# $export of everything, before the transactions add resources that the index must catch up
# with first (a search, and so an export page, waits for the index).
start=$(date +%s.%N)
loc=$(curl -s -D - -o /dev/null -H 'Prefer: respond-async' "$base/\$export" | tr -d '\r' | sed -n 's/^[Cc]ontent-[Ll]ocation: //p')
while [[ $(curl -s -o "$work/manifest.json" -w '%{http_code}' "$loc") == 202 ]]; do sleep 0.2; done
end=$(date +%s.%N)
n=$(python3 -c "import json,sys; print(sum(o['count'] for o in json.load(open(sys.argv[1]))['output']))" "$work/manifest.json")
echo "\$export: $n resources in $(echo "$end - $start" | bc) s = $(echo "$n / ($end - $start)" | bc) resources/s"

# Transactions of 100 entries: 1 Patient and 99 Observations referring to it by urn:uuid.
python3 - "$cache" "$work" <<'PY'
import json, sys
cache, work = sys.argv[1], sys.argv[2]
obs = []
with open(f"{cache}/Observation.ndjson") as f:
    for line in f:
        o = json.loads(line); o.pop("id"); o.pop("encounter", None)
        o["subject"] = {"reference": "urn:uuid:00000000-0000-4000-8000-000000000001"}
        obs.append(o)
        if len(obs) == 99: break
pat = {"resourceType": "Patient", "name": [{"family": "Tx"}]}
entries = [{"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001", "resource": pat,
            "request": {"method": "POST", "url": "Patient"}}]
entries += [{"resource": o, "request": {"method": "POST", "url": "Observation"}} for o in obs]
body = json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries})
open(f"{work}/tx.lua", "w").write('wrk.method="POST"\nwrk.body=[==[%s]==]\nwrk.headers["Content-Type"]="application/fhir+json"\nwrk.headers["Prefer"]="return=minimal"\n' % body)
PY
rps=$(wrk -t1 -c4 -d"${secs}s" -s "$work/tx.lua" "$base/" | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p')
echo "transaction of 100 entries: $rps bundles/s = $(echo "$rps * 100" | bc) entries/s"
