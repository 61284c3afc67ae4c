// Remote monitoring: device readings posted to POST /telemetry as NDJSON become searchable FHIR
// Observations; the monitor engine scores them (NEWS2 RiskAssessments) and raises alerts
// (DetectedIssue + Task) for a deteriorating patient only, once per condition. Also per-line
// errors, duplicates, a device token bound to its patient, and durability across kill -9.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MedullaServer, assertOutcome, matches, mintToken, show, walkPages } from './lib/server.mjs';

const UCUM = 'http://unitsofmeasure.org';
const NEWS2_CODE = '1104051000000101';
const HR = '8867-4';
const RR = '9279-1';
const SPO2 = '59408-5';
const TEMP = '8310-5';
const ALERT_WAIT_MS = 10_000;

const servers = [];
let server;

before(async () => {
  server = await MedullaServer.start();
  servers.push(server);
});

after(async () => {
  for (const s of servers) await s.dispose();
});

// ---------------------------------------------------------------------------------------------
// Helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** An instant without milliseconds, e.g. 2026-11-21T08:00:00Z. */
function iso(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Now, truncated to the whole minute (so the minute grid is exact). */
function nowMinute() {
  return Math.floor(Date.now() / 60_000) * 60_000;
}

async function createPatient(srv, family) {
  const res = await srv.http.post('/Patient', {
    resourceType: 'Patient',
    name: [{ family }],
    birthDate: '1958-01-01',
  });
  assert.equal(res.status, 201, `create Patient ${family}: ${show(res)}`);
  return res.json.id;
}

function reading(pid, code, timeMs, value, unit, extra = {}) {
  return { patient: `Patient/${pid}`, device: `Device/d${pid}`, code, time: iso(timeMs), value, unit, ...extra };
}

function ndjson(lines) {
  return `${lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n')}\n`;
}

async function postTelemetry(srv, lines, { token } = {}) {
  // The acknowledgement is plain JSON, the errors are OperationOutcomes.
  const headers = { 'content-type': 'application/x-ndjson', accept: 'application/json, application/fhir+json' };
  if (token) headers.authorization = `Bearer ${token}`;
  return srv.http.request('POST', '/telemetry', { body: ndjson(lines), headers });
}

/** Every resource a search matches, following next links. */
async function searchAll(srv, query, count = 500) {
  const { entries } = await walkPages(srv.http, query, { count });
  return matches(entries);
}

/** Polls fn until it returns a truthy value or the time runs out; returns the last value. */
async function poll(fn, timeoutMs = ALERT_WAIT_MS) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last || Date.now() >= deadline) return last;
    await sleep(250);
  }
}

function alertCode(issue) {
  return issue.code && issue.code.coding && issue.code.coding[0] && issue.code.coding[0].code;
}

function valueByTime(observations) {
  const m = new Map();
  for (const o of observations) m.set(Date.parse(o.effectiveDateTime ?? o.effectiveInstant), o.valueQuantity.value);
  return m;
}

// Six hours of per-minute readings ending now for a deteriorating and a stable patient, as the
// monitoring acceptance check does.
function scenario(sick, well, end) {
  const lines = [];
  const expected = { sick: new Map(), well: new Map() }; // code -> Map(timeMs -> value)
  for (const k of Object.keys(expected)) for (const c of [HR, RR, SPO2, TEMP]) expected[k].set(c, new Map());
  for (let m = 0; m < 360; m++) {
    const t = end - (360 - m) * 60_000;
    const f = m / 360;
    const rows = [
      ['sick', sick, 72 + 58 * f, 14 + 14 * f, 97 - 8 * f, 37.0 + 2.2 * f],
      ['well', well, 72 + (m % 7) - 3, 15 + (m % 3) - 1, 97 + (m % 2), 36.8],
    ];
    for (const [k, pid, hr, rr, spo2, temp] of rows) {
      for (const [code, v, unit] of [
        [HR, hr, '/min'],
        [RR, rr, '/min'],
        [SPO2, spo2, '%'],
        [TEMP, temp, 'Cel'],
      ]) {
        const value = Math.round(v * 10) / 10;
        lines.push(reading(pid, code, t, value, unit));
        expected[k].get(code).set(t, value);
      }
    }
  }
  return { lines, expected };
}

