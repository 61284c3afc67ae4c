// FHIR search driven through a real third-party client (fhir-kit-client): client.search(),
// nextPage()/prevPage() over keyset-paged results with _sort, paging while other clients write,
// _include/_revinclude, chains, _has, _summary, _elements, compartment search, $everything with
// paging, lenient and strict handling, and POST _search with a form body.
//
// One server for the file, loaded with five Synthea patient bundles posted as transactions
// (urn:uuid fullUrls). The expected answer of every search is computed here from the resources
// the transactions returned (their ids and rewritten references), so each test can fail on a
// missing, extra, duplicated or misplaced resource. Tests that write use their own codes and
// identifiers so that they do not change what the other tests expect.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from 'fhir-kit-client';
import { MedullaServer, TEST_DATA, linkOf, mapLimit, readJson, seededRandom } from './lib/server.mjs';

const BUNDLES = [
  'Luigi_Wiegand_e27d88b0-c5e5-4042-ad49-184f6a900ee3.json',
  'Louis_Miller_f8bbc4a5-8a9f-45ed-a807-b715feefb2ef.json',
  'Garrett_Thompson_5a72e290-8102-4c8a-84f7-f838387508b2.json',
  'Chet_Thompson_eda17701-070d-4fae-9f7d-c8cd6263b63a.json',
  'Wilson_Marks_68f6dc04-4ae2-41c5-a534-df8f9ea1c00e.json',
];
const SUBSETTED = 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue';

let server;
let client;
/** Every resource the Synthea transactions stored, by "Type/id". */
const stored = new Map();
/** The stored Patients, in load order. */
const patients = [];

before(async () => {
  server = await MedullaServer.start();
  client = new Client({ baseUrl: `${server.base}/` });
  for (const file of BUNDLES) {
    const bundle = readJson(path.join(TEST_DATA, 'fhir', 'synthea', file));
    const reply = await client.transaction({ body: bundle });
    assert.equal(reply.type, 'transaction-response', `${file}: Bundle.type`);
    assert.equal((reply.entry || []).length, bundle.entry.length, `${file}: one response entry per request entry`);
    for (const [i, e] of reply.entry.entries()) {
      assert.equal(e.response.status, '201 Created', `${file}: entry ${i}`);
      assert.ok(e.resource, `${file}: entry ${i} carries no resource`);
      stored.set(key(e.resource), e.resource);
      if (e.resource.resourceType === 'Patient') patients.push(e.resource);
    }
  }
  assert.equal(patients.length, BUNDLES.length);
});

after(async () => {
  if (server) await server.dispose();
});

// ---------------------------------------------------------------------------------------------
// Helpers

function key(r) {
  return `${r.resourceType}/${r.id}`;
}

function ofType(type) {
  return [...stored.values()].filter((r) => r.resourceType === type);
}

/** Every reference string anywhere in a resource. */
function referencesIn(value, out = []) {
  if (Array.isArray(value)) {
    for (const v of value) referencesIn(v, out);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.push(v);
      else referencesIn(v, out);
    }
  }
  return out;
}

const refOf = (r, field) => (r[field] && r[field].reference) || undefined;
const codesOf = (r) => ((r.code && r.code.coding) || []).map((c) => `${c.system}|${c.code}`);
const when = (obs) => {
  assert.ok(obs.effectiveDateTime, `${key(obs)} has no effectiveDateTime`);
  return Date.parse(obs.effectiveDateTime);
};

/** Follows next links with client.nextPage; returns the pages (the first included). */
async function allPages(first, { max = 500 } = {}) {
  const pages = [first];
  for (let b = first; ; ) {
    const next = await client.nextPage({ bundle: b });
    if (!next) break;
    assert.equal(next.resourceType, 'Bundle', 'nextPage returned something other than a Bundle');
    assert.equal(next.type, 'searchset', 'nextPage: Bundle.type');
    pages.push(next);
    assert.ok(pages.length <= max, `paging did not end after ${max} pages`);
    b = next;
  }
  return pages;
}

