// Ambulance dispatch through the real binary: the Monaco road graph (`medulla routing import` of
// tests/data/osm/monaco_roads.osm.pbf, © OpenStreetMap contributors, ODbL), hospitals and
// ambulances recorded as FHIR resources with fhir-kit-client (Location + Organization +
// HealthcareService capabilities, MeasureReport ED status, Device ambulances), positions posted
// as NDJSON, then POST /dispatch/recommend and the $dispatch-recommend operation: the nearest
// ambulance and the quickest capable hospital not on diversion (the newest report wins), every
// candidate with its reason, GeoJSON routes, batches where the most urgent incident takes the
// ambulance, dispatches recorded as Tasks (and never one ambulance twice, even when requests
// race), re-evaluation en route (diversion, a road closed by live traffic, an ambulance
// transporting) delivered to a rest-hook through the dispatch SubscriptionTopic and not through
// the alert-task topic, per-request closures, bad input refused whole, the role guards, 501
// without a graph, positions that survive kill -9, and the MQTT lane (a real mosquitto).
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from 'fhir-kit-client';
import mqtt from 'mqtt';
import { startBroker } from './lib/mosquitto.mjs';
import { MedullaServer, TEST_DATA, assertOutcome, makeTempDir, mintToken, runMedulla, show } from './lib/server.mjs';

const MONACO = path.join(TEST_DATA, 'osm', 'monaco_roads.osm.pbf');

// ---------------------------------------------------------------------------------------------
// The scene and the fleet
//
// Points on Monaco's roads (lon, lat). Drive times between them under free flow (read once off
// GET /routing/route; the hour's profile scales them alike): from SCENE to HOSP_NEAR 111 s, to
// HOSP_CENTRE 180 s, to HOSP_WEST 283 s; to SCENE from AMB1's post 81 s, AMB2's 253 s, AMB3's
// 274 s. So for an incident at SCENE the nearest ambulance is AMB1 and the nearest hospital
// HOSP_NEAR, with clear margins.
const P = {
  A: [7.4197, 43.7311],
  B: [7.4365, 43.7484],
  C: [7.42, 43.735],
  D: [7.41, 43.73],
  E: [7.43, 43.74],
};
const SCENE = P.C;

// Hospitals: where, and what each can treat.
const HOSPITALS = {
  near: { name: 'Monte-Carlo Emergency', at: P.E, caps: ['pci', 'trauma-level-2'] },
  centre: { name: 'Princess Grace', at: P.B, caps: ['stroke-unit', 'thrombectomy', 'pci', 'trauma-level-1', 'burns'] },
  west: { name: 'Fontvieille Clinic', at: P.D, caps: ['stroke-unit', 'maternity', 'paediatrics'] },
};
// Ambulances and their posts.
const AMBULANCES = {
  amb1: { name: 'Medic 1', at: P.A },
  amb2: { name: 'Medic 2', at: P.B },
  amb3: { name: 'Medic 3', at: P.D },
};

// Two adjacent OSM nodes of Boulevard Albert 1er (two-way), on the drive from SCENE to HOSP_NEAR
// and to HOSP_CENTRE (as in routing.test.mjs): closing it makes both drives longer.
const ALBERT = [1720683716, 1720683720];
// The stretch of Boulevard du Larvotto (two-way) that HOSP_NEAR's position snaps onto, read off
// the extract once: closed both ways, no road leads to HOSP_NEAR, while HOSP_CENTRE and HOSP_WEST
// are reached as before.
const LARVOTTO = [267985520, 250259418];
const bothWays = ([a, b]) => [[a, b], [b, a]];

// Codes and URLs of the API.
const ROLE_CODE = 'http://terminology.hl7.org/CodeSystem/v3-RoleCode';
const CAPABILITY = 'https://medulla.health/fhir/CodeSystem/hospital-capability';
const ED_MEASURE = 'https://medulla.health/fhir/Measure/ed-status';
const ED_STATUS = 'https://medulla.health/fhir/CodeSystem/ed-status';
const SANER = 'http://hl7.org/fhir/uv/saner/CodeSystem/MeasuredValues';
const DEVICE_KIND = 'https://medulla.health/fhir/CodeSystem/device-kind';
const AMBULANCE_STATUS = 'https://medulla.health/fhir/StructureDefinition/ambulance-status';
const DISPATCH_SYSTEM = 'https://medulla.health/fhir/CodeSystem/dispatch';
const DISPATCH_TOPIC = 'https://medulla.health/fhir/SubscriptionTopic/dispatch';
const ALERT_TASK_TOPIC = 'https://medulla.health/fhir/SubscriptionTopic/alert-task';
const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/';

const JSON_ACCEPT = 'application/json, application/fhir+json';
const WAIT_MS = 10_000;

let server; // on the Monaco graph, with the fleet below
let bare; // no graph
let fhir; // fhir-kit-client on `server` (administrator)
const tokens = {};
const ids = { hospitals: {}, ambulances: {} };
const servers = [];
const closers = [];

before(async () => {
  const dataDir = path.join(makeTempDir('medulla-e2e-dispatch-'), 'data');
  const imported = await runMedulla(['routing', 'import', '--data-dir', dataDir, MONACO]);
  assert.equal(imported.code, 0, `routing import failed: ${imported.output}`);
  server = await MedullaServer.start({ dataDir });
  servers.push(server);
  tokens.dispatcher = mintToken(dataDir, ['--role', 'dispatcher']);
  tokens.clinician = mintToken(dataDir, ['--role', 'clinician']);
  fhir = new Client({ baseUrl: `${server.base}/` });
  await seedFleet();
  bare = await MedullaServer.start();
  servers.push(bare);
});

after(async () => {
  for (const c of closers) await c();
  for (const s of servers) await s.dispose();
});

// ---------------------------------------------------------------------------------------------
// Helpers: time, geometry, polling

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Great-circle distance in metres between [lon, lat] pairs. */
function metres([lon1, lat1], [lon2, lat2]) {
  const rad = Math.PI / 180;
  const dlat = (lat2 - lat1) * rad;
  const dlon = (lon2 - lon1) * rad;
  const h = Math.sin(dlat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dlon / 2) ** 2;
  return 2 * 6_371_008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
}

// Report dates: now, and strictly after every earlier one (so "the newest wins" is well defined).
let lastReportMs = 0;
function nextInstant() {
  lastReportMs = Math.max(Date.now(), lastReportMs + 1);
  return new Date(lastReportMs).toISOString();
}

/** Polls fn until it returns something truthy; fails naming `what` after timeoutMs. */
async function until(fn, what, timeoutMs = WAIT_MS) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() >= deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers: HTTP

// Requests to the main server carry the dispatcher's token unless told otherwise; to the other
// servers, their administrator's (which lib/server.mjs adds when no Authorization is set).
const ADMIN = Symbol('the server administrator');
const tokenFor = (srv) => (srv === server ? tokens.dispatcher : ADMIN);

/** Headers with `token` (ADMIN: the server's administrator; null: no token at all). */
function headersFor(token, extra = {}) {
  const h = { accept: JSON_ACCEPT, ...extra };
  if (token !== ADMIN) h.authorization = token === null ? '' : `Bearer ${token}`;
  return h;
}

function ndjson(lines) {
  return `${lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n')}\n`;
}

/** POST /dispatch/recommend (dispatcher token unless one is given; null: none). */
function postRecommend(body, { srv = server, token = tokenFor(srv) } = {}) {
  return srv.http.request('POST', '/dispatch/recommend', {
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: headersFor(token, { 'content-type': 'application/json' }),
  });
}

/** A recommendation that must succeed: the answer's JSON. */
async function recommend(body) {
  const res = await postRecommend(body);
  assert.equal(res.status, 200, show(res));
  assert.match(res.headers.get('content-type') || '', /^application\/json/, show(res));
  return res.json;
}

function incident(id, location, condition = 'general', extra = {}) {
  return { id, location, condition, ...extra };
}

function postPositions(lines, { srv = server, token = tokenFor(srv) } = {}) {
  return srv.http.request('POST', '/dispatch/positions', {
    body: typeof lines === 'string' ? lines : ndjson(lines),
    headers: headersFor(token, { 'content-type': 'application/x-ndjson' }),
  });
}

async function fleetState(srv = server, token = tokenFor(srv)) {
  const res = await srv.http.request('GET', '/dispatch/state', { headers: headersFor(token) });
  assert.equal(res.status, 200, show(res));
  return res.json;
}