// ---------------------------------------------------------------------------------------------
// 1. A deteriorating and a stable patient

test('deteriorating patient: one news2 alert with a Task, NEWS2 scores; stable patient: no alert; readings searchable', async () => {
  const sick = await createPatient(server, 'Sick');
  const well = await createPatient(server, 'Well');
  const end = nowMinute();
  const { lines, expected } = scenario(sick, well, end);

  const res = await postTelemetry(server, lines);
  assert.equal(res.status, 200, `POST /telemetry: ${show(res)}`);
  assert.deepEqual(res.json, { accepted: lines.length, duplicates: 0, rejected: [] }, `POST /telemetry answer: ${show(res)}`);

  // Alerts are written asynchronously: wait for the first news2 alert of the sick patient.
  const news2Open = async () =>
    (await searchAll(server, `/DetectedIssue?patient=Patient/${sick}&_count=100`, 100)).filter(
      (d) => alertCode(d) === 'news2' && d.status === 'preliminary',
    );
  const first = await poll(async () => ((await news2Open()).length ? true : false));
  assert.ok(first, `no open news2 DetectedIssue for the deteriorating patient within ${ALERT_WAIT_MS} ms`);
  // Let the engine finish the batch, then there must still be exactly one (deduplication).
  await sleep(3000);
  const allSick = await searchAll(server, `/DetectedIssue?patient=Patient/${sick}&_count=100`, 100);
  const news2 = allSick.filter((d) => alertCode(d) === 'news2' && d.status === 'preliminary');
  assert.equal(
    news2.length,
    1,
    `want exactly one open news2 DetectedIssue for the deteriorating patient, got ${news2.length}: ${JSON.stringify(news2.map((d) => ({ id: d.id, identified: d.identifiedDateTime, severity: d.severity })))}`,
  );
  const issue = news2[0];
  assert.ok(['high', 'moderate', 'low'].includes(issue.severity), `DetectedIssue.severity: ${JSON.stringify(issue.severity)}`);
  assert.equal(issue.patient && issue.patient.reference, `Patient/${sick}`, 'DetectedIssue.patient');
  // One open alert per condition (code), whatever other conditions were raised.
  const perCode = new Map();
  for (const d of allSick.filter((x) => x.status === 'preliminary')) perCode.set(alertCode(d), (perCode.get(alertCode(d)) || 0) + 1);
  for (const [code, n] of perCode) assert.equal(n, 1, `${n} open DetectedIssues with code ${code} for one patient (want one per condition)`);
  for (const code of perCode.keys()) {
    assert.ok(['news2', 'trend', 'qsofa', 'goal', 'device-silence', 'signal-quality'].includes(code), `unexpected alert code ${code}`);
  }

  // A Task focused on the alert.
  const tasks = await poll(async () => {
    const t = await searchAll(server, `/Task?focus=DetectedIssue/${issue.id}&_count=100`, 100);
    return t.length ? t : null;
  });
  assert.ok(tasks && tasks.length >= 1, `no Task with focus DetectedIssue/${issue.id}`);
  assert.equal(tasks.length, 1, `want one Task for the alert, got ${tasks.length}`);
  assert.equal(tasks[0].focus.reference, `DetectedIssue/${issue.id}`, 'Task.focus');
  assert.equal(tasks[0].status, 'requested', 'Task.status');

  // NEWS2 scores.
  const scores = await searchAll(server, `/RiskAssessment?subject=Patient/${sick}&_count=500`);
  assert.ok(scores.length >= 1, 'no RiskAssessment for the deteriorating patient');
  for (const ra of scores) {
    const codes = ((ra.code && ra.code.coding) || []).map((c) => c.code);
    assert.ok(codes.includes(NEWS2_CODE), `RiskAssessment/${ra.id} code ${JSON.stringify(ra.code)} is not NEWS2 (${NEWS2_CODE})`);
    assert.equal(ra.subject.reference, `Patient/${sick}`, `RiskAssessment/${ra.id}.subject`);
  }

  // The stable patient: scored, but no alert of any kind.
  const wellIssues = await searchAll(server, `/DetectedIssue?patient=Patient/${well}&_count=100`, 100);
  assert.deepEqual(
    wellIssues.map((d) => `${d.id} ${alertCode(d)} ${d.severity}`),
    [],
    'false alert(s) for the stable patient',
  );

  // Readings as Observations: count and values.
  for (const [k, pid] of [
    ['sick', sick],
    ['well', well],
  ]) {
    for (const code of [HR, RR, SPO2, TEMP]) {
      const obs = await searchAll(server, `/Observation?subject=Patient/${pid}&code=${code}&_count=500`);
      const want = expected[k].get(code);
      assert.equal(obs.length, 360, `${k} ${code}: want 360 Observations, got ${obs.length}`);
      const got = valueByTime(obs);
      const wrong = [];
      for (const [t, v] of want) {
        const g = got.get(t);
        if (g === undefined || Math.abs(g - v) > 1e-6) wrong.push(`${iso(t)}: want ${v}, got ${g}`);
      }
      assert.deepEqual(wrong.slice(0, 10), [], `${k} ${code}: ${wrong.length} readings with wrong or missing values`);
    }
  }
  // patient= is the same as subject= for readings.
  const byPatient = await searchAll(server, `/Observation?patient=Patient/${sick}&code=${HR}&_count=500`);
  assert.equal(byPatient.length, 360, 'patient= search of HR readings');

  // A date filter narrows: the last hour holds 60 readings, the hour before also 60.
  const lastHour = iso(end - 60 * 60_000);
  const hourBefore = iso(end - 120 * 60_000);
  const recent = await searchAll(server, `/Observation?subject=Patient/${sick}&code=${HR}&date=ge${lastHour}&_count=500`);
  assert.equal(recent.length, 60, `date=ge${lastHour}: want 60 readings, got ${recent.length}`);
  for (const o of recent) assert.ok(Date.parse(o.effectiveDateTime) >= end - 3600_000, `Observation/${o.id} at ${o.effectiveDateTime} is before ${lastHour}`);
  const window = await searchAll(
    server,
    `/Observation?subject=Patient/${sick}&code=${HR}&date=ge${hourBefore}&date=lt${lastHour}&_count=500`,
  );
  assert.equal(window.length, 60, `date=ge${hourBefore}&date=lt${lastHour}: want 60 readings, got ${window.length}`);

  // One read by id, with a basic shape check.
  const pick = recent[0];
  assert.match(pick.id, /^r\.\d+\./, `reading id ${pick.id} is not r.<ms>.<vital>.<patient>`);
  const read = await server.http.get(`/Observation/${pick.id}`);
  assert.equal(read.status, 200, `read Observation/${pick.id}: ${show(read)}`);
  const o = read.json;
  assert.equal(o.resourceType, 'Observation');
  assert.equal(o.id, pick.id);
  assert.equal(o.subject.reference, `Patient/${sick}`, 'Observation.subject');
  assert.ok(o.code.coding.some((c) => c.system === 'http://loinc.org' && c.code === HR), `Observation.code ${JSON.stringify(o.code)}`);
  assert.ok(o.valueQuantity, 'Observation.valueQuantity');
  assert.equal(o.valueQuantity.system, UCUM, 'valueQuantity.system');
  assert.equal(o.valueQuantity.code, '/min', 'valueQuantity.code');
  assert.equal(typeof o.valueQuantity.value, 'number', 'valueQuantity.value');
  assert.equal(o.valueQuantity.value, expected.sick.get(HR).get(Date.parse(o.effectiveDateTime)), 'read value equals what was sent');
  assert.ok(['final', 'preliminary', 'amended'].includes(o.status), `Observation.status ${o.status}`);
  const missing = await server.http.get(`/Observation/r.1.heart_rate.nobody-here`);
  assert.equal(missing.status, 404, `read of a reading that does not exist: ${show(missing)}`);
});