const matchesOf = (page) => (page.entry || []).filter((e) => e.search && e.search.mode === 'match').map((e) => e.resource);
const includesOf = (page) => (page.entry || []).filter((e) => e.search && e.search.mode === 'include').map((e) => e.resource);
const outcomesOf = (page) => (page.entry || []).filter((e) => e.search && e.search.mode === 'outcome').map((e) => e.resource);

/** Asserts every entry of a page has search.mode match, include or outcome. */
function assertModes(page, what) {
  for (const [i, e] of (page.entry || []).entries()) {
    assert.ok(e.search && ['match', 'include', 'outcome'].includes(e.search.mode), `${what}: entry ${i} has search ${JSON.stringify(e.search)}`);
  }
}

/** Asserts `got` (keys, in order) holds each of `want` exactly once and nothing else. */
function assertSameSet(got, want, what) {
  const counts = new Map();
  for (const k of got) counts.set(k, (counts.get(k) || 0) + 1);
  const dups = [...counts].filter(([, n]) => n > 1).map(([k, n]) => `${k} x${n}`);
  const wantSet = new Set(want);
  const missing = [...wantSet].filter((k) => !counts.has(k));
  const extra = [...counts.keys()].filter((k) => !wantSet.has(k));
  assert.deepEqual(
    { duplicated: dups.slice(0, 10), missing: missing.slice(0, 10), extra: extra.slice(0, 10) },
    { duplicated: [], missing: [], extra: [] },
    `${what}: got ${got.length} (${counts.size} distinct), want ${wantSet.size} ` +
      `(duplicated ${dups.length}, missing ${missing.length}, extra ${extra.length})`,
  );
}

/** The matches of every page of a search, with the pages. */
async function searchAll(resourceType, searchParams, options) {
  const first = await client.search({ resourceType, searchParams, options });
  const pages = await allPages(first);
  pages.forEach((p, i) => assertModes(p, `${resourceType} page ${i + 1}`));
  return { pages, matches: pages.flatMap(matchesOf) };
}

/** Awaits a fhir-kit-client call that must fail with HTTP `status`; returns the error body. */
async function expectHttpError(promise, status, what) {
  let result;
  try {
    result = await promise;
  } catch (err) {
    assert.ok(err.response, `${what}: failed without an HTTP response: ${err.stack}`);
    assert.equal(err.response.status, status, `${what}: want HTTP ${status}, got ${err.response.status} ${JSON.stringify(err.response.data).slice(0, 400)}`);
    return err.response.data;
  }
  assert.fail(`${what}: want HTTP ${status}, got a success: ${JSON.stringify(result).slice(0, 400)}`);
}

function everythingOf(patient, input) {
  return client.operation({ name: '$everything', resourceType: 'Patient', id: patient.id, method: 'GET', input });
}

/** The Patient compartment of a stored patient, as computed from the stored resources. */
function compartmentOf(patient) {
  const ref = key(patient);
  return [...stored.values()].filter((r) => r.resourceType !== 'Patient' && referencesIn(r).includes(ref));
}

// ---------------------------------------------------------------------------------------------
// Paging

