// CRUD, versioning, conditional create, Prefer, _format, CapabilityStatement and the operational
// endpoints, driven with a real FHIR client (fhir-kit-client); raw fetch only where the client
// hides what is checked (status codes, headers, empty bodies).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client } from 'fhir-kit-client';
import {
  MedullaServer,
  assertOutcome,
  fhirResourceTypes,
  runMedulla,
  show,
  withoutIdMeta,
} from './lib/server.mjs';

let server;
let client;
let http;

before(async () => {
  server = await MedullaServer.start();
  client = new Client({ baseUrl: `${server.base}/` });
  http = server.http;
});

after(async () => {
  if (server) await server.dispose();
});

const patientBody = (family, extra = {}) => ({
  resourceType: 'Patient',
  name: [{ family, given: ['Ana', 'Maria'] }],
  gender: 'female',
  birthDate: '1958-03-02',
  ...extra,
});

/** The fetch Response behind a fhir-kit-client result. */
function responseOf(result) {
  const { response } = Client.httpFor(result);
  assert.ok(response, 'fhir-kit-client result carries no response');
  return response;
}

/** Awaits a fhir-kit-client call that must fail with one of `statuses`; returns {status, data}. */
async function expectStatus(promise, statuses, what) {
  const want = Array.isArray(statuses) ? statuses : [statuses];
  let result;
  try {
    result = await promise;
  } catch (err) {
    assert.ok(err.response, `${what}: request failed without an HTTP response: ${err.stack}`);
    assert.ok(
      want.includes(err.response.status),
      `${what}: want HTTP ${want.join(' or ')}, got ${err.response.status} ${JSON.stringify(err.response.data).slice(0, 500)}`,
    );
    return { status: err.response.status, data: err.response.data, headers: err.config && err.config.headers };
  }
  const status = responseOf(result).status;
  assert.ok(want.includes(status), `${what}: want HTTP ${want.join(' or ')}, got ${status} ${JSON.stringify(result).slice(0, 500)}`);
  return { status, data: result };
}

function assertIsOutcome(data, what) {
  assert.equal(data && data.resourceType, 'OperationOutcome', `${what}: want an OperationOutcome body, got ${JSON.stringify(data).slice(0, 500)}`);
  assert.ok(Array.isArray(data.issue) && data.issue.length > 0, `${what}: OperationOutcome has no issue`);
}

/** Asserts ETag W/"version" and a Last-Modified matching meta.lastUpdated (to the second). */
function assertVersionHeaders(headers, resource, what) {
  const v = resource.meta && resource.meta.versionId;
  assert.equal(headers.get('etag'), `W/"${v}"`, `${what}: ETag should be W/"${v}" (meta.versionId)`);
  const lm = headers.get('last-modified');
  assert.ok(lm, `${what}: no Last-Modified header`);
  const lmMs = Date.parse(lm);
  assert.ok(!Number.isNaN(lmMs), `${what}: Last-Modified ${JSON.stringify(lm)} is not an HTTP date`);
  const luMs = Date.parse(resource.meta.lastUpdated);
  assert.ok(
    Math.abs(luMs - lmMs) < 1000,
    `${what}: Last-Modified ${lm} does not match meta.lastUpdated ${resource.meta.lastUpdated}`,
  );
}

function assertServerMeta(resource, version, what) {
  assert.ok(resource.meta, `${what}: no meta`);
  assert.equal(resource.meta.versionId, String(version), `${what}: meta.versionId`);
  const lu = Date.parse(resource.meta.lastUpdated);
  assert.ok(!Number.isNaN(lu), `${what}: meta.lastUpdated ${JSON.stringify(resource.meta.lastUpdated)} is not an instant`);
  assert.ok(
    Math.abs(lu - Date.now()) < 120_000,
    `${what}: meta.lastUpdated ${resource.meta.lastUpdated} should be the server's time of the write (now is ${new Date().toISOString()})`,
  );
}

function assertLocation(headers, type, id, version, what) {
  const loc = headers.get('location') || headers.get('content-location');
  assert.ok(loc, `${what}: no Location header`);
  const want = `${type}/${id}/_history/${version}`;
  assert.ok(loc === want || loc.endsWith(`/${want}`), `${what}: Location ${JSON.stringify(loc)} should end with ${want}`);
}

async function historyVersions(type, id) {
  const b = await client.history({ resourceType: type, id });
  assert.equal(b.type, 'history', `history of ${type}/${id}: Bundle.type`);
  return b.entry || [];
}