// ---------------------------------------------------------------------------------------------
// 2. Per-line errors

test('per-line errors: good lines stored, bad lines reported with line and reason; an all-bad batch is 400', async () => {
  const pid = await createPatient(server, 'Lines');
  const t = nowMinute() - 30 * 60_000;
  const lines = [
    /* 1 */ reading(pid, HR, t, 80, '/min'),
    /* 2 */ `{"patient":"Patient/${pid}","device":"Device/x","code":"8867-4",`,
    /* 3 */ reading(pid, '1234-5', t, 80, '/min'),
    /* 4 */ reading(pid, HR, t + 60_000, 900, '/min'),
    /* 5 */ reading(pid, RR, t, 16, '/min'),
    /* 6 */ reading(pid, SPO2, t + 60_000, 140, '%'),
    /* 7 */ reading(pid, HR, Date.now() + 60 * 60_000, 80, '/min'),
    /* 8 */ reading(pid, TEMP, t, 98.6, '[degF]'),
    /* 9 */ reading(pid, SPO2, t, 96, '%'),
  ];
  const res = await postTelemetry(server, lines);
  assert.equal(res.status, 200, `mixed batch: ${show(res)}`);
  assert.equal(res.json.accepted, 4, `accepted: ${show(res)}`);
  assert.equal(res.json.duplicates, 0, `duplicates: ${show(res)}`);
  const rejected = res.json.rejected;
  assert.deepEqual(
    rejected.map((r) => r.line),
    [2, 3, 4, 6, 7],
    `rejected line numbers: ${show(res)}`,
  );
  const reason = Object.fromEntries(rejected.map((r) => [r.line, r.reason]));
  for (const r of rejected) assert.ok(typeof r.reason === 'string' && r.reason.length > 0, `line ${r.line} without a reason`);
  assert.match(reason[2], /json/i, 'malformed line reason');
  assert.match(reason[3], /1234-5/, 'unknown LOINC reason');
  assert.match(reason[4], /900/, 'HR 900 reason');
  assert.match(reason[6], /140/, 'SpO2 140 reason');
  assert.match(reason[7], /future/i, 'future time reason');

  const get = async (code) => searchAll(server, `/Observation?subject=Patient/${pid}&code=${code}&_count=500`);
  const hr = await get(HR);
  assert.deepEqual(hr.map((o) => o.valueQuantity.value), [80], 'HR readings stored (the 900 and the future one refused)');
  const rr = await get(RR);
  assert.deepEqual(rr.map((o) => o.valueQuantity.value), [16], 'RR readings stored');
  const spo2 = await get(SPO2);
  assert.deepEqual(spo2.map((o) => o.valueQuantity.value), [96], 'SpO2 readings stored (the 140 refused)');
  const temp = await get(TEMP);
  assert.equal(temp.length, 1, 'temperature readings stored');
  assert.equal(temp[0].valueQuantity.code, 'Cel', 'a [degF] reading is stored in Cel');
  assert.equal(temp[0].valueQuantity.system, UCUM);
  assert.ok(Math.abs(temp[0].valueQuantity.value - 37) < 0.05, `98.6 [degF] stored as ${temp[0].valueQuantity.value} Cel, want ≈ 37`);
  const all = await searchAll(server, `/Observation?subject=Patient/${pid}&_count=500`);
  assert.equal(all.length, 4, `all readings of the patient: ${all.map((o) => o.id).join(', ')}`);

  // Only bad lines: 400 with an OperationOutcome, nothing stored.
  const bad = await postTelemetry(server, [
    'not json at all',
    reading(pid, '0000-0', t + 2 * 60_000, 80, '/min'),
    reading(pid, HR, t + 3 * 60_000, 900, '/min'),
  ]);
  assertOutcome(bad, 400, 'a batch of only bad lines');
  const after = await searchAll(server, `/Observation?subject=Patient/${pid}&_count=500`);
  assert.equal(after.length, 4, 'an all-bad batch stored something');
});