test('nextPage walks a _sort=date,-_id search in order, then prevPage walks back through the same pages', async () => {
  const observations = ofType('Observation');
  assert.ok(observations.length > 200, `test set-up: want more than 200 Observations, have ${observations.length}`);
  const want = [...observations]
    .sort((a, b) => when(a) - when(b) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .map(key);
  const COUNT = 13;
  const { pages, matches } = await searchAll('Observation', { _sort: 'date,-_id', _count: COUNT, _total: 'accurate' });
  assert.ok(pages.length >= Math.ceil(want.length / COUNT), `${want.length} matches with _count=${COUNT} need ${Math.ceil(want.length / COUNT)} pages, got ${pages.length}`);
  pages.forEach((p, i) => {
    assert.ok(matchesOf(p).length <= COUNT, `page ${i + 1} has ${matchesOf(p).length} matches, more than _count=${COUNT}`);
    assert.ok(i === pages.length - 1 || matchesOf(p).length > 0, `page ${i + 1} is empty but has a next link`);
    assert.equal(p.total, want.length, `page ${i + 1}: Bundle.total with _total=accurate`);
  });
  const got = matches.map(key);
  assertSameSet(got, want, 'forward walk');
  assert.deepEqual(got, want, 'forward walk: order of _sort=date,-_id (date ascending, then id descending)');

  assert.equal(linkOf(pages[0], 'previous') ?? linkOf(pages[0], 'prev'), undefined, 'the first page has no previous link');
  // Back from the last page: prevPage must give the same pages, in reverse.
  const back = [pages.at(-1)];
  for (let b = pages.at(-1); ; ) {
    const prev = await client.prevPage({ bundle: b });
    if (!prev) break;
    back.unshift(prev);
    assert.ok(back.length <= pages.length, `prevPage goes on past the first page (${back.length} pages back from ${pages.length})`);
    b = prev;
  }
  assert.equal(back.length, pages.length, 'prevPage from the last page reaches the first page in as many steps as nextPage took');
  back.forEach((p, i) => {
    assert.deepEqual(matchesOf(p).map(key), matchesOf(pages[i]).map(key), `page ${i + 1} reached with prevPage differs from page ${i + 1} reached with nextPage`);
  });
  // And forward again from a page reached backwards.
  const again = await client.nextPage({ bundle: back[1] });
  assert.deepEqual(matchesOf(again).map(key), matchesOf(pages[2]).map(key), 'nextPage from a page reached with prevPage');
});

test('_sort=-date pages in descending date order with every match exactly once', async () => {
  const observations = ofType('Observation');
  const { matches } = await searchAll('Observation', { _sort: '-date', _count: 40 });
  assertSameSet(matches.map(key), observations.map(key), '_sort=-date');
  for (let i = 1; i < matches.length; i++) {
    assert.ok(when(matches[i - 1]) >= when(matches[i]),
      `_sort=-date: match ${i} (${key(matches[i])} ${matches[i].effectiveDateTime}) comes after an earlier date ${matches[i - 1].effectiveDateTime}`);
  }
  // A string sort: family name, then given name descending (a total order on these patients).
  const { matches: sorted } = await searchAll('Patient', { _sort: 'family,-given', _count: 2 });
  const name = (p) => [p.name[0].family, p.name[0].given[0]];
  const want = [...patients].sort((a, b) => {
    const [fa, ga] = name(a);
    const [fb, gb] = name(b);
    return fa.localeCompare(fb) || gb.localeCompare(ga);
  });
  assert.deepEqual(sorted.map((p) => name(p).join(' ')), want.map((p) => name(p).join(' ')), 'Patient?_sort=family,-given');
});

test('paging with _sort=date stays exact while other clients create and update between page fetches', async () => {
  const SYSTEM = 'urn:medulla-e2e:paging';
  const obs = (i, day, note = 'original') => ({
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: SYSTEM, code: 'stable' }] },
    effectiveDateTime: new Date(Date.UTC(2001, 0, 1) + day * 86_400_000).toISOString(),
    valueString: `${note} ${i}`,
  });
  // 60 Observations on 30 days (two per day: ties on the sort key).
  const before = await mapLimit([...Array(60).keys()], 4, (i) => client.create({ resourceType: 'Observation', body: obs(i, Math.floor(i / 2) * 10) }));
  const beforeIds = new Set(before.map((r) => r.id));
  const byId = new Map(before.map((r) => [r.id, r]));

  const random = seededRandom(20261121);
  const seen = [];
  let page = await client.search({ resourceType: 'Observation', searchParams: { code: `${SYSTEM}|stable`, _sort: 'date', _count: 7 } });
  let round = 0;
  for (;;) {
    seen.push(...matchesOf(page));
    const next = linkOf(page, 'next');
    if (!next) break;
    round++;
    assert.ok(round < 100, 'paging did not end');
    // Between two page fetches: new Observations before and after the current position, and
    // updates (sort key unchanged) of one resource already seen and one not seen yet.
    const seenIds = new Set(seen.map((r) => r.id));
    const unseen = before.filter((r) => !seenIds.has(r.id));
    const writes = [
      client.create({ resourceType: 'Observation', body: obs(1000 + round, -5 - round) }),
      client.create({ resourceType: 'Observation', body: obs(2000 + round, 400 + round) }),
      client.create({ resourceType: 'Observation', body: obs(3000 + round, Math.floor(random() * 300)) }),
    ];
    for (const target of [seen[Math.floor(seen.length / 2)], unseen[0]]) {
      if (!target || !beforeIds.has(target.id)) continue;
      const current = await client.read({ resourceType: 'Observation', id: target.id });
      writes.push(
        client.update({ resourceType: 'Observation', id: target.id, body: { ...current, valueString: `updated in round ${round}` } })
          .then((u) => byId.set(u.id, u)),
      );
    }
    await Promise.all(writes);
    page = await client.nextPage({ bundle: page });
    assert.ok(page, 'nextPage returned nothing although the page had a next link');
  }
  assert.ok(round >= 8, `test set-up: want at least 9 pages, got ${round + 1}`);
  const counts = new Map();
  for (const r of seen) counts.set(r.id, (counts.get(r.id) || 0) + 1);
  const dups = [...counts].filter(([, n]) => n > 1);
  assert.deepEqual(dups, [], 'a resource was returned on two pages');
  const skipped = [...beforeIds].filter((id) => !counts.has(id));
  assert.deepEqual(skipped, [], 'resources that existed before the first page were skipped');
  for (let i = 1; i < seen.length; i++) {
    assert.ok(when(seen[i - 1]) <= when(seen[i]), `match ${i} (${seen[i].effectiveDateTime}) is out of date order after ${seen[i - 1].effectiveDateTime}`);
  }
  // A resource updated before its page was fetched comes in its updated version.
  for (const r of seen) {
    if (!beforeIds.has(r.id)) continue;
    const latest = byId.get(r.id);
    assert.ok(Number(r.meta.versionId) <= Number(latest.meta.versionId), `${key(r)}: version ${r.meta.versionId} is newer than any written`);
  }
});

