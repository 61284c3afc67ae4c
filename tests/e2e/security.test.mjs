// Security through the real server with real tokens from `medulla token`: no way in without a
// valid token, a patient token reaches only its own compartment by every path, a device writes
// only for its patient, every access and denial is in the audit log, and an edited audit row is
// named by `medulla audit verify`.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { MedullaServer, mintToken, runMedulla } from './lib/server.mjs';

let server;
let alice;
let bob;

async function as(token, method, p, body) {
  const headers = { accept: 'application/fhir+json', authorization: token === null ? '' : `Bearer ${token}` };
  if (body) headers['content-type'] = 'application/fhir+json';
  const res = await fetch(`${server.base}${p}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

const obs = (pid) => ({
  resourceType: 'Observation', status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
  subject: { reference: `Patient/${pid}` },
  valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
});

before(async () => {
  server = await MedullaServer.start();
  const admin = server.token;
  alice = (await as(admin, 'POST', '/Patient', { resourceType: 'Patient', name: [{ family: 'Alice' }] })).body.id;
  bob = (await as(admin, 'POST', '/Patient', { resourceType: 'Patient', name: [{ family: 'Bob' }] })).body.id;
  for (const pid of [alice, bob]) assert.equal((await as(admin, 'POST', '/Observation', obs(pid))).status, 201);
});
after(async () => server && (await server.dispose()));

test('no token, a forged one, alg=none and a token for another data directory get 401', async () => {
  assert.equal((await as(null, 'GET', `/Patient/${alice}`)).status, 401);
  const [h, p, s] = server.token.split('.');
  const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
  assert.equal((await as(`${none}.${p}.`, 'GET', `/Patient/${alice}`)).status, 401, 'alg=none');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
  const widened = Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else', exp: claims.exp + 86400 })).toString('base64url');
  assert.equal((await as(`${h}.${widened}.${s}`, 'GET', `/Patient/${alice}`)).status, 401, 'edited claims');
  const stranger = mintToken(path.join(server.dataDir, '..', 'other-dir'), ['--role', 'admin']);
  assert.equal((await as(stranger, 'GET', `/Patient/${alice}`)).status, 401, "another installation's key");
  const res = await as(null, 'GET', '/metadata');
  assert.equal(res.status, 200, 'the CapabilityStatement needs no token');
});

test('expired, mis-addressed, mis-issued and HS256-with-the-public-key tokens get 401, each refusal audited', async () => {
  // Tokens made here with the data directory's own signing key, so that each is refused for its
  // claims or algorithm and not for an unknown key; the control token shows the signing works.
  const priv = crypto.createPrivateKey(fs.readFileSync(path.join(server.dataDir, 'keys', 'token-signing.pem')));
  const publicPem = crypto.createPublicKey(priv).export({ type: 'spki', format: 'pem' });
  const [h0, p0] = server.token.split('.');
  const { kid } = JSON.parse(Buffer.from(h0, 'base64url').toString());
  const claims = JSON.parse(Buffer.from(p0, 'base64url').toString());
  const now = Math.floor(Date.now() / 1000);
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const sign = (changes, alg = 'RS256') => {
    const input = `${b64({ alg, typ: 'JWT', kid })}.${b64({ ...claims, jti: crypto.randomUUID(), ...changes })}`;
    const sig = alg === 'RS256' ? crypto.sign('sha256', Buffer.from(input), priv)
      : crypto.createHmac('sha256', publicPem).update(input).digest();
    return `${input}.${sig.toString('base64url')}`;
  };
  assert.equal((await as(sign({}), 'GET', `/Patient/${alice}`)).status, 200, 'the control token is accepted');
  const attacks = {
    expired: sign({ iat: now - 7200, exp: now - 3600 }),
    'not-yet-valid': sign({ nbf: now + 3600 }),
    'wrong-audience': sign({ aud: 'urn:somewhere-else' }),
    'wrong-issuer': sign({ iss: 'https://attacker.example' }),
    'hs256-with-public-key': sign({}, 'HS256'),
  };
  for (const [name, token] of Object.entries(attacks)) {
    assert.equal((await as(token, 'GET', `/Patient/${alice}?attack=${name}`)).status, 401, name);
  }
  // A patient token reaching another patient inside a batch is refused entry by entry.
  const pt = mintToken(server.dataDir, ['--role', 'patient', '--patient', alice]);
  const batch = await as(pt, 'POST', '/', { resourceType: 'Bundle', type: 'batch', entry: [
    { request: { method: 'GET', url: `Patient/${bob}` } }, { request: { method: 'GET', url: `Observation?subject=Patient/${bob}` } }] });
  assert.equal(batch.status, 200);
  assert.match(batch.body.entry[0].response.status, /^404/);
  assert.ok(!JSON.stringify(batch.body).includes('"family":"Bob"'), 'Bob leaks through a batch');
  const log = await as(server.token, 'GET', '/AuditEvent?_count=1000');
  for (const name of Object.keys(attacks)) {
    assert.ok(log.body.entry.some((e) => e.resource.outcome === '4' &&
      e.resource.entity.some((x) => (x.description || '').includes(`attack=${name}`))), `the ${name} refusal is audited`);
  }
});

test('a patient token reaches its own compartment and nothing else, by any path', async () => {
  const pt = mintToken(server.dataDir, ['--role', 'patient', '--patient', alice]);
  assert.equal((await as(pt, 'GET', `/Patient/${alice}`)).status, 200);
  assert.equal((await as(pt, 'GET', `/Patient/${bob}`)).status, 404, 'another patient reads as unknown');
  // The resources sent, not the links (which echo the query).
  const leaks = (b) => JSON.stringify((b.entry || []).map((e) => e.resource)).includes(bob);
  for (const q of [`/Observation?subject=Patient/${bob}`, '/Observation', '/Observation?_include=Observation:subject',
    `/Observation?subject:Patient.name=Bob`, '/Patient', `/Patient?_has:Observation:subject:code=8867-4`]) {
    const r = await as(pt, 'GET', q);
    assert.equal(r.status, 200, q);
    assert.ok(!leaks(r.body), `${q} leaked Bob's data`);
  }
  const own = await as(pt, 'GET', '/Observation');
  assert.equal(own.body.entry.length, 1, "Alice's own Observation is found");
  for (const q of [`/Patient/${bob}/_history`, `/Patient/${bob}/$everything`, `/Patient/${bob}/Observation`]) {
    assert.equal((await as(pt, 'GET', q)).status, 404, q);
  }
  assert.equal((await as(pt, 'GET', '/$export')).status, 403, '$export is for administrators');
  const tx = await as(pt, 'POST', '/', { resourceType: 'Bundle', type: 'batch', entry: [
    { request: { method: 'GET', url: `Patient/${bob}` } }, { request: { method: 'GET', url: `Observation?subject=${bob}` } }] });
  assert.equal(tx.status, 200);
  // A GET entry's resource is the read resource, or a searchset whose entries are the matches.
  const reached = tx.body.entry.flatMap((e) =>
    e.resource?.resourceType === 'Bundle' ? (e.resource.entry || []).map((x) => x.resource) : [e.resource]);
  assert.ok(!JSON.stringify(reached).includes(bob), 'batch GET entries leaked');
  assert.equal((await as(pt, 'POST', '/Observation', obs(alice))).status, 403, 'patient tokens are read-only');
});

