// The monitor's state across kill -9 and a restart, through the real server: at start it is
// rebuilt from the readings kept (monitor.rebuild_days), so that
//  - an alert open before the stop is resolved by the readings that clear it afterwards (a
//    monitor starting empty would never see the condition clear, and the alert would stay open);
//  - a condition open in the readings whose alert was lost gets its alert again;
//  - an open alert that the readings do not bear out is resolved, saying so;
//  - vital signs recorded as FHIR Observations (a kiosk's) count as they did live;
//  - and the replay reports nothing again: no score (RiskAssessment) is written twice.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  create, createPatient, iso, news2Alerts, nowMinute, poll, postTelemetry, readings, searchAll, sleep, SICK, WELL,
} from './lib/monitoring.mjs';
import { MedullaServer, makeTempDir, show } from './lib/server.mjs';

const MINUTE = 60_000;
const servers = [];
let config;

before(() => {
  config = path.join(makeTempDir('medulla-e2e-monitor-restart-'), 'medulla.toml');
  // Device silence is judged on the wall clock: readings that end in the past would raise it.
  fs.writeFileSync(config, '[monitor]\nsilence_minutes = 1440\n');
});

after(async () => {
  for (const s of servers) await s.dispose();
});

async function start(dataDir) {
  const s = await MedullaServer.start({ dataDir, args: ['--config', config] });
  servers.push(s);
  return s;
}

async function count(srv, query) {
  return (await searchAll(srv, query)).length;
}

