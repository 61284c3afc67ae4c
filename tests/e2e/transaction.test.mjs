// Transactions and batches through fhir-kit-client's transaction() and batch(): all-or-nothing
// with a failure deep inside a large Bundle, version-aware read-modify-write from concurrent
// clients, conditional create / update / delete, conditional references, independent batch
// entries, and the processing order of https://hl7.org/fhir/R4/http.html#trules.
//
// "The store is exactly as before" is checked with a snapshot: the `_total=accurate` count of
// every R4 resource type and the whole system `_history` (every version, with its method and
// ETag). A positive control shows the snapshot sees a change when the same Bundle succeeds.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from 'fhir-kit-client';
import { MedullaServer, TEST_DATA, fhirResourceTypes, mapLimit, readJson } from './lib/server.mjs';

const SYS = 'urn:medulla-e2e:transaction';
let server;
let client;

before(async () => {
  server = await MedullaServer.start();
  client = new Client({ baseUrl: `${server.base}/` });
  // Realistic data in the store before anything else.
  const synthea = readJson(path.join(TEST_DATA, 'fhir', 'synthea', 'Luigi_Wiegand_e27d88b0-c5e5-4042-ad49-184f6a900ee3.json'));
  const reply = await client.transaction({ body: synthea });
  assert.equal(reply.entry.length, synthea.entry.length);
});

after(async () => {
  if (server) await server.dispose();
});

// ---------------------------------------------------------------------------------------------
// Helpers

const transaction = (entry) => client.transaction({ body: { resourceType: 'Bundle', type: 'transaction', entry } });
const batch = (entry) => client.batch({ body: { resourceType: 'Bundle', type: 'batch', entry } });
const urn = () => `urn:uuid:${randomUUID()}`;
const ident = (value) => ({ system: SYS, value });
const byIdent = (value) => `identifier=${encodeURIComponent(`${SYS}|${value}`)}`;

const post = (resource, extra = {}) => ({ fullUrl: urn(), resource, request: { method: 'POST', url: resource.resourceType, ...extra } });
const put = (resource, extra = {}) => ({ resource, request: { method: 'PUT', url: `${resource.resourceType}/${resource.id}`, ...extra } });
const del = (url, extra = {}) => ({ request: { method: 'DELETE', url, ...extra } });

const patient = (family, value) => ({ resourceType: 'Patient', name: [{ family }], ...(value ? { identifier: [ident(value)] } : {}) });
const observation = (text, subject) => ({ resourceType: 'Observation', status: 'final', code: { text }, ...(subject ? { subject: { reference: subject } } : {}) });
const basic = (code) => ({ resourceType: 'Basic', code: { coding: [{ system: SYS, code }] } });

/** Awaits a call that must fail with one of `statuses`; returns {status, data}. */
async function rejected(promise, statuses, what) {
  const want = Array.isArray(statuses) ? statuses : [statuses];
  let result;
  try {
    result = await promise;
  } catch (err) {
    assert.ok(err.response, `${what}: failed without an HTTP response: ${err.stack}`);
    assert.ok(want.includes(err.response.status), `${what}: want HTTP ${want.join(' or ')}, got ${err.response.status} ${JSON.stringify(err.response.data).slice(0, 600)}`);
    assert.equal(err.response.data && err.response.data.resourceType, 'OperationOutcome', `${what}: the error body is not an OperationOutcome`);
    return { status: err.response.status, data: err.response.data };
  }
  assert.fail(`${what}: want HTTP ${want.join(' or ')}, got a success: ${JSON.stringify(result).slice(0, 600)}`);
}

/** Awaits a call that must succeed; a failure shows its HTTP status and OperationOutcome. */
async function succeeds(promise, what) {
  try {
    return await promise;
  } catch (err) {
    if (!err.response) throw err;
    assert.fail(`${what}: want success, got HTTP ${err.response.status} ${JSON.stringify(err.response.data).slice(0, 600)}`);
  }
}

/** The status code of a transaction-response / batch-response entry. */
const statusOf = (entry) => Number(String(entry.response.status).split(' ')[0]);

async function search(resourceType, searchParams) {
  const out = [];
  for (let b = await client.search({ resourceType, searchParams: { _count: 500, ...searchParams } }); b; b = await client.nextPage({ bundle: b })) {
    out.push(...(b.entry || []).filter((e) => e.search && e.search.mode === 'match').map((e) => e.resource));
  }
  return out;
}

async function readOrStatus(type, id) {
  try {
    return await client.read({ resourceType: type, id });
  } catch (err) {
    if (err.response) return err.response.status;
    throw err;
  }
}