test('a device token writes readings for its own patient only', async () => {
  const dev = mintToken(server.dataDir, ['--role', 'device', '--patient', alice]);
  assert.equal((await as(dev, 'POST', '/Observation', obs(alice))).status, 201);
  assert.equal((await as(dev, 'POST', '/Observation', obs(bob))).status, 403);
  const tx = await as(dev, 'POST', '/', { resourceType: 'Bundle', type: 'transaction', entry: [
    { request: { method: 'POST', url: 'Observation' }, resource: obs(alice) },
    { request: { method: 'POST', url: 'Observation' }, resource: obs(bob) }] });
  assert.equal(tx.status, 403, 'a transaction with one foreign entry fails whole');
  assert.equal((await as(dev, 'POST', '/Patient', { resourceType: 'Patient' })).status, 403, 'no scope for Patient');
});

test('accesses and denials are audited; patients see who looked at their record; edits are detected', async () => {
  const admin = server.token;
  const log = await as(admin, 'GET', `/AuditEvent?patient=${bob}&_count=200`);
  assert.equal(log.status, 200);
  const events = log.body.entry.map((e) => e.resource);
  assert.ok(events.some((e) => e.outcome === '4' && e.agent[0].role[0].text === 'device'),
    "the device's refused write for Bob is in Bob's audit trail");
  assert.ok(events.every((e) => e.entity.some((x) => x.what?.reference === `Patient/${bob}`)));
  const pt = mintToken(server.dataDir, ['--role', 'patient', '--patient', alice]);
  const mine = await as(pt, 'GET', '/AuditEvent');
  assert.equal(mine.status, 200);
  assert.ok(mine.body.entry.length > 0);
  for (const { resource } of mine.body.entry) {
    assert.ok(resource.entity.some((x) => x.what?.reference === `Patient/${alice}`),
      "a patient's view of the audit log holds only entries that touched its own record");
  }
  assert.equal((await as(pt, 'GET', `/AuditEvent?patient=${bob}`)).status, 403);
  const bobsOnly = events.find((e) => !e.entity.some((x) => x.what?.reference === `Patient/${alice}`));
  assert.ok(bobsOnly, 'an entry that touched Bob alone');
  assert.equal((await as(admin, 'GET', `/AuditEvent/${bobsOnly.id}`)).status, 200);
  assert.equal((await as(pt, 'GET', `/AuditEvent/${bobsOnly.id}`)).status, 404,
    "Alice cannot read an entry of Bob's record by its id");
  assert.equal((await as(admin, 'DELETE', '/AuditEvent/1')).status, 405, 'append-only');
  const unauth = await as(admin, 'GET', '/AuditEvent?_count=1000');
  assert.ok(unauth.body.entry.some((e) => e.resource.outcome === '4' && e.resource.agent[0].who.display === 'unauthenticated'),
    'a request without a token is audited');

  await server.stop();
  assert.equal((await runMedulla(['audit', 'verify', '--data-dir', server.dataDir])).code, 0);
  // Edit one row directly in the SQLite file (python3's sqlite3: Node 20 has no SQLite).
  const edit = spawnSync('python3', ['-c',
    "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); " +
    "c.execute(\"UPDATE audit_log SET event = event || ' ' WHERE seq = 5\"); c.commit()",
    path.join(server.dataDir, 'medulla.db')], { encoding: 'utf8' });
  assert.equal(edit.status, 0, edit.stderr);
  const verify = await runMedulla(['audit', 'verify', '--data-dir', server.dataDir]);
  assert.notEqual(verify.code, 0);
  assert.match(verify.stdout, /AuditEvent\/5\b/, 'names the edited entry');
  server = null;
});