// ---------------------------------------------------------------------------------------------
// _include, _revinclude, chains, _has

test('_include brings exactly the subjects and encounters of each page\'s matches', async () => {
  const code = 'http://loinc.org|8302-2'; // body height
  const want = ofType('Observation').filter((o) => codesOf(o).includes(code));
  assert.ok(want.length > 10, `test set-up: want more than 10 body heights, have ${want.length}`);
  const { pages, matches } = await searchAll('Observation', {
    code,
    _include: ['Observation:subject', 'Observation:encounter'],
    _count: 4,
  });
  assertSameSet(matches.map(key), want.map(key), `Observation?code=${code}`);
  pages.forEach((p, i) => {
    const wantIncluded = new Set(matchesOf(p).flatMap((o) => [refOf(o, 'subject'), refOf(o, 'encounter')]).filter(Boolean));
    const included = includesOf(p);
    assertSameSet(included.map(key), [...wantIncluded], `page ${i + 1}: included resources`);
    for (const r of included) assert.deepEqual(r, stored.get(key(r)), `page ${i + 1}: included ${key(r)} differs from the stored resource`);
  });
});

test('_revinclude brings every Encounter and Condition that refers to the matched patients', async () => {
  const thompsons = patients.filter((p) => p.name[0].family === 'Thompson');
  assert.equal(thompsons.length, 2, 'test set-up: two Thompsons');
  const refs = new Set(thompsons.map(key));
  const wantIncluded = [...ofType('Encounter'), ...ofType('Condition')].filter((r) => refs.has(refOf(r, 'subject')));
  const { matches, pages } = await searchAll('Patient', {
    family: 'thompson',
    _revinclude: ['Encounter:subject', 'Condition:subject'],
  });
  assertSameSet(matches.map(key), thompsons.map(key), 'Patient?family=thompson');
  const included = pages.flatMap(includesOf);
  assertSameSet(included.map(key), wantIncluded.map(key), '_revinclude=Encounter:subject&_revinclude=Condition:subject');
});

