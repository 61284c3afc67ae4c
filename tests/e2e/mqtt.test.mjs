// Device readings over MQTT: a real mosquitto broker (Debian), real clients (the npm mqtt
// package and mosquitto_pub) publishing NDJSON readings on medulla/telemetry/<device id>, and
// medulla subscribed with a persistent session. Readings become Observations and alerts; a
// device writes only for the patient the record assigns it to (Device.patient or an active
// DeviceUseStatement); and killing medulla mid-stream loses nothing the broker acknowledged.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import mqtt from 'mqtt';
import { startBroker } from './lib/mosquitto.mjs';
import { MedullaServer, matches, show, walkPages } from './lib/server.mjs';

const HR = '8867-4';
const RR = '9279-1';
const SPO2 = '59408-5';
const TEMP = '8310-5';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const servers = [];
let broker;
let brokerPort;

async function startMedulla(opts = {}) {
  const s = await MedullaServer.start({
    ...opts,
    env: { MEDULLA_MQTT_BROKER: `127.0.0.1:${brokerPort}`, MEDULLA_MQTT_CLIENT_ID: opts.clientId || 'medulla-e2e' },
  });
  servers.push(s);
  // Subscribed once its log says so.
  for (let i = 0; i < 100 && !/subscribed to medulla\/telemetry\/\+/.test(s.log()); i++) await sleep(50);
  assert.match(s.log(), /subscribed to medulla\/telemetry\/\+/, 'medulla did not subscribe');
  return s;
}

before(async () => {
  broker = await startBroker();
  brokerPort = broker.port;
});

after(async () => {
  for (const s of servers) await s.dispose();
  if (broker) broker.child.kill('SIGKILL');
});

function iso(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const nowMinute = () => Math.floor(Date.now() / 60_000) * 60_000;

async function create(srv, resource) {
  const res = await srv.http.post(`/${resource.resourceType}`, resource);
  assert.equal(res.status, 201, `create ${resource.resourceType}: ${show(res)}`);
  return res.json.id;
}

async function put(srv, resource) {
  const res = await srv.http.put(`/${resource.resourceType}/${resource.id}`, resource);
  assert.ok([200, 201].includes(res.status), `put ${resource.resourceType}: ${show(res)}`);
}

async function searchAll(srv, query) {
  const { entries } = await walkPages(srv.http, query, { count: 500 });
  return matches(entries);
}

async function poll(fn, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v || Date.now() >= deadline) return v;
    await sleep(200);
  }
}

function reading(pid, device, code, t, value, unit) {
  return JSON.stringify({ patient: `Patient/${pid}`, device: `Device/${device}`, code, time: iso(t), value, unit });
}