test('an answered read keeps its audit entry through kill -9', async () => {
  const at = async (srv, method, p, body) => {
    const headers = { accept: 'application/fhir+json', authorization: `Bearer ${srv.token}` };
    if (body) headers['content-type'] = 'application/fhir+json';
    const res = await fetch(`${srv.base}${p}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
    return { status: res.status, body: await res.json() };
  };
  const s = await MedullaServer.start();
  try {
    const created = await at(s, 'POST', '/Patient', { resourceType: 'Patient', name: [{ family: 'Kill' }] });
    assert.equal(created.status, 201);
    const id = created.body.id;
    for (let i = 0; i < 25; i++) assert.equal((await at(s, 'GET', `/Patient/${id}`)).status, 200);
    await s.kill9();
    const restarted = await MedullaServer.start({ dataDir: s.dataDir });
    try {
      const log = await at(restarted, 'GET', `/AuditEvent?patient=${id}&_count=100`);
      assert.equal(log.status, 200);
      const reads = log.body.entry.filter((e) => e.resource.subtype[0].code === 'read');
      assert.ok(reads.length >= 25, `every answered read is in the log after kill -9 (found ${reads.length})`);
    } finally {
      await restarted.stop();
    }
    assert.equal((await runMedulla(['audit', 'verify', '--data-dir', s.dataDir])).code, 0, 'the chain is intact');
  } finally {
    await s.kill9();
  }
});