test('medulla --version prints a version line and exits 0', async () => {
  const r = await runMedulla(['--version'], { timeoutMs: 10_000 });
  assert.equal(r.code, 0, `medulla --version exit code (output: ${r.output})`);
  assert.match(r.stdout.trim(), /\d+\.\d+/, `medulla --version should print a version, printed ${JSON.stringify(r.output)}`);
});

test('GET /healthz and /readyz answer 200', async () => {
  for (const p of ['/healthz', '/readyz']) {
    const res = await http.get(p);
    assert.equal(res.status, 200, `GET ${p}: ${show(res)}`);
  }
});

test('GET /metadata is a CapabilityStatement listing every resource type and its interactions', async () => {
  const cs = await client.capabilityStatement();
  assert.equal(responseOf(cs).status, 200);
  assert.equal(cs.resourceType, 'CapabilityStatement');
  assert.equal(cs.fhirVersion, '4.0.1', 'CapabilityStatement.fhirVersion');
  assert.ok(
    (cs.format || []).some((f) => f === 'json' || f === 'application/fhir+json'),
    `CapabilityStatement.format should include json, got ${JSON.stringify(cs.format)}`,
  );
  const rest = (cs.rest || []).find((r) => r.mode === 'server');
  assert.ok(rest, 'CapabilityStatement.rest has no mode=server entry');
  const systemInteractions = (rest.interaction || []).map((i) => i.code);
  assert.ok(systemInteractions.includes('history-system'), `rest.interaction should include history-system, got ${JSON.stringify(systemInteractions)}`);
  const commonParams = (rest.searchParam || []).map((p) => p.name);
  const listed = new Map((rest.resource || []).map((r) => [r.type, r]));
  const wantInteractions = ['read', 'vread', 'update', 'delete', 'history-instance', 'history-type', 'create', 'search-type'];
  const problems = [];
  for (const type of fhirResourceTypes()) {
    const r = listed.get(type);
    if (!r) {
      problems.push(`${type}: not listed`);
      continue;
    }
    const codes = (r.interaction || []).map((i) => i.code);
    const missing = wantInteractions.filter((c) => !codes.includes(c));
    if (missing.length) problems.push(`${type}: interactions missing ${missing.join(',')}`);
    const params = [...commonParams, ...(r.searchParam || []).map((p) => p.name)];
    const missingParams = ['_id', '_lastUpdated'].filter((p) => !params.includes(p));
    if (missingParams.length) problems.push(`${type}: search params missing ${missingParams.join(',')}`);
  }
  assert.deepEqual(problems.slice(0, 30), [], `CapabilityStatement problems (${problems.length})`);
  // Composite parameters are searchable, and listed with their type.
  const observation = new Map((listed.get('Observation').searchParam || []).map((p) => [p.name, p.type]));
  for (const name of ['code-value-quantity', 'component-code-value-quantity', 'combo-code-value-concept', 'code-value-string']) {
    assert.equal(observation.get(name), 'composite', `Observation.${name} should be listed as composite`);
  }
});

test('create: 201, Location .../Patient/id/_history/1, ETag, Last-Modified, server-set id and meta', async () => {
  const before = Date.now();
  const sent = patientBody('Create', {
    id: 'client-chosen-id',
    meta: { versionId: '99', lastUpdated: '2001-01-01T00:00:00Z' },
  });
  const created = await client.create({ resourceType: 'Patient', body: sent });
  const res = responseOf(created);
  assert.equal(res.status, 201, 'create status');
  assert.ok(created.id, 'created resource has no id');
  assert.notEqual(created.id, 'client-chosen-id', 'create must ignore a client-sent id (the server assigns ids)');
  assert.match(created.id, /^[A-Za-z0-9\-.]{1,64}$/, 'server-assigned id is not a valid FHIR id');
  assertServerMeta(created, 1, 'created Patient');
  assert.ok(Date.parse(created.meta.lastUpdated) >= before - 2000, 'client-sent meta.lastUpdated 2001 should be replaced');
  assertLocation(res.headers, 'Patient', created.id, 1, 'create');
  assertVersionHeaders(res.headers, created, 'create');
  assert.deepEqual(withoutIdMeta(created), withoutIdMeta(sent), 'created resource content differs from what was sent');

  const read = await client.read({ resourceType: 'Patient', id: created.id });
  assert.deepEqual(read, created, 'read after create differs from the create response');
  assertVersionHeaders(responseOf(read).headers, read, 'read');
});

