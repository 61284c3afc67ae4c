// Helpers of the monitoring tests (escalation, monitor_restart): per-minute vital signs posted
// to /telemetry, FHIR creates and searches, and polling for what the monitor writes.
import assert from 'node:assert/strict';
import { matches, show, walkPages } from './server.mjs';

export const HR = '8867-4';
export const RR = '9279-1';
export const SPO2 = '59408-5';
export const TEMP = '8310-5';
export const SICK = { hr: 130, rr: 28, spo2: 89, temp: 39.2 }; // NEWS2 11: high
export const WELL = { hr: 72, rr: 15, spo2: 97, temp: 36.8 }; // NEWS2 0
export const WAIT_MS = 20_000;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function iso(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function nowMinute() {
  return Math.floor(Date.now() / 60_000) * 60_000;
}

export async function create(srv, resource) {
  const res = await srv.http.post(`/${resource.resourceType}`, resource);
  assert.equal(res.status, 201, `create ${resource.resourceType}: ${show(res)}`);
  return res.json.id;
}

export const createPatient = (srv, family) =>
  create(srv, { resourceType: 'Patient', name: [{ family }], birthDate: '1950-01-01' });

/** Per-minute readings of HR, RR, SpO2 and temperature from `from` to `to` (exclusive);
 * `vitals` is an object like SICK or a function of the time giving one. */
export function readings(pid, from, to, vitals) {
  const lines = [];
  for (let t = from; t < to; t += 60_000) {
    const f = typeof vitals === 'function' ? vitals(t) : vitals;
    for (const [code, value, unit] of [
      [HR, f.hr, '/min'],
      [RR, f.rr, '/min'],
      [SPO2, f.spo2, '%'],
      [TEMP, f.temp, 'Cel'],
    ]) {
      lines.push({ patient: `Patient/${pid}`, device: `Device/d${pid}`, code, time: iso(t), value: Math.round(value * 10) / 10, unit });
    }
  }
  return lines;
}

export async function postTelemetry(srv, lines) {
  const res = await srv.http.request('POST', '/telemetry', {
    body: `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`,
    headers: { 'content-type': 'application/x-ndjson', accept: 'application/json, application/fhir+json' },
  });
  assert.equal(res.status, 200, `POST /telemetry: ${show(res)}`);
  assert.equal(res.json.rejected.length, 0, `POST /telemetry: ${show(res)}`);
  return res.json;
}

export async function searchAll(srv, query) {
  const { entries } = await walkPages(srv.http, query, { count: 100 });
  return matches(entries);
}

export async function poll(fn, what, timeoutMs = WAIT_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() >= deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await sleep(200);
  }
}

export const alertCode = (d) => d.code?.coding?.[0]?.code;

/** The patient's news2 alerts (DetectedIssues), any status. */
export async function news2Alerts(srv, pid) {
  return (await searchAll(srv, `/DetectedIssue?patient=Patient/${pid}`)).filter((d) => alertCode(d) === 'news2');
}
