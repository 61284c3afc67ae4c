#!/usr/bin/env python3
"""Expands the value sets that FHIR R4 `code` elements bind with strength `required`.

FHIR says such an element must hold a code from the bound ValueSet (terminologies.html#required).
The server has no terminology service, so the value sets are expanded here, once, from the
ValueSets and CodeSystems that ship with the definitions, and the code lists are embedded next
to the StructureDefinitions (src/fhir/definitions_data.S). A value set that cannot be expanded
from the package (filters, or a code system the package does not contain completely: UCUM,
BCP-13 MIME types, ISO 4217 currencies) is listed as not enforceable; the validator then accepts
any syntactically valid code there rather than reject what may be correct.

Usage: tools/extract_required_bindings.py SRC_DIR DST_DIR
  reads  SRC_DIR/profiles-resources.json, SRC_DIR/profiles-types.json (which elements bind what)
         and SRC_DIR/valuesets.json, SRC_DIR/v3-codesystems.json (ValueSets and CodeSystems)
  writes DST_DIR/required-bindings.json (compact JSON):
    {"valueSets":{URL:[code,...]},"notEnforceable":{URL:reason}}
  URLs are written without their |version; codes in definition order, without duplicates.
  A binding's |version (4.0.1 when it has none and the value set is FHIR's own) must be the
  version of the package's value set, else the value set is not enforceable. The report on
  stderr names every value set that is not enforceable and every abstract code left out.
"""

import json
import os
import sys

FHIR_VERSION = "4.0.1"
PROFILE_FILES = ("profiles-resources.json", "profiles-types.json")
# The terminology of the package: FHIR's own ValueSets and CodeSystems, and the HL7 v3 ones
# (v3-ConfidentialityClassification). v2-tables.json holds none that a required binding uses.
TERMINOLOGY_FILES = ("valuesets.json", "v3-codesystems.json")
OUTPUT = "required-bindings.json"
FHIR_VALUE_SET_PREFIX = "http://hl7.org/fhir/ValueSet/"


class NotEnforceable(Exception):
    pass


