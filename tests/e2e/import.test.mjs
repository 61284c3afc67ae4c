// `medulla import`: every Synthea transaction bundle of tests/data/fhir/synthea, NDJSON files and
// collection bundles, broken files (non-zero exit, nothing half-written), and an import into a
// data directory a running server holds (fails clearly, corrupts nothing).
//
// What the store should hold is computed here from the input files, independently of medulla.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import {
  MedullaServer,
  TEST_DATA,
  canonicalJson,
  fhirResourceTypes,
  fhirSchemaErrors,
  makeTempDir,
  mapLimit,
  matches,
  readJson,
  runMedulla,
  seededRandom,
  show,
  walkPages,
  withoutIdMeta,
} from './lib/server.mjs';

// The types import stores: all but AuditEvent, the server's own audit log of these requests.
const storedTypes = () => fhirResourceTypes().filter((t) => t !== 'AuditEvent');

const SYNTHEA = path.join(TEST_DATA, 'fhir', 'synthea');
const EXAMPLES = path.join(TEST_DATA, 'fhir', 'examples');
const IMPORT_TIMEOUT_MS = 180_000;

const servers = [];
after(async () => {
  for (const s of servers) await s.dispose();
});

async function startServer(dataDir) {
  const s = await MedullaServer.start({ dataDir });
  servers.push(s);
  return s;
}

function newDataDir() {
  const d = path.join(makeTempDir('medulla-e2e-import-'), 'data');
  fs.mkdirSync(d);
  return d;
}

function syntheaFiles() {
  assert.ok(fs.existsSync(SYNTHEA), `test data missing: ${SYNTHEA} (tests/data/fhir/synthea holds the Synthea bundles)`);
  const files = fs.readdirSync(SYNTHEA).filter((f) => f.endsWith('.json')).sort().map((f) => path.join(SYNTHEA, f));
  assert.ok(files.length > 0, `no Synthea bundles in ${SYNTHEA}`);
  return files;
}

async function importFiles(dataDir, files, what) {
  const r = await runMedulla(['import', '--data-dir', dataDir, ...files], { timeoutMs: IMPORT_TIMEOUT_MS });
  assert.ok(!r.timedOut, `${what}: medulla import did not finish within ${IMPORT_TIMEOUT_MS} ms`);
  assert.equal(r.code, 0, `${what}: medulla import exit code ${r.code}, output:\n${r.output.slice(-3000)}`);
  assert.ok(r.output.trim().length > 0, `${what}: medulla import should print a summary`);
  return r;
}

async function importMustFail(dataDir, files, what, timeoutMs = 60_000) {
  const r = await runMedulla(['import', '--data-dir', dataDir, ...files], { timeoutMs });
  assert.ok(!r.timedOut, `${what}: medulla import hung (no exit within ${timeoutMs} ms) instead of failing`);
  assert.notEqual(r.code, 0, `${what}: medulla import should exit non-zero, exited 0 with:\n${r.output.slice(-2000)}`);
  assert.ok(r.output.trim().length > 0, `${what}: medulla import failed (exit ${r.code}) without a message`);
  return r;
}

/** Visits every {reference: "..."} string in a resource, with a function that may replace it. */
function mapReferences(value, fn) {
  if (Array.isArray(value)) return value.map((v) => mapReferences(v, fn));
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = k === 'reference' && typeof v === 'string' ? fn(v) : mapReferences(v, fn);
    }
    return out;
  }
  return value;
}

function collectReferences(value, out = []) {
  mapReferences(value, (r) => {
    out.push(r);
    return r;
  });
  return out;
}

/** Splits a server reference (relative "Type/id" or absolute ".../Type/id") into {type, id}. */
function parseServerRef(ref) {
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]+)?$/.exec(ref);
  return m && !ref.startsWith('urn:') ? { type: m[1], id: m[2] } : null;
}

/** Count resources per type by paging GET /Type?_count=200. */
async function countAll(http, types) {
  const found = new Map();
  await mapLimit(types, 2, async (type) => {
    const { entries } = await walkPages(http, `/${type}?_count=200`, { count: 200 });
    found.set(type, matches(entries));
  });
  return found;
}

function countsOf(found) {
  return Object.fromEntries([...found].filter(([, rs]) => rs.length > 0).map(([t, rs]) => [t, rs.length]).sort());
}

// The Synthea import is shared by the first and last tests.
let syntheaDir;
let syntheaServer;
let syntheaCounts;