test('chained parameters: one and two links, with a type modifier', async () => {
  const obs = ofType('Observation');
  const encounter = (o) => stored.get(refOf(o, 'encounter'));
  const cases = [
    [{ 'subject:Patient.family': 'Thompson' }, obs.filter((o) => stored.get(refOf(o, 'subject')).name[0].family === 'Thompson')],
    [{ 'patient.birthdate': 'lt1975' }, obs.filter((o) => stored.get(refOf(o, 'subject')).birthDate < '1975')],
    [{ 'encounter.class': 'EMER' }, obs.filter((o) => encounter(o) && encounter(o).class.code === 'EMER')],
    [{ 'encounter.service-provider.name': 'carney' }, obs.filter((o) => {
      const e = encounter(o);
      const org = e && stored.get(refOf(e, 'serviceProvider'));
      return org && org.name.toLowerCase().startsWith('carney');
    })],
  ];
  for (const [params, want] of cases) {
    const what = `Observation?${new URLSearchParams(params)}`;
    assert.ok(want.length > 0 && want.length < obs.length, `test set-up: ${what} should match some but not all (${want.length} of ${obs.length})`);
    const { matches } = await searchAll('Observation', { ...params, _count: 100 });
    assertSameSet(matches.map(key), want.map(key), what);
  }
});

test('_has: patients with an emergency encounter, and with an Observation of a given code', async () => {
  const emer = patients.filter((p) => ofType('Encounter').some((e) => refOf(e, 'subject') === key(p) && e.class.code === 'EMER'));
  assert.ok(emer.length > 0 && emer.length < patients.length, 'test set-up: some patients have an EMER encounter');
  let { matches } = await searchAll('Patient', { '_has:Encounter:subject:class': 'EMER' });
  assertSameSet(matches.map(key), emer.map(key), 'Patient?_has:Encounter:subject:class=EMER');

  // An Observation code that some of the patients have and some do not.
  const byCode = new Map();
  for (const o of ofType('Observation')) {
    for (const c of codesOf(o)) {
      if (!byCode.has(c)) byCode.set(c, new Set());
      byCode.get(c).add(refOf(o, 'subject'));
    }
  }
  const [code, who] = [...byCode].sort(([a], [b]) => a.localeCompare(b)).find(([, s]) => s.size > 1 && s.size < patients.length);
  ({ matches } = await searchAll('Patient', { '_has:Observation:subject:code': code }));
  assertSameSet(matches.map(key), [...who], `Patient?_has:Observation:subject:code=${code}`);
});

// ---------------------------------------------------------------------------------------------
// _summary, _elements, _total

test('_summary=count gives the total and no resources; _summary=true leaves out non-summary elements', async () => {
  const want = ofType('Immunization');
  const counted = await client.search({ resourceType: 'Immunization', searchParams: { _summary: 'count' } });
  assert.equal(counted.total, want.length, 'Immunization?_summary=count: Bundle.total');
  assert.deepEqual(matchesOf(counted), [], '_summary=count returns no matches');
  const thompsons = await client.search({ resourceType: 'Patient', searchParams: { family: 'Thompson', _summary: 'count' } });
  assert.equal(thompsons.total, 2, 'Patient?family=Thompson&_summary=count');

  const { matches } = await searchAll('Patient', { _summary: 'true' });
  assertSameSet(matches.map(key), patients.map(key), 'Patient?_summary=true');
  for (const p of matches) {
    const full = stored.get(key(p));
    assert.deepEqual(p.name, full.name, `${key(p)}: name is a summary element`);
    assert.equal(p.birthDate, full.birthDate, `${key(p)}: birthDate is a summary element`);
    for (const absent of ['text', 'extension', 'maritalStatus', 'communication', 'multipleBirthBoolean']) {
      assert.equal(p[absent], undefined, `${key(p)}: ${absent} is not a summary element but came with _summary=true`);
    }
    assert.ok((p.meta.tag || []).some((t) => t.system === SUBSETTED && t.code === 'SUBSETTED'), `${key(p)}: a summarised resource should carry the SUBSETTED tag`);
  }
});