const TYPES = fhirResourceTypes().filter((t) => !['Bundle', 'Parameters', 'DomainResource', 'Resource', 'AuditEvent'].includes(t));

/** `_total=accurate` of every type and every version in the system history. */
async function snapshot() {
  const totals = await mapLimit(TYPES, 4, async (t) => {
    const b = await client.search({ resourceType: t, searchParams: { _total: 'accurate', _count: 0 } });
    assert.equal(typeof b.total, 'number', `${t}?_total=accurate&_count=0 has no Bundle.total`);
    return [t, b.total];
  });
  const history = [];
  for (let b = await client.request('_history?_count=1000'); b; b = await client.nextPage({ bundle: b })) {
    assert.equal(b.type, 'history');
    for (const e of b.entry || []) history.push(`${e.request.method} ${e.fullUrl} ${e.response.etag} ${e.response.lastModified}`);
  }
  return { counts: Object.fromEntries(totals.filter(([, n]) => n > 0)), history };
}

function assertSameStore(after, before, what) {
  assert.deepEqual(after.counts, before.counts, `${what}: resource counts per type changed`);
  assert.equal(after.history.length, before.history.length, `${what}: the system history has ${after.history.length - before.history.length} more versions`);
  assert.deepEqual(after.history, before.history, `${what}: the system history changed`);
}

// ---------------------------------------------------------------------------------------------
// All or nothing

/**
 * A 60-entry transaction over existing data: creates with urn:uuid references between them,
 * version-aware updates and deletes of existing resources, create-on-update with client ids.
 * `at49` is entry 49 (the 50th).
 */
async function bigTransaction(tag, at49) {
  const setup = await transaction([
    ...Array.from({ length: 10 }, (_, i) => post({ resourceType: 'Organization', name: `${tag} org ${i}` })),
    ...Array.from({ length: 5 }, (_, i) => post({ resourceType: 'Location', name: `${tag} location ${i}` })),
  ]);
  const orgs = setup.entry.slice(0, 10).map((e) => e.resource);
  const locations = setup.entry.slice(10).map((e) => e.resource);
  const entries = [];
  const patients = Array.from({ length: 10 }, (_, i) => post(patient(`${tag}-${i}`, `${tag}-${i}`)));
  entries.push(...patients); // 0-9
  for (let i = 0; i < 20; i++) entries.push(post(observation(`${tag} obs ${i}`, patients[i % 10].fullUrl))); // 10-29
  for (const o of orgs) entries.push(put({ ...o, name: `${o.name} renamed` }, { ifMatch: 'W/"1"' })); // 30-39
  for (const l of locations) entries.push(del(`Location/${l.id}`, { ifMatch: 'W/"1"' })); // 40-44
  for (let i = 0; i < 4; i++) entries.push(put({ resourceType: 'Device', id: `${tag}-device-${i}`, patient: { reference: patients[i].fullUrl } })); // 45-48
  entries.push(at49({ orgs, locations, patients })); // 49
  for (let i = 50; i < 60; i++) {
    entries.push(post({ resourceType: 'Encounter', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject: { reference: patients[i % 10].fullUrl } }));
  }
  assert.equal(entries.length, 60);
  return { entries, orgs, locations };
}

async function assertUntouched({ orgs, locations }, tag, what) {
  for (const o of orgs) {
    const now = await client.read({ resourceType: 'Organization', id: o.id });
    assert.equal(now.meta.versionId, '1', `${what}: Organization/${o.id} was updated`);
  }
  for (const l of locations) {
    const now = await client.read({ resourceType: 'Location', id: l.id });
    assert.equal(now.meta.versionId, '1', `${what}: Location/${l.id} was deleted`);
  }
  for (let i = 0; i < 4; i++) assert.equal(await readOrStatus('Device', `${tag}-device-${i}`), 404, `${what}: Device/${tag}-device-${i} was created`);
  assert.deepEqual(await search('Patient', { identifier: `${SYS}|${tag}-0` }), [], `${what}: a Patient of the transaction was stored`);
}

test('a 60-entry transaction whose 50th entry fails validation is refused with 400 and stores nothing', async () => {
  const tx = await bigTransaction('invalid', () => post({ resourceType: 'Patient', birthDate: 'the day before yesterday' }));
  const before = await snapshot();
  const { data } = await rejected(transaction(tx.entries), 400, 'transaction with an invalid entry 49');
  assert.match(JSON.stringify(data), /Bundle\.entry\[49\]/, `the OperationOutcome should name Bundle.entry[49]: ${JSON.stringify(data)}`);
  assertSameStore(await snapshot(), before, 'after the refused transaction');
  await assertUntouched(tx, 'invalid', 'after the refused transaction');
});

