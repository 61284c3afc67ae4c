// Ambulance routing through the real binary: `medulla routing import` of the Monaco extract
// (© OpenStreetMap contributors, ODbL; tests/data/osm/README.md), then a server on that data
// directory answering GET /routing/route, POST /routing/table and POST /routing/traffic: routes
// whose geometry and distance make sense, tables that agree with routes, live traffic that is
// applied whole or not at all, closures for one request only, clear 400s for bad input, the role
// guards, and 501 without a graph.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { MedullaServer, TEST_DATA, assertOutcome, makeTempDir, mintToken, runMedulla, show } from './lib/server.mjs';

const MONACO = path.join(TEST_DATA, 'osm', 'monaco_roads.osm.pbf');

// Points on Monaco's roads (lon, lat): A and B are the ends of a 2.7 km drive through the
// centre; the others are further sources and destinations for the table.
const A = [7.4197, 43.7311];
const B = [7.4365, 43.7484];
const SOURCES = [A, [7.42, 43.735]];
const DESTINATIONS = [B, [7.41, 43.73], [7.43, 43.74]];

// Two adjacent OSM nodes of a two-way street that the route from A to B takes (Boulevard
// Albert 1er, read off the imported graph once): closing that segment forces a detour.
const ON_ROUTE = { from: 1720683716, to: 1720683720 };

const JSON_ACCEPT = 'application/json, application/fhir+json';

let dataDir;
let imported;
let server;
let bare;
const tokens = {};
const servers = [];

before(async () => {
  dataDir = path.join(makeTempDir('medulla-e2e-routing-'), 'data');
  imported = await runMedulla(['routing', 'import', '--data-dir', dataDir, MONACO]);
  if (imported.code !== 0) return; // the import test reports it
  server = await MedullaServer.start({ dataDir });
  servers.push(server);
  tokens.clinician = mintToken(dataDir, ['--role', 'clinician']);
  tokens.dispatcher = mintToken(dataDir, ['--role', 'dispatcher']);
  bare = await MedullaServer.start();
  servers.push(bare);
});

after(async () => {
  for (const s of servers) await s.dispose();
});

// ---------------------------------------------------------------------------------------------
// Helpers

const ll = ([lon, lat]) => `${lon},${lat}`;

/** Great-circle distance in metres between [lon, lat] pairs (the importer's mean radius). */
function metres([lon1, lat1], [lon2, lat2]) {
  const rad = Math.PI / 180;
  const dlat = (lat2 - lat1) * rad;
  const dlon = (lon2 - lon1) * rad;
  const h = Math.sin(dlat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dlon / 2) ** 2;
  return 2 * 6_371_008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
}

function headersFor(token, extra = {}) {
  const h = { accept: JSON_ACCEPT, ...extra };
  if (token !== undefined) h.authorization = token === null ? '' : `Bearer ${token}`;
  return h;
}

/** GET /routing/route with the query string `query` (admin token unless one is given). */
function getRoute(srv, query, { token } = {}) {
  return srv.http.request('GET', `/routing/route?${query}`, { headers: headersFor(token) });
}

async function route(from, to, { geometry = true } = {}) {
  const res = await getRoute(server, `from=${ll(from)}&to=${ll(to)}${geometry ? '' : '&geometry=false'}`);
  assert.equal(res.status, 200, show(res));
  assert.match(res.headers.get('content-type') || '', /^application\/json/, show(res));
  return res.json;
}

function postTable(srv, body, { token } = {}) {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  return srv.http.request('POST', '/routing/table', {
    body: payload,
    headers: headersFor(token, { 'content-type': 'application/json' }),
  });
}

function ndjson(lines) {
  return `${lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n')}\n`;
}

function postTraffic(srv, lines, { token } = {}) {
  return srv.http.request('POST', '/routing/traffic', {
    body: typeof lines === 'string' ? lines : ndjson(lines),
    headers: headersFor(token, { 'content-type': 'application/x-ndjson' }),
  });
}

const closeOnRoute = (speed) => [
  { from_node: ON_ROUTE.from, to_node: ON_ROUTE.to, speed_kmh: speed },
  { from_node: ON_ROUTE.to, to_node: ON_ROUTE.from, speed_kmh: speed },
];

/** The OperationOutcome's diagnostics, joined. */
function diagnostics(oo) {
  return (oo.issue || []).map((i) => i.diagnostics || '').join(' | ');
}

