// Batch and transaction Bundles posted to the base URL, driven with fhir-kit-client's
// transaction() and batch(); every response is checked against fhir.schema.json by the shared
// fetch wrapper in lib/server.mjs.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client } from 'fhir-kit-client';
import { MedullaServer, readJson, TEST_DATA } from './lib/server.mjs';
import path from 'node:path';

let server;
let client;

before(async () => {
  server = await MedullaServer.start();
  client = new Client({ baseUrl: `${server.base}/` });
});

after(async () => {
  if (server) await server.dispose();
});

async function countOf(type) {
  const bundle = await client.search({ resourceType: type, searchParams: { _count: 0 } });
  return bundle.total;
}

test('a Synthea transaction bundle is stored whole, references rewritten to the new ids', async () => {
  const file = path.join(TEST_DATA, 'fhir', 'synthea', 'Adolfo_Marquardt_50635536-8051-4085-bfd4-511a05062ac2.json');
  const bundle = readJson(file);
  const response = await client.transaction({ body: bundle });
  assert.equal(response.resourceType, 'Bundle');
  assert.equal(response.type, 'transaction-response');
  assert.equal(response.entry.length, bundle.entry.length, 'one response entry per request entry');
  for (const [i, e] of response.entry.entries()) {
    assert.equal(e.response.status, '201 Created', `entry ${i}`);
    assert.equal(e.resource.resourceType, bundle.entry[i].resource.resourceType, `entry ${i} order`);
  }
  // Every urn:uuid reference now names a stored resource.
  const patientEntry = response.entry.find((e) => e.resource.resourceType === 'Patient');
  const observation = response.entry.find((e) => e.resource.resourceType === 'Observation').resource;
  assert.equal(observation.subject.reference, `Patient/${patientEntry.resource.id}`);
  const [type, id] = observation.encounter.reference.split('/');
  const encounter = await client.read({ resourceType: type, id });
  assert.equal(encounter.id, id);
});

test('a transaction whose last entry is invalid leaves the store exactly as before', async () => {
  const before = await countOf('Patient');
  const entry = { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } };
  const bad = { resource: { resourceType: 'Patient', birthDate: '03/02/1958' }, request: { method: 'POST', url: 'Patient' } };
  const body = { resourceType: 'Bundle', type: 'transaction', entry: [...Array(49).fill(entry), bad] };
  await assert.rejects(client.transaction({ body }), (err) => {
    assert.equal(err.response.status, 400);
    assert.equal(err.response.data.resourceType, 'OperationOutcome');
    assert.ok(JSON.stringify(err.response.data).includes('Bundle.entry[49].resource.birthDate'));
    return true;
  });
  assert.equal(await countOf('Patient'), before);
});

test('concurrent transactions on one resource serialise: no lost update', async () => {
  const created = await client.create({ resourceType: 'Patient', body: { resourceType: 'Patient', active: true } });
  const updates = Array.from({ length: 8 }, (_, k) =>
    client.transaction({
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [{
          resource: { resourceType: 'Patient', id: created.id, name: [{ family: `T${k}` }] },
          request: { method: 'PUT', url: `Patient/${created.id}` },
        }],
      },
    }));
  const results = await Promise.all(updates);
  const versions = results.map((r) => Number(r.entry[0].resource.meta.versionId)).sort((a, b) => a - b);
  assert.deepEqual(versions, [2, 3, 4, 5, 6, 7, 8, 9], 'each transaction got its own version');
  const history = await client.history({ resourceType: 'Patient', id: created.id });
  assert.equal(history.entry.length, 9);
});

