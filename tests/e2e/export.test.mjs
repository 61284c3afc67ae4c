// Bulk Data $export (FHIR Bulk Data Access IG) end to end: the kick-off through the real
// third-party client fhir-kit-client (client.request, which keeps the HTTP response), status
// polling until the manifest, the NDJSON files, system / Patient / Group level, _type and
// _since, cancellation with DELETE, and the errors of a bad kick-off.
//
// Two Synthea patient bundles are loaded as transactions; what each export must contain is
// computed from what the transactions stored, so an export that drops, repeats or strays
// beyond its level fails.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Client, RESPONSE_KEY } from 'fhir-kit-client';
import { MedullaServer, TEST_DATA, fhirSchemaErrors, rawFetch, readJson } from './lib/server.mjs';

const BUNDLES = [
  'Luigi_Wiegand_e27d88b0-c5e5-4042-ad49-184f6a900ee3.json',
  'Louis_Miller_f8bbc4a5-8a9f-45ed-a807-b715feefb2ef.json',
];
const ASYNC = { Prefer: 'respond-async' };

let server;
let client;
const stored = []; // every resource the transactions stored
const patientIds = [];

before(async () => {
  server = await MedullaServer.start();
  client = new Client({ baseUrl: `${server.base}/` });
  for (const file of BUNDLES) {
    const bundle = readJson(path.join(TEST_DATA, 'fhir', 'synthea', file));
    const reply = await client.transaction({ body: bundle });
    for (const e of reply.entry) {
      const [type, id] = e.response.location.split('/');
      stored.push({ type, id });
      if (type === 'Patient') patientIds.push(id);
    }
  }
});

after(async () => {
  if (server) await server.dispose();
});

/** Kicks an export off; returns the status URL (Content-Location of the 202). */
async function kickOff(url) {
  const reply = await client.request(url, { options: { headers: ASYNC } });
  const response = reply[RESPONSE_KEY];
  assert.equal(response.status, 202, `${url}: kick-off status`);
  const location = response.headers.get('content-location');
  assert.ok(location && location.includes('$export-status/'), `${url}: Content-Location ${location}`);
  return location;
}

/** Polls the status URL until the manifest; checks X-Progress while it runs. */
async function manifestOf(location) {
  for (let i = 0; i < 600; i++) {
    const reply = await client.request(location);
    const response = reply[RESPONSE_KEY];
    if (response.status === 200) return reply;
    assert.equal(response.status, 202, 'status while running');
    assert.ok(response.headers.get('x-progress'), 'X-Progress while running');
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${location}: no manifest after 30 s`);
}

/**
 * The resources of every output file, checking each file's count and line format, and every
 * line against fhir.schema.json (fetched raw: the harness's fetch check wants one JSON body).
 */
async function download(manifest) {
  const out = [];
  for (const o of manifest.output) {
    // The manifest says requiresAccessToken: the files need the token too.
    assert.equal(manifest.requiresAccessToken, true);
    assert.equal((await rawFetch(o.url)).status, 401, `${o.url} without a token`);
    const res = await rawFetch(o.url, { headers: { authorization: `Bearer ${server.token}` } });
    assert.equal(res.status, 200, `${o.url}`);
    assert.match(res.headers.get('content-type'), /ndjson/);
    const lines = (await res.text()).split('\n').filter((l) => l.length > 0);
    assert.equal(lines.length, o.count, `${o.url}: manifest count`);
    for (const line of lines) {
      const r = JSON.parse(line);
      assert.equal(r.resourceType, o.type, `${o.url}: resource type`);
      assert.deepEqual(fhirSchemaErrors(r, `${o.url} ${r.id}`), []);
      out.push({ type: r.resourceType, id: r.id, resource: r });
    }
  }
  return out;
}

const key = (x) => `${x.type}/${x.id}`;
const sorted = (xs) => xs.map(key).sort();

test('a kick-off without Prefer: respond-async is 400 with an OperationOutcome', async () => {
  await assert.rejects(client.request('$export'), (err) => {
    assert.equal(err.response.status, 400);
    assert.equal(err.response.data.resourceType, 'OperationOutcome');
    return true;
  });
  await assert.rejects(client.request('$export?_type=NoSuchType', { options: { headers: ASYNC } }),
    (err) => err.response.status === 400);
  await assert.rejects(client.request('Group/no-such-group/$export', { options: { headers: ASYNC } }),
    (err) => err.response.status === 404);
});

test('system level: every stored resource of the requested types, once', async () => {
  const location = await kickOff('$export?_type=Patient,Observation,Encounter&_outputFormat=application/fhir%2Bndjson');
  const manifest = await manifestOf(location);
  assert.ok(Date.parse(manifest.transactionTime) > 0, 'transactionTime');
  assert.equal(manifest.requiresAccessToken, true);
  assert.ok(manifest.request.includes('$export'), 'request echoes the kick-off URL');
  const got = await download(manifest);
  const want = stored.filter((x) => ['Patient', 'Observation', 'Encounter'].includes(x.type));
  assert.deepEqual(sorted(got), sorted(want));
});

test('Patient level: the Patient compartment types only, all patients', async () => {
  const manifest = await manifestOf(await kickOff('Patient/$export'));
  const got = await download(manifest);
  assert.ok(!got.some((x) => x.type === 'Organization' || x.type === 'Practitioner'),
    'no resource outside the Patient compartment');
  assert.deepEqual(got.filter((x) => x.type === 'Patient').map((x) => x.id).sort(), [...patientIds].sort());
  const want = stored.filter((x) => x.type === 'Observation');
  assert.deepEqual(sorted(got.filter((x) => x.type === 'Observation')), sorted(want));
});

test('Group level: only the compartment of the group\'s members', async () => {
  const member = patientIds[0];
  await client.update({ resourceType: 'Group', id: 'export-group', body: {
    resourceType: 'Group', id: 'export-group', type: 'person', actual: true,
    member: [{ entity: { reference: `Patient/${member}` } }],
  } });
  const got = await download(await manifestOf(await kickOff('Group/export-group/$export?_type=Patient,Observation')));
  assert.deepEqual(got.filter((x) => x.type === 'Patient').map((x) => x.id), [member]);
  const observations = got.filter((x) => x.type === 'Observation');
  assert.ok(observations.length > 0, 'the member has Observations');
  for (const o of observations) {
    assert.equal(o.resource.subject.reference, `Patient/${member}`, `${key(o)} belongs to the member`);
  }
  const count = await client.search({ resourceType: 'Observation', searchParams: { subject: `Patient/${member}`, _summary: 'count' } });
  assert.equal(observations.length, count.total);
});

test('_since after every write exports nothing', async () => {
  const since = new Date(Date.now() + 60_000).toISOString();
  const manifest = await manifestOf(await kickOff(`$export?_type=Patient&_since=${encodeURIComponent(since)}`));
  assert.equal(manifest.output.reduce((n, o) => n + o.count, 0), 0);
});

test('DELETE on the status URL cancels the job and removes its files', async () => {
  const location = await kickOff('$export?_type=Observation');
  const manifest = await manifestOf(location);
  const file = manifest.output[0].url;
  const reply = await client.request(location, { method: 'DELETE' });
  assert.equal(reply[RESPONSE_KEY].status, 202);
  await assert.rejects(client.request(location), (err) => err.response.status === 404);
  const gone = await rawFetch(file, { headers: { authorization: `Bearer ${server.token}` } });
  assert.equal(gone.status, 404, 'the file is gone');
});
