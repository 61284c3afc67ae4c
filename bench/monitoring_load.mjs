// Load tools for the monitoring lane's server figures (bench/monitoring.sh runs them):
//
//   node bench/monitoring_load.mjs mqtt-publish BROKER_PORT DEVICES READINGS PER_MESSAGE
//     publishes READINGS heart-rate readings, PER_MESSAGE to a message (NDJSON), round-robin
//     over DEVICES wearables (Device/mqb<i> for Patient/mqb<i>) on medulla/telemetry/<device>,
//     QoS 1, with the npm mqtt client; returns once the broker has acknowledged them all.
//
//   node bench/monitoring_load.mjs latency BASE_URL TOKEN RATE SECONDS
//     alert latency under load: a process of its own (the `load` mode) ingests RATE readings/s
//     of quiet heart rates over HTTP (batches of 1,000 for 10,000 patients, paced), while this
//     one posts, 10 times a second, a batch that tips a new patient into a NEWS2 alert
//     (12 minutes of respiration 30, a red score, ending now). A topic-based websocket
//     Subscription (the Subscriptions Backport, monitoring-alert topic, full resources)
//     receives the DetectedIssues; the latency of a probe is from just before its POST is sent
//     to the notification's arrival. Prints p50/p99/max and the ingest rate achieved.
//
// Both use only third-party clients (mqtt, ws) and HTTP, as a deployment's clients would.
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const require = createRequire(new URL('../tests/e2e/package.json', import.meta.url));
const mqtt = require('mqtt');
const WebSocket = require('ws');

const HR = '8867-4';
const RR = '9279-1';
const SPO2 = '59408-5';
const TEMP = '8310-5';
const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/';
const PROBES_PER_SECOND = 10;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

async function mqttPublish(port, devices, readings, perMessage) {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    protocolVersion: 4,
    clientId: `bench-pub-${process.pid}`,
    reconnectPeriod: 0,
  });
  // Every reading is new: a device's readings are a millisecond apart from the start, so a
  // million readings over 200 devices span 5 s, and the devices are not silent by the wall
  // clock while medulla takes them (device-silence alerts would be a different benchmark).
  const start = Date.now();
  const started = performance.now();
  let inFlight = [];
  let k = 0;
  while (k < readings) {
    const d = Math.floor(k / perMessage) % devices;
    const lines = [];
    for (let i = 0; i < perMessage && k < readings; i++, k++) {
      const ms = start + Math.floor(k / (devices * perMessage)) * perMessage + i;
      lines.push(`{"patient":"Patient/mqb${d}","device":"Device/mqb${d}","code":"${HR}","time":"${new Date(ms).toISOString()}","value":${60 + (k % 37)},"unit":"/min"}`);
    }
    inFlight.push(client.publishAsync(`medulla/telemetry/mqb${d}`, lines.join('\n'), { qos: 1 }));
    if (inFlight.length >= 500) {
      await Promise.all(inFlight);
      inFlight = [];
    }
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - started) / 1000;
  await client.endAsync();
  console.log(`published ${readings} readings in ${Math.ceil(readings / perMessage)} messages in ${seconds.toFixed(2)} s (${Math.round(readings / seconds)} readings/s to the broker)`);
}

// The background ingest: quiet heart rates for 10,000 patients at `rate` readings/s for
// `seconds`, in batches of 1,000 each stamped with the time it is made (recent readings: old
// ones would leave the patients silent by the wall clock, and those alerts would be a different
// benchmark). A patient recurs every 10 batches, so never twice in one millisecond. Prints what
// was stored as JSON.
async function load(base, token, rate, seconds) {
  const batch = 1000;
  let k = 0, stored = 0, refused = 0, outstanding = 0, skipped = 0, lastMs = 0;
  const loadBatch = () => {
    lastMs = Math.max(Date.now(), lastMs + 1);
    const time = new Date(lastMs).toISOString();
    const lines = new Array(batch);
    for (let i = 0; i < batch; i++, k++) {
      const p = k % 10_000;
      lines[i] = `{"patient":"Patient/lb${p}","device":"Device/lb${p}","code":"${HR}","time":"${time}","value":${60 + (k % 23)},"unit":"/min"}`;
    }
    return lines.join('\n');
  };
  const started = performance.now();
  const end = started + seconds * 1000;
  // Paced by the clock, not by the timer's ticks (which run late): by time t, rate * t
  // readings are due.
  let due = 0;
  while (performance.now() < end) {
    const owed = Math.floor(((performance.now() - started) / 1000) * (rate / batch));
    while (due < owed) {
      due++;
      if (outstanding >= 32) {
        skipped++;
        continue;
      }
      outstanding++;
      fetch(`${base}/telemetry`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson' },
        body: loadBatch(),
      }).then(async (res) => {
        outstanding--;
        if (res.status === 200) stored += batch;
        else refused++;
        await res.arrayBuffer();
      }, () => { outstanding--; refused++; });
    }
    await sleep(10);
  }
  const elapsed = (performance.now() - started) / 1000;
  while (outstanding > 0) await sleep(10);
  console.log(JSON.stringify({ stored, refused, skipped, elapsed }));
}

