// FHIR Subscriptions end to end: monitoring alerts raised from readings published over MQTT
// (a real mosquitto broker and the npm mqtt client) and posted over HTTP reach a rest-hook
// receiver and websocket subscribers (the npm ws client), both the R4 Subscriptions Backport
// (topic-based, history Bundles) and R4 criteria subscriptions ("bind ID" / "ping ID"); a
// rest-hook that is down is retried with backoff, the Subscription shows status error, and
// after kill -9 and a restart every notification that was not delivered arrives, in order.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { startBroker } from './lib/mosquitto.mjs';
import { MedullaServer, mintToken, show, walkPages, matches } from './lib/server.mjs';

const HR = '8867-4';
const RR = '9279-1';
const SPO2 = '59408-5';
const TEMP = '8310-5';
const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/';
const ALERT_TOPIC = 'https://medulla.health/fhir/SubscriptionTopic/monitoring-alert';
const WAIT_MS = 60_000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const servers = [];
const closers = [];
let broker;
let brokerPort;

async function startMedulla(opts = {}) {
  const s = await MedullaServer.start({
    ...opts,
    env: { MEDULLA_MQTT_BROKER: `127.0.0.1:${brokerPort}`, MEDULLA_MQTT_CLIENT_ID: `sub-e2e-${servers.length}` },
  });
  servers.push(s);
  for (let i = 0; i < 100 && !/subscribed to medulla\/telemetry\/\+/.test(s.log()); i++) await sleep(50);
  return s;
}

/** A rest-hook endpoint: records every request; answers `status()` (200 unless changed). */
async function startReceiver() {
  const got = [];
  let status = 200;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      got.push({ method: req.method, url: req.url, headers: req.headers, body, status });
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise((r) => server.close(r)));
  return {
    url: `http://127.0.0.1:${server.address().port}/hook`,
    got,
    setStatus: (s) => (status = s),
    accepted: () => got.filter((g) => g.status >= 200 && g.status < 300),
  };
}

/** A websocket client (npm ws) that keeps every text message. */
async function openSocket(url, headers = {}) {
  const ws = new WebSocket(url, { headers });
  const messages = [];
  ws.on('message', (data) => messages.push(data.toString()));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
  });
  closers.push(() => ws.terminate());
  return { ws, messages };
}