test('a 60-entry transaction whose 50th entry has a stale request.ifMatch is refused with 412 and stores nothing', async () => {
  const tx = await bigTransaction('stale', () => put({ resourceType: 'Practitioner', id: 'stale-target', name: [{ family: 'Stale' }] }, { ifMatch: 'W/"1"' }));
  // Practitioner/stale-target exists at version 2, so W/"1" is stale.
  await client.update({ resourceType: 'Practitioner', id: 'stale-target', body: { resourceType: 'Practitioner', id: 'stale-target', name: [{ family: 'v1' }] } });
  await client.update({ resourceType: 'Practitioner', id: 'stale-target', body: { resourceType: 'Practitioner', id: 'stale-target', name: [{ family: 'v2' }] } });
  const before = await snapshot();
  const { data } = await rejected(transaction(tx.entries), 412, 'transaction with a stale ifMatch at entry 49');
  assert.match(JSON.stringify(data), /Bundle\.entry\[49\]/, `the OperationOutcome should name Bundle.entry[49]: ${JSON.stringify(data)}`);
  assertSameStore(await snapshot(), before, 'after the transaction refused with 412');
  await assertUntouched(tx, 'stale', 'after the transaction refused with 412');
  assert.equal((await client.read({ resourceType: 'Practitioner', id: 'stale-target' })).meta.versionId, '2');
});

test('the same 60-entry transaction with a valid 50th entry is stored whole (control for the two above)', async () => {
  const tx = await bigTransaction('valid', () => post(patient('valid-49', 'valid-49')));
  const before = await snapshot();
  const reply = await transaction(tx.entries);
  assert.equal(reply.type, 'transaction-response');
  assert.equal(reply.entry.length, 60);
  const statuses = reply.entry.map(statusOf);
  assert.deepEqual(statuses, [...Array(30).fill(201), ...Array(10).fill(200), ...Array(5).fill(204), ...Array(4).fill(201), 201, ...Array(10).fill(201)], 'entry statuses in request order');
  const after = await snapshot();
  const delta = (t) => (after.counts[t] || 0) - (before.counts[t] || 0);
  assert.deepEqual(
    { Patient: delta('Patient'), Observation: delta('Observation'), Organization: delta('Organization'), Location: delta('Location'), Device: delta('Device'), Encounter: delta('Encounter') },
    { Patient: 11, Observation: 20, Organization: 0, Location: -5, Device: 4, Encounter: 10 },
    'count changes',
  );
  assert.equal(after.history.length - before.history.length, 60, 'one new version per entry');
  // urn:uuid references now name the created patients.
  const patientIds = new Set(reply.entry.slice(0, 10).map((e) => `Patient/${e.resource.id}`));
  for (const e of reply.entry.slice(10, 30)) assert.ok(patientIds.has(e.resource.subject.reference), `Observation subject ${e.resource.subject.reference}`);
  const device = await client.read({ resourceType: 'Device', id: 'valid-device-0' });
  assert.equal(device.patient.reference, `Patient/${reply.entry[0].resource.id}`);
  for (const o of tx.orgs) assert.equal((await client.read({ resourceType: 'Organization', id: o.id })).meta.versionId, '2');
  for (const l of tx.locations) assert.equal(await readOrStatus('Location', l.id), 410);
});

// ---------------------------------------------------------------------------------------------
// Concurrency