// ---------------------------------------------------------------------------------------------
// 3. Duplicates

test('the same batch twice: second answer is all duplicates and nothing is stored twice', async () => {
  const pid = await createPatient(server, 'Twice');
  const start = nowMinute() - 60 * 60_000;
  const lines = [];
  for (let m = 0; m < 10; m++) {
    lines.push(reading(pid, HR, start + m * 60_000, 70 + m, '/min'));
    lines.push(reading(pid, RR, start + m * 60_000, 14, '/min'));
    lines.push(reading(pid, SPO2, start + m * 60_000, 97, '%'));
  }
  const one = await postTelemetry(server, lines);
  assert.equal(one.status, 200, `first post: ${show(one)}`);
  assert.deepEqual(one.json, { accepted: 30, duplicates: 0, rejected: [] }, `first post: ${show(one)}`);
  const two = await postTelemetry(server, lines);
  assert.equal(two.status, 200, `second post: ${show(two)}`);
  assert.deepEqual(two.json, { accepted: 0, duplicates: 30, rejected: [] }, `second post of the same batch: ${show(two)}`);

  for (const code of [HR, RR, SPO2]) {
    const obs = await searchAll(server, `/Observation?subject=Patient/${pid}&code=${code}&_count=500`);
    assert.equal(obs.length, 10, `${code}: want 10 readings after posting the batch twice, got ${obs.length}`);
    assert.equal(new Set(obs.map((o) => o.id)).size, 10, `${code}: an id listed twice`);
  }
  const hrValues = (await searchAll(server, `/Observation?subject=Patient/${pid}&code=${HR}&_count=500`))
    .map((o) => o.valueQuantity.value)
    .sort((a, b) => a - b);
  assert.deepEqual(hrValues, [70, 71, 72, 73, 74, 75, 76, 77, 78, 79]);
});