/** Polls GET /dispatch/state until pred(state) holds; returns that state. */
function stateWhere(pred, what, srv = server) {
  return until(async () => {
    const s = await fleetState(srv);
    return pred(s) ? s : null;
  }, what);
}

const ambulanceIn = (state, id) => state.ambulances.find((a) => a.reference === `Device/${id}`);
const hospitalIn = (state, id) => state.hospitals.find((h) => h.reference === `Location/${id}`);

function postTraffic(lines, { srv = server, token = tokenFor(srv) } = {}) {
  return srv.http.request('POST', '/routing/traffic', {
    body: ndjson(lines),
    headers: headersFor(token, { 'content-type': 'application/x-ndjson' }),
  });
}

async function routeBetween(from, to, srv = server) {
  const res = await srv.http.request('GET', `/routing/route?from=${from.join(',')}&to=${to.join(',')}&geometry=false`, {
    headers: headersFor(ADMIN),
  });
  assert.equal(res.status, 200, show(res));
  return res.json;
}

function diagnostics(oo) {
  return (oo.issue || []).map((i) => i.diagnostics || '').join(' | ');
}

// ---------------------------------------------------------------------------------------------
// Helpers: the FHIR record (fhir-kit-client)

function hospitalLocation(name, [longitude, latitude], organization) {
  return {
    resourceType: 'Location',
    status: 'active',
    name,
    type: [{ coding: [{ system: ROLE_CODE, code: 'HOSP' }] }],
    position: { longitude, latitude },
    managingOrganization: { reference: `Organization/${organization}` },
  };
}

function capabilityService(location, organization, caps) {
  return {
    resourceType: 'HealthcareService',
    active: true,
    providedBy: { reference: `Organization/${organization}` },
    location: [{ reference: `Location/${location}` }],
    name: 'Emergency services',
    type: caps.map((code) => ({ coding: [{ system: CAPABILITY, code }] })),
  };
}

function ambulanceDevice(name, status = 'available') {
  return {
    resourceType: 'Device',
    status: 'active',
    type: { coding: [{ system: DEVICE_KIND, code: 'ambulance' }] },
    deviceName: [{ name, type: 'user-friendly-name' }],
    extension: [{ url: AMBULANCE_STATUS, valueCode: status }],
  };
}

/** A SANER-style ED status report for a hospital; counts by code (num* codes are SANER's). */
function edReport(location, counts, date = nextInstant()) {
  const end = date;
  const start = new Date(Date.parse(date) - 3_600_000).toISOString();
  return {
    resourceType: 'MeasureReport',
    status: 'complete',
    type: 'summary',
    measure: ED_MEASURE,
    subject: { reference: `Location/${location}` },
    date,
    period: { start, end },
    group: [{
      population: Object.entries(counts).map(([code, count]) => ({
        code: { coding: [{ system: code.startsWith('num') ? SANER : ED_STATUS, code }] },
        count,
      })),
    }],
  };
}

async function create(resource, client = fhir) {
  const created = await client.create({ resourceType: resource.resourceType, body: resource });
  assert.ok(created.id, `no id for the created ${resource.resourceType}`);
  return created.id;
}

// Every hospital reports this ED status unless a test says otherwise: half the ED's beds taken,
// the same door-to-treatment everywhere, so that drive times decide.
const BASELINE = { diversion: 0, edPatients: 20, edBeds: 40 };

/** Records an ED status report for the hospital: BASELINE changed by `counts`, dated now unless `date`. */
async function reportStatus(location, counts, { date } = {}) {
  const report = edReport(location, { ...BASELINE, ...counts }, date);
  await create(report);
  return report;
}

async function setDiversion(location, on) {
  await reportStatus(location, { diversion: on ? 1 : 0 });
  await stateWhere((s) => hospitalIn(s, location)?.status.diversion === on, `Location/${location} diversion ${on}`);
}

/** Sets an ambulance's status extension (read, change, update) and waits for dispatch to see it. */
async function setAmbulanceStatus(id, status) {
  const device = await fhir.read({ resourceType: 'Device', id });
  const others = (device.extension || []).filter((e) => e.url !== AMBULANCE_STATUS);
  const { meta: _meta, ...body } = device;
  await fhir.update({ resourceType: 'Device', id, body: { ...body, extension: [...others, { url: AMBULANCE_STATUS, valueCode: status }] } });
  await stateWhere((s) => ambulanceIn(s, id)?.status === status, `Device/${id} ${status}`);
}

/** Ends dispatches (their Tasks completed) and makes the ambulances available again. */
async function release(taskRefs, ambulanceIds) {
  for (const ref of taskRefs.filter(Boolean)) {
    const id = ref.replace(/^Task\//, '');
    const task = await fhir.read({ resourceType: 'Task', id });
    const { meta: _meta, ...body } = task;
    await fhir.update({ resourceType: 'Task', id, body: { ...body, status: 'completed' } });
  }
  for (const id of ambulanceIds) await setAmbulanceStatus(id, 'available');
  const refs = new Set(taskRefs.filter(Boolean));
  await stateWhere((s) => !s.dispatches.some((d) => refs.has(d.task)), 'the dispatches to end');
}

/** Moves every ambulance back to its post (positions now). */
async function repositionFleet() {
  const lines = Object.entries(AMBULANCES).map(([key, a]) => ({ device: ids.ambulances[key], lon: a.at[0], lat: a.at[1] }));
  const res = await postPositions(lines);
  assert.equal(res.status, 200, show(res));
  assert.deepEqual(res.json, { accepted: lines.length });
}

async function seedFleet() {
  for (const [key, h] of Object.entries(HOSPITALS)) {
    const org = await create({ resourceType: 'Organization', active: true, name: h.name });
    const loc = await create(hospitalLocation(h.name, h.at, org));
    await create(capabilityService(loc, org, h.caps));
    ids.hospitals[key] = loc;
  }
  for (const id of Object.values(ids.hospitals)) await reportStatus(id, {});
  for (const [key, a] of Object.entries(AMBULANCES)) ids.ambulances[key] = await create(ambulanceDevice(a.name));
  // The dispatch service follows the record through the change feed: wait until it has all.
  await stateWhere((s) => Object.entries(HOSPITALS).every(([key, h]) => {
    const shown = hospitalIn(s, ids.hospitals[key]);
    return shown?.capabilities.length === h.caps.length && shown.status.ed_beds === BASELINE.edBeds;
  }) && Object.values(ids.ambulances).every((id) => ambulanceIn(s, id)), 'the hospitals and ambulances to reach dispatch');
  await repositionFleet();
}

const H = (key) => `Location/${ids.hospitals[key]}`;
const AMB = (key) => `Device/${ids.ambulances[key]}`;
const hospitalCandidate = (rec, key) => rec.candidates.hospitals.find((c) => c.reference === H(key));
const ambulanceCandidate = (rec, key) => rec.candidates.ambulances.find((c) => c.reference === AMB(key));

/** A server on a fresh data directory with the Monaco graph, plus its FHIR client. */
async function startGraphServer(prefix, opts = {}) {
  const dataDir = path.join(makeTempDir(prefix), 'data');
  const r = await runMedulla(['routing', 'import', '--data-dir', dataDir, MONACO]);
  assert.equal(r.code, 0, r.output);
  const srv = await MedullaServer.start({ dataDir, ...opts });
  servers.push(srv);
  return { srv, client: new Client({ baseUrl: `${srv.base}/` }) };
}

// ---------------------------------------------------------------------------------------------
// Helpers: subscriptions (R4 Subscriptions Backport, rest-hook)

/** A rest-hook endpoint on 127.0.0.1 that records every request and answers 200. */
async function startReceiver() {
  const got = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      got.push({ method: req.method, url: req.url, body });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise((r) => srv.close(r)));
  return {
    url: `http://127.0.0.1:${srv.address().port}/hook`,
    notifications: () => got.map((g) => parseNotification(g.body)),
  };
}

function topicSubscription(topic, endpoint, filter) {
  const s = {
    resourceType: 'Subscription',
    meta: { profile: [`${BACKPORT}backport-subscription`] },
    status: 'requested',
    reason: 'e2e: ambulance dispatch',
    criteria: topic,
    channel: {
      type: 'rest-hook',
      endpoint,
      payload: 'application/fhir+json',
      _payload: { extension: [{ url: `${BACKPORT}backport-payload-content`, valueCode: 'full-resource' }] },
    },
  };
  if (filter) s._criteria = { extension: [{ url: `${BACKPORT}backport-filter-criteria`, valueString: filter }] };
  return s;
}