function requireGraph() {
  assert.equal(imported.code, 0, `the import failed: ${imported.output}`);
  assert.ok(server, 'no server on the imported data directory');
}

// ---------------------------------------------------------------------------------------------
// Import

test('routing import builds the graph and prints a plausible summary', () => {
  assert.equal(imported.code, 0, `exit ${imported.code}, signal ${imported.signal}: ${imported.output}`);
  const out = imported.stdout;
  assert.match(out, /imported .*monaco_roads\.osm\.pbf/, out);
  const ways = /ways: (\d+) read, (\d+) drivable/.exec(out);
  assert.ok(ways, `no ways line in: ${out}`);
  assert.equal(Number(ways[1]), 2_927, 'every way of the extract is read (README counts)');
  assert.ok(Number(ways[2]) > 1000 && Number(ways[2]) < 1864, `drivable ways: ${ways[2]}`);
  const graph = /graph: (\d+) nodes, (\d+) edges \((\d+) one-way\), (\d+) arcs, (\d+) segments/.exec(out);
  assert.ok(graph, `no graph line in: ${out}`);
  const [nodes, edges, oneway, arcs, segments] = graph.slice(1).map(Number);
  assert.ok(nodes > 1000 && edges > nodes && arcs >= edges && segments > edges, out);
  assert.ok(oneway > 0 && oneway < edges, out);
  const turns = /turn restrictions: (\d+) read, (\d+) applied, (\d+) skipped/.exec(out);
  assert.ok(turns, `no turn restrictions line in: ${out}`);
  assert.ok(Number(turns[2]) > 0, `no turn restriction applied: ${out}`);
  assert.equal(Number(turns[1]), Number(turns[2]) + Number(turns[3]), `read = applied + skipped: ${out}`);
  const connected = /connected: ([\d.]+)% of edges/.exec(out);
  assert.ok(connected && Number(connected[1]) > 90, `connected share: ${out}`);
  const file = path.join(dataDir, 'routing.graph');
  assert.ok(fs.existsSync(file), 'no routing.graph in the data directory');
  assert.ok(out.includes(file), `the summary should name the file written: ${out}`);
  assert.ok(!fs.existsSync(`${file}.tmp`), 'a temporary file was left behind');
});

test('routing import of a missing, truncated or non-PBF file fails without writing a graph', async () => {
  const dir = makeTempDir('medulla-e2e-routing-bad-');
  const half = path.join(dir, 'half.osm.pbf');
  const bytes = fs.readFileSync(MONACO);
  fs.writeFileSync(half, bytes.subarray(0, bytes.length >> 1));
  const text = path.join(dir, 'notes.osm.pbf');
  fs.writeFileSync(text, 'this is not an OpenStreetMap extract\n');
  for (const [file, why] of [[path.join(dir, 'missing.osm.pbf'), 'missing'], [half, 'truncated'], [text, 'text']]) {
    const target = path.join(dir, `data-${why}`);
    const r = await runMedulla(['routing', 'import', '--data-dir', target, file]);
    assert.notEqual(r.code, 0, `${why}: exit 0: ${r.output}`);
    assert.equal(r.signal, null, `${why}: killed by ${r.signal}: ${r.output}`);
    assert.ok(r.stderr.includes(file), `${why}: the error should name the file: ${r.stderr}`);
    assert.ok(!fs.existsSync(path.join(target, 'routing.graph')), `${why}: a graph was written`);
  }
});

// ---------------------------------------------------------------------------------------------
// Routes

