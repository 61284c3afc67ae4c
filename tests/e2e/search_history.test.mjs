// Search (all of a type, _count paging, _id, _lastUpdated with every prefix) and history at
// instance, type and system level (newest first, _count paging, _since).
//
// Every write in this file goes through write() below, which records the version the server
// acknowledged, so the expected content of each search and history is computed exactly from
// the server's own meta.lastUpdated values, not from the test's clock.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MedullaServer, linkOf, mapLimit, matches, show, walkPages } from './lib/server.mjs';

let server;
let http;
/** Every version written in this file: {type, id, version, lastUpdated (ms), resource}. */
const writes = [];

before(async () => {
  server = await MedullaServer.start();
  http = server.http;
});

after(async () => {
  if (server) await server.dispose();
});

async function write(method, path, body) {
  const res = await http.request(method, path, { body });
  assert.ok([200, 201].includes(res.status), `${method} ${path}: ${show(res)}`);
  const r = res.json;
  assert.ok(r && r.id && r.meta && r.meta.versionId && r.meta.lastUpdated, `${method} ${path}: response lacks id/meta: ${show(res)}`);
  writes.push({ type: r.resourceType, id: r.id, version: r.meta.versionId, lastUpdated: Date.parse(r.meta.lastUpdated), resource: r });
  return r;
}

const create = (resource) => write('POST', `/${resource.resourceType}`, resource);
const update = (resource) => write('PUT', `/${resource.resourceType}/${resource.id}`, resource);

const patient = (i) => ({ resourceType: 'Patient', name: [{ family: `Page${i}`, given: ['Search'] }], birthDate: '1990-01-01' });
const device = (i) => ({ resourceType: 'Device', status: 'active', deviceName: [{ name: `probe-${i}`, type: 'user-friendly-name' }] });
const location = (name) => ({ resourceType: 'Location', status: 'active', name });

function idsOf(resources) {
  return resources.map((r) => r.id);
}

function assertExactlyOnce(gotIds, wantIds, what) {
  const counts = new Map();
  for (const id of gotIds) counts.set(id, (counts.get(id) || 0) + 1);
  const dups = [...counts].filter(([, n]) => n > 1).map(([id, n]) => `${id} x${n}`);
  assert.deepEqual(dups, [], `${what}: resources returned more than once`);
  const missing = wantIds.filter((id) => !counts.has(id));
  const extra = gotIds.filter((id) => !wantIds.includes(id));
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, `${what}: got ${gotIds.length}, want ${wantIds.length}`);
}

const iso = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');

/**
 * Calls writeOne(i) every 100 ms until the server's lastUpdated has passed a whole-second
 * boundary T (T = the second after the first write) by at least `beyond` ms, at most ~6 s.
 * Returns {T, written}: versions written before T have lastUpdated < T, later ones >= T.
 */
async function writeAcrossSecond(writeOne, beyond = 0) {
  const written = [await writeOne(0)];
  const T = Math.floor(Date.parse(written[0].meta.lastUpdated) / 1000) * 1000 + 1000;
  const deadline = Date.now() + 6000;
  for (let i = 1; Date.parse(written.at(-1).meta.lastUpdated) < T + beyond; i++) {
    assert.ok(Date.now() < deadline, `server lastUpdated did not pass ${iso(T + beyond)} within 6 s (last ${written.at(-1).meta.lastUpdated})`);
    await new Promise((r) => setTimeout(r, 100)); // bounded polling of the server's clock
    written.push(await writeOne(i));
  }
  written.push(await writeOne(written.length));
  return { T, written };
}

test('GET /Patient?_count=5 pages through every Patient exactly once via next links', async () => {
  const created = await mapLimit([...Array(23).keys()], 4, (i) => create(patient(i)));
  const want = idsOf(created);

  const { pages, entries } = await walkPages(http, '/Patient?_count=5', { count: 5 });
  assert.ok(pages.length >= 5, `23 Patients with _count=5 need at least 5 pages, got ${pages.length}`);
  for (const e of entries) {
    if (e.search && e.search.mode) assert.equal(e.search.mode, 'match', 'search.mode of a plain search');
    assert.ok(e.fullUrl && e.fullUrl.endsWith(`Patient/${e.resource.id}`), `entry fullUrl ${e.fullUrl} should end with Patient/${e.resource.id}`);
  }
  assertExactlyOnce(idsOf(matches(entries)), want, 'paging with _count=5');
  if (pages[0].total !== undefined) assert.equal(pages[0].total, 23, 'Bundle.total');

  const byId = new Map(created.map((r) => [r.id, r]));
  for (const r of matches(entries)) assert.deepEqual(r, byId.get(r.id), `search result Patient/${r.id} differs from what create returned`);

  const all = await walkPages(http, '/Patient');
  assertExactlyOnce(idsOf(matches(all.entries)), want, 'GET /Patient with the default page size');

  const one = await walkPages(http, '/Patient?_count=1', { count: 1 });
  assertExactlyOnce(idsOf(matches(one.entries)), want, 'paging with _count=1');
});