test('concurrent read-modify-write transactions with request.ifMatch: one winner per round, no lost update', async () => {
  const WORKERS = 8;
  const ROUNDS = 6;
  const setup = await transaction([post(patient('rmw', 'rmw')), post({ resourceType: 'Organization', name: 'rmw' })]);
  const [p0, o0] = setup.entry.map((e) => e.resource);
  const winners = [];
  for (let round = 1; round <= ROUNDS; round++) {
    // Every worker reads first, so all of them hold the same versions...
    const reads = await Promise.all(Array.from({ length: WORKERS }, async () => [
      await client.read({ resourceType: 'Patient', id: p0.id }),
      await client.read({ resourceType: 'Organization', id: o0.id }),
    ]));
    for (const [p, o] of reads) {
      assert.equal(p.meta.versionId, String(round), `round ${round}: the Patient's version before the round`);
      assert.equal(o.meta.versionId, String(round), `round ${round}: the Organization's version before the round`);
    }
    // ...then all of them write at once, each naming the version it read.
    const results = await Promise.allSettled(reads.map(([p, o], k) => transaction([
      put({ ...p, name: [{ family: `round${round}-worker${k}` }] }, { ifMatch: `W/"${p.meta.versionId}"` }),
      put({ ...o, name: `round${round}-worker${k}` }, { ifMatch: `W/"${o.meta.versionId}"` }),
      post(basic(`round${round}-worker${k}`)),
    ])));
    const won = results.map((r, k) => [r, k]).filter(([r]) => r.status === 'fulfilled');
    assert.equal(won.length, 1, `round ${round}: want exactly one winner, got ${won.length}: ${results.map((r) => r.status === 'fulfilled' ? 'ok' : r.reason.response && r.reason.response.status).join(' ')}`);
    for (const [r, k] of results.map((r, k) => [r, k])) {
      if (r.status === 'fulfilled') continue;
      assert.ok(r.reason.response && [409, 412].includes(r.reason.response.status), `round ${round} worker ${k}: a loser should get 412 or 409, got ${r.reason.response ? r.reason.response.status : r.reason}`);
    }
    const [[reply, k]] = won;
    assert.deepEqual(reply.value.entry.map(statusOf), [200, 200, 201], `round ${round}: winner's entry statuses`);
    winners.push(`round${round}-worker${k}`);
  }
  const p = await client.read({ resourceType: 'Patient', id: p0.id });
  const o = await client.read({ resourceType: 'Organization', id: o0.id });
  assert.equal(p.meta.versionId, String(1 + ROUNDS), 'Patient version = 1 + successful updates');
  assert.equal(o.meta.versionId, String(1 + ROUNDS), 'Organization version = 1 + successful updates');
  const history = await client.history({ resourceType: 'Patient', id: p0.id });
  assert.deepEqual(history.entry.map((e) => e.resource.name[0].family), [...winners].reverse().concat('rmw'), 'each winner\'s change is a version of its own, newest first');
  const orgHistory = await client.history({ resourceType: 'Organization', id: o0.id });
  assert.deepEqual(orgHistory.entry.map((e) => e.resource.name), [...winners].reverse().concat('rmw'));
  // The losers' creates were rolled back with their updates.
  const created = (await search('Basic', { code: `${SYS}|` })).map((b) => b.code.coding[0].code).filter((c) => c.startsWith('round'));
  assert.deepEqual(created.sort(), [...winners].sort(), 'only the winners\' Basic resources are stored');
});

test('free-running read-modify-write workers retrying on 412: every successful update is in the history', async () => {
  const WORKERS = 8;
  const PER_WORKER = 4;
  const created = await client.create({ resourceType: 'Patient', body: patient('counter', 'counter') });
  let attempts = 0;
  const successes = [];
  await Promise.all(Array.from({ length: WORKERS }, async (_, k) => {
    for (let done = 0; done < PER_WORKER; ) {
      assert.ok(++attempts < WORKERS * PER_WORKER * 40, 'too many retries');
      const current = await client.read({ resourceType: 'Patient', id: created.id });
      const count = Number((current.name[0].given || ['0'])[0]);
      const marker = `w${k}-${done}`;
      try {
        const reply = await transaction([put({ ...current, name: [{ family: 'counter', given: [String(count + 1), marker] }] }, { ifMatch: `W/"${current.meta.versionId}"` })]);
        successes.push({ marker, version: reply.entry[0].resource.meta.versionId, count: count + 1 });
        done++;
      } catch (err) {
        assert.ok(err.response && [409, 412].includes(err.response.status), `worker ${k}: want 412 or 409 for a stale ifMatch, got ${err.response ? err.response.status : err}`);
      }
    }
  }));
  const final = await client.read({ resourceType: 'Patient', id: created.id });
  assert.equal(final.meta.versionId, String(1 + WORKERS * PER_WORKER), 'version = 1 + successful updates');
  assert.equal(final.name[0].given[0], String(WORKERS * PER_WORKER), 'the counter counted every successful update');
  const history = (await client.history({ resourceType: 'Patient', id: created.id })).entry.map((e) => e.resource);
  assert.equal(history.length, 1 + WORKERS * PER_WORKER);
  for (const s of successes) {
    const v = history.find((r) => r.meta.versionId === s.version);
    assert.ok(v, `version ${s.version} missing from history`);
    assert.deepEqual(v.name[0].given, [String(s.count), s.marker], `version ${s.version} is not ${s.marker}'s update`);
  }
});