/** The type and the focus resources of a notification Bundle. */
function parseNotification(text) {
  const bundle = JSON.parse(text);
  assert.equal(bundle.resourceType, 'Bundle');
  const status = bundle.entry[0].resource;
  const type = status.parameter.find((p) => p.name === 'type').valueCode;
  return { type, resources: bundle.entry.slice(1).map((e) => e.resource).filter(Boolean) };
}

/** Every Task version a receiver was notified of. */
function notifiedTasks(receiver) {
  return receiver.notifications().filter((n) => n.type === 'event-notification')
    .flatMap((n) => n.resources.filter((r) => r.resourceType === 'Task'));
}

async function subscribe(topic, receiver, filter) {
  const id = await create(topicSubscription(topic, receiver.url, filter));
  await until(() => receiver.notifications().some((n) => n.type === 'handshake'), `the handshake of Subscription/${id}`);
  await until(async () => (await fhir.read({ resourceType: 'Subscription', id })).status === 'active', `Subscription/${id} active`);
  return id;
}

function taskOutput(task, code) {
  return (task.output || []).find((o) => o.type.coding.some((c) => c.system === DISPATCH_SYSTEM && c.code === code));
}

const destinationOf = (task) => taskOutput(task, 'destination')?.valueReference.reference;

// ---------------------------------------------------------------------------------------------
// The recommendation

test('the nearest ambulance and the nearest capable hospital are recommended, with both routes and every reason', async () => {
  const rec = await recommend({ incident: incident('fall-1', SCENE) });
  assert.deepEqual(rec.incident.location, SCENE);
  assert.equal(rec.incident.id, 'fall-1');
  assert.equal(rec.incident.condition, 'general');
  assert.equal(rec.task, null, 'nothing was dispatched');

  // Ambulances: each candidate's arrival is its drive to the scene; the shortest is chosen.
  const amb = rec.candidates.ambulances;
  assert.equal(amb.length, 3, JSON.stringify(amb));
  for (const [key, a] of Object.entries(AMBULANCES)) {
    const c = ambulanceCandidate(rec, key);
    assert.ok(c, `${AMB(key)} is not a candidate: ${JSON.stringify(amb)}`);
    assert.equal(c.name, a.name);
    const drive = (await routeBetween(a.at, SCENE)).duration_s;
    assert.ok(Math.abs(c.arrival_s - drive) <= 0.5, `${a.name}: arrival_s ${c.arrival_s}, the route says ${drive}`);
  }
  const fastest = Math.min(...amb.map((c) => c.arrival_s));
  assert.equal(rec.ambulance.reference, AMB('amb1'), JSON.stringify(rec.ambulance));
  assert.equal(rec.ambulance.name, 'Medic 1');
  assert.equal(rec.ambulance.arrival_s, fastest);
  assert.equal(amb[0].reference, AMB('amb1'), 'the chosen ambulance is listed first');
  assert.deepEqual(amb.map((c) => c.chosen), [true, false, false]);
  assert.match(amb[0].reason, /^chosen: the shortest drive to the scene/);
  for (const c of amb.slice(1)) assert.match(c.reason, /min later to the scene than Medic 1/, JSON.stringify(c));

  // Hospitals: every one can take a general patient; with the same ED load, the nearest wins.
  const hosp = rec.candidates.hospitals;
  assert.equal(hosp.length, 3, JSON.stringify(hosp));
  for (const [key, h] of Object.entries(HOSPITALS)) {
    const c = hospitalCandidate(rec, key);
    assert.ok(c, `${H(key)} is not a candidate`);
    assert.equal(c.name, h.name);
    assert.equal(c.eligible, true, JSON.stringify(c));
    const drive = (await routeBetween(SCENE, h.at)).duration_s;
    assert.ok(Math.abs(c.drive_s - drive) <= 0.5, `${h.name}: drive_s ${c.drive_s}, the route says ${drive}`);
    assert.ok(Math.abs(c.total_s - (c.drive_s + c.door_to_treatment_s)) <= 0.2, JSON.stringify(c));
    assert.ok(c.distance_m > 0 && c.door_to_treatment_s > 0, JSON.stringify(c));
    assert.match(c.wait_basis, /ED occupancy 50% \(20 patients, 40 beds\)/, 'the reported ED load is used');
    assert.equal(c.door_to_treatment_s, hosp[0].door_to_treatment_s, 'the same load, the same door-to-treatment');
  }
  assert.equal(rec.hospital.reference, H('near'), JSON.stringify(rec.hospital));
  assert.equal(rec.hospital.name, HOSPITALS.near.name);
  assert.equal(hosp[0].reference, H('near'), 'the chosen hospital is listed first');
  assert.deepEqual(hosp.map((c) => c.chosen), [true, false, false]);
  assert.match(hosp[0].reason, /^chosen: .* min drive \+ .* min door-to-treatment/);
  for (const c of hosp.slice(1)) assert.match(c.reason, /min later to treatment/, JSON.stringify(c));
  assert.ok(hosp[1].total_s <= hosp[2].total_s, 'the others by time to treatment');
  assert.equal(rec.hospital.total_s, hosp[0].total_s);
  assert.match(rec.rule, /^general: the least expected time to treatment/);

  // Time to treatment: arrival + the planning figure on scene (15 min) + drive + door-to-treatment.
  assert.ok(Math.abs(rec.time_to_treatment_s - (rec.ambulance.arrival_s + 15 * 60 + rec.hospital.total_s)) <= 0.3,
    `time_to_treatment_s ${rec.time_to_treatment_s}`);

  // Routes: the ambulance to the scene and the scene to the hospital, as GeoJSON.
  assert.equal(rec.routes.type, 'FeatureCollection');
  const legs = Object.fromEntries(rec.routes.features.map((f) => [f.properties.leg, f]));
  assert.deepEqual(Object.keys(legs).sort(), ['to-hospital', 'to-scene'], JSON.stringify(rec.routes).slice(0, 500));
  for (const [leg, from, to] of [['to-scene', AMBULANCES.amb1.at, SCENE], ['to-hospital', SCENE, HOSPITALS.near.at]]) {
    const f = legs[leg];
    assert.equal(f.type, 'Feature');
    assert.equal(f.geometry.type, 'LineString');
    const line = f.geometry.coordinates;
    assert.ok(line.length >= 2, `${leg}: ${line.length} positions`);
    assert.ok(metres(line[0], from) < 150, `${leg} starts ${metres(line[0], from)} m away`);
    assert.ok(metres(line[line.length - 1], to) < 150, `${leg} ends ${metres(line[line.length - 1], to)} m away`);
  }
  assert.equal(legs['to-scene'].properties.ambulance, AMB('amb1'));
  assert.equal(legs['to-hospital'].properties.hospital, H('near'));

  // geometry:false leaves the lines out and changes nothing else.
  const lean = await recommend({ incident: incident('fall-1', SCENE), geometry: false });
  assert.deepEqual(lean.routes.features, []);
  assert.equal(lean.ambulance.reference, rec.ambulance.reference);
  assert.equal(lean.hospital.reference, rec.hospital.reference);
  assert.ok(Math.abs(lean.time_to_treatment_s - rec.time_to_treatment_s) <= 0.3);

  // A recommendation records nothing.
  const state = await fleetState();
  assert.deepEqual(state.dispatches, []);
  for (const id of Object.values(ids.ambulances)) assert.equal(ambulanceIn(state, id).status, 'available');
});

test('/dispatch/state shows the hospitals with their capabilities and the ambulances with their positions', async () => {
  const state = await fleetState();
  for (const [key, h] of Object.entries(HOSPITALS)) {
    const s = hospitalIn(state, ids.hospitals[key]);
    assert.equal(s.name, h.name);
    assert.deepEqual([...s.capabilities].sort(), [...h.caps].sort());
    assert.ok(metres(s.location, h.at) < 0.5, JSON.stringify(s.location));
  }
  for (const [key, a] of Object.entries(AMBULANCES)) {
    const s = ambulanceIn(state, ids.ambulances[key]);
    assert.equal(s.name, a.name);
    assert.equal(s.status, 'available');
    assert.ok(metres(s.location, a.at) < 0.5, JSON.stringify(s));
    assert.ok(s.position_age_s >= 0 && s.position_age_s < 600, JSON.stringify(s));
  }
});

// ---------------------------------------------------------------------------------------------
// ED status: diversion, the newest report wins

