// Acknowledgement and escalation of monitoring alerts through the real server: a deteriorating
// patient's alert Task is owned by the first member of the patient's CareTeam, goes to the
// second with a note when the deadline passes unacknowledged, and stays put once a clinician
// accepts it (an ordinary PUT); an alert whose condition clears has its Task closed; without a
// CareTeam the Task has no owner; and after kill -9 and a restart the escalation resumes from
// the Task's stored deadline while the condition, still open in the rebuilt monitor, keeps the
// same alert.
// The deadline is monitor.escalation_minutes = 0.1 (6 s) from the configuration file.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  create, createPatient, news2Alerts, nowMinute, poll, postTelemetry, readings, searchAll, sleep, SICK, WAIT_MS, WELL,
} from './lib/monitoring.mjs';
import { MedullaServer, makeTempDir, show } from './lib/server.mjs';

const ESCALATION_MS = 6_000;

const servers = [];
let config;
let server;

before(async () => {
  config = path.join(makeTempDir('medulla-e2e-escalation-'), 'medulla.toml');
  // Device silence is judged on the wall clock: readings that end in the past would raise it.
  fs.writeFileSync(config, '[monitor]\nescalation_minutes = 0.1\nsilence_minutes = 1440\n');
  server = await start();
});

after(async () => {
  for (const s of servers) await s.dispose();
});