test('next links still walk each resource exactly once when resources are created between pages', async () => {
  const before = idsOf(await mapLimit([...Array(12).keys()], 4, (i) => create(location(`Between ${i}`))));
  const first = await http.get('/Location?_count=4');
  assert.equal(first.status, 200, show(first));
  await mapLimit([...Array(6).keys()], 3, (i) => create(location(`Added ${i}`)));
  const next = linkOf(first.json, 'next');
  assert.ok(next, 'first page of 12 Locations with _count=4 has no next link');
  const rest = await walkPages(http, next, { count: 4 });
  const seen = idsOf(matches([...(first.json.entry || []), ...rest.entries]));
  const counts = new Map();
  for (const id of seen) counts.set(id, (counts.get(id) || 0) + 1);
  const dups = [...counts].filter(([, n]) => n > 1);
  assert.deepEqual(dups, [], 'a resource appeared on two pages');
  const missing = before.filter((id) => !counts.has(id));
  assert.deepEqual(missing, [], 'resources that existed before paging began were skipped');
});

test('_id=a,b finds exactly those resources; an unknown _id finds none', async () => {
  for (const id of ['sid-a', 'sid-b', 'sid-c']) {
    await update({ resourceType: 'Practitioner', id, name: [{ family: id }] });
  }
  const cases = [
    ['sid-a,sid-c', ['sid-a', 'sid-c']],
    ['sid-b', ['sid-b']],
    ['sid-a,sid-b,sid-c', ['sid-a', 'sid-b', 'sid-c']],
    ['sid-c,no-such-id', ['sid-c']],
    ['no-such-id', []],
  ];
  for (const [q, want] of cases) {
    const { entries, pages } = await walkPages(http, `/Practitioner?_id=${q}`);
    assertExactlyOnce(idsOf(matches(entries)), want, `_id=${q}`);
    if (pages[0].total !== undefined) assert.equal(pages[0].total, want.length, `_id=${q}: Bundle.total`);
  }
  const paged = await walkPages(http, '/Practitioner?_id=sid-a,sid-b,sid-c&_count=2', { count: 2 });
  assertExactlyOnce(idsOf(matches(paged.entries)), ['sid-a', 'sid-b', 'sid-c'], '_id with _count=2');
});

test('_lastUpdated with prefixes eq ne lt gt le ge (second and day precision) and ranges', async () => {
  const early = [];
  for (let i = 0; i < 3; i++) early.push(await create(device(`early-${i}`)));
  const { T } = await writeAcrossSecond((i) => create(device(`paced-${i}`)), 1000);
  const devices = writes.filter((w) => w.type === 'Device');
  const lu = new Map(devices.map((w) => [w.id, w.lastUpdated]));
  const all = [...lu.keys()];
  const where = (pred) => all.filter((id) => pred(lu.get(id)));
  const T1 = T + 1000; // the parameter ${iso(T)} has second precision: its range is [T, T1)
  assert.ok(where((v) => v < T).length > 0 && where((v) => v >= T && v < T1).length > 0 && where((v) => v >= T1).length > 0,
    'test set-up: want Devices before, inside and after the second T');

  const cases = [
    [`eq${iso(T)}`, where((v) => v >= T && v < T1)],
    [`${iso(T)}`, where((v) => v >= T && v < T1)],
    [`ne${iso(T)}`, where((v) => v < T || v >= T1)],
    [`lt${iso(T)}`, where((v) => v < T)],
    [`le${iso(T)}`, where((v) => v < T1)],
    [`gt${iso(T)}`, where((v) => v >= T1)],
    [`ge${iso(T)}`, where((v) => v >= T)],
    ['ge2000-01-01', all],
    ['lt2000-01-01', []],
    ['gt2999-12-31', []],
    ['le2999-12-31', all],
    ['ne1999-12-31', all],
  ];
  const summary = (ids) => ids.map((id) => `${id}@${new Date(lu.get(id)).toISOString()}`);
  for (const [q, want] of cases) {
    const { entries } = await walkPages(http, `/Device?_lastUpdated=${q}&_count=100`);
    const got = idsOf(matches(entries));
    assert.deepEqual(summary(got).sort(), summary(want).sort(), `_lastUpdated=${q} (T=${iso(T)})`);
  }
  const range = await walkPages(http, `/Device?_lastUpdated=ge${iso(T)}&_lastUpdated=lt${iso(T1)}`);
  assert.deepEqual(summary(idsOf(matches(range.entries))).sort(), summary(where((v) => v >= T && v < T1)).sort(),
    `_lastUpdated=ge${iso(T)}&_lastUpdated=lt${iso(T1)} (both must hold)`);
  const withId = await walkPages(http, `/Device?_id=${early[0].id},${early[1].id}&_lastUpdated=lt${iso(T)}`);
  assert.deepEqual(idsOf(matches(withId.entries)).sort(), [early[0].id, early[1].id].sort(), '_id combined with _lastUpdated');
});