test('a hospital on diversion is avoided saying so; a newer report lifting it restores it; an older one is ignored', async () => {
  try {
    await reportStatus(ids.hospitals.near, { diversion: 1, edPatients: 38, edBeds: 40, numICUBedsAvail: 2 });
    const state = await stateWhere((s) => hospitalIn(s, ids.hospitals.near)?.status.diversion === true, 'the diversion to reach dispatch');
    const shown = hospitalIn(state, ids.hospitals.near).status;
    assert.equal(shown.ed_patients, 38, JSON.stringify(shown));
    assert.equal(shown.ed_beds, 40, JSON.stringify(shown));
    assert.equal(shown.beds.numICUBedsAvail, 2, `SANER bed counts are shown: ${JSON.stringify(shown)}`);

    const diverted = await recommend({ incident: incident('fall-2', SCENE) });
    const near = hospitalCandidate(diverted, 'near');
    assert.equal(near.eligible, false, JSON.stringify(near));
    assert.equal(near.chosen, false);
    assert.equal(near.reason, 'on diversion');
    assert.equal(diverted.hospital.reference, H('centre'), `the next nearest: ${JSON.stringify(diverted.hospital)}`);
    assert.ok(near.drive_s < diverted.hospital.drive_s, 'the hospital on diversion is the nearer one');

    // A newer report lifts it.
    await reportStatus(ids.hospitals.near, { diversion: 0 });
    await stateWhere((s) => hospitalIn(s, ids.hospitals.near)?.status.diversion === false, 'the lifted diversion');
    const restored = await recommend({ incident: incident('fall-2', SCENE) });
    assert.equal(restored.hospital.reference, H('near'), JSON.stringify(restored.hospital));
    assert.equal(hospitalCandidate(restored, 'near').eligible, true);

    // A report measured an hour ago, arriving late, does not override the newer one. A report for
    // another hospital, sent after it, tells when dispatch has read it (the feed keeps order).
    await reportStatus(ids.hospitals.near, { diversion: 1 }, { date: new Date(Date.now() - 3_600_000).toISOString() });
    await reportStatus(ids.hospitals.west, { edWaiting: 7 });
    const later = await stateWhere((s) => hospitalIn(s, ids.hospitals.west)?.status.ed_waiting === 7, 'the marker report');
    assert.equal(hospitalIn(later, ids.hospitals.near).status.diversion, false, 'an older report replaced a newer one');
    const still = await recommend({ incident: incident('fall-2', SCENE) });
    assert.equal(still.hospital.reference, H('near'), JSON.stringify(still.hospital));
  } finally {
    await setDiversion(ids.hospitals.near, false);
  }
});

test('a diversion report deleted as entered in error no longer holds the hospital on diversion', async () => {
  try {
    await setDiversion(ids.hospitals.near, false);
    const wrong = await reportStatus(ids.hospitals.near, { diversion: 1 });
    await stateWhere((s) => hospitalIn(s, ids.hospitals.near)?.status.diversion === true, 'the mistaken diversion');
    const found = await fhir.search({ resourceType: 'MeasureReport', searchParams: { subject: `Location/${ids.hospitals.near}`, date: wrong.date } });
    assert.equal(found.entry?.length, 1, 'the mistaken report is not found');
    await fhir.delete({ resourceType: 'MeasureReport', id: found.entry[0].resource.id });
    // A report for another hospital, sent after the deletion, tells when dispatch has read it.
    await reportStatus(ids.hospitals.west, { edWaiting: 3 });
    const state = await stateWhere((s) => hospitalIn(s, ids.hospitals.west)?.status.ed_waiting === 3, 'the marker report');
    // The deleted report was the newest: the status is the newest report left, without
    // diversion.
    assert.equal(hospitalIn(state, ids.hospitals.near).status.diversion, false, 'the deleted report still holds the hospital on diversion');
  } finally {
    await setDiversion(ids.hospitals.near, false);
  }
});

test('every hospital on diversion: diversion is set aside and the rule says so', async () => {
  try {
    for (const key of Object.keys(HOSPITALS)) await reportStatus(ids.hospitals[key], { diversion: 1 });
    await stateWhere((s) => Object.values(ids.hospitals).every((id) => hospitalIn(s, id)?.status.diversion), 'all on diversion');
    const rec = await recommend({ incident: incident('fall-3', SCENE) });
    assert.match(rec.rule, /every reachable ED is on diversion/, rec.rule);
    assert.equal(rec.hospital.reference, H('near'), 'the quickest ED');
  } finally {
    for (const key of Object.keys(HOSPITALS)) await setDiversion(ids.hospitals[key], false);
  }
});

// ---------------------------------------------------------------------------------------------
// Capabilities

test('stroke: the nearest hospital without a stroke unit is ineligible; a suspected LVO bypasses to the thrombectomy centre', async () => {
  const rec = await recommend({ incident: incident('stroke-1', SCENE, 'stroke') });
  const near = hospitalCandidate(rec, 'near');
  assert.equal(near.eligible, false, JSON.stringify(near));
  assert.equal(near.reason, 'no stroke unit');
  assert.equal(rec.hospital.reference, H('centre'), JSON.stringify(rec.hospital));
  assert.ok(near.drive_s < rec.hospital.drive_s, 'the ineligible hospital is the nearest');
  assert.match(rec.rule, /^stroke:/);

  // At Fontvieille the clinic's stroke unit is at the scene; with a large-vessel occlusion
  // suspected, the thrombectomy centre (about 7 min away, within the 15 min allowed) is preferred.
  const plain = await recommend({ incident: incident('stroke-2', P.D, 'stroke') });
  assert.equal(plain.hospital.reference, H('west'), JSON.stringify(plain.hospital));
  const lvo = await recommend({ incident: incident('stroke-3', P.D, 'stroke', { lvo_suspected: true }) });
  assert.equal(lvo.incident.lvo_suspected, true);
  assert.equal(lvo.hospital.reference, H('centre'), JSON.stringify(lvo.hospital));
  assert.match(lvo.rule, /bypass to the thrombectomy centre/, lvo.rule);
  assert.match(hospitalCandidate(lvo, 'west').reason, /thrombectomy centre .* adds .* min of drive, within the 15 min allowed/);
});

test('obstetric and STEMI patients go where the unit is, not to the nearest ED', async () => {
  const birth = await recommend({ incident: incident('birth-1', SCENE, 'obstetric') });
  assert.equal(birth.hospital.reference, H('west'), JSON.stringify(birth.hospital));
  assert.equal(hospitalCandidate(birth, 'near').reason, 'no maternity unit');
  assert.equal(hospitalCandidate(birth, 'centre').reason, 'no maternity unit');
  const stemi = await recommend({ incident: incident('stemi-1', P.D, 'stemi') });
  assert.equal(hospitalCandidate(stemi, 'west').reason, 'no PCI cath lab');
  assert.equal(stemi.hospital.reference, H('near'), JSON.stringify(stemi.hospital));
});

// ---------------------------------------------------------------------------------------------
// Competing incidents and recorded dispatches

test('in a batch the cardiac arrest gets the one nearby ambulance even when listed second', async () => {
  // Alone, the fall at the scene gets Medic 1 (81 s away); the arrest is at Medic 1's post.
  const alone = await recommend({ incident: incident('fall-4', SCENE) });
  assert.equal(alone.ambulance.reference, AMB('amb1'));
  for (const order of [['fall', 'arrest'], ['arrest', 'fall']]) {
    const list = order.map((k) => (k === 'fall' ? incident('fall-4', SCENE) : incident('arrest-4', P.A, 'cardiac-arrest')));
    const res = await postRecommend({ incidents: list });
    assert.equal(res.status, 200, show(res));
    const recs = res.json.recommendations;
    assert.equal(recs.length, 2, show(res));
    const fall = recs[order.indexOf('fall')];
    const arrest = recs[order.indexOf('arrest')];
    assert.equal(fall.incident.id, 'fall-4', 'answers in the order given');
    assert.equal(arrest.incident.id, 'arrest-4');
    assert.equal(arrest.ambulance.reference, AMB('amb1'), `${order}: ${JSON.stringify(arrest.ambulance)}`);
    assert.ok(fall.ambulance && fall.ambulance.reference !== AMB('amb1'), `${order}: ${JSON.stringify(fall.ambulance)}`);
    const taken = ambulanceCandidate(fall, 'amb1');
    assert.equal(taken.chosen, false);
    assert.match(taken.reason, new RegExp(`sent to incident ${order.indexOf('arrest') + 1} \\(arrest-4, more urgent\\)`), taken.reason);
    assert.equal(arrest.task, null);
  }
  // A batch of one is still a batch.
  const one = await recommend({ incidents: [incident('fall-4', SCENE)] });
  assert.equal(one.recommendations.length, 1);
});