test('concurrent conditional creates (and conditional updates) of one identifier store one resource', async () => {
  const results = await Promise.allSettled(Array.from({ length: 8 }, (_, k) => transaction([
    post(patient(`race-${k}`, 'race'), { ifNoneExist: byIdent('race') }),
  ])));
  const stored = await search('Patient', { identifier: `${SYS}|race` });
  assert.equal(stored.length, 1, `want one Patient with the identifier, got ${stored.length}`);
  let created = 0;
  for (const [k, r] of results.entries()) {
    if (r.status === 'rejected') {
      assert.ok(r.reason.response && r.reason.response.status === 412, `transaction ${k}: a concurrent conditional create may fail with 412 only, got ${r.reason.response ? r.reason.response.status : r.reason}`);
      continue;
    }
    const e = r.value.entry[0];
    assert.ok([200, 201].includes(statusOf(e)), `transaction ${k}: entry status ${e.response.status}`);
    if (statusOf(e) === 201) created++;
    assert.equal(e.resource.id, stored[0].id, `transaction ${k}: the entry names another Patient`);
  }
  assert.equal(created, 1, 'exactly one transaction created the Patient');

  // Conditional updates racing on an identifier nobody has yet: one creates, the others update
  // it or fail with 412; the version counts the updates.
  const updates = await Promise.allSettled(Array.from({ length: 8 }, (_, k) => transaction([
    { resource: { ...patient(`update-race-${k}`, 'update-race') }, request: { method: 'PUT', url: `Patient?${byIdent('update-race')}` } },
  ])));
  const one = await search('Patient', { identifier: `${SYS}|update-race` });
  assert.equal(one.length, 1, `want one Patient with the identifier, got ${one.length}`);
  const ok = updates.filter((r) => r.status === 'fulfilled').map((r) => r.value.entry[0]);
  for (const r of updates) {
    if (r.status === 'rejected') assert.equal(r.reason.response && r.reason.response.status, 412, 'a racing conditional update may fail with 412 only');
  }
  assert.deepEqual(ok.map(statusOf).filter((s) => s === 201), [201], 'exactly one conditional update created the Patient');
  for (const e of ok) assert.equal(e.resource.id, one[0].id, 'every successful conditional update names the one Patient');
  assert.equal(one[0].meta.versionId, String(ok.length), 'version = number of successful conditional updates');
});

// ---------------------------------------------------------------------------------------------
// Conditional entries and references

test('conditional create twice: one resource; references to its fullUrl go to the existing one', async () => {
  const run = () => {
    const p = post(patient('Conditional', 'cc-1'), { ifNoneExist: byIdent('cc-1') });
    return transaction([p, post(observation('cc obs', p.fullUrl)), post({ resourceType: 'Encounter', status: 'planned', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject: { reference: p.fullUrl } })]);
  };
  const first = await run();
  assert.deepEqual(first.entry.map(statusOf), [201, 201, 201], 'first run');
  const id = first.entry[0].resource.id;
  assert.equal(first.entry[1].resource.subject.reference, `Patient/${id}`);

  const second = await run();
  assert.deepEqual(second.entry.map(statusOf), [200, 201, 201], 'second run: the conditional create finds the Patient (200)');
  assert.equal(second.entry[0].resource && second.entry[0].resource.id, id, 'second run: the entry carries the existing Patient');
  assert.equal(second.entry[0].resource.meta.versionId, '1', 'the existing Patient is not rewritten');
  assert.equal(second.entry[1].resource.subject.reference, `Patient/${id}`, 'the Observation refers to the existing Patient');
  assert.equal(second.entry[2].resource.subject.reference, `Patient/${id}`, 'the Encounter refers to the existing Patient');
  assert.equal((await search('Patient', { identifier: `${SYS}|cc-1` })).length, 1, 'one Patient with the identifier');
  assert.equal((await search('Observation', { subject: `Patient/${id}` })).length, 2, 'both Observations refer to it');
});

