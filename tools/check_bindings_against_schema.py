#!/usr/bin/env python3
"""Compares data/fhir/definitions/required-bindings.json with the enums of fhir.schema.json.

The official R4 JSON schema (fhir.schema.json, published with the specification) writes an
`enum` for many `code` elements. It is an independent rendering of the same terminology, so
every difference from the extracted code lists is either a bug in tools/extract_required_bindings.py
or a known divergence worth documenting (data/fhir/README.md lists them).

Usage: tools/check_bindings_against_schema.py SRC_DIR BINDINGS_JSON SCHEMA_JSON
  SRC_DIR        the package's dist/fhir/r4 (profiles-resources.json, profiles-types.json)
  BINDINGS_JSON  data/fhir/definitions/required-bindings.json
  SCHEMA_JSON    fhir.schema.json, e.g. from tests/e2e/node_modules/@asymmetrik/
                 fhir-json-schema-validator/fhir.schema.json
Prints one line per difference and a summary; exits 0 (differences are findings, not errors).
"""

import json
import os
import sys

FHIR_VERSION = "4.0.1"
PROFILE_FILES = ("profiles-types.json", "profiles-resources.json")


def upper_first(s):
    return s[:1].upper() + s[1:]


def schema_names(sd):
    """{backbone element path: schema definition name}, named as the schema generator does:
    Type_LastSegment, with a counter when a later backbone element reuses the name
    (ExplanationOfBenefit.addItem.detail -> ExplanationOfBenefit_Detail1)."""
    elements = sd["snapshot"]["element"]
    parents = {e["path"].rsplit(".", 1)[0] for e in elements if "." in e["path"]}
    names = {sd["type"]: sd["type"]}
    used = {sd["type"]}
    for e in elements[1:]:
        path = e["path"]
        if path not in parents:
            continue
        base = f"{sd['type']}_{upper_first(path.rsplit('.', 1)[1])}"
        name, n = base, 0
        while name in used:
            n += 1
            name = f"{base}{n}"
        used.add(name)
        names[path] = name
    return names


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    src, bindings_path, schema_path = argv[1:]
    with open(bindings_path, encoding="utf-8") as f:
        bindings = json.load(f)
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)["definitions"]

    # Every (definition, property) of the schema that has an enum.
    schema_enums = {}
    for name, d in schema.items():
        for prop, p in d.get("properties", {}).items():
            enum = p.get("enum") or p.get("items", {}).get("enum")
            if enum:
                schema_enums[(name, prop)] = enum

    matched = set()
    same = 0
    findings = []
    for file in PROFILE_FILES:
        with open(os.path.join(src, file), encoding="utf-8") as f:
            bundle = json.load(f)
        for entry in bundle["entry"]:
            sd = entry["resource"]
            if sd.get("resourceType") != "StructureDefinition":
                continue
            if sd.get("fhirVersion") != FHIR_VERSION or sd.get("derivation") == "constraint":
                continue
            if sd.get("kind") not in ("resource", "complex-type"):
                continue
            names = schema_names(sd)
            for e in sd["snapshot"]["element"][1:]:
                if [t.get("code") for t in e.get("type", [])] != ["code"]:
                    continue
                parent, prop = e["path"].rsplit(".", 1)
                key = (names.get(parent), prop)
                enum = schema_enums.get(key)
                if enum is not None:
                    matched.add(key)
                b = e.get("binding", {})
                url = b.get("valueSet", "").split("|", 1)[0]
                required = b.get("strength") == "required"
                ours = bindings["valueSets"].get(url) if required else None
                where = f"{e['path']} ({b.get('strength')} {url or '-'})"
                if enum is None and ours is None:
                    continue
                if enum is None:
                    findings.append(f"{where}: enforced with {len(ours)} codes; schema has no enum")
                elif ours is None:
                    why = ("not required" if not required else
                           bindings["notEnforceable"].get(url, "not in required-bindings.json"))
                    findings.append(f"{where}: not enforced ({why}); schema enum {enum}")
                elif set(enum) != set(ours):
                    only_schema = sorted(set(enum) - set(ours))
                    only_ours = sorted(set(ours) - set(enum))
                    findings.append(f"{where}: only in schema {only_schema}; only ours {only_ours}")
                else:
                    same += 1
    for key in sorted(set(schema_enums) - matched):
        findings.append(f"schema {key[0]}.{key[1]}: enum with no code element here")
    for line in findings:
        print(line)
    print(f"{same} elements agree; {len(findings)} differences; "
          f"{len(schema_enums)} schema enums", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
