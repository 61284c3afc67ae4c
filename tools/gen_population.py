#!/usr/bin/env python3
"""Generates a large synthetic population from the Synthea bundles in tests/data/fhir/synthea,
for the search benchmarks (bench/search_scale.sh): N patients, each a copy of one source
patient's whole record (every resource, references rewritten, dates shifted, names and
identifiers new) plus extra vital-sign Observations until it has `--observations` of them.

    tools/gen_population.py --patients 10000 --observations 200 --seed 20261121 --out DIR

Writes DIR/<Type>.ndjson (ids are fresh UUIDs derived from the seed, so runs are identical)
and DIR/patients.txt (one generated Patient per line: id, family name, birth date, for the
load scripts). Only the
standard library; about 1 minute per million resources.
"""
import argparse
import datetime as dt
import glob
import json
import os
import random
import re
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SYNTHEA = os.path.join(HERE, "..", "tests", "data", "fhir", "synthea")
VITALS = {"8867-4", "8480-6", "8462-4", "29463-7", "8302-2", "39156-5", "9279-1", "8310-5",
          "72514-3", "55284-4"}
DATE_KEYS = {"effectiveDateTime", "issued", "start", "end", "recordedDate", "onsetDateTime",
             "abatementDateTime", "authoredOn", "occurrenceDateTime", "performedDateTime",
             "created", "date", "started"}


def load_sources():
    """Source patients: (patient, [other resources]) with urn:uuid references as Type/id."""
    sources, shared = [], []
    for path in sorted(glob.glob(os.path.join(SYNTHEA, "*.json"))):
        bundle = json.load(open(path, encoding="utf-8"))
        by_url = {e["fullUrl"]: e["resource"] for e in bundle.get("entry", [])}
        ref_map = {url: f'{r["resourceType"]}/{r["id"]}' for url, r in by_url.items()}
        text = json.dumps([e["resource"] for e in bundle.get("entry", [])])
        text = re.sub(r'"(urn:uuid:[0-9a-f-]+)"', lambda m: json.dumps(ref_map.get(m.group(1), m.group(1))), text)
        resources = json.loads(text)
        patient = next((r for r in resources if r["resourceType"] == "Patient"), None)
        if patient is None:
            shared.extend(resources)  # organisations, practitioners: once, as they are
        else:
            sources.append((patient, [r for r in resources if r is not patient]))
    return sources, shared


def shift_dates(value, days):
    """Moves every date and dateTime string under the known keys by `days`."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k in DATE_KEYS and isinstance(v, str) and re.match(r"^\d{4}-\d{2}-\d{2}", v):
                try:
                    if len(v) == 10:
                        value[k] = (dt.date.fromisoformat(v) + dt.timedelta(days=days)).isoformat()
                    else:
                        t = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
                        value[k] = (t + dt.timedelta(days=days)).isoformat()
                except ValueError:
                    pass
            else:
                shift_dates(v, days)
    elif isinstance(value, list):
        for v in value:
            shift_dates(v, days)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=10000)
    ap.add_argument("--observations", type=int, default=200, help="Observations per patient (at least)")
    ap.add_argument("--seed", type=int, default=20261121)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    sources, shared = load_sources()
    os.makedirs(args.out, exist_ok=True)
    files = {}

    def emit(resource):
        t = resource["resourceType"]
        if t not in files:
            files[t] = open(os.path.join(args.out, f"{t}.ndjson"), "w", encoding="utf-8")
        files[t].write(json.dumps(resource, separators=(",", ":"), ensure_ascii=False) + "\n")

    def new_id():
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    for r in shared:
        emit(r)
    ids = []
    count = 0
    for n in range(args.patients):
        patient, record = sources[n % len(sources)]
        mapping = {f'Patient/{patient["id"]}': None}
        pid = new_id()
        mapping[f'Patient/{patient["id"]}'] = f"Patient/{pid}"
        for r in record:
            mapping[f'{r["resourceType"]}/{r["id"]}'] = f'{r["resourceType"]}/{new_id()}'
        days = rng.randint(-3650, 0)
        p = json.loads(json.dumps(patient))
        p["id"] = pid
        p["identifier"] = [{"system": "urn:medulla:bench", "value": f"P{n:07d}"}]
        for name in p.get("name", []):
            name["family"] = f'{name.get("family", "X")}{n % 997}'
        if "birthDate" in p:
            b = dt.date.fromisoformat(p["birthDate"]) + dt.timedelta(days=days)
            p["birthDate"] = b.isoformat()
        p.pop("deceasedDateTime", None)
        emit(p)
        ids.append(f'{pid} {p["name"][0]["family"]} {p.get("birthDate", "")}')
        text = json.dumps(record)
        text = re.sub(r'"reference": "([A-Za-z]+/[0-9a-f-]+)"',
                      lambda m: '"reference": ' + json.dumps(mapping.get(m.group(1), m.group(1))), text)
        copies = json.loads(text)
        vitals = []
        for r in copies:
            r["id"] = mapping[f'{r["resourceType"]}/{r["id"]}'].split("/")[1]
            shift_dates(r, days)
            emit(r)
            count += 1
            if r["resourceType"] == "Observation":
                code = r.get("code", {}).get("coding", [{}])[0].get("code")
                if code in VITALS:
                    vitals.append(r)
        have = sum(1 for r in copies if r["resourceType"] == "Observation")
        k = 0
        while have < args.observations and vitals:
            o = json.loads(json.dumps(vitals[k % len(vitals)]))
            k += 1
            o["id"] = new_id()
            shift_dates(o, -7 * k)  # a week earlier per round: a longer history
            if "valueQuantity" in o and isinstance(o["valueQuantity"].get("value"), (int, float)):
                o["valueQuantity"]["value"] = round(o["valueQuantity"]["value"] * rng.uniform(0.9, 1.1), 2)
            emit(o)
            have += 1
            count += 1
    for f in files.values():
        f.close()
    with open(os.path.join(args.out, "patients.txt"), "w") as f:
        f.write("\n".join(ids) + "\n")
    print(f"{args.patients} patients, {count + args.patients + len(shared)} resources in {args.out}")


if __name__ == "__main__":
    main()