test('after kill -9 the rebuilt monitor resolves, re-opens and keeps alerts as the readings say', async () => {
  const first = await start();
  const end = nowMinute();

  // Kept: sick from 3 h to 2 h ago, so the alert opens; after the restart, well readings from
  // 2 h ago on clear it, which only a monitor that knows the condition is open can see.
  const kept = await createPatient(first, 'Kept');
  await postTelemetry(first, readings(kept, end - 240 * MINUTE, end - 180 * MINUTE, WELL));
  await postTelemetry(first, readings(kept, end - 180 * MINUTE, end - 120 * MINUTE, SICK));
  const keptAlert = await poll(async () => (await news2Alerts(first, kept)).find((d) => d.status === 'preliminary'), 'the first patient\'s alert');

  // Lost: sick for the last 40 minutes; its alert is then deleted, as if the stop had come
  // between the readings and the alert's write.
  const lost = await createPatient(first, 'Lost');
  await postTelemetry(first, readings(lost, end - 40 * MINUTE, end, SICK));
  const lostAlert = await poll(async () => (await news2Alerts(first, lost)).find((d) => d.status === 'preliminary'), 'the second patient\'s alert');
  const del = await first.http.request('DELETE', `/DetectedIssue/${lostAlert.id}`);
  assert.ok([200, 204].includes(del.status), `DELETE: ${show(del)}`);

  // Stale: well for three hours, yet an open news2 alert (written through FHIR) says otherwise.
  const stale = await createPatient(first, 'Stale');
  await postTelemetry(first, readings(stale, end - 180 * MINUTE, end, WELL));
  const staleAlert = await create(first, {
    resourceType: 'DetectedIssue',
    status: 'preliminary',
    code: { coding: [{ system: 'https://medulla.health/fhir/CodeSystem/monitor-alert', code: 'news2' }] },
    severity: 'high',
    patient: { reference: `Patient/${stale}` },
    identifiedDateTime: iso(end - 60 * MINUTE),
  });

  // Kiosk: no device at all; its vital signs come as FHIR Observations, sick for the last 40
  // minutes, and its alert is deleted like the second patient's.
  const kiosk = await createPatient(first, 'Kiosk');
  const loinc = { hr: ['8867-4', '/min'], rr: ['9279-1', '/min'], spo2: ['59408-5', '%'], temp: ['8310-5', 'Cel'] };
  for (let t = end - 40 * MINUTE; t < end; t += 5 * MINUTE) {
    for (const [k, [code, unit]] of Object.entries(loinc)) {
      await create(first, {
        resourceType: 'Observation',
        status: 'final',
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
        code: { coding: [{ system: 'http://loinc.org', code }] },
        subject: { reference: `Patient/${kiosk}` },
        effectiveDateTime: iso(t),
        valueQuantity: { value: SICK[k], unit, system: 'http://unitsofmeasure.org', code: unit },
      });
    }
  }
  const kioskAlert = await poll(async () => (await news2Alerts(first, kiosk)).find((d) => d.status === 'preliminary'), 'the kiosk patient\'s alert');
  const kioskDel = await first.http.request('DELETE', `/DetectedIssue/${kioskAlert.id}`);
  assert.ok([200, 204].includes(kioskDel.status), `DELETE: ${show(kioskDel)}`);

  await sleep(1_000);  // the scores' writes
  const scores = await count(first, '/RiskAssessment');
  assert.ok(scores > 0, 'no NEWS2 scores were written');
  await first.kill9();

  const second = await start(first.dataDir);
  assert.match(second.log(), /monitor rebuilt from \d+ readings of 4 patient\(s\)/);
  assert.match(second.log(), /2 alert\(s\) opened, 1 resolved/);

  // The lost alerts are back, once each.
  for (const [pid, what] of [[lost, 'second'], [kiosk, 'kiosk']]) {
    const open = await poll(async () => {
      const alerts = (await news2Alerts(second, pid)).filter((d) => d.status === 'preliminary');
      return alerts.length ? alerts : null;
    }, `the ${what} patient's alert opened again`);
    assert.equal(open.length, 1, `${what}: ${JSON.stringify(open)}`);
    assert.equal(open[0].severity, 'high');
  }
  // The stale one is resolved, saying why.
  const resolved = await poll(async () => {
    const r = await second.http.get(`/DetectedIssue/${staleAlert}`);
    return r.json.status === 'final' ? r.json : null;
  }, 'the stale alert resolved');
  assert.match(resolved.mitigation?.[0]?.action?.text ?? '', /^Resolved at restart/);
  // The first patient's is still open: the readings bear it out.
  assert.equal((await second.http.get(`/DetectedIssue/${keptAlert.id}`)).json.status, 'preliminary');
  // Nothing the replay saw was reported again.
  assert.equal(await count(second, '/RiskAssessment'), scores, 'scores written again by the replay');

  // Two hours of well readings for the first patient, from where they stopped: the rebuilt
  // monitor sees the condition clear and resolves the same alert.
  await postTelemetry(second, readings(kept, end - 120 * MINUTE, end, WELL));
  await poll(async () => (await second.http.get(`/DetectedIssue/${keptAlert.id}`)).json.status === 'final', 'the first patient\'s alert resolved by the readings after the restart');
  const all = await news2Alerts(second, kept);
  assert.deepEqual(all.map((d) => `${d.id} ${d.status}`), [`${keptAlert.id} final`]);
  await second.stop();
});

test('with monitor.rebuild_days = 0 the monitor starts empty', async () => {
  const dir = makeTempDir('medulla-e2e-monitor-norebuild-');
  const off = path.join(dir, 'medulla.toml');
  fs.writeFileSync(off, '[monitor]\nsilence_minutes = 1440\nrebuild_days = 0\n');
  const first = await MedullaServer.start({ args: ['--config', off] });
  servers.push(first);
  const pid = await createPatient(first, 'Empty');
  const end = nowMinute();
  await postTelemetry(first, readings(pid, end - 40 * MINUTE, end, SICK));
  await poll(async () => (await news2Alerts(first, pid)).length === 1, 'the alert');
  await first.kill9();
  const second = await MedullaServer.start({ dataDir: first.dataDir, args: ['--config', off] });
  servers.push(second);
  assert.doesNotMatch(second.log(), /monitor rebuilt/);
  await second.stop();
});