test('a route across Monaco has a duration, a distance and a geometry from A to B', async () => {
  requireGraph();
  const r = await route(A, B);
  assert.ok(r.duration_s > 0, `duration_s ${r.duration_s}`);
  assert.ok(r.distance_m > 0, `distance_m ${r.distance_m}`);
  assert.ok(r.distance_m >= metres(A, B) - 50, `${r.distance_m} m is less than the straight line ${metres(A, B)} m`);
  const kmh = (r.distance_m / r.duration_s) * 3.6;
  assert.ok(kmh > 5 && kmh < 130, `average speed ${kmh} km/h`);

  const g = r.geometry;
  assert.equal(g && g.type, 'LineString', JSON.stringify(g));
  const line = g.coordinates;
  assert.ok(Array.isArray(line) && line.length >= 2, JSON.stringify(g));
  for (const p of line) {
    assert.ok(Array.isArray(p) && p.length === 2 && p.every(Number.isFinite), `bad position ${JSON.stringify(p)}`);
  }
  const first = line[0];
  const last = line[line.length - 1];
  assert.ok(metres(first, A) < 150, `starts ${metres(first, A)} m from 'from'`);
  assert.ok(metres(last, B) < 150, `ends ${metres(last, B)} m from 'to'`);
  // The distance is along the line: at least the straight line between its ends, and about the
  // line's own length.
  assert.ok(r.distance_m >= metres(first, last) - 0.1, `${r.distance_m} m < ${metres(first, last)} m between the line's ends`);
  let along = 0;
  for (let i = 1; i < line.length; i++) {
    const step = metres(line[i - 1], line[i]);
    assert.ok(step < 2000, `a ${step} m jump between positions ${i - 1} and ${i}`);
    along += step;
  }
  assert.ok(Math.abs(along - r.distance_m) <= 0.01 * r.distance_m + 5, `line length ${along} m, distance_m ${r.distance_m}`);
});

test('geometry=false leaves the geometry out and changes nothing else', async () => {
  requireGraph();
  const full = await route(A, B);
  const bareRoute = await route(A, B, { geometry: false });
  assert.ok(!('geometry' in bareRoute), JSON.stringify(bareRoute));
  assert.equal(bareRoute.duration_s, full.duration_s);
  assert.equal(bareRoute.distance_m, full.distance_m);
  const explicit = await getRoute(server, `from=${ll(A)}&to=${ll(B)}&geometry=true`);
  assert.equal(explicit.status, 200, show(explicit));
  assert.equal(explicit.json.geometry.type, 'LineString');
});

test('the way back is a route too', async () => {
  requireGraph();
  const back = await route(B, A);
  assert.ok(back.duration_s > 0 && back.distance_m >= metres(A, B) - 50, JSON.stringify(back));
  const g = back.geometry.coordinates;
  assert.ok(metres(g[0], B) < 150 && metres(g[g.length - 1], A) < 150, 'from B to A');
});

// ---------------------------------------------------------------------------------------------
// Tables

test('a 2 x 3 table equals the routes between the same points', async () => {
  requireGraph();
  // The hour's congestion profile may change between two requests: then both route rounds differ
  // and the comparison is made again.
  let last;
  for (let attempt = 0; attempt < 3; attempt++) {
    const before = await Promise.all(SOURCES.map((s) => Promise.all(DESTINATIONS.map((d) => route(s, d, { geometry: false })))));
    const res = await postTable(server, { sources: SOURCES, destinations: DESTINATIONS });
    assert.equal(res.status, 200, show(res));
    assert.match(res.headers.get('content-type') || '', /^application\/json/, show(res));
    const afterRound = await Promise.all(SOURCES.map((s) => Promise.all(DESTINATIONS.map((d) => route(s, d, { geometry: false })))));
    if (JSON.stringify(before) !== JSON.stringify(afterRound)) {
      last = { before, after: afterRound };
      continue;
    }
    const { durations_s: dur, distances_m: dist } = res.json;
    assert.equal(dur.length, 2, JSON.stringify(res.json));
    assert.equal(dist.length, 2, JSON.stringify(res.json));
    for (let i = 0; i < 2; i++) {
      assert.equal(dur[i].length, 3, JSON.stringify(res.json));
      assert.equal(dist[i].length, 3, JSON.stringify(res.json));
      for (let j = 0; j < 3; j++) {
        const want = before[i][j];
        assert.ok(Math.abs(dur[i][j] - want.duration_s) <= 0.15,
          `durations_s[${i}][${j}] = ${dur[i][j]}, the route says ${want.duration_s}`);
        assert.ok(dist[i][j] > 0, `distances_m[${i}][${j}] = ${dist[i][j]}`);
      }
    }
    return;
  }
  assert.fail(`routes kept changing between requests: ${JSON.stringify(last)}`);
});

test('a table from a point to itself is zero', async () => {
  requireGraph();
  const res = await postTable(server, { sources: [A], destinations: [A] });
  assert.equal(res.status, 200, show(res));
  assert.deepEqual(res.json.durations_s, [[0]]);
  assert.deepEqual(res.json.distances_m, [[0]]);
});