// Alert latency under that load. The load runs in a process of its own, so that building and
// sending its batches (and its garbage collection) never delays a probe's timing here.
async function latency(base, token, rate, seconds) {
  const auth = { authorization: `Bearer ${token}` };
  const json = { ...auth, 'content-type': 'application/fhir+json', accept: 'application/fhir+json' };
  // The subscription: every monitoring alert, full resources, over the websocket.
  const sub = await (await fetch(`${base}/Subscription`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({
      resourceType: 'Subscription',
      meta: { profile: [`${BACKPORT}backport-subscription`] },
      status: 'requested',
      reason: 'alert latency benchmark',
      criteria: 'https://medulla.health/fhir/SubscriptionTopic/monitoring-alert',
      channel: {
        type: 'websocket',
        payload: 'application/fhir+json',
        _payload: { extension: [{ url: `${BACKPORT}backport-payload-content`, valueCode: 'full-resource' }] },
      },
    }),
  })).json();
  if (!sub.id) throw new Error(`Subscription not created: ${JSON.stringify(sub)}`);
  const bound = await (await fetch(`${base}/Subscription/${sub.id}/$get-ws-binding-token`, { headers: json })).json();
  const param = (n) => bound.parameter.find((p) => p.name === n);
  const ws = new WebSocket(param('websocket-url').valueUrl);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const arrived = new Map();  // probe patient -> ms
  ws.on('message', (data) => {
    const at = performance.now();
    const text = data.toString();
    if (!text.startsWith('{')) return;
    for (const e of JSON.parse(text).entry ?? []) {
      const ref = e.resource?.patient?.reference;
      if (e.resource?.resourceType === 'DetectedIssue' && ref && !arrived.has(ref)) arrived.set(ref, at);
    }
  });
  ws.send(`bind-with-token: ${param('token').valueString}`);
  await sleep(500);

  const loader = spawn(process.execPath, [fileURLToPath(import.meta.url), 'load', base, token, String(rate), String(seconds + 1)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let loadReport = '';
  loader.stdout.on('data', (d) => { loadReport += d; });
  const loaded = new Promise((resolve) => loader.on('exit', resolve));
  await sleep(1000);  // the load under way

  const probes = new Map();  // patient ref -> sent ms
  const acks = [];  // ms from a probe's POST to its answer (the readings durable)
  const now = Math.floor(Date.now() / 60_000) * 60_000;
  const probe = async (i) => {
    const patient = `Patient/probe-${process.pid}-${i}`;
    const lines = [];
    for (let m = 11; m >= 0; m--) {
      const t = iso(now + 60_000 - m * 60_000);
      for (const [code, v, unit] of [[RR, 30, '/min'], [HR, 80, '/min'], [SPO2, 97, '%'], [TEMP, 37.0, 'Cel']]) {
        lines.push(`{"patient":"${patient}","device":"Device/probe-${i}","code":"${code}","time":"${t}","value":${v},"unit":"${unit}"}`);
      }
    }
    const body = lines.join('\n');
    const sent = performance.now();
    probes.set(patient, sent);
    const res = await fetch(`${base}/telemetry`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/x-ndjson' },
      body,
    });
    acks.push(performance.now() - sent);
    if (res.status !== 200) console.error(`probe ${i}: ${res.status} ${await res.text()}`);
    else await res.arrayBuffer();
  };
  // PROBES_PER_SECOND probes, each a new patient, over `seconds - 1`, paced by the clock.
  const started = performance.now();
  const end = started + (seconds - 1) * 1000;
  let probeCount = 0;
  while (performance.now() < end) {
    if (performance.now() >= started + (probeCount * 1000) / PROBES_PER_SECOND) probe(probeCount++);
    await sleep(5);
  }
  await loaded;
  await sleep(2000);  // the last probes' notifications
  ws.close();
  const lat = [];
  let missing = 0;
  for (const [patient, sent] of probes) {
    const at = arrived.get(patient);
    if (at === undefined) missing++;
    else lat.push(at - sent);
  }
  lat.sort((a, b) => a - b);
  const l = JSON.parse(loadReport || '{"stored":0,"refused":0,"skipped":0,"elapsed":1}');
  console.log(`background ingest (its own process): ${Math.round(l.stored / l.elapsed)} readings/s stored over ${l.elapsed.toFixed(1)} s (target ${rate}; ${l.refused} batches refused, ${l.skipped} not sent: 32 outstanding)`);
  acks.sort((a, b) => a - b);
  console.log(`probe batch answered (readings durable): p50 ${quantile(acks, 0.5).toFixed(1)} ms, p99 ${quantile(acks, 0.99).toFixed(1)} ms`);
  console.log(`alert latency over ${lat.length} probes (${missing} without a notification): p50 ${quantile(lat, 0.5).toFixed(1)} ms, p99 ${quantile(lat, 0.99).toFixed(1)} ms, max ${lat[lat.length - 1]?.toFixed(1)} ms; the slowest five ${lat.slice(-5).map((x) => x.toFixed(0)).join(', ')} ms`);
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'mqtt-publish') {
  await mqttPublish(Number(args[0]), Number(args[1]), Number(args[2]), Number(args[3]));
} else if (mode === 'load') {
  await load(args[0], args[1], Number(args[2]), Number(args[3]));
} else if (mode === 'latency') {
  await latency(args[0], args[1], Number(args[2]), Number(args[3]));
} else {
  console.error('usage: monitoring_load.mjs mqtt-publish PORT DEVICES READINGS PER_MESSAGE | latency|load BASE_URL TOKEN RATE SECONDS');
  process.exit(2);
}
process.exit(0);