// ---------------------------------------------------------------------------------------------
// 4. A device token is bound to its patient

test('a device token bound to patient A may write readings for A only', async () => {
  const a = await createPatient(server, 'DeviceOwner');
  const b = await createPatient(server, 'SomeoneElse');
  const token = mintToken(server.dataDir, ['--role', 'device', '--patient', a]);
  const t = nowMinute() - 20 * 60_000;

  const forB = await postTelemetry(server, [reading(b, HR, t, 75, '/min'), reading(b, RR, t, 15, '/min')], { token });
  assert.equal(forB.status, 403, `device token of Patient/${a} writing for Patient/${b}: ${show(forB)}`);
  assertOutcome(forB, 403, 'readings for another patient');
  assert.equal(
    (await searchAll(server, `/Observation?subject=Patient/${b}&_count=500`)).length,
    0,
    `a refused reading for Patient/${b} was stored`,
  );

  const forA = await postTelemetry(server, [reading(a, HR, t, 75, '/min'), reading(a, RR, t, 15, '/min')], { token });
  assert.equal(forA.status, 200, `device token of Patient/${a} writing for Patient/${a}: ${show(forA)}`);
  assert.deepEqual(forA.json, { accepted: 2, duplicates: 0, rejected: [] }, show(forA));
  assert.equal((await searchAll(server, `/Observation?subject=Patient/${a}&_count=500`)).length, 2, 'readings for A stored');

  // A batch mixing both: nothing for B may be stored, and B's lines are reported.
  const mixed = await postTelemetry(server, [reading(a, HR, t + 60_000, 76, '/min'), reading(b, HR, t + 60_000, 76, '/min')], { token });
  assert.ok([200, 403].includes(mixed.status), `mixed batch: ${show(mixed)}`);
  if (mixed.status === 200) {
    assert.equal(mixed.json.accepted, 1, `mixed batch: ${show(mixed)}`);
    assert.deepEqual(mixed.json.rejected.map((r) => r.line), [2], `mixed batch: ${show(mixed)}`);
  }
  assert.equal(
    (await searchAll(server, `/Observation?subject=Patient/${b}&_count=500`)).length,
    0,
    `a reading for Patient/${b} from a device of Patient/${a} was stored`,
  );
});