// ---------------------------------------------------------------------------------------------
// Live traffic

test('closing a street on the route forces a detour; null reopens it', async () => {
  requireGraph();
  const before = await route(A, B, { geometry: false });
  const closed = await postTraffic(server, closeOnRoute(0), { token: tokens.dispatcher });
  assert.equal(closed.status, 200, show(closed));
  assert.equal(closed.json.applied, 2, show(closed));
  assert.equal(closed.json.unknown_segments, 0, show(closed));
  assert.ok(Number.isFinite(closed.json.live_after_ms), show(closed));
  try {
    const detour = await route(A, B, { geometry: false });
    assert.ok(detour.duration_s > before.duration_s, `closed: ${JSON.stringify(detour)}, open: ${JSON.stringify(before)}`);
  } finally {
    const reopened = await postTraffic(server, closeOnRoute(null), { token: tokens.dispatcher });
    assert.equal(reopened.status, 200, show(reopened));
    assert.equal(reopened.json.applied, 2, show(reopened));
  }
  const after = await route(A, B, { geometry: false });
  assert.deepEqual(after, before);
});

test('a closure given per request makes that route longer; the next request without it is as before', async () => {
  requireGraph();
  const before = await route(A, B);
  const closed = `${ON_ROUTE.from}:${ON_ROUTE.to},${ON_ROUTE.to}:${ON_ROUTE.from}`;
  const res = await getRoute(server, `from=${ll(A)}&to=${ll(B)}&closed=${closed}`);
  assert.equal(res.status, 200, show(res));
  const detour = res.json;
  assert.ok(detour.duration_s > before.duration_s, `closed: ${detour.duration_s} s, open: ${before.duration_s} s`);
  assert.notDeepEqual(detour.geometry.coordinates, before.geometry.coordinates);
  const line = detour.geometry.coordinates;
  assert.ok(metres(line[0], A) < 150 && metres(line[line.length - 1], B) < 150, 'from A to B');
  // The next request, and the table, without the closure: as before.
  assert.deepEqual(await route(A, B), before);
  const open = await postTable(server, { sources: [A], destinations: [B] });
  assert.equal(open.status, 200, show(open));
  assert.ok(Math.abs(open.json.durations_s[0][0] - before.duration_s) <= 0.15, show(open));
  // A table with the same closures agrees with the detour, for 1 x 2 (forward) and 2 x 1.
  const segments = [[ON_ROUTE.from, ON_ROUTE.to], [ON_ROUTE.to, ON_ROUTE.from]];
  const row = await postTable(server, { sources: [A], destinations: [B, B], closed: segments });
  assert.equal(row.status, 200, show(row));
  const column = await postTable(server, { sources: [A, A], destinations: [B], closed: segments });
  assert.equal(column.status, 200, show(column));
  for (const d of [row.json.durations_s[0][0], row.json.durations_s[0][1], column.json.durations_s[0][0], column.json.durations_s[1][0]]) {
    assert.ok(Math.abs(d - detour.duration_s) <= 0.15, `table ${d} s, route ${detour.duration_s} s`);
  }
  assert.deepEqual(await route(A, B), before);
});

test('malformed or unknown per-request closures are 400s naming the problem', async () => {
  requireGraph();
  const base = `from=${ll(A)}&to=${ll(B)}`;
  const cases = [
    ['closed=', /FROM:TO/, 'empty'],
    ['closed=abc', /FROM:TO/, 'not a pair'],
    [`closed=${ON_ROUTE.from}:${ON_ROUTE.to},`, /item 2/, 'a trailing comma'],
    [`closed=${ON_ROUTE.from}:${ON_ROUTE.to}:1`, /FROM:TO/, 'three ids'],
    [`closed=${ON_ROUTE.from}-${ON_ROUTE.to}`, /FROM:TO/, 'a dash'],
    [`closed=1:2`, /closure 1 -> 2/, 'not a segment of the map'],
    [`closed=${ON_ROUTE.from}:25239163`, /not a road segment/, 'nodes that are not adjacent'],
  ];
  for (const [query, why, what] of cases) {
    const oo = assertOutcome(await getRoute(server, `${base}&${query}`), 400, what);
    assert.match(diagnostics(oo), why, `${what}: ${JSON.stringify(oo)}`);
  }
  const tables = [
    ['x', /closed must be an array/, 'a string'],
    [[[1]], /closed\[0\]/, 'one id'],
    [[[ON_ROUTE.from, ON_ROUTE.to], ['1', '2']], /closed\[1\]/, 'ids as strings'],
    [[[1.5, 2]], /closed\[0\]/, 'a fraction'],
    [[[1, 2]], /closure 1 -> 2/, 'not a segment of the map'],
    // (The same limit holds for the query parameter, but a URL that long is refused before.)
    [Array(10_001).fill([ON_ROUTE.from, ON_ROUTE.to]), /at most 10000/, 'too many'],
  ];
  for (const [closed, why, what] of tables) {
    const oo = assertOutcome(await postTable(server, { sources: [A], destinations: [B], closed }), 400, what);
    assert.match(diagnostics(oo), why, `${what}: ${JSON.stringify(oo)}`);
  }
});

