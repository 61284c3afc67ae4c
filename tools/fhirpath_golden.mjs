#!/usr/bin/env node
// Writes tests/data/fhir/fhirpath-golden.json: the results of the FHIR R4 search-parameter
// expressions on a seeded sample of Synthea resources, computed by the fhirpath.js reference
// implementation (npm `fhirpath` 5.2.2, R4 model), for tests/fhir/fhirpath_test.cc.
//
//   node tools/fhirpath_golden.mjs            # from the repository root
//
// fhirpath.js is installed into a temporary directory (it is not a dependency of the project).
// 5.2.2 asks for @lhncbc/ucum-lhc ^7.1.10, which some registry mirrors lack; the install pins
// 7.1.9 through `overrides` (UCUM is not used by any search expression).
//
// Two deliberate adaptations, mirrored by the C++ test:
// - References: Synthea bundles use `urn:uuid:` fullUrls. A server rewrites them to
//   `Type/id` on a transaction, so the sample is rewritten the same way first.
// - resolve(): fhirpath.js resolves over HTTP. Search indexing cannot follow references, and
//   the search expressions only ask `resolve() is Type`, so resolve() is replaced by a function
//   returning a stub `{resourceType, id}` for each reference of the form [base/]Type/id.
import {execFileSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {createRequire} from 'node:module';

const kSeed = 20261121;
const kPerType = 5;  // resources sampled per resource type
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const synthea = path.join(root, 'tests/data/fhir/synthea');
const out = path.join(root, 'tests/data/fhir/fhirpath-golden.json');
const params = JSON.parse(fs.readFileSync(
    path.join(root, 'data/fhir/definitions/search-parameters.json'), 'utf8'));

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fhirpath-golden-'));
fs.writeFileSync(path.join(tmp, 'package.json'), JSON.stringify({
  name: 'fhirpath-golden', version: '1.0.0', private: true,
  overrides: {'@lhncbc/ucum-lhc': '7.1.9'},
}));
execFileSync('npm', ['install', '--no-audit', '--no-fund', 'fhirpath@5.2.2'],
             {cwd: tmp, stdio: 'inherit'});
const require = createRequire(path.join(tmp, 'package.json'));
const fhirpath = require('fhirpath');
const r4 = require('fhirpath/fhir-context/r4');
// Not exported by the package; needed to give the resolve() stubs a resource type.
const {ResourceNode} = require(path.join(tmp, 'node_modules/fhirpath/src/types.js'));

// mulberry32: a small seeded PRNG, so that the sample is reproducible.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(kSeed);

// Rewrites urn:uuid references to Type/id, as a server does for a transaction.
function rewrite(node, map) {
  if (Array.isArray(node)) return node.forEach(x => rewrite(x, map));
  if (node === null || typeof node !== 'object') return;
  for (const [k, v] of Object.entries(node)) {
    if (k === 'reference' && typeof v === 'string' && map.has(v)) node[k] = map.get(v);
    else rewrite(v, map);
  }
}

const byType = new Map();  // resourceType -> [{file, entry, resource}]
for (const file of fs.readdirSync(synthea).filter(f => f.endsWith('.json')).sort()) {
  const bundle = JSON.parse(fs.readFileSync(path.join(synthea, file), 'utf8'));
  const map = new Map();
  for (const e of bundle.entry ?? [])
    if (e.fullUrl && e.resource?.id) map.set(e.fullUrl, `${e.resource.resourceType}/${e.resource.id}`);
  (bundle.entry ?? []).forEach((e, i) => {
    if (!e.resource) return;
    rewrite(e.resource, map);
    const list = byType.get(e.resource.resourceType) ?? [];
    list.push({file, entry: i, resource: e.resource});
    byType.set(e.resource.resourceType, list);
  });
}

const kTypes = new Set(['string', 'token', 'reference', 'date', 'number', 'quantity', 'uri',
                        'composite']);
const expressions = {};
const paramsByBase = new Map();
for (const {resource: p} of params.entry) {
  if (!kTypes.has(p.type) || !p.expression) continue;
  expressions[p.id] = p.expression;
  for (const base of p.base) {
    const list = paramsByBase.get(base) ?? [];
    list.push(p.id);
    paramsByBase.set(base, list);
  }
}

const resolveStub = {
  // fhirpath.js calls functions with the evaluation context as `this`.
  fn: function(inputs) {
    return inputs.flatMap(input => {
      const ref = fhirpath.util.valData(input)?.reference;
      const m = typeof ref === 'string' &&
          /(?:^|\/)([A-Z][A-Za-z]+)\/([^/]+)(?:\/_history\/[^/]+)?$/.exec(ref);
      return m ? [ResourceNode.makeResNode(this, {resourceType: m[1], id: m[2]}, null, null,
                                           null, null)]
               : [];
    });
  },
  arity: {0: []},
};

const cases = [];
let nonEmpty = 0;
let errors = 0;
for (const type of [...byType.keys()].sort()) {
  const pool = byType.get(type);
  const ids = [...(paramsByBase.get(type) ?? []), ...(paramsByBase.get('Resource') ?? []),
               ...(paramsByBase.get('DomainResource') ?? [])];
  const picked = new Set();
  while (picked.size < Math.min(kPerType, pool.length)) picked.add(Math.floor(random() * pool.length));
  for (const index of [...picked].sort((a, b) => a - b)) {
    const {file, entry, resource} = pool[index];
    const results = {};
    for (const id of ids) {
      let raw;
      try {
        raw = fhirpath.evaluate(resource, expressions[id], null, r4,
                                {resolveInternalTypes: false,
                                 userInvocationTable: {resolve: resolveStub}});
      } catch (e) {
        // fhirpath.js follows the FHIRPath rule that `x as T` needs a single x; several R4
        // search expressions break it (Observation.component.value as Quantity). Recorded,
        // and skipped by the C++ test, whose `as` filters each item as servers do.
        results[id] = {error: String(e.message).split('\n')[0].slice(0, 120)};
        ++errors;
        continue;
      }
      const values = fhirpath.resolveInternalTypes(raw);
      if (values.length > 0) ++nonEmpty;
      results[id] = {types: fhirpath.types(raw), values};
    }
    cases.push({file, entry, resourceType: type, results});
  }
}

const usedExpressions = {};
for (const c of cases) for (const id of Object.keys(c.results)) usedExpressions[id] = expressions[id];
const golden = {
  generator: 'tools/fhirpath_golden.mjs (fhirpath.js 5.2.2, R4 model)',
  seed: kSeed,
  expressions: usedExpressions,
  cases,
};
fs.writeFileSync(out, JSON.stringify(golden) + '\n');
fs.rmSync(tmp, {recursive: true, force: true});
const total = cases.reduce((n, c) => n + Object.keys(c.results).length, 0);
console.log(`${cases.length} resources, ${total} evaluations (${nonEmpty} non-empty, ${errors} errors), ` +
            `${fs.statSync(out).size} bytes -> ${path.relative(root, out)}`);