test('read, update (200, new version), vread of old and new versions, ETag per version', async () => {
  const v1 = await client.create({ resourceType: 'Patient', body: patientBody('Update') });
  const id = v1.id;
  const changed = { ...patientBody('Update'), id, birthDate: '1958-03-03', meta: { versionId: '7' } };
  const v2 = await client.update({ resourceType: 'Patient', id, body: changed });
  const res = responseOf(v2);
  assert.equal(res.status, 200, 'update of an existing resource');
  assert.equal(v2.id, id);
  assertServerMeta(v2, 2, 'updated Patient');
  assert.equal(v2.birthDate, '1958-03-03', 'update did not change birthDate');
  assertVersionHeaders(res.headers, v2, 'update');
  assert.ok(Date.parse(v2.meta.lastUpdated) >= Date.parse(v1.meta.lastUpdated), 'lastUpdated went backwards on update');

  const read = await client.read({ resourceType: 'Patient', id });
  assert.deepEqual(read, v2, 'read after update should return version 2');
  const old = await client.vread({ resourceType: 'Patient', id, version: '1' });
  assert.deepEqual(old, v1, 'vread of version 1 should return the original content');
  assertVersionHeaders(responseOf(old).headers, old, 'vread 1');
  const cur = await client.vread({ resourceType: 'Patient', id, version: '2' });
  assert.deepEqual(cur, v2, 'vread of version 2');

  const missing = await expectStatus(client.vread({ resourceType: 'Patient', id, version: '3' }), 404, 'vread of a version that does not exist');
  assertIsOutcome(missing.data, 'vread of a missing version');
});

test('PUT to a new id creates the resource (201, version 1)', async () => {
  const id = `put-new-${process.pid}`;
  const body = { ...patientBody('CreateOnUpdate'), id };
  const created = await client.update({ resourceType: 'Patient', id, body });
  const res = responseOf(created);
  assert.equal(res.status, 201, 'create-on-update status');
  assert.equal(created.id, id, 'create-on-update keeps the id from the URL');
  assertServerMeta(created, 1, 'create-on-update');
  assertVersionHeaders(res.headers, created, 'create-on-update');
  const read = await client.read({ resourceType: 'Patient', id });
  assert.deepEqual(read, created);
});

test('If-Match: matching version updates, stale version is 412 and writes nothing', async () => {
  const v1 = await client.create({ resourceType: 'Patient', body: patientBody('IfMatch') });
  const id = v1.id;
  const v2 = await client.update({
    resourceType: 'Patient',
    id,
    body: { ...v1, birthDate: '1960-01-01' },
    options: { headers: { 'If-Match': 'W/"1"' } },
  });
  assert.equal(responseOf(v2).status, 200, 'update with the current If-Match');
  assert.equal(v2.meta.versionId, '2');

  const stale = await expectStatus(
    client.update({ resourceType: 'Patient', id, body: { ...v1, birthDate: '1970-01-01' }, options: { headers: { 'If-Match': 'W/"1"' } } }),
    412,
    'update with a stale If-Match W/"1" when the current version is 2',
  );
  assertIsOutcome(stale.data, 'stale If-Match');

  const read = await client.read({ resourceType: 'Patient', id });
  assert.equal(read.meta.versionId, '2', 'a rejected If-Match update must not create a version');
  assert.equal(read.birthDate, '1960-01-01', 'a rejected If-Match update must not change the resource');
  assert.equal((await historyVersions('Patient', id)).length, 2, 'history after a rejected update should have 2 versions');
});