test('dispatch:true records a Task owned by the ambulance and marks it dispatched; the next incident gets another', async () => {
  const tasks = [];
  try {
    const rec = await recommend({ incident: incident('fall-5', SCENE), dispatch: true });
    assert.equal(rec.ambulance.reference, AMB('amb1'));
    assert.match(rec.task || '', /^Task\/[^/]+$/, `no task: ${JSON.stringify(rec.task)}`);
    tasks.push(rec.task);

    const task = await fhir.read({ resourceType: 'Task', id: rec.task.slice(5) });
    assert.equal(task.owner.reference, AMB('amb1'));
    assert.equal(task.status, 'in-progress');
    assert.equal(task.intent, 'order');
    assert.ok(task.code.coding.some((c) => c.system === DISPATCH_SYSTEM && c.code === 'ambulance-dispatch'), JSON.stringify(task.code));
    assert.equal(destinationOf(task), H('near'), JSON.stringify(task.output));
    assert.equal(task.businessStatus.text, 'dispatched');
    const input = (code) => task.input.find((i) => i.type.coding.some((c) => c.code === code));
    assert.equal(input('incident').valueString, 'fall-5');
    assert.equal(input('condition').valueCode, 'general');
    assert.ok(Math.abs(input('longitude').valueDecimal - SCENE[0]) < 1e-6 && Math.abs(input('latitude').valueDecimal - SCENE[1]) < 1e-6);

    // The Device and the state say dispatched (at once: read-your-writes).
    const device = await fhir.read({ resourceType: 'Device', id: ids.ambulances.amb1 });
    assert.deepEqual(device.extension.filter((e) => e.url === AMBULANCE_STATUS).map((e) => e.valueCode), ['dispatched']);
    const state = await fleetState();
    assert.equal(ambulanceIn(state, ids.ambulances.amb1).status, 'dispatched');
    const d = state.dispatches.find((x) => x.task === rec.task);
    assert.ok(d, `the dispatch is not in the state: ${JSON.stringify(state.dispatches)}`);
    assert.equal(d.ambulance, AMB('amb1'));
    assert.equal(d.hospital, H('near'));
    assert.equal(d.incident.id, 'fall-5');

    // The next incident, at Medic 1's own post, gets another ambulance.
    const next = await recommend({ incident: incident('fall-6', P.A) });
    assert.ok(next.ambulance && next.ambulance.reference !== AMB('amb1'), JSON.stringify(next.ambulance));
    assert.equal(ambulanceCandidate(next, 'amb1').reason, 'not available (dispatched)');
    assert.equal(ambulanceCandidate(next, 'amb1').arrival_s, null);
  } finally {
    await release(tasks, [ids.ambulances.amb1]);
  }
});

// ---------------------------------------------------------------------------------------------
// Re-evaluation en route, through the dispatch subscription topic

test('re-evaluation: diversion, a closed road and an ambulance transporting change the Task, notified on the dispatch topic only', async () => {
  const dispatchHook = await startReceiver();
  const alertHook = await startReceiver();
  await subscribe(DISPATCH_TOPIC, dispatchHook);
  await subscribe(ALERT_TASK_TOPIC, alertHook);
  const tasks = [];
  const closure = bothWays(LARVOTTO).map(([from_node, to_node]) => ({ from_node, to_node, speed_kmh: 0 }));
  const taskVersions = (id) => notifiedTasks(dispatchHook).filter((t) => t.id === id);
  try {
    // (a) Diversion. Medic 1 takes the fall at the scene to the nearest hospital.
    const first = await recommend({ incident: incident('reeval-1', SCENE), dispatch: true });
    assert.equal(first.hospital.reference, H('near'));
    tasks.push(first.task);
    const t1 = first.task.slice(5);
    await until(() => taskVersions(t1).length >= 1, 'the notification of the new dispatch Task');
    assert.equal(destinationOf(taskVersions(t1)[0]), H('near'));

    await reportStatus(ids.hospitals.near, { diversion: 1 });
    const moved = await until(() => taskVersions(t1).find((t) => destinationOf(t) !== H('near')), 'the notification of the new destination');
    assert.equal(destinationOf(moved), H('centre'), JSON.stringify(moved.output));
    assert.equal(moved.businessStatus.text, 'destination changed');
    assert.match(taskOutput(moved, 'reason').valueString, /can no longer take the patient \(on diversion\)/);
    const stored = await fhir.read({ resourceType: 'Task', id: t1 });
    assert.equal(destinationOf(stored), H('centre'));
    const state = await fleetState();
    assert.equal(state.dispatches.find((d) => d.task === first.task).hospital, H('centre'));

    // Lifting the diversion saves about a minute: under the 2 min that justify a change.
    await setDiversion(ids.hospitals.near, false);
    await sleep(1000);
    assert.equal(destinationOf(await fhir.read({ resourceType: 'Task', id: t1 })), H('centre'), 'rerouted for under 2 min');

    // (b) Live traffic closes the road into the nearest hospital: Medic 2's patient, bound there,
    // is sent to the next.
    const second = await recommend({ incident: incident('reeval-2', SCENE), dispatch: true });
    assert.equal(second.ambulance.reference, AMB('amb2'), JSON.stringify(second.ambulance));
    assert.equal(second.hospital.reference, H('near'));
    tasks.push(second.task);
    const t2 = second.task.slice(5);
    const closed = await postTraffic(closure);
    assert.equal(closed.status, 200, show(closed));
    assert.equal(closed.json.applied, 2, show(closed));
    const detour = await until(() => taskVersions(t2).find((t) => destinationOf(t) !== H('near')), 'the notification after the closure');
    assert.equal(destinationOf(detour), H('centre'), JSON.stringify(detour.output));
    assert.equal(detour.businessStatus.text, 'destination changed');
    assert.match(taskOutput(detour, 'reason').valueString, /no road leads there/);
    const reopened = await postTraffic(closure.map((c) => ({ ...c, speed_kmh: null })));
    assert.equal(reopened.status, 200, show(reopened));

    // (c) Transporting: the destination is judged from where the ambulance is. Medic 3 leaves
    // the scene for the nearest hospital; once transporting near Fontvieille, the clinic there is
    // minutes closer.
    const third = await recommend({ incident: incident('reeval-3', SCENE), dispatch: true });
    assert.equal(third.ambulance.reference, AMB('amb3'), JSON.stringify(third.ambulance));
    assert.equal(third.hospital.reference, H('near'));
    tasks.push(third.task);
    const t3 = third.task.slice(5);
    await setAmbulanceStatus(ids.ambulances.amb3, 'transporting');
    const moved3 = await postPositions([{ device: ids.ambulances.amb3, lon: P.D[0], lat: P.D[1] }]);
    assert.equal(moved3.status, 200, show(moved3));
    // Any traffic update re-evaluates (here one for a segment that is not on the map).
    await postTraffic([{ from_node: 1, to_node: 2, speed_kmh: 30 }]);
    const onboard = await until(() => taskVersions(t3).find((t) => destinationOf(t) !== H('near')), 'the notification for the transporting ambulance');
    assert.equal(destinationOf(onboard), H('west'), JSON.stringify(onboard.output));
    assert.match(taskOutput(onboard, 'reason').valueString, /min sooner to treatment/);

    // Nothing of this reached the alert-task topic.
    await sleep(500);
    const leaked = notifiedTasks(alertHook);
    assert.deepEqual(leaked.map((t) => `Task/${t.id}`), [], 'dispatch Tasks delivered on the alert-task topic');
  } finally {
    await postTraffic(closure.map((c) => ({ ...c, speed_kmh: null })));
    await setDiversion(ids.hospitals.near, false);
    await release(tasks, Object.values(ids.ambulances));
    await repositionFleet();
  }
});

// ---------------------------------------------------------------------------------------------
// Per-request closures