test('_elements returns the asked elements (and mandatory ones), marked SUBSETTED', async () => {
  const want = ofType('Encounter');
  const { matches } = await searchAll('Encounter', { _elements: 'subject,period', _count: 25 });
  assertSameSet(matches.map(key), want.map(key), 'Encounter?_elements=subject,period');
  for (const e of matches) {
    const full = stored.get(key(e));
    assert.deepEqual(e.subject, full.subject, `${key(e)}: subject`);
    assert.deepEqual(e.period, full.period, `${key(e)}: period`);
    for (const absent of ['type', 'participant', 'serviceProvider', 'reasonCode']) {
      assert.equal(e[absent], undefined, `${key(e)}: ${absent} was not asked for`);
    }
    assert.ok((e.meta.tag || []).some((t) => t.system === SUBSETTED && t.code === 'SUBSETTED'), `${key(e)}: no SUBSETTED tag`);
  }
});

// ---------------------------------------------------------------------------------------------
// Compartments and $everything

test('compartment search Patient/{id}/{type} finds exactly that patient\'s resources', async () => {
  for (const patient of patients.slice(0, 3)) {
    const compartment = compartmentOf(patient);
    for (const type of ['Observation', 'Encounter', 'Claim', 'ExplanationOfBenefit']) {
      const want = compartment.filter((r) => r.resourceType === type);
      const first = await client.search({ resourceType: type, compartment: { resourceType: 'Patient', id: patient.id }, searchParams: { _count: 10 } });
      const got = (await allPages(first)).flatMap(matchesOf);
      assertSameSet(got.map(key), want.map(key), `Patient/${patient.id}/${type}`);
    }
    // With a search parameter on top.
    const heights = compartment.filter((r) => r.resourceType === 'Observation' && codesOf(r).includes('http://loinc.org|8302-2'));
    const first = await client.search({ resourceType: 'Observation', compartment: { resourceType: 'Patient', id: patient.id }, searchParams: { code: 'http://loinc.org|8302-2' } });
    assertSameSet((await allPages(first)).flatMap(matchesOf).map(key), heights.map(key), `Patient/${patient.id}/Observation?code=8302-2`);
  }
});