// ---------------------------------------------------------------------------------------------
// 5. Durability

test('every reading acknowledged with 200 before kill -9 is searchable after a restart', async () => {
  const first = await MedullaServer.start();
  servers.push(first);
  const pids = [await createPatient(first, 'DurableOne'), await createPatient(first, 'DurableTwo')];
  const end = nowMinute();
  const acked = new Map(); // `${pid} ${code}` -> count acknowledged
  // Three batches, each of 120 minutes x 4 vitals for one patient (different time ranges), the
  // server killed the moment the last one is acknowledged.
  const batches = [
    [pids[0], end - 360 * 60_000],
    [pids[1], end - 360 * 60_000],
    [pids[0], end - 240 * 60_000],
  ];
  for (const [pid, from] of batches) {
    const lines = [];
    for (let m = 0; m < 120; m++) {
      const t = from + m * 60_000;
      lines.push(reading(pid, HR, t, 70 + (m % 9), '/min'));
      lines.push(reading(pid, RR, t, 14 + (m % 4), '/min'));
      lines.push(reading(pid, SPO2, t, 95 + (m % 4), '%'));
      lines.push(reading(pid, TEMP, t, 36.5 + (m % 5) / 10, 'Cel'));
    }
    const res = await postTelemetry(first, lines);
    assert.equal(res.status, 200, `batch: ${show(res)}`);
    assert.deepEqual(res.json, { accepted: 480, duplicates: 0, rejected: [] }, show(res));
    for (const code of [HR, RR, SPO2, TEMP]) acked.set(`${pid} ${code}`, (acked.get(`${pid} ${code}`) || 0) + 120);
  }
  first.child.kill('SIGKILL');
  await first.kill9();

  const second = await MedullaServer.start({ dataDir: first.dataDir });
  servers.push(second);
  const lost = [];
  for (const [key, n] of acked) {
    const [pid, code] = key.split(' ');
    const obs = await searchAll(second, `/Observation?subject=Patient/${pid}&code=${code}&_count=500`);
    if (obs.length !== n) lost.push(`Patient/${pid} ${code}: ${n} acknowledged, ${obs.length} found`);
  }
  assert.deepEqual(lost, [], 'acknowledged readings missing after kill -9 and restart');

  // The restarted server still takes readings, and sees the old ones as duplicates.
  const again = await postTelemetry(second, [reading(pids[0], HR, end - 360 * 60_000, 70, '/min'), reading(pids[0], HR, end - 60_000, 71, '/min')]);
  assert.equal(again.status, 200, show(again));
  assert.deepEqual(again.json, { accepted: 1, duplicates: 1, rejected: [] }, `after restart: ${show(again)}`);
  await second.stop();
});

// ---------------------------------------------------------------------------------------------
// 6. Ordinary FHIR inputs: a clinician's Goal sets the patient's target, and vital-sign
// Observations written through the FHIR API (a kiosk, an EHR) are scored like device readings.