test('closures given with a request change that request only', async () => {
  const open = await recommend({ incident: incident('fall-7', SCENE) });
  // Boulevard Albert 1er closed: the drive to the nearest hospital is longer, by another way.
  const longer = await recommend({ incident: incident('fall-7', SCENE), closed: bothWays(ALBERT) });
  const before = hospitalCandidate(open, 'near');
  const afterClose = hospitalCandidate(longer, 'near');
  assert.ok(afterClose.drive_s > before.drive_s + 10, `closed: ${afterClose.drive_s} s, open: ${before.drive_s} s`);
  assert.ok(afterClose.distance_m > before.distance_m, `closed: ${afterClose.distance_m} m, open: ${before.distance_m} m`);
  const leg = (rec) => rec.routes.features.find((f) => f.properties.leg === 'to-hospital').geometry.coordinates;
  assert.notDeepEqual(leg(longer), leg(open), 'the same route with the road closed');

  // The stretch HOSP_NEAR is on, closed both ways: no road leads there for this request.
  const cut = await recommend({ incident: incident('fall-7', SCENE), closed: bothWays(LARVOTTO) });
  const unreachable = hospitalCandidate(cut, 'near');
  assert.equal(unreachable.drive_s, null, JSON.stringify(unreachable));
  assert.equal(unreachable.eligible, false);
  assert.equal(unreachable.reason, 'no road leads there');
  assert.equal(cut.hospital.reference, H('centre'));

  // The next request, and the live routes, without them: as before.
  const again = await recommend({ incident: incident('fall-7', SCENE) });
  assert.equal(again.hospital.reference, H('near'));
  assert.equal(hospitalCandidate(again, 'near').drive_s, before.drive_s);
  assert.ok(Math.abs((await routeBetween(SCENE, HOSPITALS.near.at)).duration_s - before.drive_s) <= 0.5);

  // Closures that are not segments of the map, or malformed, are refused.
  assert.match(diagnostics(assertOutcome(await postRecommend({ incident: incident('x', SCENE), closed: [[1, 2]] }), 400, 'not a segment')), /1 -> 2/);
  assertOutcome(await postRecommend({ incident: incident('x', SCENE), closed: 'x' }), 400, 'closed a string');
  assertOutcome(await postRecommend({ incident: incident('x', SCENE), closed: [[ALBERT[0]]] }), 400, 'one node');
});

// ---------------------------------------------------------------------------------------------
// Bad input

test('unknown hospitals, incidents off the map and malformed requests are refused with the reason', async () => {
  const nope = 'no-such-hospital';
  const missing = assertOutcome(await postRecommend({ incident: incident('x', SCENE), hospitals: [ids.hospitals.near, nope] }), 404, 'an unknown hospital');
  assert.match(diagnostics(missing), new RegExp(`Location/${nope}`), JSON.stringify(missing));
  // A Location that is not a hospital (no HOSP type) is not one either.
  const office = await create({ resourceType: 'Location', status: 'active', name: 'Dispatch centre', position: { longitude: P.C[0], latitude: P.C[1] } });
  const notHosp = assertOutcome(await postRecommend({ incident: incident('x', SCENE), hospitals: [office] }), 404, 'a Location that is not a hospital');
  assert.match(diagnostics(notHosp), new RegExp(`Location/${office}`));
  // Restricting to known hospitals works (and accepts Location/ID).
  const only = await recommend({ incident: incident('x', SCENE), hospitals: [`Location/${ids.hospitals.west}`] });
  assert.deepEqual(only.candidates.hospitals.map((c) => c.reference), [H('west')]);

  const paris = assertOutcome(await postRecommend({ incident: incident('x', [2.35, 48.85]) }), 400, 'an incident in Paris');
  assert.match(diagnostics(paris), /outside the map/, JSON.stringify(paris));
  const sea = assertOutcome(await postRecommend({ incident: incident('x', [7.485, 43.716]) }), 400, 'an incident at sea');
  assert.match(diagnostics(sea), /from any road/);
  const batchOff = assertOutcome(await postRecommend({ incidents: [incident('ok', SCENE), incident('off', [2.35, 48.85])] }), 400, 'one incident of a batch off the map');
  assert.match(diagnostics(batchOff), /incident 2/);

  const unknownCondition = assertOutcome(await postRecommend({ incident: incident('x', SCENE, 'headache') }), 400, 'an unknown condition');
  assert.match(diagnostics(unknownCondition), /"headache"/);
  const cases = [
    ['{"incident":', 'not JSON'],
    ['[]', 'an array'],
    [{}, 'no incident'],
    [{ incident: incident('x', SCENE), incidents: [incident('y', SCENE)] }, 'both incident and incidents'],
    [{ incidents: [] }, 'no incidents'],
    [{ incident: { id: 'x', condition: 'general' } }, 'no location'],
    [{ incident: incident('x', [7.42]) }, 'a location with one number'],
    [{ incident: incident('x', ['7.42', '43.735']) }, 'numbers as strings'],
    [{ incident: incident('x', SCENE, 'general', { lvo_suspected: 'yes' }) }, 'a flag that is not a boolean'],
    [{ incident: incident('x', SCENE), hospitals: 'all' }, 'hospitals not an array'],
    [{ incident: incident('x', SCENE), dispatch: 1 }, 'dispatch not a boolean'],
  ];
  for (const [body, why] of cases) assertOutcome(await postRecommend(body), 400, why);
  const many = await postRecommend({ incidents: Array.from({ length: 101 }, (_, i) => incident(`n${i}`, SCENE)) });
  assertOutcome(many, [400, 413], '101 incidents');

  // Nothing of it was dispatched.
  const state = await fleetState();
  assert.deepEqual(state.dispatches, []);
  for (const id of Object.values(ids.ambulances)) assert.equal(ambulanceIn(state, id).status, 'available');
});

test('position reports: unknown devices are 404s, malformed ones 400s, and a refused batch changes no position', async () => {
  const before = await fleetState();
  const where = (s) => Object.fromEntries(s.ambulances.map((a) => [a.reference, a.location]));
  const unknown = assertOutcome(await postPositions([{ device: 'ghost-7', lon: 7.42, lat: 43.735 }]), 404, 'an unknown device');
  assert.match(diagnostics(unknown), /Device\/ghost-7/);
  // A Device that is not an ambulance is not in the fleet.
  const monitor = await create({ resourceType: 'Device', status: 'active', deviceName: [{ name: 'Monitor', type: 'user-friendly-name' }] });
  assertOutcome(await postPositions([{ device: monitor, lon: 7.42, lat: 43.735 }]), 404, 'a Device that is not an ambulance');
  // All or nothing: the known ambulances of a batch with one unknown device do not move.
  const mixed = [
    { device: ids.ambulances.amb1, lon: P.E[0], lat: P.E[1] },
    { device: `Device/${ids.ambulances.amb2}`, lon: P.C[0], lat: P.C[1] },
    { device: 'ghost-8', lon: 7.42, lat: 43.735 },
  ];
  assertOutcome(await postPositions(mixed), 404, 'a batch naming an unknown device');
  const malformed = [
    [[{ device: ids.ambulances.amb1, lon: P.E[0], lat: P.E[1] }, '{"device":'], /line 2/, 'not JSON on line 2'],
    [[{ device: ids.ambulances.amb1, lon: 7.43, lat: 95 }], /line 1/, 'latitude 95'],
    [[{ device: ids.ambulances.amb1, lon: '7.43', lat: '43.74' }], /line 1/, 'numbers as strings'],
    [[{ lon: 7.43, lat: 43.74 }], /device/, 'no device'],
    [[{ device: ids.ambulances.amb1, lon: 7.43, lat: 43.74, time: 'yesterday' }], /time/, 'a bad time'],
    ['\n\n', /no position/, 'no line'],
  ];
  for (const [lines, why, what] of malformed) {
    const oo = assertOutcome(await postPositions(lines), 400, what);
    assert.match(diagnostics(oo), why, `${what}: ${JSON.stringify(oo)}`);
  }
  const afterAll = await fleetState();
  assert.deepEqual(where(afterAll), where(before), 'a refused batch moved an ambulance');

  // A report older than the position kept does not move it back; "Device/ID" is taken too.
  const t = Date.now();
  const newer = await postPositions([{ device: `Device/${ids.ambulances.amb2}`, lon: P.E[0], lat: P.E[1], time: new Date(t).toISOString() }]);
  assert.equal(newer.status, 200, show(newer));
  const older = await postPositions([{ device: ids.ambulances.amb2, lon: P.D[0], lat: P.D[1], time: new Date(t - 60_000).toISOString() }]);
  assert.equal(older.status, 200, show(older));
  const s = await fleetState();
  assert.ok(metres(ambulanceIn(s, ids.ambulances.amb2).location, P.E) < 0.5, `an older report moved it: ${JSON.stringify(ambulanceIn(s, ids.ambulances.amb2))}`);
  await repositionFleet();
});