async function until(fn, what, timeoutMs = WAIT_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() >= deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function iso(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

async function create(srv, resource) {
  const res = await srv.http.post(`/${resource.resourceType}`, resource);
  assert.equal(res.status, 201, `create ${resource.resourceType}: ${show(res)}`);
  return res.json.id;
}

/** Six hours of per-minute readings ending now, climbing towards sepsis-like values. */
function sickReadings(pid, device) {
  const end = Math.floor(Date.now() / 60_000) * 60_000;
  const lines = [];
  for (let m = 0; m < 360; m++) {
    const t = end - (360 - m) * 60_000;
    const f = m / 360;
    for (const [code, v, unit] of [[HR, 72 + 58 * f, '/min'], [RR, 14 + 14 * f, '/min'], [SPO2, 97 - 8 * f, '%'], [TEMP, 37.0 + 2.2 * f, 'Cel']]) {
      lines.push(JSON.stringify({ patient: `Patient/${pid}`, device: `Device/${device}`, code, time: iso(t), value: Math.round(v * 10) / 10, unit }));
    }
  }
  return lines;
}

async function postReadings(srv, lines) {
  const res = await srv.http.request('POST', '/telemetry', {
    body: `${lines.join('\n')}\n`,
    headers: { 'content-type': 'application/x-ndjson', accept: 'application/json, application/fhir+json' },
  });
  assert.equal(res.status, 200, show(res));
}

async function publishReadings(pid, device, lines) {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${brokerPort}`, { protocolVersion: 4, clientId: `pub-${pid.slice(-12)}`, reconnectPeriod: 0 });
  for (let i = 0; i < lines.length; i += 40) {
    await client.publishAsync(`medulla/telemetry/${device}`, lines.slice(i, i + 40).join('\n'), { qos: 1 });
  }
  await client.endAsync();
}

function topicSubscription(filter, channel) {
  return {
    resourceType: 'Subscription',
    meta: { profile: [`${BACKPORT}backport-subscription`] },
    status: 'requested',
    reason: 'e2e: monitoring alerts',
    criteria: ALERT_TOPIC,
    _criteria: { extension: [{ url: `${BACKPORT}backport-filter-criteria`, valueString: filter }] },
    channel: {
      ...channel,
      payload: 'application/fhir+json',
      _payload: { extension: [{ url: `${BACKPORT}backport-payload-content`, valueCode: 'full-resource' }] },
    },
  };
}

/** The SubscriptionStatus and the focus resources of a notification Bundle. */
function parseNotification(text) {
  const bundle = JSON.parse(text);
  assert.equal(bundle.resourceType, 'Bundle');
  assert.equal(bundle.type, 'history');
  const status = bundle.entry[0].resource;
  assert.equal(status.resourceType, 'Parameters');
  const param = (name) => status.parameter.find((p) => p.name === name);
  const events = status.parameter.filter((p) => p.name === 'notification-event').map((e) => ({
    number: Number(e.part.find((p) => p.name === 'event-number').valueString),
    focus: e.part.find((p) => p.name === 'focus')?.valueReference.reference,
  }));
  return { type: param('type').valueCode, since: Number(param('events-since-subscription-start').valueString), events, resources: bundle.entry.slice(1).map((e) => e.resource) };
}

before(async () => {
  broker = await startBroker();
  brokerPort = broker.port;
});

after(async () => {
  for (const c of closers) await c();
  for (const s of servers) await s.dispose();
  if (broker) broker.child.kill('SIGKILL');
});

test('an alert from MQTT and one from HTTP readings reach a rest-hook receiver and websocket subscribers', async () => {
  const srv = await startMedulla();
  const viaMqtt = await create(srv, { resourceType: 'Patient', name: [{ family: 'Mqtt' }] });
  const viaHttp = await create(srv, { resourceType: 'Patient', name: [{ family: 'Http' }] });
  const quiet = await create(srv, { resourceType: 'Patient', name: [{ family: 'Elsewhere' }] });
  const device = `sub-${viaMqtt.slice(-12)}`;
  const put = await srv.http.put(`/Device/${device}`, { resourceType: 'Device', id: device, patient: { reference: `Patient/${viaMqtt}` } });
  assert.ok([200, 201].includes(put.status), show(put));
  const filter = `DetectedIssue?patient=Patient/${viaMqtt},Patient/${viaHttp}`;

  // The rest-hook (backport, full resources) gets its handshake once the subscription is active.
  const hook = await startReceiver();
  const restId = await create(srv, topicSubscription(filter, { type: 'rest-hook', endpoint: hook.url, header: ['X-Care-Team: ward-7'] }));
  const handshake = await until(() => hook.accepted().find((g) => parseNotification(g.body).type === 'handshake'), 'the rest-hook handshake');
  assert.equal(handshake.method, 'POST');
  assert.equal(handshake.headers['x-care-team'], 'ward-7');
  assert.match(handshake.headers['content-type'], /application\/fhir\+json/);
  await until(async () => (await srv.http.get(`/Subscription/${restId}`)).json.status === 'active', 'status active');

  // A websocket bound with a token from $get-ws-binding-token (backport), and an R4 criteria
  // subscription bound by id on a connection opened with the administrator's token.
  const wsId = await create(srv, topicSubscription(filter, { type: 'websocket' }));
  const tokenRes = await srv.http.post(`/Subscription/${wsId}/$get-ws-binding-token`, { resourceType: 'Parameters' });
  assert.equal(tokenRes.status, 200, show(tokenRes));
  const out = Object.fromEntries(tokenRes.json.parameter.map((p) => [p.name, p.valueString ?? p.valueUrl ?? p.valueDateTime]));
  assert.match(out['websocket-url'], /^ws:\/\/127\.0\.0\.1:\d+\/websocket$/);
  const backportSocket = await openSocket(out['websocket-url']);
  backportSocket.ws.send(`bind-with-token: ${out.token}`);
  await until(() => backportSocket.messages.some((m) => m.startsWith('{') && parseNotification(m).type === 'handshake'), 'the websocket handshake');

  const r4Id = await create(srv, { resourceType: 'Subscription', status: 'requested', reason: 'e2e', criteria: `DetectedIssue?patient=Patient/${viaHttp}`, channel: { type: 'websocket' } });
  const r4Socket = await openSocket(out['websocket-url'], { authorization: `Bearer ${srv.token}` });
  r4Socket.ws.send(`bind ${r4Id}`);
  await until(() => r4Socket.messages.includes(`bound ${r4Id}`), `"bound ${r4Id}"`);
  // Without a token, binding by id is refused.
  const anonymous = await openSocket(out['websocket-url']);
  anonymous.ws.send(`bind ${r4Id}`);
  await until(() => anonymous.messages.some((m) => m.startsWith(`error ${r4Id}`)), 'the refusal');

  // Readings: one patient over MQTT, one over HTTP, and the quiet patient's alert must not come.
  await publishReadings(viaMqtt, device, sickReadings(viaMqtt, device));
  await postReadings(srv, sickReadings(viaHttp, `http-${viaHttp.slice(-12)}`));
  await postReadings(srv, sickReadings(quiet, `q-${quiet.slice(-12)}`));

  const focusOf = (notes) => notes.flatMap((n) => n.resources.filter((r) => r.resourceType === 'DetectedIssue'));
  const restNotes = () => hook.accepted().map((g) => parseNotification(g.body)).filter((n) => n.type === 'event-notification');
  const wsNotes = () => backportSocket.messages.filter((m) => m.startsWith('{')).map(parseNotification).filter((n) => n.type === 'event-notification');
  for (const [name, notes] of [['rest-hook', restNotes], ['websocket', wsNotes]]) {
    for (const pid of [viaMqtt, viaHttp]) {
      await until(() => focusOf(notes()).some((d) => d.patient.reference === `Patient/${pid}`), `the ${name} notification for Patient/${pid}`);
    }
  }
  await until(() => r4Socket.messages.includes(`ping ${r4Id}`), `"ping ${r4Id}"`);

  // What arrived is what the record holds: the alerts of the two patients, none of the third.
  const issues = async (pid) => matches((await walkPages(srv.http, `/DetectedIssue?patient=Patient/${pid}`, { count: 100 })).entries);
  // The quiet patient's alert exists (or the negative check would mean nothing), and delivery,
  // which takes milliseconds, has had time to judge it.
  await until(async () => (await issues(quiet)).length >= 1, "the quiet patient's alert");
  await sleep(2000);
  for (const d of [...focusOf(restNotes()), ...focusOf(wsNotes())]) {
    assert.notEqual(d.patient.reference, `Patient/${quiet}`, 'a notification for a patient outside the filter');
  }
  const sent = focusOf(restNotes()).map((d) => d.id);
  for (const d of [...(await issues(viaMqtt)), ...(await issues(viaHttp))]) {
    assert.ok(sent.includes(d.id), `DetectedIssue/${d.id} was not notified to the rest-hook`);
  }
  // Events are numbered 1, 2, 3... without gaps.
  const numbers = restNotes().flatMap((n) => n.events.map((e) => e.number));
  assert.deepEqual(numbers, numbers.map((_, i) => i + 1));
  const status = await srv.http.get(`/Subscription/${restId}/$status`);
  assert.equal(status.status, 200, show(status));
  assert.equal(parseNotification(status.text).since, numbers.length);
});

test('bad subscriptions are refused with the reason, and only an administrator subscribes', async () => {
  const srv = servers[0] || (await startMedulla());
  const cases = [
    [{ criteria: 'https://example.org/no-such-topic' }, /no subscription topic/],
    [{ criteria: 'DetectedIssue?patient.name=x' }, /chained parameters are not supported/],
    [{ criteria: 'DetectedIssue?no-such-param=1' }, /no-such-param/],
    [{ channel: { type: 'email', endpoint: 'mailto:a@b' } }, /channel.type/],
    [{ channel: { type: 'rest-hook', endpoint: 'http://example.org/hook' } }, /https/],
    [{ channel: { type: 'rest-hook', endpoint: 'https://h', header: ['no colon'] } }, /Name: value/],
  ];
  for (const [change, reason] of cases) {
    const body = { resourceType: 'Subscription', status: 'requested', reason: 'x', criteria: 'DetectedIssue', channel: { type: 'websocket' }, ...change };
    const res = await srv.http.post('/Subscription', body);
    assert.equal(res.status, 400, `${JSON.stringify(change)}: ${show(res)}`);
    assert.equal(res.json.resourceType, 'OperationOutcome');
    assert.match(JSON.stringify(res.json.issue), reason);
  }
  const clinician = mintToken(srv.dataDir, ['--role', 'clinician', '--organization', 'Organization/x']);
  const res = await srv.http.request('POST', '/Subscription', {
    body: { resourceType: 'Subscription', status: 'requested', reason: 'x', criteria: 'DetectedIssue', channel: { type: 'websocket' } },
    headers: { authorization: `Bearer ${clinician}` },
  });
  assert.equal(res.status, 403, show(res));
});

test('a rest-hook that is down is retried; after kill -9 and a restart every notification arrives in order', async () => {
  const first = await startMedulla();
  const pid = await create(first, { resourceType: 'Patient', name: [{ family: 'Outage' }] });
  const hook = await startReceiver();
  hook.setStatus(503);
  const subId = await create(first, {
    resourceType: 'Subscription', status: 'requested', reason: 'e2e outage',
    criteria: `DetectedIssue?patient=Patient/${pid}`,
    channel: { type: 'rest-hook', endpoint: hook.url, payload: 'application/fhir+json' },
  });
  await postReadings(first, sickReadings(pid, `o-${pid.slice(-12)}`));
  // Retried with backoff (1 s, 2 s, ...) and, after three failures, status error with the reason.
  await until(async () => {
    const s = (await first.http.get(`/Subscription/${subId}`)).json;
    return s.status === 'error' && /503/.test(s.error);
  }, 'status error after failed deliveries');
  assert.ok(hook.got.length >= 3, `only ${hook.got.length} attempts`);
  await first.kill9();

  hook.setStatus(200);
  const second = await startMedulla({ dataDir: first.dataDir });
  const issues = matches((await walkPages(second.http, `/DetectedIssue?patient=Patient/${pid}`, { count: 100 })).entries);
  assert.ok(issues.length >= 1, 'no alert was raised');
  // R4 with a payload: each matching version is PUT to [endpoint]/DetectedIssue/[id].
  await until(() => issues.every((d) => hook.accepted().some((g) => g.method === 'PUT' && g.url === `/hook/DetectedIssue/${d.id}`)), 'every alert delivered after the restart');
  const delivered = hook.accepted().map((g) => JSON.parse(g.body));
  for (const d of delivered) assert.equal(d.resourceType, 'DetectedIssue');
  // In commit order: versions of one alert arrive oldest first.
  const seen = new Map();
  for (const d of delivered) {
    assert.ok(Number(d.meta.versionId) >= (seen.get(d.id) || 0), `DetectedIssue/${d.id} versions out of order`);
    seen.set(d.id, Number(d.meta.versionId));
  }
  await until(async () => (await second.http.get(`/Subscription/${subId}`)).json.status === 'active', 'status active again');
  await second.stop();
});