async function start(dataDir) {
  const s = await MedullaServer.start({ dataDir, args: ['--config', config] });
  servers.push(s);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** Three Practitioners and an active CareTeam of them, in that order, for the patient. */
async function careTeam(srv, pid) {
  const members = [];
  for (const family of ['First', 'Second', 'Third']) {
    members.push(`Practitioner/${await create(srv, { resourceType: 'Practitioner', name: [{ family }] })}`);
  }
  await create(srv, {
    resourceType: 'CareTeam',
    status: 'active',
    subject: { reference: `Patient/${pid}` },
    participant: members.map((reference) => ({ member: { reference } })),
  });
  return members;
}

/** Six hours ending at `end` of a patient getting worse (as telemetry.test.mjs). */
function deteriorating(pid, end) {
  const start = end - 360 * 60_000;
  return readings(pid, start, end, (t) => {
    const f = (t - start) / (360 * 60_000);
    return { hr: 72 + 58 * f, rr: 14 + 14 * f, spo2: 97 - 8 * f, temp: 37.0 + 2.2 * f };
  });
}

/** The patient's open news2 alert and its one Task, once both are written. */
async function alertAndTask(srv, pid) {
  return poll(async () => {
    const open = (await news2Alerts(srv, pid)).filter((d) => d.status === 'preliminary');
    if (open.length !== 1) return null;
    const tasks = await searchAll(srv, `/Task?focus=DetectedIssue/${open[0].id}`);
    return tasks.length === 1 ? { issue: open[0], task: tasks[0] } : null;
  }, `an open news2 alert with its Task for Patient/${pid}`);
}

async function readTask(srv, id) {
  const res = await srv.http.get(`/Task/${id}`);
  assert.equal(res.status, 200, show(res));
  return res.json;
}

async function versions(srv, type, id) {
  const res = await srv.http.get(`/${type}/${id}/_history`);
  assert.equal(res.status, 200, show(res));
  return res.json.entry.length;
}

const owner = (task) => task.owner?.reference;
const notes = (task) => (task.note ?? []).map((n) => n.text);

// ---------------------------------------------------------------------------------------------

test('an unacknowledged alert goes to the next CareTeam member; an acknowledgement stops it', async () => {
  const pid = await createPatient(server, 'Escalated');
  const [m1, m2] = await careTeam(server, pid);
  await postTelemetry(server, deteriorating(pid, nowMinute()));

  const { task } = await alertAndTask(server, pid);
  assert.equal(task.status, 'requested');
  assert.equal(owner(task), m1, `the Task is owned by the first member: ${JSON.stringify(task)}`);
  const deadline = Date.parse(task.restriction?.period?.end);
  assert.equal(deadline - Date.parse(task.authoredOn), ESCALATION_MS, `restriction.period.end: ${JSON.stringify(task.restriction)}`);

  const escalated = await poll(async () => {
    const t = await readTask(server, task.id);
    return owner(t) === m2 ? t : null;
  }, 'escalation to the second member', ESCALATION_MS + WAIT_MS);
  assert.ok(Date.now() >= deadline, 'escalated before the deadline');
  assert.equal(escalated.status, 'requested');
  assert.equal(notes(escalated).length, 1, `notes: ${JSON.stringify(escalated.note)}`);
  assert.match(notes(escalated)[0], new RegExp(`Not acknowledged by ${m1} by .*; escalated to ${m2} at `));
  assert.ok(Date.parse(escalated.restriction.period.end) > deadline, 'the deadline moved on');

  // The second member acknowledges: an ordinary PUT of the Task as accepted.
  const put = await server.http.put(`/Task/${task.id}`, { ...escalated, status: 'accepted' });
  assert.equal(put.status, 200, `PUT Task accepted: ${show(put)}`);
  const history = await versions(server, 'Task', task.id);

  await sleep(ESCALATION_MS + 3_000);
  const acknowledged = await readTask(server, task.id);
  assert.equal(acknowledged.status, 'accepted', 'the acknowledgement was overwritten');
  assert.equal(owner(acknowledged), m2, 'escalated after the acknowledgement');
  assert.equal(notes(acknowledged).length, 1);
  assert.equal(await versions(server, 'Task', task.id), history, 'the Task was written after its acknowledgement');
});

test('an alert whose condition clears has its Task closed', async () => {
  const pid = await createPatient(server, 'Recovered');
  const [m1] = await careTeam(server, pid);
  const end = nowMinute();
  await postTelemetry(server, readings(pid, end - 100 * 60_000, end - 60 * 60_000, SICK));
  const { issue, task } = await alertAndTask(server, pid);
  assert.equal(owner(task), m1);

  // An hour of normal readings: clear for the 30 minutes the resolution waits.
  await postTelemetry(server, readings(pid, end - 60 * 60_000, end, WELL));
  const closed = await poll(async () => {
    const t = await readTask(server, task.id);
    return t.status !== 'requested' ? t : null;
  }, 'the Task closed');
  assert.equal(closed.status, 'cancelled', `nobody acknowledged it: cancelled (${JSON.stringify(closed)})`);
  assert.equal(closed.statusReason?.text, 'condition cleared');
  assert.ok(notes(closed).some((n) => /Condition cleared/.test(n)), `notes: ${JSON.stringify(closed.note)}`);
  const resolved = await server.http.get(`/DetectedIssue/${issue.id}`);
  assert.equal(resolved.json.status, 'final', 'the alert resolved');

  // Closed means no escalation either.
  const history = await versions(server, 'Task', task.id);
  await sleep(ESCALATION_MS + 2_000);
  assert.equal(await versions(server, 'Task', task.id), history, 'a closed Task was written again');
});

test('without a CareTeam the Task has no owner, says why, and is not escalated', async () => {
  const pid = await createPatient(server, 'Alone');
  await postTelemetry(server, deteriorating(pid, nowMinute()));
  const { task } = await alertAndTask(server, pid);
  assert.equal(owner(task), undefined);
  assert.equal(task.restriction, undefined);
  assert.match(notes(task).join(' '), /no active CareTeam/);
  await sleep(ESCALATION_MS + 2_000);
  assert.equal(await versions(server, 'Task', task.id), 1, 'a Task without a CareTeam was escalated');
});

test('after kill -9 and a restart the escalation resumes and the condition keeps its one alert', async () => {
  const first = await start();
  const pid = await createPatient(first, 'Restarted');
  const [m1, m2] = await careTeam(first, pid);
  // Readings end 20 minutes ago, so that newer ones can re-open the condition after the restart.
  const end = nowMinute() - 20 * 60_000;
  await postTelemetry(first, deteriorating(pid, end));
  const { issue, task } = await alertAndTask(first, pid);
  assert.equal(owner(task), m1);
  const deadline = Date.parse(task.restriction.period.end);
  await first.kill9();
  assert.ok(Date.now() < deadline, 'the server was killed after the deadline: nothing to resume');

  const second = await start(first.dataDir);
  const escalated = await poll(async () => {
    const t = await readTask(second, task.id);
    return owner(t) === m2 ? t : null;
  }, 'the escalation after the restart', ESCALATION_MS + WAIT_MS);
  assert.match(notes(escalated)[0], new RegExp(`Not acknowledged by ${m1} by .*; escalated to ${m2} at `));
  assert.match(second.log(), /1 open alert\(s\) loaded; 1 of their Tasks await acknowledgement/);

  // The new process rebuilt the monitor from the stored readings: the condition is still open,
  // so 20 more minutes of the illness keep it so, with neither a second alert nor a rewrite.
  assert.match(second.log(), /monitor rebuilt from 1440 readings of 1 patient\(s\)/);
  const before = await versions(second, 'DetectedIssue', issue.id);
  await postTelemetry(second, readings(pid, end, end + 20 * 60_000, SICK));
  await sleep(2_000);
  assert.equal(await versions(second, 'DetectedIssue', issue.id), before, 'the alert was rewritten');
  const alerts = await news2Alerts(second, pid);
  assert.deepEqual(alerts.map((d) => `${d.id} ${d.status}`), [`${issue.id} preliminary`], 'a second alert for the same condition');
  assert.equal((await searchAll(second, `/Task?focus=DetectedIssue/${issue.id}`)).length, 1, 'a second Task');
  await second.stop();
});