test('Patient/{id}/$everything pages through the patient and its whole compartment, with _type and _since', async () => {
  const patient = patients[1];
  const compartment = compartmentOf(patient);
  const everything = (input) => client.operation({ name: '$everything', resourceType: 'Patient', id: patient.id, method: 'GET', input });

  const pages = await allPages(await everything({ _count: 17 }));
  assert.ok(pages.length >= Math.ceil((compartment.length + 1) / 17), `want at least ${Math.ceil((compartment.length + 1) / 17)} pages, got ${pages.length}`);
  for (const [i, p] of pages.entries()) {
    assert.ok(matchesOf(p).length <= 17, `$everything page ${i + 1} has ${matchesOf(p).length} matches, more than _count=17`);
  }
  const entries = pages.flatMap((p) => (p.entry || []).filter((e) => !e.search || e.search.mode !== 'outcome').map((e) => e.resource));
  const keys = entries.map(key);
  const wantCore = [key(patient), ...compartment.map(key)];
  // R4 $everything: the patient, its compartment, and (SHOULD) what those refer to. Anything
  // beyond the compartment must be such a referenced resource, never another patient's.
  const referenced = new Set([patient, ...compartment].flatMap((r) => referencesIn(r)));
  const extra = keys.filter((k) => !wantCore.includes(k));
  assert.deepEqual(extra.filter((k) => !referenced.has(k)), [], '$everything returned resources that are neither in the compartment nor referenced from it');
  assertSameSet(keys.filter((k) => wantCore.includes(k)), wantCore, `Patient/${patient.id}/$everything`);
  const counts = new Map();
  for (const k of keys) counts.set(k, (counts.get(k) || 0) + 1);
  assert.deepEqual([...counts].filter(([, n]) => n > 1), [], '$everything returned a resource twice');

  // _type narrows the types.
  const typed = (await allPages(await everything({ _type: 'Encounter,Condition', _count: 5 }))).flatMap(matchesOf);
  assertSameSet(typed.map(key), compartment.filter((r) => ['Encounter', 'Condition'].includes(r.resourceType)).map(key), '$everything?_type=Encounter,Condition');

  // _since: only what changed at or after the instant.
  const since = new Date().toISOString();
  const changedObs = compartment.find((r) => r.resourceType === 'Observation');
  const current = await client.read({ resourceType: 'Observation', id: changedObs.id });
  const updated = await client.update({ resourceType: 'Observation', id: changedObs.id, body: { ...current, status: 'amended' } });
  const added = await client.create({ resourceType: 'Encounter', body: { resourceType: 'Encounter', status: 'planned', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject: { reference: key(patient) } } });
  assert.ok(Date.parse(updated.meta.lastUpdated) >= Date.parse(since), 'test set-up: the update is after _since');
  const recent = (await allPages(await everything({ _since: since, _count: 1 }))).flatMap(matchesOf);
  assertSameSet(recent.map(key), [key(updated), key(added)], `$everything?_since=${since}`);
  assert.equal(recent.find((r) => r.id === updated.id).meta.versionId, '2', '$everything returns the current version');
  await client.delete({ resourceType: 'Encounter', id: added.id });
  await client.update({ resourceType: 'Observation', id: changedObs.id, body: { ...current, status: changedObs.status } });
});

test('$everything: a next link never leads to an empty page', async () => {
  const patient = patients[0];
  const size = compartmentOf(patient).length + 1;
  // Page sizes that end a page exactly at the end of the patient's data, and others.
  for (const count of [size, Math.ceil(size / 2), 7]) {
    const pages = await allPages(await everythingOf(patient, { _count: count }));
    assert.equal(pages.reduce((n, p) => n + matchesOf(p).length, 0), size, `_count=${count}: every resource once`);
    pages.forEach((p, i) => {
      assert.ok(matchesOf(p).length > 0,
        `$everything?_count=${count} (${size} resources): page ${i + 1} of ${pages.length} is empty, yet page ${i} had a next link to it (${linkOf(pages[i - 1] || p, 'next')})`);
    });
  }
});

test('$everything: the self link of a later page fetches that page again', async () => {
  const patient = patients[0];
  const pages = await allPages(await everythingOf(patient, { _count: 7 }));
  assert.ok(pages.length > 2, 'test set-up: several pages');
  for (const [i, p] of pages.entries()) {
    const self = linkOf(p, 'self');
    const again = await client.request(self);
    assert.deepEqual(matchesOf(again).map(key), matchesOf(p).map(key), `page ${i + 1}: its self link ${self} gives other resources (next link of page ${i}: ${i ? linkOf(pages[i - 1], 'next') : '-'})`);
  }
});

// ---------------------------------------------------------------------------------------------
// Handling, POST _search, encoding

