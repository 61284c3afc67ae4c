#!/usr/bin/env bash
# The dispatch decision over HTTP for docs/benchmarks.md ("Dispatch"): a secured server on a road
# graph (default: the whole Porto extract; © OpenStreetMap contributors, ODbL) with 20 hospitals
# (tests/data/routing/hospitals.csv, capabilities and ED status spread over them) and 50
# available ambulances at seeded random positions near them, then wrk posting
# POST /dispatch/recommend (geometry included) for incidents at seeded random places with mixed
# conditions (bench/dispatch_recommend.lua), one connection at a time so that the latency is
# the decision's, not the queue's.
# Usage: bench/dispatch_http.sh [BUILD_DIR] [SECONDS] [PBF]
set -euo pipefail
build=${1:-build/release}
secs=${2:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
pbf=${3:-$root/../shared/data/osm/porto_portugal.osm.pbf}
bin="$root/$build/medulla"
work=$(mktemp -d)
pid=
cleanup() { [[ -n "$pid" ]] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" routing import --data-dir "$work/data" "$pbf" >/dev/null 2>&1
"$bin" serve --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
token=$("$bin" token --data-dir "$work/data" --role dispatcher 2>/dev/null | tail -1)
admin=$("$bin" token --data-dir "$work/data" --role admin 2>/dev/null | tail -1)
# The hospitals and the fleet are set up by an administrator; the load is a dispatcher's.
export MEDULLA_BENCH_TOKEN=$admin MEDULLA_BENCH_URL="http://127.0.0.1:$port"
python3 - "$root/tests/data/routing/hospitals.csv" <<'PY'
import csv, json, os, random, sys, urllib.request
url, token = os.environ["MEDULLA_BENCH_URL"], os.environ["MEDULLA_BENCH_TOKEN"]
rng = random.Random(42)
caps = ["stroke-unit", "thrombectomy", "pci", "trauma-level-1", "trauma-level-2", "burns",
        "paediatrics", "maternity"]
entries = []
hospitals = list(csv.DictReader(open(sys.argv[1])))
for i, h in enumerate(hospitals):
    lon, lat = float(h["lon"]), float(h["lat"])
    entries.append({"resource": {"resourceType": "Location", "id": f"h{i}", "name": h["id"],
        "status": "active", "position": {"longitude": lon, "latitude": lat},
        "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "HOSP"}]}]},
        "request": {"method": "PUT", "url": f"Location/h{i}"}})
    entries.append({"resource": {"resourceType": "HealthcareService", "id": f"s{i}", "active": True,
        "location": [{"reference": f"Location/h{i}"}],
        "type": [{"coding": [{"system": "https://medulla.health/fhir/CodeSystem/hospital-capability", "code": c}]}
                 for c in rng.sample(caps, 3)]},
        "request": {"method": "PUT", "url": f"HealthcareService/s{i}"}})
for i in range(50):
    entries.append({"resource": {"resourceType": "Device", "id": f"a{i}",
        "type": {"coding": [{"system": "https://medulla.health/fhir/CodeSystem/device-kind", "code": "ambulance"}]},
        "extension": [{"url": "https://medulla.health/fhir/StructureDefinition/ambulance-status", "valueCode": "available"}]},
        "request": {"method": "PUT", "url": f"Device/a{i}"}})
def post(path, body, ctype):
    req = urllib.request.Request(url + path, data=body.encode(), method="POST",
        headers={"content-type": ctype, "authorization": "Bearer " + token})
    return urllib.request.urlopen(req).read()
post("/", json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}), "application/fhir+json")
# Ambulances near the hospitals (an ambulance station is rarely far from an ED).
lines = []
for i in range(50):
    h = hospitals[i % len(hospitals)]
    lines.append(json.dumps({"device": f"a{i}", "lon": float(h["lon"]) + rng.uniform(-0.01, 0.01),
                             "lat": float(h["lat"]) + rng.uniform(-0.01, 0.01)}))
import time
time.sleep(1)  # the change feed brings the Devices to dispatch
post("/dispatch/positions", "\n".join(lines), "application/x-ndjson")
PY
# One request first: the load is only meaningful if it is answered.
status=$(curl -s -o "$work/first.json" -w '%{http_code}' -X POST -H "authorization: Bearer $token" \
  -H 'content-type: application/json' "$MEDULLA_BENCH_URL/dispatch/recommend" \
  -d '{"incident":{"location":[-8.61,41.15],"condition":"stroke"}}')
if [[ "$status" != 200 ]]; then
  echo "POST /dispatch/recommend answered $status: $(head -c 500 "$work/first.json")" >&2
  exit 1
fi
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("first answer: ambulance", d["ambulance"]["reference"], "hospital", d["hospital"]["reference"], "candidates", len(d["candidates"]["ambulances"]), "ambulances", len(d["candidates"]["hospitals"]), "hospitals")' "$work/first.json"
# The load runs with the administrator's token: a dispatcher's is rate-limited per client
# (security.rate_limit), which a console never reaches but a load generator does at once.
# Same guard code, same handler. wrk prints "Non-2xx" if anything was refused.
wrk -t1 -c1 -d"${secs}s" --latency -s "$root/bench/dispatch_recommend.lua" "$MEDULLA_BENCH_URL" \
  -H "authorization: Bearer $admin"