test('importing every Synthea bundle: counts per type, content and references read back', async () => {
  const files = syntheaFiles();
  // Expected content, computed from the files: entries by type, and the fullUrl -> entry map per bundle.
  const inputs = [];
  const want = {};
  for (const file of files) {
    const bundle = readJson(file);
    assert.ok(['transaction', 'collection'].includes(bundle.type), `${path.basename(file)} is a ${bundle.type} bundle`);
    const byFullUrl = new Map((bundle.entry || []).map((e) => [e.fullUrl, e.resource]));
    for (const e of bundle.entry || []) {
      want[e.resource.resourceType] = (want[e.resource.resourceType] || 0) + 1;
      inputs.push({ file: path.basename(file), resource: e.resource, byFullUrl });
    }
  }

  syntheaDir = newDataDir();
  const t0 = Date.now();
  const r = await importFiles(syntheaDir, files, 'Synthea import');
  const seconds = (Date.now() - t0) / 1000;
  console.log(`# imported ${inputs.length} resources from ${files.length} bundles in ${seconds.toFixed(1)} s; summary: ${r.stdout.trim().split('\n').at(-1)}`);

  const server = await startServer(syntheaDir);
  syntheaServer = server;
  const found = await countAll(server.http, storedTypes());
  syntheaCounts = countsOf(found);
  assert.deepEqual(syntheaCounts, Object.fromEntries(Object.entries(want).sort()), 'resources per type after import (paged with _count=200) vs entries per type in the files');

  // Every reference in the store: no urn:uuid left, each points at a resource that exists.
  const ids = new Map([...found].map(([t, rs]) => [t, new Set(rs.map((x) => x.id))]));
  const inputUrnRefs = inputs.reduce((n, x) => n + collectReferences(x.resource).filter((s) => s.startsWith('urn:uuid:')).length, 0);
  let resolved = 0;
  const dangling = [];
  for (const [type, rs] of found) {
    for (const res of rs) {
      for (const ref of collectReferences(res)) {
        if (ref.startsWith('#')) continue;
        const p = parseServerRef(ref);
        if (p && ids.has(p.type) && ids.get(p.type).has(p.id)) resolved++;
        else if (dangling.length < 10) dangling.push(`${type}/${res.id} -> ${ref}`);
      }
    }
  }
  assert.deepEqual(dangling, [], 'references that do not resolve to a stored resource (urn:uuid must become Type/id)');
  assert.equal(resolved, inputUrnRefs, 'every urn:uuid reference of the input should be a resolvable Type/id reference after import');

  // Index the stored resources by content with id, meta and reference targets taken out.
  const key = (resource, refType) => canonicalJson(mapReferences(withoutIdMeta(resource), refType));
  const serverKey = (res) => key(res, (ref) => (ref.startsWith('#') ? ref : `REF:${(parseServerRef(ref) || { type: '?' }).type}`));
  const inputKey = (input, res = input.resource) =>
    key(res, (ref) => {
      if (!ref.startsWith('urn:uuid:')) return ref;
      const target = input.byFullUrl.get(ref);
      return `REF:${target ? target.resourceType : '?'}`;
    });
  const index = new Map();
  for (const rs of found.values()) {
    for (const res of rs) {
      const k = serverKey(res);
      if (!index.has(k)) index.set(k, []);
      index.get(k).push(res);
    }
  }

  // A seeded sample of 50 input resources: each reads back equal except id, meta and references,
  // and each of its references leads to the stored copy of the resource it pointed at.
  const rnd = seededRandom(4242);
  const sample = [];
  const picked = new Set();
  while (sample.length < Math.min(50, inputs.length)) {
    const i = Math.floor(rnd() * inputs.length);
    if (!picked.has(i)) {
      picked.add(i);
      sample.push(inputs[i]);
    }
  }
  // Resources that differ only in which resource they reference share an index key, so each
  // candidate is checked in full and the sample passes if one of them matches.
  const checkCandidate = async (input, stored) => {
    const read = await server.http.get(`/${stored.resourceType}/${stored.id}`);
    if (read.status !== 200) return `read ${stored.resourceType}/${stored.id}: ${show(read)}`;
    if (canonicalJson(read.json) !== canonicalJson(stored)) return `read of ${stored.resourceType}/${stored.id} differs from the search result`;
    const inRefs = collectReferences(input.resource);
    const outRefs = collectReferences(stored);
    if (outRefs.length !== inRefs.length) return `${inRefs.length} references in the input, ${outRefs.length} stored`;
    for (let j = 0; j < inRefs.length; j++) {
      if (!inRefs[j].startsWith('urn:uuid:')) {
        if (outRefs[j] !== inRefs[j]) return `reference ${inRefs[j]} should be kept as is, is ${outRefs[j]}`;
        continue;
      }
      const target = input.byFullUrl.get(inRefs[j]);
      const p = parseServerRef(outRefs[j]);
      if (!p) return `reference ${inRefs[j]} became ${JSON.stringify(outRefs[j])}, not Type/id`;
      if (p.type !== target.resourceType) return `reference ${inRefs[j]} points at a ${target.resourceType}, became ${outRefs[j]}`;
      const t = await server.http.get(`/${p.type}/${p.id}`);
      if (t.status !== 200) return `reference ${outRefs[j]} does not resolve: ${show(t)}`;
      if (serverKey(t.json) !== inputKey(input, target)) return `${outRefs[j]} is not the resource ${inRefs[j]} pointed at`;
    }
    return null;
  };
  await mapLimit(sample, 4, async (input) => {
    const label = `${input.file}: ${input.resource.resourceType}/${input.resource.id}`;
    const candidates = index.get(inputKey(input));
    assert.ok(candidates && candidates.length, `${label}: no stored resource equals the input (except id, meta, references)`);
    const problems = [];
    for (const stored of candidates) {
      const problem = await checkCandidate(input, stored);
      if (!problem) return;
      problems.push(`${stored.resourceType}/${stored.id}: ${problem}`);
    }
    assert.fail(`${label}: no stored copy reads back with the right references:\n  ${problems.slice(0, 5).join('\n  ')}`);
  });
});