test('Prefer: handling=strict refuses an unknown parameter with 400; lenient searches and reports it', async () => {
  const code = 'http://loinc.org|8302-2';
  const want = ofType('Observation').filter((o) => codesOf(o).includes(code));
  const strict = await expectHttpError(
    client.search({ resourceType: 'Observation', searchParams: { code, 'no-such-param': 'x' }, options: { headers: { Prefer: 'handling=strict' } } }),
    400,
    'strict search with an unknown parameter',
  );
  assert.equal(strict.resourceType, 'OperationOutcome');
  assert.ok(strict.issue.length > 0 && strict.issue.every((i) => i.severity === 'error' || i.severity === 'fatal'), `strict: issues ${JSON.stringify(strict.issue)}`);
  assert.match(JSON.stringify(strict), /no-such-param/, 'strict: the OperationOutcome names the parameter');

  for (const options of [undefined, { headers: { Prefer: 'handling=lenient' } }]) {
    const what = options ? 'Prefer: handling=lenient' : 'no Prefer';
    const { pages, matches } = await searchAll('Observation', { code, 'no-such-param': 'x', _count: 5 }, options);
    assertSameSet(matches.map(key), want.map(key), `${what}: the unknown parameter is ignored`);
    const outcomes = outcomesOf(pages[0]);
    assert.equal(outcomes.length, 1, `${what}: want one OperationOutcome entry (search.mode=outcome) on the first page`);
    assert.equal(outcomes[0].resourceType, 'OperationOutcome');
    assert.match(JSON.stringify(outcomes[0]), /no-such-param/, `${what}: the outcome names the ignored parameter`);
    assert.ok(outcomes[0].issue.every((i) => i.severity === 'warning' || i.severity === 'information'), `${what}: an ignored parameter is a warning, got ${JSON.stringify(outcomes[0].issue)}`);
    assert.ok(!/no-such-param/.test(linkOf(pages[0], 'self') || ''), `${what}: the self link should show only the parameters used, got ${linkOf(pages[0], 'self')}`);
  }
});

test('POST _search with a form body finds what GET finds, and pages on', async () => {
  const params = { 'subject:Patient.family': 'Thompson', category: 'vital-signs', _sort: '-date', _count: 6 };
  const viaGet = await searchAll('Observation', params);
  const first = await client.search({ resourceType: 'Observation', searchParams: params, options: { postSearch: true } });
  const viaPost = (await allPages(first)).flatMap(matchesOf);
  assert.ok(viaGet.matches.length > 6, 'test set-up: more than one page');
  assert.deepEqual(viaPost.map(key), viaGet.matches.map(key), 'POST Observation/_search (form body) vs GET');

  // In a form body '+' is a space: "CARNEY+HOSPITAL".
  const carney = ofType('Organization').filter((o) => o.name.toLowerCase().startsWith('carney hospital'));
  assert.ok(carney.length > 0, 'test set-up: CARNEY HOSPITAL is loaded');
  const posted = await client.search({ resourceType: 'Organization', searchParams: { name: 'Carney Hospital' }, options: { postSearch: true } });
  assertSameSet(matchesOf(posted).map(key), carney.map(key), 'POST Organization/_search name=Carney+Hospital');
});

test('a GET search through fhir-kit-client for a value with a space finds what POST _search finds', async () => {
  // fhir-kit-client builds query strings with URLSearchParams (WHATWG form encoding), which
  // writes a space as '+', in GET URLs as in form bodies. A server that reads '+' in a URL as a
  // literal plus finds nothing for such a search.
  const carney = ofType('Organization').filter((o) => o.name.toLowerCase().startsWith('carney hospital'));
  assert.ok(carney.length > 0, 'test set-up: CARNEY HOSPITAL is loaded');
  const got = await client.search({ resourceType: 'Organization', searchParams: { name: 'Carney Hospital' } });
  const url = Client.httpFor(got).request.url;
  assert.match(url, /name=Carney\+Hospital/, 'test set-up: fhir-kit-client sends the space as +');
  assertSameSet(matchesOf(got).map(key), carney.map(key), `GET ${url}`);
});

test('SIGTERM stops the server with exit code 0', async () => {
  await server.stop();
});
