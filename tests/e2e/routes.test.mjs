// Route enumeration: `medulla routes` prints the table the server routes by (api/routes.h);
// every route in it is driven through the real server with no token, with a token whose scopes
// grant nothing on the route's target, and as administrator. No route answers data without its
// guard deciding, every refusal is audited, and paths or methods outside the table get 404/405.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MedullaServer, mintToken, runMedulla } from './lib/server.mjs';

let server;
let routes;
let tokens;
const ids = {};

function send(method, p, token, body) {
  // No token: an empty Authorization header, or lib/server.mjs would add the admin's.
  const headers = { authorization: token ? `Bearer ${token}` : '' };
  if (p === '/auth/token') headers['content-type'] = 'application/x-www-form-urlencoded';
  return server.http.request(method, p, { headers, body });
}

/** The route's pattern with real values: an existing Observation, its patient, version 1. */
function instantiate(pattern) {
  return pattern
    .replace('{type}', 'Observation')
    .replace('/Patient/{id}', `/Patient/${ids.patient}`)
    .replace('/Group/{id}', '/Group/no-such-group')
    .replace('{id}', ids.observation)
    .replace('{version}', '1')
    .replace('{compartment}', 'Observation')
    .replace('{job}', 'no-such-job')
    .replace('{file}', 'Observation.ndjson');
}

function bodyFor(route) {
  if (route.pattern === '/auth/token') return 'grant_type=client_credentials';
  if (route.pattern === '/telemetry') {
    return `${JSON.stringify({ patient: `Patient/${ids.patient}`, device: 'Device/routes', code: '8867-4', time: new Date().toISOString(), value: 80, unit: '/min' })}\n`;
  }
  if (route.method === 'POST' && route.pattern === '/') {
    return { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Observation/${ids.observation}` } }] };
  }
  if (route.method === 'POST' && route.pattern.endsWith('_search')) return '';
  if (route.method === 'POST' || route.method === 'PUT') {
    return { resourceType: 'Observation', id: ids.observation, status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${ids.patient}` } };
  }
  return undefined;
}

