// Hostile and broken input: malformed JSON, wrong types, unknown elements, missing required
// elements, unknown resource types, oversized bodies and headers, deep nesting, invalid ids,
// garbage on the wire and clients that stop half-way. Each must get the right status and an
// OperationOutcome (or, for garbage that is not HTTP, a 400 or a closed connection), and the
// server must keep serving everyone else.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import {
  MedullaServer,
  TEST_DATA,
  assertExpression,
  assertOutcome,
  checkRawFhir,
  makeTempDir,
  rawHttp,
  readJson,
  seededRandom,
  show,
} from './lib/server.mjs';

let server;
let http;
let stopped = false;

before(async () => {
  server = await MedullaServer.start();
  http = server.http;
});

after(async () => {
  if (server) await server.dispose();
});

/**
 * If the server has died, starts a new one on the same data directory (so the tests after a
 * crash still run) and returns a description of the death; otherwise returns null.
 */
async function restartIfDead() {
  if (server.running) return null;
  const died = `the server died (exit code ${server.child.exitCode}, signal ${server.child.signalCode}); log tail:\n${server.log().slice(-1500)}`;
  server = await MedullaServer.start({ dataDir: server.dataDir });
  http = server.http;
  return died;
}

// After every test: the server is still alive and answering.
afterEach(async () => {
  if (stopped) return;
  const died = await restartIfDead();
  if (died) assert.fail(died);
  const res = await http.get('/healthz', { timeoutMs: 5000 });
  assert.equal(res.status, 200, `GET /healthz after the test: ${show(res)}`);
});

const msfhir = (name) => path.join(TEST_DATA, 'fhir', 'examples', 'msfhir', name);
const MB10 = 10 * 1024 * 1024;