test('concurrent updates: one If-Match winner, the rest 412; unconditional ones get distinct versions', async () => {
  const v1 = await client.create({ resourceType: 'Patient', body: patientBody('Race') });
  const id = v1.id;
  const attempts = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      http.put(`/Patient/${id}`, { ...patientBody('Race'), id, birthDate: `19${10 + i}-01-01` }, { headers: { 'If-Match': 'W/"1"' } }),
    ),
  );
  const statuses = attempts.map((r) => r.status).sort();
  assert.deepEqual(statuses, [200, 412, 412, 412, 412, 412, 412, 412], `8 concurrent updates with If-Match W/"1": ${attempts.map(show).join('\n')}`);
  const winner = attempts.find((r) => r.status === 200).json;
  const read = await client.read({ resourceType: 'Patient', id });
  assert.deepEqual(read, winner, 'the stored version is the one that won');
  assert.equal((await historyVersions('Patient', id)).length, 2, 'history after one winning conditional update');

  const free = await Promise.all(
    Array.from({ length: 8 }, (_, i) => http.put(`/Patient/${id}`, { ...patientBody('Race'), id, birthDate: `20${10 + i}-01-01` })),
  );
  assert.deepEqual(free.map((r) => r.status), Array(8).fill(200), `8 concurrent unconditional updates: ${free.filter((r) => r.status !== 200).map(show).join('\n')}`);
  const versions = free.map((r) => Number(r.json.meta.versionId)).sort((a, b) => a - b);
  assert.deepEqual(versions, [3, 4, 5, 6, 7, 8, 9, 10], 'each concurrent update gets its own version');
  const hist = await walkHistory(`/Patient/${id}/_history`);
  assert.deepEqual(hist.map((e) => e.resource.meta.versionId), ['10', '9', '8', '7', '6', '5', '4', '3', '2', '1'], 'history after concurrent updates');
  for (const r of free) {
    const v = hist.find((e) => e.resource.meta.versionId === r.json.meta.versionId);
    assert.deepEqual(v.resource, r.json, `history version ${r.json.meta.versionId} is what its update returned`);
  }
});

async function walkHistory(p) {
  const out = [];
  for (let url = p; url; ) {
    const res = await http.get(url);
    assert.equal(res.status, 200, show(res));
    out.push(...(res.json.entry || []));
    url = (res.json.link || []).find((l) => l.relation === 'next')?.url;
  }
  return out;
}

test('delete: 204/200, then read is 410 Gone with an OperationOutcome; history records the delete', async () => {
  const v1 = await client.create({ resourceType: 'Patient', body: patientBody('Delete') });
  const id = v1.id;
  const v2 = await client.update({ resourceType: 'Patient', id, body: { ...v1, birthDate: '1958-03-03' } });
  const del = await client.delete({ resourceType: 'Patient', id });
  assert.ok([200, 204].includes(responseOf(del).status), `delete status ${responseOf(del).status}`);

  const gone = await expectStatus(client.read({ resourceType: 'Patient', id }), 410, 'read after delete');
  assertIsOutcome(gone.data, 'read after delete');
  const raw = await http.get(`/Patient/${id}`);
  assertOutcome(raw, 410, 'raw read after delete');

  const entries = await historyVersions('Patient', id);
  assert.equal(entries.length, 3, `history after create, update, delete should have 3 entries, got ${JSON.stringify(entries).slice(0, 800)}`);
  const [newest, middle, oldest] = entries;
  assert.equal(newest.request && newest.request.method, 'DELETE', 'newest history entry should be the delete');
  assert.equal(newest.resource, undefined, 'a delete history entry carries no resource');
  assert.deepEqual(middle.resource, v2, 'second history entry should be version 2');
  assert.deepEqual(oldest.resource, v1, 'oldest history entry should be version 1');

  const old = await client.vread({ resourceType: 'Patient', id, version: '1' });
  assert.deepEqual(old, v1, 'versions before a delete stay readable with vread');

  const search = await client.search({ resourceType: 'Patient', searchParams: { _id: id } });
  assert.deepEqual(search.entry || [], [], 'a deleted resource is not found by search');
});

test('a resource deleted and written again gets a new, higher version', async () => {
  const v1 = await client.create({ resourceType: 'Patient', body: patientBody('Resurrect') });
  const id = v1.id;
  await client.delete({ resourceType: 'Patient', id });
  const again = await client.update({ resourceType: 'Patient', id, body: { ...patientBody('Resurrect'), id, birthDate: '1999-09-09' } });
  assert.ok([200, 201].includes(responseOf(again).status), `PUT after delete status ${responseOf(again).status}`);
  assert.ok(Number(again.meta.versionId) > 2, `PUT after delete should be version 3 (after create 1, delete 2), got ${again.meta.versionId}`);
  const old = await client.vread({ resourceType: 'Patient', id, version: '1' });
  assert.deepEqual(old, v1, 'version 1 must still be the original after the id was reused');
});

test('never-created ids: read is 404 with an OperationOutcome; delete is harmless', async () => {
  const id = 'never-created-0001';
  const res = await http.get(`/Patient/${id}`);
  assertOutcome(res, 404, 'read of a never-created id');
  const del = await http.delete(`/Patient/${id}`);
  assert.ok([200, 204, 404].includes(del.status), `delete of a never-created id: ${show(del)}`);
  const after = await http.get(`/Patient/${id}`);
  assertOutcome(after, 404, 'read of a never-created id after a delete of it');
});