test('a Goal sets a target that FHIR Observations from a kiosk are judged against', async () => {
  const pid = await createPatient(server, 'GoalKeeper');
  const goal = await server.http.post('/Goal', {
    resourceType: 'Goal',
    lifecycleStatus: 'active',
    description: { text: 'Heart rate under 100/min' },
    subject: { reference: `Patient/${pid}` },
    target: [{
      measure: { coding: [{ system: 'http://loinc.org', code: HR }] },
      detailRange: { low: { value: 50, unit: '/min', system: UCUM, code: '/min' }, high: { value: 100, unit: '/min', system: UCUM, code: '/min' } },
    }],
  });
  assert.equal(goal.status, 201, show(goal));
  // Twenty minutes of kiosk heart rates at 125/min, as ordinary Observations (not /telemetry):
  // a normal NEWS2 otherwise, so only the clinician's target can raise this alert.
  const end = nowMinute();
  for (let m = 20; m > 0; m--) {
    const res = await server.http.post('/Observation', {
      resourceType: 'Observation',
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
      code: { coding: [{ system: 'http://loinc.org', code: HR }] },
      subject: { reference: `Patient/${pid}` },
      effectiveDateTime: iso(end - m * 60_000),
      valueQuantity: { value: 125, unit: '/min', system: UCUM, code: '/min' },
    });
    assert.equal(res.status, 201, show(res));
  }
  const alerts = await poll(async () => {
    const a = await searchAll(server, `/DetectedIssue?patient=Patient/${pid}`);
    return a.length ? a : null;
  });
  assert.ok(alerts, 'no alert for heart rates above the Goal\'s target');
  assert.deepEqual(alerts.map(alertCode), ['goal'], `alerts: ${alerts.map(alertCode)}`);

  // The same readings for a patient without a Goal raise nothing (125/min scores 2 in NEWS2, and a score needs three parameters).
  const other = await createPatient(server, 'NoGoal');
  for (let m = 20; m > 0; m--) {
    await server.http.post('/Observation', {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: HR }] },
      subject: { reference: `Patient/${other}` },
      effectiveDateTime: iso(end - m * 60_000),
      valueQuantity: { value: 125, unit: '/min', system: UCUM, code: '/min' },
    });
  }
  await sleep(1500);
  assert.deepEqual(await searchAll(server, `/DetectedIssue?patient=Patient/${other}`), [], 'an alert without a Goal');
});

test('a device token naming its device (sub Device/ID) writes only while the record assigns the device to the patient', async () => {
  const pid = await createPatient(server, 'AssignedByRecord');
  const device = `tok-${pid.slice(-12)}`;
  const token = mintToken(server.dataDir, ['--role', 'device', '--patient', pid, '--subject', `Device/${device}`]);
  const t = nowMinute() - 5 * 60_000;
  const mine = { ...reading(pid, HR, t, 77, '/min'), device: `Device/${device}` };
  const before = await postTelemetry(server, [mine], { token });
  const refused = assertOutcome(before, 403, 'no DeviceUseStatement yet');
  assert.match(JSON.stringify(refused), /is not assigned to any patient/);
  const dus = await server.http.post('/DeviceUseStatement', {
    resourceType: 'DeviceUseStatement',
    status: 'active',
    subject: { reference: `Patient/${pid}` },
    device: { reference: `Device/${device}` },
  });
  assert.equal(dus.status, 201, show(dus));
  const ok = await poll(async () => {
    const r = await postTelemetry(server, [mine], { token });
    return r.status === 200 ? r : null;
  }, 5000);
  assert.ok(ok, 'still refused once the DeviceUseStatement was recorded');
  assert.deepEqual(ok.json, { accepted: 1, duplicates: 0, rejected: [] });
  const other = await postTelemetry(server, [{ ...mine, device: 'Device/someone-else', time: iso(t + 60_000) }], { token });
  const wrong = assertOutcome(other, 403, 'a reading naming another device');
  assert.match(JSON.stringify(wrong), /this token speaks for Device\//);
});