test('conditional update PUT Patient?identifier=...: creates, then updates the match; a body id that differs is refused', async () => {
  const entry = (family, extra = {}) => ({ fullUrl: urn(), resource: { ...patient(family, 'cu-1'), ...extra }, request: { method: 'PUT', url: `Patient?${byIdent('cu-1')}` } });
  const first = await transaction([entry('First')]);
  assert.equal(statusOf(first.entry[0]), 201, 'no match: the conditional update creates');
  const id = first.entry[0].resource.id;
  const e2 = entry('Second');
  const second = await transaction([e2, post(observation('cu obs', e2.fullUrl))]);
  assert.equal(statusOf(second.entry[0]), 200, 'one match: the conditional update updates it');
  assert.equal(second.entry[0].resource.id, id);
  assert.equal(second.entry[0].resource.meta.versionId, '2');
  assert.equal(second.entry[1].resource.subject.reference, `Patient/${id}`, 'a reference to the conditional update\'s fullUrl names the match');
  const stored = await client.read({ resourceType: 'Patient', id });
  assert.equal(stored.name[0].family, 'Second');
  assert.equal((await search('Patient', { identifier: `${SYS}|cu-1` })).length, 1);

  // R4 http.html#cond-update: one match, but the body names another id -> 400.
  await rejected(transaction([entry('Third', { id: 'some-other-id' })]), 400, 'conditional update whose body id differs from the match');
  assert.equal((await client.read({ resourceType: 'Patient', id })).meta.versionId, '2', 'the match was not updated');
  assert.equal(await readOrStatus('Patient', 'some-other-id'), 404, 'no resource was created under the body id');
});

test('conditional delete DELETE Patient?identifier=...: deletes the one match; without a match nothing changes', async () => {
  const created = await transaction([post(patient('ToDelete', 'cd-1'))]);
  const id = created.entry[0].resource.id;
  const reply = await transaction([del(`Patient?${byIdent('cd-1')}`)]);
  assert.ok([200, 204].includes(statusOf(reply.entry[0])), `conditional delete entry status ${reply.entry[0].response.status}`);
  assert.equal(await readOrStatus('Patient', id), 410, 'the match is deleted');
  assert.deepEqual(await search('Patient', { identifier: `${SYS}|cd-1` }), []);

  const before = await snapshot();
  try {
    const none = await transaction([del(`Patient?${byIdent('cd-1')}`)]);
    assert.ok([200, 204].includes(statusOf(none.entry[0])), `conditional delete without a match: entry status ${none.entry[0].response.status}`);
  } catch (err) {
    assert.equal(err.response && err.response.status, 404, `conditional delete without a match may be 2xx or 404, got ${err.response ? err.response.status : err}`);
  }
  assertSameStore(await snapshot(), before, 'conditional delete without a match');
});

test('conditional references Patient?identifier=... resolve to the one match; no match fails', async () => {
  const created = await transaction([post(patient('Referenced', 'cr-1'))]);
  const id = created.entry[0].resource.id;
  const reply = await transaction([
    post(observation('cr obs', `Patient?${byIdent('cr-1')}`)),
    post({ resourceType: 'Encounter', status: 'planned', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject: { reference: `Patient?${byIdent('cr-1')}` } }),
  ]);
  assert.equal(reply.entry[0].resource.subject.reference, `Patient/${id}`);
  assert.equal(reply.entry[1].resource.subject.reference, `Patient/${id}`);
  const stored = await client.read({ resourceType: 'Observation', id: reply.entry[0].resource.id });
  assert.equal(stored.subject.reference, `Patient/${id}`, 'the stored Observation has the resolved reference');

  const before = await snapshot();
  await rejected(transaction([post(observation('cr none', `Patient?${byIdent('cr-none')}`))]), [400, 404, 412], 'a conditional reference without a match');
  assertSameStore(await snapshot(), before, 'after a conditional reference without a match');
});

test('a conditional reference resolves to a resource created by the same transaction (trules step 5)', async () => {
  // http.html#trules: DELETE, POST, PUT and GET entries are processed first, and conditional
  // references are resolved last, so they see what the transaction itself creates.
  const reply = await succeeds(transaction([
    post(patient('Same transaction', 'cr-same'), { ifNoneExist: byIdent('cr-same') }),
    post(observation('cr same obs', `Patient?${byIdent('cr-same')}`)),
  ]), `transaction [POST Patient identifier=cr-same, POST Observation subject=Patient?${byIdent('cr-same')}]`);
  assert.equal(reply.entry[1].resource.subject.reference, `Patient/${reply.entry[0].resource.id}`);
});