test('a position report dated in the future does not pin the ambulance there', async () => {
  // An ambulance of this test's own (a pinned position would outlive it), removed at the end.
  const amb = await create(ambulanceDevice('Medic 9', 'out-of-service'));
  await stateWhere((s) => ambulanceIn(s, amb), 'Medic 9');
  try {
    // A device with a wrong clock: refused, or taken, but then the next report (dated now) must
    // move the ambulance.
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
    const skewed = await postPositions([{ device: amb, lon: P.E[0], lat: P.E[1], time: tomorrow }]);
    assertOutcome(skewed, 400, 'a position dated tomorrow');
    const now = await postPositions([{ device: amb, lon: P.B[0], lat: P.B[1] }]);
    assert.deepEqual(now.json, { accepted: 1 }, show(now));
    const s = ambulanceIn(await fleetState(), amb);
    // A report dated tomorrow must not pin the ambulance (every later report would be dropped
    // as older): it is refused, and the report dated now moves it.
    assert.ok(metres(s.location, P.B) < 0.5, `the report dated now was accepted but not applied: ${JSON.stringify(s)}`);
    assert.ok(s.position_age_s >= 0, `position_age_s ${s.position_age_s}`);
  } finally {
    await fhir.delete({ resourceType: 'Device', id: amb });
    await stateWhere((s) => !ambulanceIn(s, amb), 'Medic 9 to leave the fleet');
  }
});

// ---------------------------------------------------------------------------------------------
// The FHIR operation