test('a malformed traffic body is refused naming its line, and nothing of it is applied', async () => {
  requireGraph();
  const before = await route(A, B, { geometry: false });
  // Line 1 would close the street the route takes; line 2 is not JSON.
  const body = `${JSON.stringify(closeOnRoute(0)[0])}\n{"from_node":1,"to_node":\n`;
  const res = await postTraffic(server, body);
  const oo = assertOutcome(res, 400, 'malformed line 2');
  assert.match(diagnostics(oo), /line 2/, JSON.stringify(oo));
  assert.deepEqual(await route(A, B, { geometry: false }), before, 'line 1 was applied');
});

test('a speed out of range is refused and nothing of the request is applied', async () => {
  requireGraph();
  const before = await route(A, B, { geometry: false });
  const res = await postTraffic(server, [...closeOnRoute(0), { from_node: 1, to_node: 2, speed_kmh: 400 }]);
  assertOutcome(res, 400, 'speed 400 km/h');
  assert.deepEqual(await route(A, B, { geometry: false }), before, 'the closures were applied');
});

test('an update for a node pair that is not a road segment is counted as unknown', async () => {
  requireGraph();
  const res = await postTraffic(server, [{ from_node: 1, to_node: 2, speed_kmh: 30 }]);
  assert.equal(res.status, 200, show(res));
  assert.equal(res.json.applied, 0, show(res));
  assert.equal(res.json.unknown_segments, 1, show(res));
  // Two nodes of the route that are not adjacent are no segment either.
  const far = await postTraffic(server, [{ from_node: ON_ROUTE.from, to_node: 25239163, speed_kmh: 0 }]);
  assert.equal(far.status, 200, show(far));
  assert.equal(far.json.unknown_segments, 1, show(far));
  assert.equal(far.json.applied, 0, show(far));
});

test('an empty traffic body is refused', async () => {
  requireGraph();
  assertOutcome(await postTraffic(server, ''), 400, 'empty body');
  assertOutcome(await postTraffic(server, '\n\n'), 400, 'blank lines only');
});

// ---------------------------------------------------------------------------------------------
// Bad input

test('a point outside the map is a 400 saying so', async () => {
  requireGraph();
  const res = await getRoute(server, `from=2.35,48.85&to=${ll(B)}`);
  const oo = assertOutcome(res, 400, 'Paris');
  assert.match(diagnostics(oo), /outside the map/, JSON.stringify(oo));
  const table = await postTable(server, { sources: [A], destinations: [B, [2.35, 48.85]] });
  const too = assertOutcome(table, 400, 'Paris in a table');
  assert.match(diagnostics(too), /destinations\[1\]/, JSON.stringify(too));
});

test('a point in the sea, far from every road, is a 400 saying so', async () => {
  requireGraph();
  const res = await getRoute(server, `from=${ll(A)}&to=7.485,43.716`);
  const oo = assertOutcome(res, 400, 'the sea off Monaco');
  assert.match(diagnostics(oo), /from any road/, JSON.stringify(oo));
});

test('a table larger than the limits is a 413', async () => {
  requireGraph();
  const p = [7.42, 43.73];
  const side = await postTable(server, { sources: Array(5001).fill(p), destinations: [p] });
  assertOutcome(side, 413, '5001 sources');
  const cells = await postTable(server, { sources: Array(500).fill(p), destinations: Array(501).fill(p) });
  assertOutcome(cells, 413, '500 x 501 cells');
});