test('conditional references are resolved within the commit: a second match committed first makes the transaction fail', async () => {
  // Race a transaction with a conditional reference against one that creates a second match.
  // Whenever both succeed, the reference must have been committed before the second match
  // (the system history lists newer versions first); otherwise it was resolved outside the
  // transaction that stored it.
  const TRIALS = 120;
  let raced = 0;
  for (let i = 0; i < TRIALS; i++) {
    const value = `race-ref-${i}`;
    await transaction([post(patient('First match', value))]);
    const [ref, second] = await Promise.allSettled([
      transaction([post(observation(`race ref ${i}`, `Patient?${byIdent(value)}`))]),
      transaction([post(patient('Second match', value))]),
    ]);
    assert.equal(second.status, 'fulfilled', `trial ${i}: creating the second match failed: ${second.reason}`);
    if (ref.status === 'rejected') {
      assert.equal(ref.reason.response && ref.reason.response.status, 412, `trial ${i}: the conditional reference may fail with 412 only`);
      continue;
    }
    raced++;
    const obs = `Observation/${ref.value.entry[0].resource.id}`;
    const pat = `Patient/${second.value.entry[0].resource.id}`;
    const recent = (await client.request('_history?_count=2')).entry.map((e) => e.fullUrl.split('/').slice(-2).join('/'));
    assert.deepEqual(recent.slice().sort(), [obs, pat].sort(), `trial ${i}: test set-up: the last two versions are the two transactions'`);
    assert.equal(recent[1], obs,
      `trial ${i} (of ${raced} where both succeeded): ${obs} was committed after ${pat}, the second Patient with identifier ${SYS}|${value}, ` +
      `yet its subject ${ref.value.entry[0].resource.subject.reference} was resolved from Patient?${byIdent(value)} as if there were one match`);
  }
  assert.ok(raced > 0, 'test set-up: no trial had both transactions succeed');
});

test('criteria matching several resources: conditional create, update, delete and reference get 412', async () => {
  await transaction([post(patient('Dup A', 'dup')), post(patient('Dup B', 'dup'))]);
  const dups = await search('Patient', { identifier: `${SYS}|dup` });
  assert.equal(dups.length, 2);
  const before = await snapshot();
  await rejected(transaction([post(patient('Dup C', 'dup'), { ifNoneExist: byIdent('dup') })]), 412, 'conditional create matching two');
  await rejected(transaction([{ resource: patient('Dup D', 'dup'), request: { method: 'PUT', url: `Patient?${byIdent('dup')}` } }]), 412, 'conditional update matching two');
  await rejected(transaction([post(observation('dup obs', `Patient?${byIdent('dup')}`))]), 412, 'conditional reference matching two');
  assertSameStore(await snapshot(), before, 'after the refused conditional entries');
  // Conditional delete: R4 lets a server delete every match or refuse with 412.
  try {
    await transaction([del(`Patient?${byIdent('dup')}`)]);
    assert.deepEqual(await search('Patient', { identifier: `${SYS}|dup` }), [], 'a conditional delete that succeeded must delete every match');
  } catch (err) {
    assert.equal(err.response && err.response.status, 412, `conditional delete matching two: ${err.response ? err.response.status : err}`);
    assertSameStore(await snapshot(), before, 'after the refused conditional delete');
  }
});

// ---------------------------------------------------------------------------------------------
// Batch

test('batch: entries succeed or fail independently', async () => {
  const existing = await client.create({ resourceType: 'Patient', body: patient('Batch existing', 'batch-existing') });
  await client.update({ resourceType: 'Patient', id: existing.id, body: { ...existing, active: true } });
  const reply = await batch([
    post(patient('Batch ok', 'batch-ok')), // 0: 201
    post({ resourceType: 'Patient', gender: 'sometimes' }), // 1: invalid -> 400
    put({ ...existing, active: false }, { ifMatch: 'W/"1"' }), // 2: stale -> 412
    post(patient('Batch again', 'batch-existing'), { ifNoneExist: byIdent('batch-existing') }), // 3: match -> 200
    put({ resourceType: 'Practitioner', id: 'batch-practitioner', name: [{ family: 'Batch' }] }), // 4: 201
    { resource: { resourceType: 'NoSuchType' }, request: { method: 'POST', url: 'NoSuchType' } }, // 5: 400/404
    del(`Patient/${existing.id}`, { ifMatch: 'W/"2"' }), // 6: 204 (current version)
  ]);
  assert.equal(reply.type, 'batch-response');
  const statuses = reply.entry.map(statusOf);
  assert.equal(statuses[0], 201, 'entry 0');
  assert.equal(statuses[1], 400, 'entry 1');
  assert.equal(statuses[2], 412, 'entry 2');
  assert.equal(statuses[3], 200, 'entry 3');
  assert.equal(statuses[4], 201, 'entry 4');
  assert.ok([400, 404].includes(statuses[5]), `entry 5: ${statuses[5]}`);
  assert.equal(statuses[6], 204, 'entry 6');
  for (const i of [1, 2, 5]) assert.equal(reply.entry[i].response.outcome && reply.entry[i].response.outcome.resourceType, 'OperationOutcome', `entry ${i} has an outcome`);
  assert.equal(reply.entry[3].resource.id, existing.id, 'entry 3 names the existing Patient');
  assert.equal((await search('Patient', { identifier: `${SYS}|batch-ok` })).length, 1, 'entry 0 is stored');
  assert.equal((await client.read({ resourceType: 'Practitioner', id: 'batch-practitioner' })).name[0].family, 'Batch', 'entry 4 is stored');
  assert.equal(await readOrStatus('Patient', existing.id), 410, 'entry 6 deleted the Patient');
  const history = await client.history({ resourceType: 'Patient', id: existing.id });
  assert.deepEqual(history.entry.map((e) => e.request.method), ['DELETE', 'PUT', 'POST'], 'the stale update (entry 2) wrote nothing');
});