test('batch entries succeed or fail alone', async () => {
  const body = {
    resourceType: 'Bundle',
    type: 'batch',
    entry: [
      { resource: { resourceType: 'Patient', gender: 'female' }, request: { method: 'POST', url: 'Patient' } },
      { resource: { resourceType: 'Patient', gender: 'sometimes' }, request: { method: 'POST', url: 'Patient' } },
      { request: { method: 'DELETE', url: 'Patient/never-existed' } },
    ],
  };
  const response = await client.batch({ body });
  assert.equal(response.type, 'batch-response');
  assert.equal(response.entry[0].response.status, '201 Created');
  assert.equal(response.entry[1].response.status, '400 Bad Request');
  assert.equal(response.entry[1].response.outcome.resourceType, 'OperationOutcome');
  assert.deepEqual(response.entry[1].response.outcome.issue[0].expression, ['Bundle.entry[1].resource.gender']);
  assert.equal(response.entry[2].response.status, '204 No Content');
  const stored = await client.read({ resourceType: 'Patient', id: response.entry[0].resource.id });
  assert.equal(stored.gender, 'female');
});

test('GET entries: reads and searches in a batch, and after the writes in a transaction', async () => {
  const created = await client.create({ resourceType: 'Patient', body: { resourceType: 'Patient', name: [{ family: 'Getentry' }], gender: 'male' } });
  const batch = await client.batch({
    body: {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: `Patient/${created.id}` } },
        { request: { method: 'GET', url: 'Patient?family=getentry&_count=5' } },
        { request: { method: 'GET', url: 'Patient/does-not-exist' } },
        { request: { method: 'GET', url: 'Patient?nonsense=1' } },
        { request: { method: 'GET', url: '$export' } },
        { request: { method: 'GET', url: 'http://elsewhere.example/fhir/Patient/1' } },
      ],
    },
  });
  assert.equal(batch.type, 'batch-response');
  assert.equal(batch.entry[0].response.status, '200 OK');
  assert.equal(batch.entry[0].resource.id, created.id);
  assert.equal(batch.entry[0].response.etag, 'W/"1"');
  assert.equal(batch.entry[1].resource.type, 'searchset');
  assert.deepEqual(batch.entry[1].resource.entry.filter((e) => e.search.mode === 'match').map((e) => e.resource.id), [created.id]);
  assert.equal(batch.entry[2].response.status, '404 Not Found');
  assert.equal(batch.entry[2].response.outcome.resourceType, 'OperationOutcome');
  assert.equal(batch.entry[3].response.status, '200 OK', 'an unknown parameter is ignored (lenient)');
  for (const i of [4, 5]) {
    assert.equal(batch.entry[i].response.status, '400 Bad Request', `entry ${i}`);
    assert.equal(batch.entry[i].response.outcome.resourceType, 'OperationOutcome');
  }
  // A transaction: the GET sees the transaction's own writes (reads come last, http.html#trules),
  // wherever it stands in the Bundle.
  const tx = await client.transaction({
    body: {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { request: { method: 'GET', url: 'Patient?family=Txgetentry' } },
        { fullUrl: 'urn:uuid:7d2e7a36-0d46-4f0b-8c5e-2f1c9f4b1a01', resource: { resourceType: 'Patient', name: [{ family: 'Txgetentry' }] }, request: { method: 'POST', url: 'Patient' } },
      ],
    },
  });
  assert.equal(tx.type, 'transaction-response');
  assert.equal(tx.entry[1].response.status, '201 Created');
  const found = tx.entry[0].resource.entry.filter((e) => e.search.mode === 'match').map((e) => e.resource.id);
  assert.deepEqual(found, [tx.entry[1].resource.id]);
  // A transaction of reads only writes nothing and answers each.
  const reads = await client.transaction({
    body: { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'GET', url: `Patient/${created.id}/_history/1` } }] },
  });
  assert.equal(reads.entry[0].resource.meta.versionId, '1');
});

test('a bundle that is not a batch or transaction, or is not a Bundle, is refused', async () => {
  for (const body of [
    { resourceType: 'Bundle', type: 'collection', entry: [] },
    { resourceType: 'Patient' },
  ]) {
    const res = await server.http.post('/', body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(res.json.resourceType, 'OperationOutcome');
  }
});