/** Example resources with ids, for NDJSON: each schema-valid one of a fixed list. */
function exampleResources() {
  const names = [
    'msfhir/Patient-f001.json',
    'msfhir/Organization.json',
    'msfhir/Practitioner.json',
    'msfhir/Location-example-hq.json',
    'msfhir/Device-d1.json',
    'msfhir/Condition-For-Patient-f001.json',
    'msfhir/Encounter-For-Patient-f001.json',
    'msfhir/condition-example2.json',
    'msfhir/devicemetric-example.json',
    'msfhir/encounter-example.json',
    'spec-r4/observation-example-heart-rate.json',
    'spec-r4/observation-example-body-temperature.json',
    'spec-r4/observation-example-satO2.json',
  ];
  const out = [];
  for (const n of names) {
    const file = path.join(EXAMPLES, n);
    assert.ok(fs.existsSync(file), `test data missing: ${file}`);
    const r = readJson(file);
    assert.deepEqual(fhirSchemaErrors(r), [], `test data ${n} should be schema-valid`);
    assert.ok(r.id, `test data ${n} should have an id`);
    out.push(r);
  }
  return out;
}

function countByType(resources) {
  const c = {};
  for (const r of resources) c[r.resourceType] = (c[r.resourceType] || 0) + 1;
  return c;
}