test('$dispatch-recommend through fhir-kit-client answers Parameters with the ambulance, hospital and candidates', async () => {
  const dispatcher = new Client({ baseUrl: `${server.base}/`, customHeaders: { authorization: `Bearer ${tokens.dispatcher}` } });
  const params = (extra = []) => ({
    resourceType: 'Parameters',
    parameter: [
      { name: 'longitude', valueDecimal: SCENE[0] },
      { name: 'latitude', valueDecimal: SCENE[1] },
      { name: 'incident', valueString: 'op-1' },
      ...extra,
    ],
  });
  const out = await dispatcher.operation({ name: '$dispatch-recommend', input: params([{ name: 'condition', valueCode: 'stroke' }]) });
  assert.equal(out.resourceType, 'Parameters');
  const one = (name) => out.parameter.find((p) => p.name === name);
  assert.equal(one('ambulance').valueReference.reference, AMB('amb1'));
  assert.equal(one('hospital').valueReference.reference, H('centre'), 'the nearest stroke unit');
  assert.equal(one('time-to-treatment').valueQuantity.code, 's');
  assert.match(one('rule').valueString, /^stroke:/);
  assert.equal(one('task'), undefined);
  const candidates = out.parameter.filter((p) => p.name === 'candidate').map((c) => Object.fromEntries(c.part.map((p) => [p.name, p])));
  assert.equal(candidates.filter((c) => c.kind.valueCode === 'ambulance').length, 3);
  assert.equal(candidates.filter((c) => c.kind.valueCode === 'hospital').length, 3);
  const near = candidates.find((c) => c.reference.valueReference.reference === H('near'));
  assert.equal(near.reason.valueString, 'no stroke unit');
  assert.equal(near.chosen.valueBoolean, false);
  const chosen = candidates.filter((c) => c.chosen.valueBoolean).map((c) => c.reference.valueReference.reference).sort();
  assert.deepEqual(chosen, [AMB('amb1'), H('centre')].sort());
  const routes = JSON.parse(one('route').valueString);
  assert.deepEqual(routes.features.map((f) => f.properties.leg).sort(), ['to-hospital', 'to-scene']);

  // The same answer as /dispatch/recommend.
  const plain = await recommend({ incident: incident('op-1', SCENE, 'stroke') });
  assert.ok(Math.abs(one('time-to-treatment').valueQuantity.value - plain.time_to_treatment_s) <= 0.5);

  // Repeating hospital restricts; closed takes FROM:TO; geometry false leaves the routes empty.
  const restricted = await dispatcher.operation({
    name: '$dispatch-recommend',
    input: params([
      { name: 'hospital', valueReference: { reference: H('near') } },
      { name: 'hospital', valueReference: { reference: H('west') } },
      { name: 'closed', valueString: `${LARVOTTO[0]}:${LARVOTTO[1]}` },
      { name: 'closed', valueString: `${LARVOTTO[1]}:${LARVOTTO[0]}` },
      { name: 'geometry', valueBoolean: false },
    ]),
  });
  const r = (name) => restricted.parameter.find((p) => p.name === name);
  assert.equal(r('hospital').valueReference.reference, H('west'), 'the nearest is cut off by the closure');
  assert.equal(restricted.parameter.filter((p) => p.name === 'candidate' && p.part[0].valueCode === 'hospital').length, 2);
  assert.deepEqual(JSON.parse(r('route').valueString).features, []);

  // Refusals are OperationOutcomes.
  const refused = async (input, what, status = 400) => {
    const err = await dispatcher.operation({ name: '$dispatch-recommend', input }).then(() => null, (e) => e);
    assert.ok(err && err.response, `${what}: accepted`);
    assert.equal(err.response.status, status, `${what}: ${JSON.stringify(err.response.data)}`);
    assert.equal(err.response.data.resourceType, 'OperationOutcome', what);
    return err.response.data;
  };
  await refused({ resourceType: 'Parameters', parameter: [{ name: 'longitude', valueDecimal: SCENE[0] }] }, 'no latitude');
  await refused(params([{ name: 'colour', valueString: 'blue' }]), 'an unknown parameter');
  await refused(params([{ name: 'condition', valueCode: 'headache' }]), 'an unknown condition');
  await refused(params([{ name: 'closed', valueString: 'a-b' }]), 'a malformed closure');
  const unknown = await refused(params([{ name: 'hospital', valueReference: { reference: 'Location/nowhere' } }]), 'an unknown hospital', 404);
  assert.match(diagnostics(unknown), /Location\/nowhere/);

  // dispatch=true records the Task here too.
  let task;
  try {
    const sent = await dispatcher.operation({ name: '$dispatch-recommend', input: params([{ name: 'dispatch', valueBoolean: true }]) });
    task = sent.parameter.find((p) => p.name === 'task')?.valueReference.reference;
    assert.match(task || '', /^Task\//, JSON.stringify(sent));
    const stored = await fhir.read({ resourceType: 'Task', id: task.slice(5) });
    assert.equal(stored.owner.reference, sent.parameter.find((p) => p.name === 'ambulance').valueReference.reference);
  } finally {
    await release([task], [ids.ambulances.amb1]);
  }
});

// ---------------------------------------------------------------------------------------------
// Who may do what

test('without a token every dispatch endpoint is 401; a clinician gets 403; a dispatcher and an admin get through', async () => {
  const calls = (token) => [
    ['recommend', postRecommend({ incident: incident('x', SCENE) }, { token })],
    ['operation', server.http.request('POST', '/$dispatch-recommend', {
      body: { resourceType: 'Parameters', parameter: [{ name: 'longitude', valueDecimal: SCENE[0] }, { name: 'latitude', valueDecimal: SCENE[1] }] },
      headers: headersFor(token),
    })],
    ['positions', postPositions([{ device: ids.ambulances.amb1, lon: P.A[0], lat: P.A[1] }], { token })],
    ['state', server.http.request('GET', '/dispatch/state', { headers: headersFor(token) })],
  ];
  for (const [what, call] of calls(null)) assertOutcome(await call, 401, `${what} without a token`);
  for (const [what, call] of calls(tokens.clinician)) assertOutcome(await call, 403, `${what} as a clinician`);
  for (const [what, call] of calls(tokens.dispatcher)) {
    const res = await call;
    assert.equal(res.status, 200, `${what} as a dispatcher: ${show(res)}`);
  }
  for (const [what, call] of calls(ADMIN)) {
    const res = await call; // the server's administrator token
    assert.equal(res.status, 200, `${what} as an administrator: ${show(res)}`);
  }
});

test('a server without a road graph answers 501 on every dispatch endpoint', async () => {
  const body = { resourceType: 'Parameters', parameter: [{ name: 'longitude', valueDecimal: SCENE[0] }, { name: 'latitude', valueDecimal: SCENE[1] }] };
  assertOutcome(await postRecommend({ incident: incident('x', SCENE) }, { srv: bare }), 501, 'recommend');
  assertOutcome(await bare.http.post('/$dispatch-recommend', body), 501, 'operation');
  assertOutcome(await postPositions([{ device: 'x', lon: 7.42, lat: 43.73 }], { srv: bare }), 501, 'positions');
  const state = assertOutcome(await bare.http.request('GET', '/dispatch/state', { headers: headersFor(ADMIN) }), 501, 'state');
  assert.match(diagnostics(state), /routing import/);
});

// ---------------------------------------------------------------------------------------------
// Concurrent dispatches

test('a dispatch recorded while another is being decided never sends one ambulance twice', async () => {
  // A server of its own: one hospital and four ambulances. In each round, one incident is sent
  // with dispatch:true and, at the same moment, a batch of 100 others (which takes every
  // ambulance, and a few milliseconds to decide). Whichever is recorded second was decided on
  // the fleet as it was before the first was recorded: it must be refused (a conflict) or
  // decided again, never record a second dispatch of the same ambulance. Rounds, because the
  // interleaving varies; they stop at the first ambulance sent twice.
  const { srv, client } = await startGraphServer('medulla-e2e-dispatch-race-');
  const org = await create({ resourceType: 'Organization', name: 'Race General' }, client);
  await create(hospitalLocation('Race General', P.E, org), client);
  const fleet = [];
  for (let i = 0; i < 4; i++) fleet.push(await create(ambulanceDevice(`Race ${i + 1}`), client));
  await stateWhere((s) => s.hospitals.length === 1 && fleet.every((id) => ambulanceIn(s, id)), 'the race fleet', srv);
  const posted = await postPositions(fleet.map((device, i) => ({ device, lon: Object.values(P)[i][0], lat: Object.values(P)[i][1] })), { srv });
  assert.equal(posted.status, 200, show(posted));

  for (let round = 0; round < 30; round++) {
    const answers = await Promise.all([
      postRecommend({ incident: incident(`single-${round}`, SCENE), dispatch: true, geometry: false }, { srv }),
      postRecommend({ incidents: Array.from({ length: 100 }, (_, i) => incident(`batch-${round}-${i}`, SCENE)), dispatch: true }, { srv }),
    ]);
    const sent = [];
    for (const res of answers) {
      if (res.status !== 200) {
        assertOutcome(res, [409, 412], `round ${round}: a dispatch that lost the race`);
        continue;
      }
      for (const r of res.json.recommendations || [res.json]) if (r.task) sent.push(r.ambulance.reference);
    }
    assert.ok(sent.length >= 1, `round ${round}: nothing was dispatched: ${answers.map(show).join('\n')}`);
    const state = await fleetState(srv);
    const owners = state.dispatches.map((d) => d.ambulance);
    // A decision made before another request's dispatch of the same ambulance was applied, but
    // recorded after it, must be refused (409), not record a second Task for that ambulance.
    assert.equal(new Set(sent).size, sent.length, `round ${round}: one ambulance sent twice: ${JSON.stringify(sent)}`);
    assert.equal(new Set(owners).size, owners.length, `round ${round}: one ambulance owns two dispatches in progress: ${JSON.stringify(owners)}`);
    // The next round starts with every dispatch ended and every ambulance available.
    for (const d of state.dispatches) {
      const { meta: _meta, ...task } = await client.read({ resourceType: 'Task', id: d.task.slice(5) });
      await client.update({ resourceType: 'Task', id: task.id, body: { ...task, status: 'completed' } });
    }
    for (const ref of new Set(owners)) {
      const { meta: _meta, ...device } = await client.read({ resourceType: 'Device', id: ref.slice(7) });
      await client.update({ resourceType: 'Device', id: device.id, body: { ...device, extension: [{ url: AMBULANCE_STATUS, valueCode: 'available' }] } });
    }
    await stateWhere((s) => s.dispatches.length === 0 && s.ambulances.every((a) => a.status === 'available'), 'the race fleet available again', srv);
  }
  await srv.stop();
});

// ---------------------------------------------------------------------------------------------
// Durability of positions

test('positions acknowledged before kill -9 are there after a restart', async () => {
  const { srv: first, client } = await startGraphServer('medulla-e2e-dispatch-crash-');
  const a = await create(ambulanceDevice('Crash 1'), client);
  const b = await create(ambulanceDevice('Crash 2'), client);
  await stateWhere((s) => ambulanceIn(s, a) && ambulanceIn(s, b), 'the ambulances', first);
  const t = Date.now() - 1000;
  const posted = [
    { device: a, lon: P.A[0], lat: P.A[1], time: new Date(t).toISOString() },
    { device: b, lon: P.B[0], lat: P.B[1], time: new Date(t).toISOString() },
  ];
  const one = await postPositions(posted, { srv: first });
  assert.deepEqual(one.json, { accepted: 2 }, show(one));
  // The last move, killed the moment it is acknowledged.
  const last = await postPositions([{ device: b, lon: P.D[0], lat: P.D[1] }], { srv: first });
  assert.deepEqual(last.json, { accepted: 1 }, show(last));
  await first.kill9();

  const second = await MedullaServer.start({ dataDir: first.dataDir });
  servers.push(second);
  const state = await stateWhere((s) => ambulanceIn(s, a) && ambulanceIn(s, b), 'the ambulances after the restart', second);
  const sa = ambulanceIn(state, a);
  const sb = ambulanceIn(state, b);
  assert.ok(sa.location && metres(sa.location, P.A) < 0.5, `Crash 1 after restart: ${JSON.stringify(sa)}`);
  assert.ok(sb.location && metres(sb.location, P.D) < 0.5, `Crash 2 after restart: ${JSON.stringify(sb)}`);
  assert.ok(sa.position_age_s >= 1, `the report's time is kept: ${JSON.stringify(sa)}`);
  // And they are used: the ambulance at the scene's nearest post is chosen.
  const res = await postRecommend({ incident: incident('after-crash', SCENE) }, { srv: second });
  assert.equal(res.status, 200, show(res));
  assert.equal(res.json.ambulance.reference, `Device/${a}`);
  await second.stop();
});

// ---------------------------------------------------------------------------------------------
// The MQTT lane

test('positions and traffic published over MQTT reach the server', async () => {
  const broker = await startBroker();
  closers.push(async () => broker.child.kill('SIGKILL'));
  const { srv, client } = await startGraphServer('medulla-e2e-dispatch-mqtt-', {
    env: { MEDULLA_MQTT_BROKER: `127.0.0.1:${broker.port}`, MEDULLA_MQTT_CLIENT_ID: 'dispatch-e2e' },
  });
  await until(() => /subscribed to medulla\/dispatch\/\+/.test(srv.log()), 'medulla to subscribe to medulla/dispatch/+');
  const amb = await create(ambulanceDevice('Mqtt 1'), client);
  await stateWhere((s) => ambulanceIn(s, amb), 'the ambulance', srv);

  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 4, clientId: `e2e-dispatch-${process.pid}`, reconnectPeriod: 0 });
  closers.push(() => pub.endAsync());
  // A malformed message first: logged and acknowledged, it holds up nothing after it.
  await pub.publishAsync('medulla/dispatch/positions', '{"device":', { qos: 1 });
  await pub.publishAsync('medulla/dispatch/positions', ndjson([{ device: amb, lon: P.B[0], lat: P.B[1] }]), { qos: 1 });
  const state = await stateWhere((s) => ambulanceIn(s, amb)?.location, 'the position published over MQTT', srv);
  assert.ok(metres(ambulanceIn(state, amb).location, P.B) < 0.5, JSON.stringify(ambulanceIn(state, amb)));
  await pub.publishAsync('medulla/dispatch/positions', ndjson([{ device: amb, lon: P.E[0], lat: P.E[1] }]), { qos: 1 });
  await stateWhere((s) => metres(ambulanceIn(s, amb).location, P.E) < 0.5, 'the second position', srv);
  assert.match(srv.log(), /positions on medulla\/dispatch\/positions refused/);

  // Traffic: Boulevard Albert 1er closed over MQTT makes the drive longer; null reopens it.
  const open = (await routeBetween(SCENE, HOSPITALS.near.at, srv)).duration_s;
  const lines = (speed) => ndjson(bothWays(ALBERT).map(([from_node, to_node]) => ({ from_node, to_node, speed_kmh: speed })));
  await pub.publishAsync('medulla/dispatch/traffic', lines(0), { qos: 1 });
  const jammed = await until(async () => {
    const d = (await routeBetween(SCENE, HOSPITALS.near.at, srv)).duration_s;
    return d > open + 10 ? d : null;
  }, 'the closure published over MQTT to apply');
  assert.ok(jammed > open);
  await pub.publishAsync('medulla/dispatch/traffic', lines(null), { qos: 1 });
  await until(async () => Math.abs((await routeBetween(SCENE, HOSPITALS.near.at, srv)).duration_s - open) <= 0.5, 'the road to reopen');
  await srv.stop();
});

test('the servers stop cleanly', async () => {
  for (const s of [server, bare]) await s.stop();
});