/** Asserts a history walk is newest first: lastUpdated never increases, versions of one id decrease. */
function assertNewestFirst(entries, what) {
  let prev = Infinity;
  const lastVersion = new Map();
  entries.forEach((e, i) => {
    assert.ok(e.resource, `${what}: entry ${i} has no resource (no deletes were made here): ${JSON.stringify(e).slice(0, 300)}`);
    const t = Date.parse(e.resource.meta.lastUpdated);
    assert.ok(t <= prev, `${what}: entry ${i} (${e.resource.resourceType}/${e.resource.id} v${e.resource.meta.versionId} at ${e.resource.meta.lastUpdated}) is newer than the entry before it`);
    prev = t;
    const key = `${e.resource.resourceType}/${e.resource.id}`;
    const v = Number(e.resource.meta.versionId);
    if (lastVersion.has(key)) assert.ok(v < lastVersion.get(key), `${what}: ${key} version ${v} listed after version ${lastVersion.get(key)}`);
    lastVersion.set(key, v);
  });
}

const versionKey = (r) => `${r.resourceType}/${r.id}/_history/${r.meta.versionId}`;
const writeKey = (w) => `${w.type}/${w.id}/_history/${w.version}`;

test('instance history: every version newest first, paged by _count', async () => {
  let r = await create({ resourceType: 'Organization', name: 'Versioned v1' });
  for (let v = 2; v <= 7; v++) r = await update({ ...r, name: `Versioned v${v}` });
  const { entries, pages } = await walkPages(http, `/Organization/${r.id}/_history?_count=3`, { type: 'history', count: 3 });
  assert.ok(pages.length >= 3, `7 versions with _count=3 need 3 pages, got ${pages.length}`);
  assert.deepEqual(entries.map((e) => e.resource.meta.versionId), ['7', '6', '5', '4', '3', '2', '1'], 'instance history versions');
  assertNewestFirst(entries, 'instance history');
  for (const e of entries) {
    const w = writes.find((x) => writeKey(x) === versionKey(e.resource));
    assert.deepEqual(e.resource, w.resource, `history entry ${versionKey(e.resource)} differs from what the write returned`);
  }
  const full = await walkPages(http, `/Organization/${r.id}/_history`, { type: 'history' });
  assert.equal(full.entries.length, 7, 'instance history without _count');
});

test('type and system history list every version exactly once, newest first, with working next links', async () => {
  const org = writes.filter((w) => w.type === 'Organization').map(writeKey);
  const typeWalk = await walkPages(http, '/Organization/_history?_count=4', { type: 'history', count: 4 });
  assertNewestFirst(typeWalk.entries, 'type history');
  assertExactlyOnce(typeWalk.entries.map((e) => versionKey(e.resource)), org, 'Organization/_history?_count=4');

  const sysWalk = await walkPages(http, '/_history?_count=25', { type: 'history', count: 25 });
  assertNewestFirst(sysWalk.entries, 'system history');
  assertExactlyOnce(sysWalk.entries.map((e) => versionKey(e.resource)), writes.map(writeKey), '/_history?_count=25');
});

test('_since at instance, type and system level returns exactly the versions written at or after it', async () => {
  let r = await create({ resourceType: 'Organization', name: 'Since 0' });
  const { T } = await writeAcrossSecond(async (i) => {
    r = await update({ ...r, name: `Since ${i + 1}` });
    return r;
  });
  const since = iso(T);
  const after = (w) => w.lastUpdated >= T;

  const inst = await walkPages(http, `/Organization/${r.id}/_history?_since=${since}`, { type: 'history' });
  const wantInst = writes.filter((w) => w.id === r.id && w.type === 'Organization' && after(w)).map(writeKey);
  assert.ok(wantInst.length > 0 && wantInst.length < writes.filter((w) => w.id === r.id).length, 'test set-up: versions on both sides of _since');
  assertExactlyOnce(inst.entries.map((e) => versionKey(e.resource)), wantInst, `instance _history?_since=${since}`);
  assertNewestFirst(inst.entries, 'instance history with _since');

  const type = await walkPages(http, `/Organization/_history?_since=${since}&_count=2`, { type: 'history', count: 2 });
  assertExactlyOnce(type.entries.map((e) => versionKey(e.resource)), writes.filter((w) => w.type === 'Organization' && after(w)).map(writeKey),
    `Organization/_history?_since=${since}&_count=2`);

  const sys = await walkPages(http, `/_history?_since=${since}`, { type: 'history' });
  assertExactlyOnce(sys.entries.map((e) => versionKey(e.resource)), writes.filter(after).map(writeKey), `/_history?_since=${since}`);

  const none = await walkPages(http, '/_history?_since=2999-01-01T00:00:00Z', { type: 'history' });
  assert.equal(none.entries.length, 0, '_since in the future finds nothing');
});

test('SIGTERM stops the server with exit code 0', async () => {
  await server.stop();
});