test('NDJSON keeps ids; collection bundles import; broken files fail without writing anything', async () => {
  const dir = newDataDir();
  const work = makeTempDir('medulla-e2e-files-');
  const resources = exampleResources();
  const ndjson = path.join(work, 'examples.ndjson');
  fs.writeFileSync(ndjson, `${resources.map((r) => JSON.stringify(r)).join('\n')}\n`);
  await importFiles(dir, [ndjson], 'NDJSON import');

  // Broken files: each must fail and leave nothing behind.
  const synthea = syntheaFiles().find((f) => !/Information/.test(f));
  const truncated = path.join(work, 'truncated.json');
  const whole = fs.readFileSync(synthea);
  fs.writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length * 0.6)));
  const invalidLast = path.join(work, 'invalid-last-entry.json');
  const entry = (n, resource) => ({ fullUrl: `urn:uuid:00000000-0000-4000-8000-00000000000${n}`, resource, request: { method: 'POST', url: resource.resourceType } });
  fs.writeFileSync(invalidLast, JSON.stringify({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      entry(1, { resourceType: 'Patient', name: [{ family: 'HalfWritten' }] }),
      entry(2, { resourceType: 'Device', status: 'active', patient: { reference: 'urn:uuid:00000000-0000-4000-8000-000000000001' } }),
      entry(3, { resourceType: 'Organization', name: 'HalfWritten Org' }),
      entry(4, { resourceType: 'Patient', name: [{ family: 'Invalid' }], birthDate: 'not-a-date' }),
    ],
  }));
  const brokenEntryJson = path.join(EXAMPLES, 'msfhir', 'Bundle-TransactionWithInvalidBundleEntry.json');
  const badType = path.join(EXAMPLES, 'msfhir', 'Bundle-InvalidBundleType.json');
  const notFhir = path.join(work, 'not-a-bundle.json');
  fs.writeFileSync(notFhir, JSON.stringify({ hello: 'world' }));
  for (const [file, what] of [
    [truncated, 'a truncated bundle'],
    [invalidLast, 'a transaction whose last entry is invalid'],
    [brokenEntryJson, 'Bundle-TransactionWithInvalidBundleEntry.json (invalid JSON)'],
    [badType, 'Bundle-InvalidBundleType.json'],
    [notFhir, 'a JSON file that is not FHIR'],
  ]) {
    await importMustFail(dir, [file], `import of ${what}`);
  }

  const collection = path.join(work, 'collection.json');
  const collected = [
    { resourceType: 'Device', id: 'coll-device-1', status: 'active' },
    { resourceType: 'Device', id: 'coll-device-2', status: 'inactive' },
  ];
  fs.writeFileSync(collection, JSON.stringify({
    resourceType: 'Bundle',
    type: 'collection',
    entry: collected.map((r) => ({ fullUrl: `http://example.org/fhir/Device/${r.id}`, resource: r })),
  }));
  await importFiles(dir, [collection], 'collection bundle import');

  const server = await startServer(dir);
  for (const r of resources) {
    const res = await server.http.get(`/${r.resourceType}/${r.id}`);
    assert.equal(res.status, 200, `NDJSON resource ${r.resourceType}/${r.id} should keep its id: ${show(res)}`);
    assert.deepEqual(withoutIdMeta(res.json), withoutIdMeta(r), `NDJSON resource ${r.resourceType}/${r.id} content`);
    assert.equal(res.json.meta.versionId, '1', `${r.resourceType}/${r.id}: meta.versionId set by the import`);
  }
  const want = countByType([...resources, ...collected]);
  const found = await countAll(server.http, storedTypes());
  assert.deepEqual(countsOf(found), Object.fromEntries(Object.entries(want).sort()),
    'resources per type: the NDJSON and the collection only; nothing from the broken files');
  await server.stop();
});

test('a malformed NDJSON line or a missing file fails the import', async () => {
  const dir = newDataDir();
  const work = makeTempDir('medulla-e2e-files-');
  const bad = path.join(work, 'bad-line.ndjson');
  fs.writeFileSync(bad, [
    JSON.stringify({ resourceType: 'Patient', id: 'nd-1', name: [{ family: 'One' }] }),
    JSON.stringify({ resourceType: 'Patient', id: 'nd-2', name: [{ family: 'Two' }] }),
    '{"resourceType": "Patient", "id": "nd-3", ',
    JSON.stringify({ resourceType: 'Patient', id: 'nd-4', name: [{ family: 'Four' }] }),
  ].join('\n'));
  await importMustFail(dir, [bad], 'import of an NDJSON file with a malformed line');
  await importMustFail(dir, [path.join(work, 'no-such-file.ndjson')], 'import of a file that does not exist');
});

test('import into a data directory a running server holds fails clearly and corrupts nothing', async () => {
  assert.ok(syntheaServer && syntheaServer.running, 'needs the server of the Synthea import test');
  const work = makeTempDir('medulla-e2e-files-');
  const nd = path.join(work, 'concurrent.ndjson');
  fs.writeFileSync(nd, `${JSON.stringify({ resourceType: 'Patient', id: 'concurrent-import-1', name: [{ family: 'Concurrent' }] })}\n`);
  const r = await importMustFail(syntheaDir, [nd], 'import while a server holds the data directory');
  console.log(`# import refused with: ${r.output.trim().split('\n').at(-1)}`);

  const check = async (server, when) => {
    const missing = await server.http.get('/Patient/concurrent-import-1');
    assert.equal(missing.status, 404, `${when}: the refused import must not have written Patient/concurrent-import-1: ${show(missing)}`);
    const counts = countsOf(await countAll(server.http, ['Patient', 'Organization', 'Observation']));
    for (const t of ['Patient', 'Organization', 'Observation']) {
      assert.equal(counts[t], syntheaCounts[t], `${when}: ${t} count changed after the refused import`);
    }
  };
  await check(syntheaServer, 'running server');
  const created = await syntheaServer.http.post('/Patient', { resourceType: 'Patient', name: [{ family: 'StillWritable' }] });
  assert.equal(created.status, 201, `the server still accepts writes: ${show(created)}`);
  syntheaCounts.Patient += 1;
  await syntheaServer.stop();

  const again = await startServer(syntheaDir);
  await check(again, 'after a restart');
  const read = await again.http.get(`/Patient/${created.json.id}`);
  assert.equal(read.status, 200, `a write made after the refused import survives a restart: ${show(read)}`);
  await again.stop();
});
