// Clinicians, organisations and consent through the real server with real tokens: a clinician
// sees the patients their organisation manages; other organisations see a patient only as the
// patient's Consent says (opt-in by default, opt-out when configured), with exceptions by
// organisation and purpose; break-glass (an emergency purpose of use) passes a refusal and is
// flagged for review in the audit log.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { MedullaServer, makeTempDir, mintToken } from './lib/server.mjs';

const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
let server;
const ids = {};
const tokens = {};

async function call(srv, token, method, p, body) {
  const res = await srv.http.request(method, p, { headers: { authorization: `Bearer ${token}` }, body });
  return { status: res.status, body: res.json ?? null };
}

const patient = (family, org) => ({ resourceType: 'Patient', name: [{ family }], managingOrganization: { reference: `Organization/${org}` } });
const observation = (pid) => ({ resourceType: 'Observation', status: 'final', code: { text: 'heart rate' }, subject: { reference: `Patient/${pid}` } });
const orgActor = (org) => ({ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] }, reference: { reference: `Organization/${org}` } });

/** A patient-privacy Consent: `provision` is its provision tree. */
function consent(pid, provision, extra = {}) {
  return {
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${pid}` },
    dateTime: new Date().toISOString(),
    provision,
    ...extra,
  };
}

async function seed(srv) {
  const admin = srv.token;
  const made = {};
  for (const org of ['hospital-a', 'clinic-b']) {
    const r = await call(srv, admin, 'PUT', `/Organization/${org}`, { resourceType: 'Organization', id: org, name: org });
    assert.ok([200, 201].includes(r.status), JSON.stringify(r.body));
  }
  for (const [key, family] of [['plain', 'NoConsent'], ['shared', 'SharesWithB'], ['purpose', 'TreatOnly'], ['hidden', 'HidesFromA']]) {
    made[key] = (await call(srv, admin, 'POST', '/Patient', patient(family, 'hospital-a'))).body.id;
    assert.equal((await call(srv, admin, 'POST', '/Observation', observation(made[key]))).status, 201);
  }
  return made;
}

function clinician(srv, org, purpose) {
  return mintToken(srv.dataDir, ['--role', 'clinician', '--organization', org, '--subject', `dr-${org}-${purpose || 'x'}`,
    ...(purpose ? ['--purpose', purpose] : [])]);
}

before(async () => {
  server = await MedullaServer.start();
  Object.assign(ids, await seed(server));
  const admin = server.token;
  // Opt-in sharing with clinic B; a general refusal with a treatment exception for B; and a
  // refusal that names the managing organisation itself.
  for (const body of [
    consent(ids.shared, { type: 'permit', actor: [orgActor('clinic-b')] }),
    consent(ids.purpose, { type: 'deny', provision: [{ type: 'permit', actor: [orgActor('clinic-b')], purpose: [{ system: ACT_REASON, code: 'TREAT' }] }] }),
    consent(ids.hidden, { type: 'deny', actor: [orgActor('hospital-a')] }),
  ]) {
    const r = await call(server, admin, 'POST', '/Consent', body);
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
  tokens.a = clinician(server, 'hospital-a');
  tokens.b = clinician(server, 'clinic-b');
  tokens.bTreat = clinician(server, 'clinic-b', 'TREAT');
  tokens.bEmergency = clinician(server, 'clinic-b', 'ETREAT');
  tokens.none = mintToken(server.dataDir, ['--role', 'clinician']);
});
after(async () => server && (await server.dispose()));

const reads = async (token, key) => (await call(server, token, 'GET', `/Patient/${ids[key]}`)).status;
const observationsSeen = async (token) => {
  const r = await call(server, token, 'GET', '/Observation?_count=100');
  assert.equal(r.status, 200);
  const found = (r.body.entry || []).map((e) => e.resource).filter((x) => x.resourceType === 'Observation');
  return new Set(found.map((o) => o.subject.reference.replace('Patient/', '')));
};

test('a clinician sees the patients their organisation manages; a general refusal does not cut them off', async () => {
  assert.equal(await reads(tokens.a, 'plain'), 200);
  assert.equal(await reads(tokens.a, 'shared'), 200);
  assert.equal(await reads(tokens.a, 'purpose'), 200, 'a deny naming no organisation leaves the managing one');
  assert.equal(await reads(tokens.a, 'hidden'), 404, 'a deny naming the managing organisation applies to it');
  const seen = await observationsSeen(tokens.a);
  assert.ok(seen.has(ids.plain) && seen.has(ids.shared) && seen.has(ids.purpose) && !seen.has(ids.hidden));
});

test('another organisation sees only what consent shares with it (opt-in by default)', async () => {
  assert.equal(await reads(tokens.b, 'plain'), 404, 'no consent: not shared');
  assert.equal(await reads(tokens.b, 'shared'), 200);
  assert.equal(await reads(tokens.b, 'purpose'), 404, 'the exception needs the purpose TREAT');
  assert.equal(await reads(tokens.bTreat, 'purpose'), 200);
  const seen = await observationsSeen(tokens.b);
  assert.deepEqual([...seen], [ids.shared]);
  // Every path: compartment search, $everything, _include, _revinclude.
  for (const p of [`/Patient/${ids.plain}/Observation`, `/Patient/${ids.plain}/$everything`,
    '/Observation?_include=Observation:subject', `/Patient?_revinclude=Observation:subject`]) {
    const r = await call(server, tokens.b, 'GET', p);
    assert.ok(!JSON.stringify((r.body.entry || []).map((e) => e.resource)).includes(ids.plain), `${p} leaks an unshared patient`);
  }
  assert.equal(await reads(tokens.none, 'plain'), 404, 'a clinician token without an organisation sees no one');
});

test('a clinician writes only where the record is shared with them', async () => {
  assert.equal((await call(server, tokens.b, 'POST', '/Observation', observation(ids.shared))).status, 201);
  assert.equal((await call(server, tokens.b, 'POST', '/Observation', observation(ids.plain))).status, 403);
  assert.equal((await call(server, tokens.b, 'POST', '/Patient', patient('NewAtB', 'clinic-b'))).status, 201);
  assert.equal((await call(server, tokens.b, 'POST', '/Patient', patient('Elsewhere', 'hospital-a'))).status, 403);
  assert.equal((await call(server, tokens.b, 'DELETE', `/Patient/${ids.plain}`)).status, 404, 'an unshared record cannot be deleted, nor found');
});

test('break-glass: an emergency purpose passes a refusal and the access is flagged for review', async () => {
  assert.equal(await reads(tokens.bEmergency, 'plain'), 200);
  assert.equal(await reads(tokens.bEmergency, 'hidden'), 200);
  const log = await call(server, server.token, 'GET', `/AuditEvent?patient=${ids.plain}&_count=50`);
  const events = log.body.entry.map((e) => e.resource);
  const flagged = events.filter((e) => (e.meta?.tag || []).some((t) => t.code === 'break-glass'));
  assert.equal(flagged.length, 1, 'exactly the break-glass read is flagged');
  const codes = flagged[0].purposeOfEvent.flatMap((p) => p.coding.map((c) => c.code));
  assert.ok(codes.includes('ETREAT') && codes.includes('BTG'), JSON.stringify(codes));
  assert.equal(flagged[0].agent[0].who.identifier.value, 'dr-clinic-b-ETREAT');
  // Reads that consent allowed anyway are not flagged.
  assert.equal(await reads(tokens.bEmergency, 'shared'), 200);
  const shared = await call(server, server.token, 'GET', `/AuditEvent?patient=${ids.shared}&_count=50`);
  assert.ok(!shared.body.entry.some((e) => (e.resource.meta?.tag || []).some((t) => t.code === 'break-glass')));
  assert.match(server.log(), /break-glass access by dr-clinic-b-ETREAT/);
});

test('a newer consent replaces the old one: withdrawing sharing takes effect at once', async () => {
  assert.equal(await reads(tokens.b, 'shared'), 200);
  const later = new Date(Date.now() + 1000).toISOString();
  const r = await call(server, server.token, 'POST', '/Consent', consent(ids.shared, { type: 'deny' }, { dateTime: later }));
  assert.equal(r.status, 201);
  assert.equal(await reads(tokens.b, 'shared'), 404);
  assert.equal(await reads(tokens.a, 'shared'), 200, 'the managing organisation keeps its patient');
});

test('with consent_default = "opt-out", patients are shared unless their consent refuses', async () => {
  const dir = makeTempDir('medulla-e2e-optout-');
  const config = path.join(dir, 'medulla.toml');
  fs.writeFileSync(config, '[security]\nconsent_default = "opt-out"\n');
  const other = await MedullaServer.start({ args: ['--config', config] });
  try {
    const made = await seed(other);
    const r = await call(other, other.token, 'POST', '/Consent', consent(made.hidden, { type: 'deny', provision: [{ type: 'permit', actor: [orgActor('hospital-a')] }] }));
    assert.equal(r.status, 201);
    const b = clinician(other, 'clinic-b');
    assert.equal((await call(other, b, 'GET', `/Patient/${made.plain}`)).status, 200, 'no consent: shared');
    assert.equal((await call(other, b, 'GET', `/Patient/${made.hidden}`)).status, 404, 'opted out');
    assert.equal((await call(other, clinician(other, 'hospital-a'), 'GET', `/Patient/${made.hidden}`)).status, 200, 'the exception for A');
  } finally {
    await other.stop();
  }
});