test('missing, malformed and unknown route parameters are 400s', async () => {
  requireGraph();
  const cases = [
    [`from=${ll(A)}`, 'missing to'],
    [`to=${ll(B)}`, 'missing from'],
    ['', 'no parameters'],
    [`from=abc&to=${ll(B)}`, 'from=abc'],
    [`from=7.42&to=${ll(B)}`, 'one number'],
    [`from=7.42,43.73,10&to=${ll(B)}`, 'three numbers'],
    [`from=nan,43.73&to=${ll(B)}`, 'NaN'],
    [`from=inf,43.73&to=${ll(B)}`, 'infinity'],
    [`from=7.42,95&to=${ll(B)}`, 'latitude 95'],
    [`from=${ll(A)}&to=${ll(B)}&geometry=maybe`, 'geometry=maybe'],
    [`from=${ll(A)}&to=${ll(B)}&mode=car`, 'an unknown parameter'],
  ];
  for (const [query, why] of cases) {
    assertOutcome(await getRoute(server, query), 400, why);
  }
});

test('malformed table requests are 400s', async () => {
  requireGraph();
  const cases = [
    [{ sources: 'A', destinations: [B] }, 'sources not an array'],
    [{ sources: [A], destinations: { lon: 7.4, lat: 43.7 } }, 'destinations an object'],
    [{ sources: [], destinations: [B] }, 'no sources'],
    [{ destinations: [B] }, 'sources missing'],
    [{ sources: [A] }, 'destinations missing'],
    [{ sources: [[7.42]], destinations: [B] }, 'a point with one number'],
    [{ sources: [['7.42', '43.73']], destinations: [B] }, 'numbers as strings'],
    [[A, B], 'an array body'],
    ['{"sources":', 'not JSON'],
  ];
  for (const [body, why] of cases) {
    assertOutcome(await postTable(server, body), 400, why);
  }
});

// ---------------------------------------------------------------------------------------------
// Who may do what

test('without a token every routing endpoint is 401', async () => {
  requireGraph();
  assertOutcome(await getRoute(server, `from=${ll(A)}&to=${ll(B)}`, { token: null }), 401, 'route');
  assertOutcome(await postTable(server, { sources: [A], destinations: [B] }, { token: null }), 401, 'table');
  assertOutcome(await postTraffic(server, [{ from_node: 1, to_node: 2, speed_kmh: 30 }], { token: null }), 401, 'traffic');
});

test('a clinician may route but not send traffic; a dispatcher may do both', async () => {
  requireGraph();
  const asClinician = await getRoute(server, `from=${ll(A)}&to=${ll(B)}`, { token: tokens.clinician });
  assert.equal(asClinician.status, 200, show(asClinician));
  const table = await postTable(server, { sources: [A], destinations: [B] }, { token: tokens.clinician });
  assert.equal(table.status, 200, show(table));
  const refused = await postTraffic(server, [{ from_node: 1, to_node: 2, speed_kmh: 30 }], { token: tokens.clinician });
  assertOutcome(refused, 403, 'clinician traffic');

  const asDispatcher = await getRoute(server, `from=${ll(A)}&to=${ll(B)}`, { token: tokens.dispatcher });
  assert.equal(asDispatcher.status, 200, show(asDispatcher));
  const sent = await postTraffic(server, [{ from_node: 1, to_node: 2, speed_kmh: 30 }], { token: tokens.dispatcher });
  assert.equal(sent.status, 200, show(sent));
  assert.equal(sent.json.unknown_segments, 1, show(sent));
});

// ---------------------------------------------------------------------------------------------
// No graph

test('a server without an imported graph answers 501 on every routing endpoint', async () => {
  assert.ok(bare, 'the server without a graph did not start');
  const route501 = await getRoute(bare, `from=${ll(A)}&to=${ll(B)}`);
  const oo = assertOutcome(route501, 501, 'route without a graph');
  assert.match(diagnostics(oo), /routing import/, JSON.stringify(oo));
  assertOutcome(await postTable(bare, { sources: [A], destinations: [B] }), 501, 'table without a graph');
  assertOutcome(await postTraffic(bare, [{ from_node: 1, to_node: 2, speed_kmh: 30 }]), 501, 'traffic without a graph');
});

test('both servers stop cleanly', async () => {
  for (const s of servers.splice(0)) await s.stop();
});