function rawHead(lines) {
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * Runs check(case) for every case and fails once at the end listing every case that failed, so
 * one server defect does not hide the others.
 */
async function everyCase(cases, check) {
  const failed = [];
  for (const c of cases) {
    try {
      await check(c);
    } catch (err) {
      failed.push(String(err.message).split('\n').slice(0, 6).join('\n    '));
    }
  }
  if (failed.length) assert.fail(`${failed.length} of ${cases.length} cases failed:\n  ${failed.join('\n  ')}\n`);
}

/** A raw response must be a 400 (with an OperationOutcome if it has a body) or a closed connection. */
function assertRejectedOrClosed(res, what, statuses = [400]) {
  assert.ok(!res.timedOut, `${what}: the server neither answered nor closed the connection within the timeout (received ${JSON.stringify(res.rawText.slice(0, 200))})`);
  if (res.status === null) {
    assert.ok(res.closed, `${what}: no response and connection still open`);
    return;
  }
  assert.ok(statuses.includes(res.status), `${what}: want ${statuses.join(' or ')} or a closed connection, got ${JSON.stringify(res.rawText.slice(0, 400))}`);
  if (res.body) {
    const oo = checkRawFhir(what, res);
    assert.equal(oo && oo.resourceType, 'OperationOutcome', `${what}: a 400 body should be an OperationOutcome: ${res.body.slice(0, 300)}`);
  }
}

test('odd search and history parameters get 200 or 400, never a 5xx or a crash', async () => {
  // First in this file, while the store holds only valid resources (a later test may get an
  // invalid one accepted, which would then fail the schema check of every search here).
  // With data present: some of these only misbehave when there is something to page through.
  for (let i = 0; i < 3; i++) {
    const r = await http.post('/Patient', { resourceType: 'Patient', name: [{ family: `Odd${i}` }] });
    assert.equal(r.status, 201, show(r));
  }
  const queries = [
    '/Patient?_count=0',
    '/Patient?_count=-1',
    '/Patient?_count=abc',
    '/Patient?_count=1000000000',
    '/Patient?_count=99999999999999999999',
    '/Patient?_count=',
    '/Patient?_lastUpdated=garbage',
    '/Patient?_lastUpdated=ge2026-13-45',
    '/Patient?_lastUpdated=xx2026-01-01',
    '/Patient?_lastUpdated=',
    '/Patient?_id=',
    '/Patient?_id=,,,',
    '/Patient?_id=bad$id',
    '/Patient?flavour=1',
    '/Patient/_history?_count=0',
    '/_history?_count=0',
    '/_history?_count=-1',
    '/_history?_since=garbage',
    '/_history?_since=',
    '/Patient/_history?_since=2026-13-45T00:00:00Z',
  ];
  await everyCase(queries, async (q) => {
    const res = await http.get(q, { timeoutMs: 10_000 }).catch((err) => ({ status: 0, text: String(err.cause || err), url: q, method: 'GET' }));
    if (res.status === 0) await new Promise((r) => setTimeout(r, 200)); // let a dying server's exit be seen
    const died = await restartIfDead();
    assert.ok(!died, `GET ${q} killed the server: ${died}`);
    assert.ok([200, 400].includes(res.status), `GET ${q}: want 200 or 400, got ${show(res)}`);
    if (res.status === 400) assertOutcome(res, 400, `GET ${q}`);
    if (res.status === 200 && q.includes('_count=0')) {
      const hits = (res.json.entry || []).filter((e) => e.resource && e.resource.resourceType !== 'OperationOutcome');
      assert.equal(hits.length, 0, `GET ${q}: _count=0 asks for no resources, got ${hits.length}`);
    }
  });
});

test('injection-shaped, malformed and over-deep search values: 400 when strict, never a crash or a stray match', async () => {
  const r = await http.post('/Patient', { resourceType: 'Patient', name: [{ family: 'Plain' }], gender: 'female' });
  assert.equal(r.status, 201, show(r));
  // Values are bound, never spliced into SQL: these must match nothing (or be refused), and
  // the table must still be there afterwards.
  const hostile = [
    "/Patient?family=x'%20OR%20'1'='1",
    '/Patient?family=x%22;%20DROP%20TABLE%20current;--',
    '/Patient?gender=female%27)%20OR%201=1--',
    '/Patient?identifier=a|b%27%20UNION%20SELECT%20*%20FROM%20versions--',
    '/Patient?_id=1%20OR%201=1',
    '/Patient?name:contains=%25',
    '/Patient?name:contains=_',
    '/Patient?birthdate=ge1970-01-01%27--',
    '/Observation?value-quantity=1e999',
    '/Observation?value-quantity=NaN',
    '/Observation?subject.organization.partof.name=x',
    '/Observation?subject:Patient.organization.name=x&_has:Observation:patient:_has:Observation:patient:code=1',
    '/Patient?_sort=-nonsense',
    '/Patient?_include=Nope:subject',
    '/Patient?_cursor=n.zz',
    `/Patient?family=${'a,'.repeat(200)}a`,
  ];
  for (const q of hostile) {
    for (const strict of [false, true]) {
      const headers = strict ? { Prefer: 'handling=strict' } : {};
      const res = await http.get(q, { headers, timeoutMs: 10_000 });
      assert.ok([200, 400].includes(res.status), `GET ${q} (strict ${strict}): want 200 or 400, got ${show(res)}`);
      if (res.status === 400) assertOutcome(res, 400, `GET ${q}`);
      if (res.status === 200) {
        // A match is only allowed when lenient handling dropped the parameter, and said so.
        const entries = res.json.entry || [];
        const hits = entries.filter((e) => e.search && e.search.mode === 'match');
        const ignored = entries.some((e) => e.search && e.search.mode === 'outcome');
        assert.ok(hits.length === 0 || (!strict && ignored),
          `GET ${q} (strict ${strict}): ${hits.length} matches${ignored ? '' : ' and no outcome entry'}`);
      }
    }
  }
  const still = await http.get('/Patient?family=plain');
  assert.equal(still.status, 200, show(still));
  assert.equal((still.json.entry || []).length, 1, 'the Patient is still found by an honest search');
});

test('malformed JSON bodies are 400 with an OperationOutcome', async () => {
  const bodies = {
    'truncated JSON': '{"resourceType": "Patient", ',
    'not JSON at all': 'hello, server',
    'empty body': '',
    'JSON array instead of an object': '[]',
    'JSON null': 'null',
    'trailing garbage': '{"resourceType": "Patient"} x',
    'invalid UTF-8': Buffer.from([0x7b, 0x22, 0x72, 0x65, 0x73, 0x6f, 0x75, 0x72, 0x63, 0x65, 0x54, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    'single-quoted JSON': "{'resourceType': 'Patient'}",
  };
  await everyCase(Object.entries(bodies), async ([what, body]) => {
    const res = await http.post('/Patient', body);
    assertOutcome(res, 400, `POST /Patient with ${what}`);
  });
  const bad = await http.put('/Patient/malformed-1', '{"resourceType": "Patient", "id": "malformed-1"');
  assertOutcome(bad, 400, 'PUT with truncated JSON');
  const file = await http.post('/Patient', readJson(msfhir('PatientMissingResourceType.json')));
  assertOutcome(file, [400, 422], 'POST /Patient of PatientMissingResourceType.json');
});

test('invalid content is 400/422 with an OperationOutcome whose expression names the element', async () => {
  const cases = [
    ['wrong primitive type (gender: 7)', 'Patient', { resourceType: 'Patient', gender: 7 }, 'Patient.gender'],
    ['bad date format', 'Patient', { resourceType: 'Patient', birthDate: '03/02/1958' }, 'Patient.birthDate'],
    ['impossible date', 'Patient', { resourceType: 'Patient', birthDate: '1958-02-30' }, 'Patient.birthDate'],
    ['string for boolean', 'Patient', { resourceType: 'Patient', active: 'yes' }, 'Patient.active'],
    ['object for a repeating element', 'Patient', { resourceType: 'Patient', name: { family: 'X' } }, 'Patient.name'],
    ['code not in the required value set', 'Patient', { resourceType: 'Patient', gender: 'sometimes' }, 'Patient.gender'],
    ['unknown element', 'Patient', { resourceType: 'Patient', flavour: 'x' }, 'Patient.flavour'],
    ['unknown nested element', 'Patient', { resourceType: 'Patient', name: [{ family: 'X', nickname: 'Y' }] }, 'Patient.name'],
    ['missing required status', 'Observation', { resourceType: 'Observation', code: { text: 'x' } }, 'Observation.status'],
    ['missing required code', 'Observation', readJson(msfhir('ObservationWithNoCode.json')), 'Observation.code'],
    ['unknown elements (PatientWithUnknownElements.json)', 'Patient', readJson(msfhir('PatientWithUnknownElements.json')), 'Patient.name1'],
    ['empty string value', 'Patient', { resourceType: 'Patient', name: [{ family: '' }] }, 'Patient.name'],
    ['null value', 'Patient', { resourceType: 'Patient', gender: null }, 'Patient.gender'],
    ['array for a single-valued element', 'Patient', { resourceType: 'Patient', gender: ['male'] }, 'Patient.gender'],
    ['string for a decimal', 'Observation', { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueQuantity: { value: '7.2' } }, 'Observation.valueQuantity'],
    ['extension without url', 'Patient', { resourceType: 'Patient', extension: [{ valueString: 'x' }] }, 'Patient.extension'],
    ['unknown element in a data type', 'Patient', { resourceType: 'Patient', telecom: [{ system: 'phone', value: '1', colour: 'red' }] }, 'Patient.telecom'],
    ['invalid contained resource', 'Patient', { resourceType: 'Patient', contained: [{ resourceType: 'Organization', id: 'o1', active: 'yes' }] }, 'Patient.contained'],
  ];
  await everyCase(cases, async ([what, type, body, expression]) => {
    const res = await http.post(`/${type}`, body);
    const oo = assertOutcome(res, [400, 422], `POST /${type} with ${what}`);
    assert.ok(oo.issue.some((i) => i.severity === 'error' || i.severity === 'fatal'), `${what}: the OperationOutcome should have an error issue`);
    assertExpression(oo, expression, `POST /${type} with ${what}`);
  });
  const put = await http.put('/Patient/invalid-put', { resourceType: 'Patient', id: 'invalid-put', birthDate: 'yesterday' });
  assertExpression(assertOutcome(put, [400, 422], 'PUT with a bad date'), 'Patient.birthDate', 'PUT with a bad date');
  const nothing = await http.get('/Patient/invalid-put');
  assertOutcome(nothing, 404, 'a rejected PUT must not create the resource');
});

test('a body whose resourceType differs from the URL is rejected', async () => {
  const res = await http.post('/Patient', { resourceType: 'Observation', status: 'final', code: { text: 'x' } });
  assertOutcome(res, [400, 422], 'POST /Patient with an Observation body');
  const put = await http.put('/Patient/type-mismatch', { resourceType: 'Observation', id: 'type-mismatch', status: 'final', code: { text: 'x' } });
  assertOutcome(put, [400, 422], 'PUT /Patient/id with an Observation body');
});

test('unknown resource types are 404 with an OperationOutcome', async () => {
  await everyCase([
    ['GET', '/Flavour/1'],
    ['GET', '/Flavour'],
    ['GET', '/Flavour/1/_history'],
    ['POST', '/Flavour', { resourceType: 'Flavour' }],
    ['PUT', '/Flavour/1', { resourceType: 'Flavour', id: '1' }],
    ['DELETE', '/Flavour/1'],
    ['GET', '/patient/1'],
  ], async ([method, p, body]) => {
    const res = await http.request(method, p, { body });
    assertOutcome(res, 404, `${method} ${p}`);
  });
});

test('invalid ids are 400', async () => {
  const cases = [
    ['bad$id', 'bad$id'],
    ['65 characters', 'a'.repeat(65)],
    ['underscore', 'bad_id'],
    ['space (encoded)', 'bad%20id'],
  ];
  await everyCase(cases, async ([what, id]) => {
    const res = await http.put(`/Patient/${id}`, { resourceType: 'Patient', id: decodeURIComponent(id) });
    assertOutcome(res, 400, `PUT /Patient/<${what}>`);
  });
  const mismatch = await http.put('/Patient/url-id', { resourceType: 'Patient', id: 'body-id' });
  assertOutcome(mismatch, 400, 'PUT whose body id differs from the URL id');
  const noId = await http.put('/Patient/url-id', { resourceType: 'Patient' });
  assertOutcome(noId, 400, 'PUT whose body has no id');
  const ok = await http.put(`/Patient/${'a'.repeat(64)}`, { resourceType: 'Patient', id: 'a'.repeat(64) });
  assert.equal(ok.status, 201, `a 64-character id is valid: ${show(ok)}`);
});

test('a 10 MB body is 413 (Content-Length and chunked)', async () => {
  const big = JSON.stringify({ resourceType: 'Patient', text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${'x'.repeat(MB10)}</div>` } });
  const head = rawHead(['POST /Patient HTTP/1.1', `Host: 127.0.0.1:${server.port}`, 'Content-Type: application/fhir+json', `Content-Length: ${Buffer.byteLength(big)}`]);
  const res = await rawHttp(server.port, head, { body: big, timeoutMs: 30_000, headFirstMs: 2000 });
  assert.equal(res.status, 413, `10 MB body with Content-Length: want 413, got ${JSON.stringify(res.rawText.slice(0, 300))} ` +
    `(closed=${res.closed} error=${res.error}; a server that closes while the client is still sending must still let it read the 413)`);
  if (res.body) assert.equal(checkRawFhir('413', res).resourceType, 'OperationOutcome', '413 body');

  const chunks = [];
  for (let off = 0; off < big.length; off += 1 << 20) {
    const piece = big.slice(off, off + (1 << 20));
    chunks.push(`${Buffer.byteLength(piece).toString(16)}\r\n${piece}\r\n`);
  }
  chunks.push('0\r\n\r\n');
  const headChunked = rawHead(['POST /Patient HTTP/1.1', `Host: 127.0.0.1:${server.port}`, 'Content-Type: application/fhir+json', 'Transfer-Encoding: chunked']);
  const res2 = await rawHttp(server.port, headChunked, { body: chunks.join(''), timeoutMs: 30_000 });
  assert.equal(res2.status, 413, `10 MB chunked body: want 413, got ${JSON.stringify(res2.rawText.slice(0, 300))} ` +
    `(closed=${res2.closed} error=${res2.error}; a server that closes while the client is still sending must still let it read the 413)`);

  const fine = await http.post('/Patient', { resourceType: 'Patient', name: [{ family: 'AfterBigBody' }] });
  assert.equal(fine.status, 201, `a normal create after the 10 MB bodies: ${show(fine)}`);
});

test('an oversized header (64 KB value) is 431', async () => {
  const head = rawHead(['GET /Patient HTTP/1.1', `Host: 127.0.0.1:${server.port}`, `X-Big: ${'b'.repeat(64 * 1024)}`]);
  const res = await rawHttp(server.port, head);
  assert.equal(res.status, 431, `64 KB header: want 431, got ${JSON.stringify(res.rawText.slice(0, 300))} (closed=${res.closed} error=${res.error})`);
  if (res.body) assert.equal(checkRawFhir('431', res).resourceType, 'OperationOutcome', '431 body');
  const many = rawHead(['GET /metadata HTTP/1.1', `Host: 127.0.0.1:${server.port}`, ...Array.from({ length: 2000 }, (_, i) => `X-H${i}: ${'v'.repeat(40)}`)]);
  const res2 = await rawHttp(server.port, many);
  assert.equal(res2.status, 431, `2000 headers of 40 bytes (~100 KB): want 431, got ${JSON.stringify(res2.rawText.slice(0, 300))}`);
});

test('10,000 levels of nested JSON are 400', async () => {
  const depth = 10_000;
  const arrays = '['.repeat(depth) + ']'.repeat(depth);
  assertOutcome(await http.post('/Patient', arrays), 400, 'POST of 10,000 nested arrays');
  const objects = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  assertOutcome(await http.post('/Patient', objects), 400, 'POST of 10,000 nested objects');
  let ext = '{"url":"http://example.org/x","valueString":"leaf"}';
  for (let i = 0; i < depth; i++) ext = `{"url":"http://example.org/x","extension":[${ext}]}`;
  const inResource = `{"resourceType":"Patient","extension":[${ext}]}`;
  assertOutcome(await http.post('/Patient', inResource), 400, 'POST of a Patient with 10,000 nested extensions');
  const unclosed = '['.repeat(depth);
  assertOutcome(await http.post('/Patient', unclosed), 400, 'POST of 10,000 unclosed arrays');
});

test('garbage request lines and headers get 400 or a closed connection', async () => {
  const rnd = seededRandom(20240611);
  const binary = Buffer.from(Array.from({ length: 512 }, () => Math.floor(rnd() * 256)));
  const cases = [
    ['a request line that is not HTTP', 'HELLO WORLD\r\n\r\n'],
    ['random binary bytes', Buffer.concat([binary, Buffer.from('\r\n\r\n')])],
    ['an unknown HTTP version', 'GET /healthz HTTP/7.3\r\nHost: x\r\n\r\n', [400, 505]],
    ['a header line without a colon', 'GET /healthz HTTP/1.1\r\nHost: x\r\nThis is not a header\r\n\r\n'],
    ['a header name with spaces', 'GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n'],
    ['a NUL byte in a header value', 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Nul: a\u0000b\r\n\r\n'],
    ['a non-numeric Content-Length', 'POST /Patient HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n{}'],
    ['two different Content-Lengths', 'POST /Patient HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}'],
    ['a negative Content-Length', 'POST /Patient HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n'],
    ['a bad chunk size', 'POST /Patient HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n'],
  ];
  await everyCase(cases, async ([what, bytes, statuses]) => {
    const res = await rawHttp(server.port, bytes, { timeoutMs: 10_000 });
    assertRejectedOrClosed(res, what, statuses);
    const health = await http.get('/healthz', { timeoutMs: 5000 });
    assert.equal(health.status, 200, `GET /healthz after ${what}: ${show(health)}`);
  });
});

test('clients that stop half-way do not block other clients', async () => {
  const sockets = [];
  const held = [];
  const hold = (bytes) => held.push(rawHttp(server.port, bytes, { timeoutMs: 60_000, keepOpen: true, onSocket: (s) => sockets.push(s) }));
  try {
    // Headers never finished.
    for (let i = 0; i < 12; i++) hold(`GET /metadata HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${i}`);
    // Headers complete, a 1000-byte body promised, only the first part sent.
    const half = '{"resourceType":"Patient","name":[{"family":"Half';
    for (let i = 0; i < 12; i++) {
      hold(`POST /Patient HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/fhir+json\r\nContent-Length: 1000\r\n\r\n${half}`);
    }
    // A connection that sends nothing at all.
    hold('');

    const t0 = Date.now();
    for (let i = 0; i < 5; i++) {
      const created = await http.post('/Patient', { resourceType: 'Patient', name: [{ family: `Patient${i}` }] }, { timeoutMs: 5000 });
      assert.equal(created.status, 201, `create while 25 clients hang: ${show(created)}`);
      const read = await http.get(`/Patient/${created.json.id}`, { timeoutMs: 5000 });
      assert.equal(read.status, 200, `read while 25 clients hang: ${show(read)}`);
      const search = await http.get(`/Patient?_id=${created.json.id}`, { timeoutMs: 5000 });
      assert.equal(search.status, 200, `search while 25 clients hang: ${show(search)}`);
    }
    const elapsed = Date.now() - t0;
    assert.ok(elapsed < 10_000, `15 requests took ${elapsed} ms while slow clients were connected`);
  } finally {
    for (const s of sockets) s.destroy();
    await Promise.all(held);
  }
});

test('a search past store.search_timeout_ms is 422 too-costly; selective searches still answer', async () => {
  // A server of its own with a 1 ms limit, and 10,000 Patients: substring searches matching
  // every name, sorted and counted, read and sort every name row (about 60 ms here without the
  // limit); a lookup by id reads one row (well under 1 ms).
  const dir = makeTempDir('medulla-e2e-limit-');
  const config = path.join(dir, 'medulla.toml');
  fs.writeFileSync(config, '[store]\nsearch_timeout_ms = 1\n');
  const limited = await MedullaServer.start({ dataDir: path.join(dir, 'data'), args: ['--config', config] });
  try {
    for (let b = 0; b < 10; b++) {
      const entry = Array.from({ length: 1000 }, (_, i) => ({
        resource: { resourceType: 'Patient', id: `p${b * 1000 + i}`, name: [{ family: `Family${b * 1000 + i}`, given: ['Ann', 'Lee'] }] },
        request: { method: 'PUT', url: `Patient/p${b * 1000 + i}` },
      }));
      const res = await limited.http.post('/', { resourceType: 'Bundle', type: 'batch', entry }, { headers: { prefer: 'return=minimal' } });
      assert.equal(res.status, 200, show(res));
    }
    const slow = await limited.http.get('/Patient?name:contains=a&given:contains=e&_sort=-name,given&_total=accurate');
    const oo = assertOutcome(slow, 422, 'an unselective search past the limit');
    assert.ok(oo.issue.some((i) => i.code === 'too-costly'), `want issue code too-costly: ${show(slow)}`);
    const fast = await limited.http.get('/Patient?_id=p4242');
    assert.equal(fast.status, 200, show(fast));
    assert.deepEqual((fast.json.entry || []).map((e) => e.resource.id), ['p4242']);
  } finally {
    await limited.dispose();
  }
});

test('SIGTERM stops the server with exit code 0', async () => {
  stopped = true;
  await server.stop();
});