async function connect() {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${brokerPort}`, {
    protocolVersion: 4,
    clientId: `e2e-pub-${Math.random().toString(16).slice(2)}`,
    reconnectPeriod: 0,
  });
  return client;
}

// ---------------------------------------------------------------------------------------------

test('readings published over MQTT become Observations and raise an alert for the deteriorating patient', async () => {
  const srv = await startMedulla({ clientId: 'medulla-e2e-1' });
  const sick = await create(srv, { resourceType: 'Patient', name: [{ family: 'MqttSick' }] });
  const well = await create(srv, { resourceType: 'Patient', name: [{ family: 'MqttWell' }] });
  // One wearable assigned through Device.patient, the other through a DeviceUseStatement.
  const devSick = `w-${sick.slice(-12)}`;
  const devWell = `w-${well.slice(-12)}`;
  await put(srv, { resourceType: 'Device', id: devSick, patient: { reference: `Patient/${sick}` } });
  await put(srv, { resourceType: 'Device', id: devWell });
  await create(srv, {
    resourceType: 'DeviceUseStatement',
    status: 'active',
    subject: { reference: `Patient/${well}` },
    device: { reference: `Device/${devWell}` },
  });

  const client = await connect();
  const end = nowMinute();
  const sent = { sick: 0, well: 0 };
  // Six hours, one message per device per minute holding its four vitals (NDJSON).
  for (let m = 0; m < 360; m++) {
    const t = end - (360 - m) * 60_000;
    const f = m / 360;
    const s = [
      reading(sick, devSick, HR, t, +(72 + 58 * f).toFixed(1), '/min'),
      reading(sick, devSick, RR, t, +(14 + 14 * f).toFixed(1), '/min'),
      reading(sick, devSick, SPO2, t, +(97 - 8 * f).toFixed(1), '%'),
      reading(sick, devSick, TEMP, t, +(37 + 2.2 * f).toFixed(1), 'Cel'),
    ];
    const w = [
      reading(well, devWell, HR, t, 72 + (m % 7) - 3, '/min'),
      reading(well, devWell, RR, t, 15 + (m % 3) - 1, '/min'),
      reading(well, devWell, SPO2, t, 97 + (m % 2), '%'),
      reading(well, devWell, TEMP, t, 36.8, 'Cel'),
    ];
    await client.publishAsync(`medulla/telemetry/${devSick}`, `${s.join('\n')}\n`, { qos: 1 });
    await client.publishAsync(`medulla/telemetry/${devWell}`, `${w.join('\n')}\n`, { qos: 1 });
    sent.sick += 1;
    sent.well += 1;
  }
  await client.endAsync();

  const hr = await poll(async () => {
    const obs = await searchAll(srv, `/Observation?subject=Patient/${sick}&code=${HR}&_count=500`);
    return obs.length === 360 ? obs : null;
  });
  assert.ok(hr, 'the 360 heart-rate readings published for the deteriorating patient are not all searchable');
  const wellHr = await searchAll(srv, `/Observation?subject=Patient/${well}&code=${HR}&_count=500`);
  assert.equal(wellHr.length, 360, 'readings of the device assigned by DeviceUseStatement');

  const alerts = await poll(async () => {
    const a = await searchAll(srv, `/DetectedIssue?patient=Patient/${sick}`);
    return a.length ? a : null;
  });
  assert.ok(alerts, 'no DetectedIssue for the deteriorating patient');
  assert.deepEqual(await searchAll(srv, `/DetectedIssue?patient=Patient/${well}`), [], 'false alert for the stable patient');
  await srv.stop();
});

test('a device writes only for the patient the record assigns it to', async () => {
  const srv = await startMedulla({ clientId: 'medulla-e2e-2' });
  const owner = await create(srv, { resourceType: 'Patient', name: [{ family: 'Owner' }] });
  const other = await create(srv, { resourceType: 'Patient', name: [{ family: 'Other' }] });
  const dev = `a-${owner.slice(-12)}`;
  const stray = `s-${owner.slice(-12)}`; // assigned to nobody
  await create(srv, {
    resourceType: 'DeviceUseStatement',
    status: 'active',
    subject: { reference: `Patient/${owner}` },
    device: { reference: `Device/${dev}` },
  });
  const client = await connect();
  const t = nowMinute() - 10 * 60_000;
  await client.publishAsync(
    `medulla/telemetry/${dev}`,
    [reading(owner, dev, HR, t, 80, '/min'), reading(other, dev, HR, t, 81, '/min')].join('\n'),
    { qos: 1 },
  );
  // Naming another device than the topic's is refused too.
  await client.publishAsync(`medulla/telemetry/${dev}`, reading(owner, stray, HR, t + 60_000, 82, '/min'), { qos: 1 });
  await client.publishAsync(`medulla/telemetry/${stray}`, reading(owner, stray, HR, t + 120_000, 83, '/min'), { qos: 1 });
  // A last good one, to know when the others were handled.
  await client.publishAsync(`medulla/telemetry/${dev}`, reading(owner, dev, HR, t + 180_000, 84, '/min'), { qos: 1 });
  await client.endAsync();

  const mine = await poll(async () => {
    const obs = await searchAll(srv, `/Observation?subject=Patient/${owner}&code=${HR}`);
    return obs.length >= 2 ? obs : null;
  });
  assert.ok(mine, 'the assigned device\'s readings for its patient were not stored');
  assert.deepEqual(mine.map((o) => o.valueQuantity.value).sort(), [80, 84]);
  assert.deepEqual(await searchAll(srv, `/Observation?subject=Patient/${other}&code=${HR}`), [], 'a device wrote for a patient it is not assigned to');
  assert.match(srv.log(), /is assigned to another patient at that time/);
  assert.match(srv.log(), /published on the topic of Device\//);
  assert.match(srv.log(), /is not assigned to any patient/);

  // Once the assignment is ended, the device may no longer write (the change feed drops the
  // cached assignment).
  const dus = (await searchAll(srv, `/DeviceUseStatement?device=Device/${dev}`))[0];
  await put(srv, { ...dus, status: 'completed' });
  const late = await connect();
  await late.publishAsync(`medulla/telemetry/${dev}`, reading(owner, dev, HR, t + 240_000, 85, '/min'), { qos: 1 });
  await late.endAsync();
  assert.ok(
    await poll(async () => /Device\/\S+ is not assigned to any patient[\s\S]*Device\/\S+ is not assigned to any patient/.test(srv.log()), 5000),
    'the reading after the assignment ended was not refused (or not handled in time)',
  );
  const after = await searchAll(srv, `/Observation?subject=Patient/${owner}&code=${HR}`);
  assert.equal(after.length, 2, 'a device whose assignment ended still wrote');
  await srv.stop();
});

test('mosquitto_pub, the broker\'s own client, publishes a reading that is stored', async () => {
  const srv = await startMedulla({ clientId: 'medulla-e2e-3' });
  const pid = await create(srv, { resourceType: 'Patient', name: [{ family: 'Cli' }] });
  const dev = `c-${pid.slice(-12)}`;
  await put(srv, { resourceType: 'Device', id: dev, patient: { reference: `Patient/${pid}` } });
  const r = spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(brokerPort), '-q', '1', '-t', `medulla/telemetry/${dev}`, '-m', reading(pid, dev, SPO2, nowMinute() - 60_000, 0.95, '1')], { encoding: 'utf8' });
  assert.equal(r.status, 0, `mosquitto_pub: ${r.stderr}`);
  const obs = await poll(async () => {
    const o = await searchAll(srv, `/Observation?subject=Patient/${pid}&code=${SPO2}`);
    return o.length ? o : null;
  });
  assert.ok(obs, 'the reading published with mosquitto_pub was not stored');
  assert.equal(obs[0].valueQuantity.value, 95, 'a fraction (UCUM 1) converted to %');
  await srv.stop();
});

test('killing medulla mid-stream loses no reading the broker acknowledged', async () => {
  const first = await startMedulla({ clientId: 'medulla-e2e-4' });
  const pid = await create(first, { resourceType: 'Patient', name: [{ family: 'Durable' }] });
  const dev = `k-${pid.slice(-12)}`;
  await put(first, { resourceType: 'Device', id: dev, patient: { reference: `Patient/${pid}` } });
  const client = await connect();
  const start = nowMinute() - 12 * 3600_000;
  const total = 480; // one reading per message, one a minute (under one page of _count=500)
  const message = (i) => {
    const t = start + i * 60_000;
    return [
      reading(pid, dev, HR, t, 60 + (i % 40), '/min'),
      reading(pid, dev, RR, t, 12 + (i % 8), '/min'),
      reading(pid, dev, SPO2, t, 93 + (i % 6), '%'),
      reading(pid, dev, TEMP, t, 36.4 + (i % 9) / 10, 'Cel'),
    ].join('\n');
  };
  // Part of the stream published all at once (hundreds of messages in flight at medulla), then
  // kill -9 while they are being stored, and the rest published while it is down.
  const burst = [];
  for (let i = 0; i < 300; i++) burst.push(client.publishAsync(`medulla/telemetry/${dev}`, message(i), { qos: 1 }));
  // The moment some of the burst is stored, the rest is between the broker and the disk.
  for (let i = 0; i < 2000; i++) {
    const res = await first.http.get(`/Observation?subject=Patient/${pid}&code=${HR}&_count=500`);
    if ((res.json.entry || []).length >= 20) break;
    await sleep(2);
  }
  await first.kill9();
  await Promise.all(burst);
  for (let i = 300; i < total; i++) await client.publishAsync(`medulla/telemetry/${dev}`, message(i), { qos: 1 });
  await client.endAsync();

  const second = await startMedulla({ dataDir: first.dataDir, clientId: 'medulla-e2e-4' });
  const obs = await poll(async () => {
    const o = await searchAll(second, `/Observation?subject=Patient/${pid}&code=${HR}&_count=500`);
    return o.length >= total ? o : null;
  }, 20_000);
  const found = obs ? obs.length : (await searchAll(second, `/Observation?subject=Patient/${pid}&code=${HR}&_count=500`)).length;
  assert.equal(found, total, `${total} readings acknowledged by the broker, ${found} stored after kill -9 and restart`);
  const times = new Set(obs.map((o) => o.effectiveDateTime));
  assert.equal(times.size, total, 'a reading is stored twice');
  await second.stop();
});