// ---------------------------------------------------------------------------------------------
// Processing order (http.html#trules: DELETE, then POST, then PUT)

test('processing order: the DELETE of a transaction is processed before its POST', async () => {
  const victim = await client.create({ resourceType: 'Patient', body: patient('Victim', 'order-victim') });
  const reply = await transaction([
    post(patient('Newcomer', 'order-new')),
    del(`Patient/${victim.id}`),
  ]);
  assert.deepEqual(reply.entry.map(statusOf), [201, 204], 'response entries in request order');
  const newId = reply.entry[0].resource.id;
  // The system history lists the newest first: the POST, processed last, comes before the DELETE.
  const recent = await client.request('_history?_count=2');
  assert.deepEqual(recent.entry.map((e) => `${e.request.method} ${e.fullUrl.split('/').slice(-2).join('/')}`), [`POST Patient/${newId}`, `DELETE Patient/${victim.id}`], 'history order of the two writes');
});

test('processing order: a conditional DELETE runs before the POST of the same transaction, which it therefore does not see', async () => {
  // DELETE Patient?identifier=X is processed first, when nothing matches; then the POST creates X.
  const reply = await transaction([
    post(patient('Created after the delete', 'order-2')),
    del(`Patient?${byIdent('order-2')}`),
  ]);
  assert.equal(statusOf(reply.entry[0]), 201);
  assert.ok([200, 204].includes(statusOf(reply.entry[1])), `the conditional delete found nothing: ${reply.entry[1].response.status}`);
  const found = await search('Patient', { identifier: `${SYS}|order-2` });
  assert.deepEqual(found.map((p) => p.id), [reply.entry[0].resource.id], 'the POSTed Patient exists');
});

test('a conditional create resolving to a resource another entry deletes is refused (400), nothing stored', async () => {
  // Patient X exists. The transaction deletes it and conditionally creates a Patient with X's
  // identifier. Conditions are resolved against the store as it was before the transaction, so
  // the conditional create resolves to X, which the DELETE also names: "if any resource
  // identities (including resolved identities from conditional update/delete) overlap in steps
  // 1-3, then the transaction SHALL fail" (http.html#trules). medulla applies that rule to
  // conditional creates too.
  const old = await client.create({ resourceType: 'Patient', body: patient('Old', 'order-3') });
  const before = await snapshot();
  await rejected(transaction([
    post(patient('New', 'order-3'), { ifNoneExist: byIdent('order-3') }),
    del(`Patient/${old.id}`),
  ]), 400, `transaction [POST Patient ifNoneExist=${byIdent('order-3')}, DELETE Patient/${old.id}]`);
  assertSameStore(await snapshot(), before, 'after the refused transaction');
  const found = await search('Patient', { identifier: `${SYS}|order-3` });
  assert.deepEqual(found.map((p) => p.name[0].family), ['Old']);
});

test('a transaction may not touch one resource twice (400), nothing stored', async () => {
  const target = await client.create({ resourceType: 'Patient', body: patient('Twice', 'twice') });
  const before = await snapshot();
  await rejected(transaction([put({ ...target, active: true }), del(`Patient/${target.id}`)]), 400, 'PUT and DELETE of one resource');
  await rejected(transaction([{ resource: { ...patient('Twice', 'twice'), active: false }, request: { method: 'PUT', url: `Patient?${byIdent('twice')}` } }, del(`Patient/${target.id}`)]), 400, 'a conditional update resolving to a resource another entry deletes');
  assertSameStore(await snapshot(), before, 'after the refused transactions');
});

test('SIGTERM stops the server with exit code 0', async () => {
  await server.stop();
});