test('history at instance, type and system level', async () => {
  const obs = await client.create({
    resourceType: 'Observation',
    body: { resourceType: 'Observation', status: 'final', code: { text: 'history probe' }, valueQuantity: { value: 1, unit: 'kg' } },
  });
  await client.update({ resourceType: 'Observation', id: obs.id, body: { ...obs, valueQuantity: { value: 2, unit: 'kg' } } });

  const inst = await client.history({ resourceType: 'Observation', id: obs.id });
  assert.equal(inst.type, 'history');
  assert.deepEqual((inst.entry || []).map((e) => e.resource.meta.versionId), ['2', '1'], 'instance history, newest first');

  const type = await client.history({ resourceType: 'Observation' });
  assert.equal(type.type, 'history');
  const typeEntries = (type.entry || []).filter((e) => e.resource && e.resource.id === obs.id);
  assert.deepEqual(typeEntries.map((e) => e.resource.meta.versionId), ['2', '1'], 'type history has both versions, newest first');
  assert.ok((type.entry || []).every((e) => !e.resource || e.resource.resourceType === 'Observation'), 'type history holds only Observations');

  const sys = await client.history({});
  assert.equal(sys.type, 'history');
  const first = (sys.entry || [])[0];
  assert.ok(
    first && first.resource && first.resource.resourceType === 'Observation' && first.resource.id === obs.id && first.resource.meta.versionId === '2',
    `system history starts with the newest write (Observation/${obs.id} version 2), got ${JSON.stringify(first).slice(0, 300)}`,
  );
});

test('conditional create with If-None-Exist: one match returns it (200, no new version); none creates', async () => {
  const existing = await client.create({ resourceType: 'Patient', body: patientBody('Conditional') });
  const again = await client.create({
    resourceType: 'Patient',
    body: patientBody('ConditionalDuplicate'),
    options: { headers: { 'If-None-Exist': `_id=${existing.id}` } },
  });
  assert.equal(responseOf(again).status, 200, 'conditional create matching one resource should answer 200');
  assert.equal(again.id, existing.id, 'conditional create should return the existing resource');
  assert.equal(again.meta.versionId, '1', 'conditional create must not write a new version');
  assert.equal((await historyVersions('Patient', existing.id)).length, 1, 'history after a matched conditional create');
  const read = await client.read({ resourceType: 'Patient', id: existing.id });
  assert.deepEqual(read, existing, 'the existing resource must be unchanged');

  const fresh = await client.create({
    resourceType: 'Patient',
    body: patientBody('ConditionalNew'),
    options: { headers: { 'If-None-Exist': '_id=no-such-patient-xyz' } },
  });
  assert.equal(responseOf(fresh).status, 201, 'conditional create with no match should create');
  assert.notEqual(fresh.id, existing.id);
  assert.equal(fresh.name[0].family, 'ConditionalNew');

  await client.delete({ resourceType: 'Patient', id: fresh.id });
  const afterDelete = await client.create({
    resourceType: 'Patient',
    body: patientBody('ConditionalAfterDelete'),
    options: { headers: { 'If-None-Exist': `_id=${fresh.id}` } },
  });
  assert.equal(responseOf(afterDelete).status, 201, 'a deleted resource does not match If-None-Exist: the create goes ahead');
  assert.notEqual(afterDelete.id, fresh.id);
});

test('conditional create matching several resources is 412', async () => {
  const a = await client.create({ resourceType: 'Patient', body: patientBody('Multi') });
  const b = await client.create({ resourceType: 'Patient', body: patientBody('Multi') });
  const res = await http.post('/Patient', patientBody('MultiNew'), { headers: { 'If-None-Exist': `_id=${a.id},${b.id}` } });
  assertOutcome(res, 412, 'conditional create matching two resources');
});