before(async () => {
  const r = await runMedulla(['routes']);
  assert.equal(r.code, 0, r.output);
  routes = r.stdout.trim().split('\n').map((line) => {
    const [method, pattern, guard, interaction, scope] = line.split('\t');
    return { method, pattern, guard, interaction, scope };
  });
  server = await MedullaServer.start();
  const admin = server.token;
  const post = async (body) => JSON.parse((await send('POST', `/${body.resourceType}`, admin, body)).text).id;
  ids.patient = await post({ resourceType: 'Patient', name: [{ family: 'Routes' }] });
  ids.observation = await post({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${ids.patient}` } });
  tokens = {
    admin,
    // A real role whose scopes grant nothing on Observation, Patient, the audit log or bulk data.
    analyst: mintToken(server.dataDir, ['--role', 'analyst']),
  };
});
after(async () => server && (await server.dispose()));

test('the route table covers the API and every route has a guard', () => {
  const guards = new Set(['probe', 'client-assertion', 'self-description', 'authenticated', 'administrator', 'dispatcher', 'type-scope', 'audit-log', 'refused']);
  assert.ok(routes.length >= 30, `only ${routes.length} routes`);
  for (const r of routes) {
    assert.ok(guards.has(r.guard), `${r.method} ${r.pattern}: guard '${r.guard}'`);
    if (r.guard === 'type-scope') assert.match(r.scope, /^[cruds]$/, `${r.method} ${r.pattern} names no scope`);
  }
  // The guards the security model requires (docs/security.md), so that weakening one in the
  // table fails here even though the sweeps below follow the table.
  const required = {
    'GET /{type}/{id}': 'type-scope r', 'PUT /{type}/{id}': 'type-scope u', 'DELETE /{type}/{id}': 'type-scope d',
    'POST /{type}': 'type-scope c', 'GET /{type}': 'type-scope s', 'GET /Patient/{id}/$everything': 'type-scope r',
    'GET /{type}/{id}/_history/{version}': 'type-scope r', 'POST /': 'authenticated', 'GET /_history': 'administrator',
    'GET /$export': 'administrator', 'POST /$export': 'administrator', 'GET /$export-file/{job}/{file}': 'administrator',
    'GET /metrics': 'administrator', 'GET /AuditEvent': 'audit-log', 'GET /AuditEvent/{id}': 'audit-log',
    'POST /AuditEvent': 'refused', 'POST /auth/token': 'client-assertion', 'GET /metadata': 'self-description',
    'GET /healthz': 'probe', 'POST /telemetry': 'authenticated',
    'GET /routing/route': 'authenticated', 'POST /routing/table': 'authenticated', 'POST /routing/traffic': 'dispatcher',
    'POST /dispatch/recommend': 'dispatcher', 'POST /$dispatch-recommend': 'dispatcher',
    'POST /dispatch/positions': 'dispatcher', 'GET /dispatch/state': 'dispatcher',
  };
  for (const [route, guard] of Object.entries(required)) {
    const found = routes.find((r) => `${r.method} ${r.pattern}` === route);
    assert.ok(found, `${route} is not in the table`);
    assert.equal(`${found.guard}${found.scope ? ` ${found.scope}` : ''}`, guard, route);
  }
});

test('without a token only probes, self-description and the token endpoint answer', async () => {
  for (const r of routes) {
    const res = await send(r.method, instantiate(r.pattern), null, bodyFor(r));
    const name = `${r.method} ${r.pattern} (${r.guard})`;
    if (r.guard === 'probe' || r.guard === 'self-description') {
      assert.equal(res.status, 200, name);
      assert.ok(!res.text.includes(ids.observation), `${name} shows data`);
    } else if (r.guard === 'client-assertion') {
      assert.ok([400, 401].includes(res.status), `${name}: ${res.status}`);
      assert.match(res.text, /"error":"(invalid_client|invalid_request|unsupported_grant_type)"/, name);
    } else {
      assert.equal(res.status, 401, `${name}: ${res.status} ${res.text.slice(0, 200)}`);
    }
  }
});

test('a token whose scopes grant nothing on the target is refused by every guarded route', async () => {
  for (const r of routes) {
    if (['probe', 'self-description', 'client-assertion'].includes(r.guard)) continue;
    const res = await send(r.method, instantiate(r.pattern), tokens.analyst, bodyFor(r));
    const name = `${r.method} ${r.pattern} (${r.guard})`;
    if (r.guard === 'refused') {
      assert.equal(res.status, 405, name);
    } else if (r.pattern === '/telemetry') {
      // Each reading is decided as an Observation create; none passing is a refusal.
      assert.equal(res.status, 403, `${name}: ${res.status} ${res.text.slice(0, 200)}`);
    } else if (r.guard === 'authenticated' && r.pattern.startsWith('/routing/')) {
      // Routes and tables carry no patient data: any valid token passes (this server has no
      // road graph, so it then answers 501).
      assert.equal(res.status, 501, `${name}: ${res.status} ${res.text.slice(0, 200)}`);
    } else if (r.guard === 'authenticated') {
      // A batch is let in; each entry is then decided on its own.
      assert.equal(res.status, 200, name);
      const bundle = JSON.parse(res.text);
      assert.match(bundle.entry[0].response.status, /^403/, `${name}: the entry was not refused`);
      assert.ok(!res.text.includes('"resourceType":"Observation"'), `${name} leaks the Observation`);
    } else {
      assert.equal(res.status, 403, `${name}: ${res.status} ${res.text.slice(0, 200)}`);
    }
    assert.ok(!res.text.includes(`"subject":{"reference":"Patient/${ids.patient}"}`), `${name} leaks data`);
  }
});

test('the administrator passes every guard', async () => {
  for (const r of routes) {
    if (r.guard === 'probe' || r.guard === 'client-assertion' || r.guard === 'refused') continue;
    const res = await send(r.method, instantiate(r.pattern), tokens.admin, bodyFor(r));
    assert.ok(![401, 403].includes(res.status), `${r.method} ${r.pattern}: ${res.status} ${res.text.slice(0, 200)}`);
  }
});

test('refusals are audited', async () => {
  const res = await send('GET', '/AuditEvent?_count=1000', tokens.admin);
  const events = JSON.parse(res.text).entry.map((e) => e.resource);
  const refused = events.filter((e) => /^HTTP 40[13]/.test(e.outcomeDesc || ''));
  const guarded = routes.filter((r) => !['probe', 'client-assertion', 'self-description', 'refused'].includes(r.guard));
  // One 401 (no token) and one 403 (analyst) per guarded route, except the batch and the
  // routing reads, whose analyst requests are let in.
  const letIn = routes.filter((r) => r.guard === 'authenticated' && r.pattern !== '/telemetry').length;
  assert.ok(refused.length >= 2 * guarded.length - letIn, `${refused.length} refusals audited for ${guarded.length} guarded routes`);
});

test('methods and paths outside the table are not served', async () => {
  const probes = [
    ['PATCH', `/Observation/${ids.observation}`], ['PATCH', '/'], ['GET', '/'], ['PUT', '/Observation'],
    ['DELETE', '/Observation'], ['GET', `/Observation/${ids.observation}/_history/1/extra`], ['GET', '/nonsense'],
    ['GET', '/Observation/_search'], ['POST', `/Observation/${ids.observation}`], ['GET', '/AuditEvent/1/_history'],
    ['POST', '/AuditEvent/_search'], ['GET', `/Patient/${ids.patient}/AuditEvent`], ['GET', '/auth/token'], ['PUT', '/metadata'],
  ];
  for (const [method, p] of probes) {
    const res = await send(method, p, tokens.admin, method === 'GET' || method === 'DELETE' ? undefined : {});
    assert.ok([400, 404, 405].includes(res.status), `${method} ${p}: ${res.status} ${res.text.slice(0, 200)}`);
  }
});
