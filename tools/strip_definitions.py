#!/usr/bin/env python3
"""Strips the official FHIR R4 definition bundles down to what the validator reads.

The published profiles-resources.json / profiles-types.json carry narratives, mappings,
descriptions, examples and differentials that validation never looks at; embedding them would
add ~13 MB to the binary and parse time to every start. This keeps only the StructureDefinitions
of FHIR 4.0.1 and, in each, the fields listed in data/fhir/README.md (the validator's, plus
isSummary for search's _summary).

Usage: tools/strip_definitions.py SRC_DIR DST_DIR
  reads  SRC_DIR/profiles-resources.json, SRC_DIR/profiles-types.json
  writes DST_DIR/profiles-resources.json, DST_DIR/profiles-types.json (compact JSON)
"""

import json
import os
import sys

FHIR_VERSION = "4.0.1"
FILES = ("profiles-resources.json", "profiles-types.json")

STRUCTURE_FIELDS = ("url", "name", "type", "kind", "abstract", "baseDefinition", "derivation")
ELEMENT_FIELDS = ("id", "path", "min", "max", "base", "type", "contentReference", "binding",
                  "constraint")


def pick(obj, fields):
    return {k: obj[k] for k in fields if k in obj}


def strip_type(t):
    out = pick(t, ("code", "targetProfile", "profile"))
    # Only the extensions on the type itself (structuredefinition-fhir-type on System.* codes,
    # regex and hierarchy); kept whole because they are short.
    if "extension" in t:
        out["extension"] = t["extension"]
    return out


def strip_element(e):
    out = pick(e, ELEMENT_FIELDS)
    # isSummary (for _summary=true) only where it is true: absent means false, and most
    # elements are not in the summary.
    if e.get("isSummary") is True:
        out["isSummary"] = True
    if "base" in out:
        out["base"] = pick(out["base"], ("path", "min", "max"))
    if "type" in out:
        out["type"] = [strip_type(t) for t in out["type"]]
    if "binding" in out:
        out["binding"] = pick(out["binding"], ("strength", "valueSet"))
    if "constraint" in out:
        out["constraint"] = [pick(c, ("key", "severity", "expression")) for c in out["constraint"]]
    return out


def strip_bundle(bundle, dropped):
    entries = []
    for entry in bundle.get("entry", []):
        r = entry.get("resource", {})
        if r.get("resourceType") != "StructureDefinition":
            dropped.append(f"{r.get('resourceType')}/{r.get('id')}")
            continue
        # The npm package adds definitions from later releases (e.g. SubscriptionStatus, 4.3.0);
        # they are not part of R4 and must not become valid resource types here.
        if r.get("fhirVersion") != FHIR_VERSION:
            dropped.append(f"StructureDefinition/{r.get('id')} (fhirVersion {r.get('fhirVersion')})")
            continue
        sd = pick(r, STRUCTURE_FIELDS)
        sd["resourceType"] = "StructureDefinition"
        sd["snapshot"] = {"element": [strip_element(e) for e in r["snapshot"]["element"]]}
        entries.append({"resource": sd})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    src, dst = argv[1], argv[2]
    os.makedirs(dst, exist_ok=True)
    for name in FILES:
        with open(os.path.join(src, name), encoding="utf-8") as f:
            bundle = json.load(f)
        dropped = []
        out = strip_bundle(bundle, dropped)
        text = json.dumps(out, ensure_ascii=False, separators=(",", ":"))
        with open(os.path.join(dst, name), "w", encoding="utf-8") as f:
            f.write(text)
        print(f"{name}: {len(out['entry'])} StructureDefinitions, {len(text.encode())} bytes; "
              f"dropped {len(dropped)} entries", file=sys.stderr)
        for d in dropped:
            if "fhirVersion" in d:
                print(f"  dropped {d}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