def load_bundle(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def unversioned(url):
    return url.split("|", 1)[0]


def required_code_bindings(src):
    """{versioned valueSet string: [element paths]} for the elements the validator loads."""
    bindings = {}
    for name in PROFILE_FILES:
        for entry in load_bundle(os.path.join(src, name)).get("entry", []):
            sd = entry.get("resource", {})
            # The same selection as src/fhir/definitions.cc and tools/strip_definitions.py.
            if sd.get("resourceType") != "StructureDefinition":
                continue
            if sd.get("fhirVersion") != FHIR_VERSION:
                continue
            if sd.get("kind") not in ("resource", "complex-type"):
                continue
            if sd.get("derivation") == "constraint":
                continue
            for e in sd["snapshot"]["element"]:
                b = e.get("binding")
                if not b or b.get("strength") != "required" or not b.get("valueSet"):
                    continue
                if [t.get("code") for t in e.get("type", [])] != ["code"]:
                    continue
                bindings.setdefault(b["valueSet"], []).append(e["path"])
    return bindings


class Expander:
    def __init__(self, src):
        self.value_sets = {}
        self.code_systems = {}
        for name in TERMINOLOGY_FILES:
            for entry in load_bundle(os.path.join(src, name)).get("entry", []):
                r = entry.get("resource", {})
                table = {"ValueSet": self.value_sets, "CodeSystem": self.code_systems}.get(
                    r.get("resourceType"))
                if table is None or "url" not in r:
                    continue
                if r["url"] in table:
                    raise SystemExit(f"{r['url']} is defined twice")
                table[r["url"]] = r
        self.memo = {}
        self.in_progress = set()
        self.unselectable = []  # abstract codes left out of expansions, for the report

    def expand(self, url):
        """The codes of the value set `url` (unversioned), in order; raises NotEnforceable."""
        if url in self.memo:
            result = self.memo[url]
            if isinstance(result, NotEnforceable):
                raise result
            return result
        if url in self.in_progress:
            raise NotEnforceable(f"includes itself through {url}")
        self.in_progress.add(url)
        try:
            result = self._expand(url)
        except NotEnforceable as e:
            self.memo[url] = e
            raise
        finally:
            self.in_progress.discard(url)
        self.memo[url] = result
        return result

    def _expand(self, url):
        vs = self.value_sets.get(url)
        if vs is None:
            raise NotEnforceable("value set not in the package")
        compose = vs.get("compose")
        if compose is None:
            raise NotEnforceable("value set has no compose")
        codes = []
        for inc in compose.get("include", []):
            codes += self._include(inc)
        excluded = set()
        for exc in compose.get("exclude", []):
            excluded.update(self._include(exc))
        seen = set()
        out = []
        for c in codes:
            if c not in seen and c not in excluded:
                seen.add(c)
                out.append(c)
        if not out:
            raise NotEnforceable("expands to no codes")
        return out

    def _include(self, inc):
        """One compose.include (or exclude): its system part intersected with its valueSets."""
        parts = []
        system = inc.get("system")
        if system is not None:
            if inc.get("filter"):
                ops = ", ".join(f"{f.get('property')} {f.get('op')}" for f in inc["filter"])
                raise NotEnforceable(f"filter on {system} ({ops})")
            if inc.get("concept"):
                # An explicit list is exact even when the code system itself is not in the
                # package (units-of-time lists its UCUM codes).
                parts.append([c["code"] for c in inc["concept"]])
            else:
                parts.append(self._whole_system(system))
        for ref in inc.get("valueSet", []):
            parts.append(self.expand(unversioned(ref)))
        if not parts:
            raise NotEnforceable("include with neither system nor valueSet")
        codes = parts[0]
        for other in parts[1:]:
            keep = set(other)
            codes = [c for c in codes if c in keep]
        return codes

    def _whole_system(self, system):
        cs = self.code_systems.get(system)
        if cs is None:
            raise NotEnforceable(f"code system {system} not in the package")
        if cs.get("content") != "complete":
            raise NotEnforceable(f"code system {system} has content '{cs.get('content')}'")
        codes = []

        def walk(concepts):
            for c in concepts:
                # An abstract code only groups its children and is not for use in instances
                # (Questionnaire.item.type "question"); fhir.schema.json leaves it out too.
                abstract = any(p.get("code") in ("notSelectable", "abstract") and
                               p.get("valueBoolean") for p in c.get("property", []))
                if abstract:
                    self.unselectable.append(f"{system}#{c['code']}")
                else:
                    codes.append(c["code"])
                # Hierarchical code systems nest their codes; all levels are members.
                walk(c.get("concept", []))

        walk(cs.get("concept", []))
        return codes


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    src, dst = argv[1], argv[2]
    bindings = required_code_bindings(src)
    expander = Expander(src)

    enforceable = {}
    not_enforceable = {}
    for versioned in sorted(bindings):
        url, _, version = versioned.partition("|")
        vs = expander.value_sets.get(url)
        # FHIR's own value sets carry the release's version. The package patches a few R4
        # definitions with later ones (DetectedIssue.status binds the 5.0.0 detectedissue-status,
        # unversioned); enforcing those would reject valid R4 codes, so they are not enforced.
        want = version or (FHIR_VERSION if url.startswith(FHIR_VALUE_SET_PREFIX) else None)
        if vs is not None and want is not None and vs.get("version") != want:
            not_enforceable[url] = f"the package has version {vs.get('version')}, not {want}"
            continue
        try:
            enforceable[url] = expander.expand(url)
        except NotEnforceable as e:
            not_enforceable[url] = str(e)

    out = {"valueSets": enforceable, "notEnforceable": not_enforceable}
    text = json.dumps(out, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    os.makedirs(dst, exist_ok=True)
    with open(os.path.join(dst, OUTPUT), "w", encoding="utf-8") as f:
        f.write(text)

    codes = sum(len(c) for c in enforceable.values())
    print(f"{OUTPUT}: {len(bindings)} bound value sets, {len(enforceable)} enforceable "
          f"({codes} codes), {len(not_enforceable)} not; {len(text.encode())} bytes",
          file=sys.stderr)
    for url, reason in sorted(not_enforceable.items()):
        paths = sorted({p for v, ps in bindings.items() if unversioned(v) == url for p in ps})
        print(f"  not enforceable: {url}: {reason} [{', '.join(paths)}]", file=sys.stderr)
    for code in sorted(set(expander.unselectable)):
        print(f"  left out abstract (notSelectable) code {code}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