test('Prefer: return=minimal, return=representation, return=OperationOutcome', async () => {
  const minimal = await http.post('/Patient', patientBody('PreferMinimal'), { headers: { Prefer: 'return=minimal' } });
  assert.equal(minimal.status, 201, `create with return=minimal: ${show(minimal)}`);
  assert.equal(minimal.text, '', 'return=minimal: the body should be empty');
  const loc = minimal.headers.get('location');
  assert.ok(loc, 'return=minimal: the Location header is still required');
  const id = /Patient\/([^/]+)\/_history\/1$/.exec(loc);
  assert.ok(id, `return=minimal: Location ${loc} should end with Patient/<id>/_history/1`);
  assert.equal(minimal.headers.get('etag'), 'W/"1"', 'return=minimal: ETag');

  const upd = await http.put(`/Patient/${id[1]}`, { ...patientBody('PreferMinimal'), id: id[1], birthDate: '2000-01-01' }, { headers: { Prefer: 'return=minimal' } });
  assert.equal(upd.status, 200, `update with return=minimal: ${show(upd)}`);
  assert.equal(upd.text, '', 'update with return=minimal: the body should be empty');
  assert.equal(upd.headers.get('etag'), 'W/"2"', 'update with return=minimal: ETag');

  const rep = await http.post('/Patient', patientBody('PreferRepresentation'), { headers: { Prefer: 'return=representation' } });
  assert.equal(rep.status, 201, show(rep));
  assert.equal(rep.json.resourceType, 'Patient', 'return=representation returns the resource');
  assert.equal(rep.json.name[0].family, 'PreferRepresentation');

  const dflt = await http.post('/Patient', patientBody('PreferDefault'));
  assert.equal(dflt.json && dflt.json.resourceType, 'Patient', 'without Prefer the resource is returned');

  const oo = await http.post('/Patient', patientBody('PreferOutcome'), { headers: { Prefer: 'return=OperationOutcome' } });
  assert.equal(oo.status, 201, show(oo));
  assert.equal(oo.json && oo.json.resourceType, 'OperationOutcome', `return=OperationOutcome: ${show(oo)}`);
  assert.ok(oo.headers.get('location'), 'return=OperationOutcome: Location header');
});

test('_format=json and _format=application/fhir+json are accepted; _format=xml is 406 or 415', async () => {
  const p = await client.create({ resourceType: 'Patient', body: patientBody('Format') });
  for (const f of ['json', 'application/fhir+json', 'application/json']) {
    const res = await http.get(`/Patient/${p.id}?_format=${encodeURIComponent(f)}`);
    assert.equal(res.status, 200, `_format=${f}: ${show(res)}`);
    assert.deepEqual(res.json, p, `_format=${f} returns the resource`);
    const ct = res.headers.get('content-type') || '';
    if (f === 'application/json') assert.match(ct, /^application\/(fhir\+)?json/, `_format=${f}: Content-Type`);
    else assert.match(ct, /^application\/fhir\+json/, `_format=${f}: Content-Type should be the FHIR JSON mime type`);
  }
  for (const f of ['xml', 'application/fhir+xml']) {
    const res = await http.get(`/Patient/${p.id}?_format=${encodeURIComponent(f)}`);
    assertOutcome(res, [406, 415], `_format=${f}`);
  }
  const search = await http.get(`/Patient?_id=${p.id}&_format=json`);
  assert.equal(search.status, 200, `search with _format=json: ${show(search)}`);
});

test('search through the client finds a resource by _id', async () => {
  const p = await client.create({ resourceType: 'Patient', body: patientBody('SearchById') });
  const b = await client.search({ resourceType: 'Patient', searchParams: { _id: p.id } });
  assert.equal(b.resourceType, 'Bundle');
  assert.equal(b.type, 'searchset');
  const found = (b.entry || []).filter((e) => !e.search || e.search.mode !== 'include').map((e) => e.resource);
  assert.deepEqual(found, [p], 'search by _id should find exactly the created resource');
});

test('GET /metrics is Prometheus text with request and commit counters', async () => {
  const res = await http.get('/metrics', { headers: { accept: 'text/plain' } });
  assert.equal(res.status, 200, show(res));
  assert.match(res.headers.get('content-type') || '', /^text\/plain/, 'metrics Content-Type');
  const sums = new Map();
  for (const line of res.text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    assert.ok(m, `metrics line is not Prometheus text format: ${JSON.stringify(line)}`);
    sums.set(m[1], (sums.get(m[1]) || 0) + Number(m[3]));
  }
  for (const name of ['medulla_http_requests_total', 'medulla_store_commits_total']) {
    assert.ok(sums.has(name), `metrics should contain ${name}; names seen: ${[...sums.keys()].join(', ').slice(0, 1000)}`);
    assert.ok(sums.get(name) > 0, `${name} should have counted the writes of this test file, is ${sums.get(name)}`);
  }
});

test('SIGTERM stops the server with exit code 0', async () => {
  await server.stop();
});
