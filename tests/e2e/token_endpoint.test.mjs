// The built-in token endpoint (POST /auth/token, SMART Backend Services): a real OAuth client
// (openid-client, private_key_jwt) obtains a client-credentials token with a signed assertion
// and reads data with it; a device client writes for its own patient only; forged, replayed,
// mis-addressed and over-long assertions are refused with RFC 6749 errors; a removed client is
// refused without a restart; and every token request is in the audit log.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from 'fhir-kit-client';
import * as oauth from 'openid-client';
import { MedullaServer, makeTempDir, runMedulla } from './lib/server.mjs';

let server;
let smart;
let patientId;
let otherPatientId;
const keys = {};

async function admin(method, p, body) {
  const res = await server.http.request(method, p, { headers: { authorization: `Bearer ${server.token}` }, body });
  return { status: res.status, body: res.json };
}

/** An ES256 key pair whose public half is written as a JWKS file. */
function makeClientKey(name) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: `${name}-1`, alg: 'ES256', use: 'sig' };
  const file = path.join(makeTempDir('medulla-e2e-jwks-'), `${name}.jwks.json`);
  fs.writeFileSync(file, JSON.stringify({ keys: [jwk] }));
  return { privateKey, kid: jwk.kid, file };
}

async function register(id, role, keyFile, extra = []) {
  const r = await runMedulla(['client', 'add', '--data-dir', server.dataDir, '--id', id, '--role', role, '--jwks', keyFile, ...extra]);
  assert.equal(r.code, 0, r.output);
}

/** A real OAuth client configured from the server's SMART configuration. */
async function oauthClient(clientId, key) {
  // openid-client signs with WebCrypto keys.
  const cryptoKey = await crypto.subtle.importKey('pkcs8', key.privateKey.export({ format: 'der', type: 'pkcs8' }),
    { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const config = new oauth.Configuration(
    { issuer: smart.issuer, token_endpoint: smart.token_endpoint },
    clientId,
    {},
    oauth.PrivateKeyJwt({ key: cryptoKey, kid: key.kid }),
  );
  oauth.allowInsecureRequests(config); // plain HTTP on loopback in this test; tls.test.mjs covers TLS
  return config;
}

/** A client assertion made by hand, for the cases a well-behaved client never sends. */
function assertion(clientId, key, claims = {}, header = {}) {
  const now = Math.floor(Date.now() / 1000);
  const h = { alg: 'ES256', typ: 'JWT', kid: key.kid, ...header };
  const p = { iss: clientId, sub: clientId, aud: smart.token_endpoint, jti: crypto.randomUUID(), iat: now, exp: now + 120, ...claims };
  const input = `${Buffer.from(JSON.stringify(h)).toString('base64url')}.${Buffer.from(JSON.stringify(p)).toString('base64url')}`;
  const sig = crypto.sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

async function tokenRequest(fields) {
  const res = await fetch(smart.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

const grant = (clientAssertion, scope = 'system/*.rs') => ({
  grant_type: 'client_credentials',
  client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
  client_assertion: clientAssertion,
  scope,
});

before(async () => {
  server = await MedullaServer.start();
  smart = await (await fetch(`${server.base}/.well-known/smart-configuration`)).json();
  patientId = (await admin('POST', '/Patient', { resourceType: 'Patient', name: [{ family: 'Home' }] })).body.id;
  otherPatientId = (await admin('POST', '/Patient', { resourceType: 'Patient', name: [{ family: 'Other' }] })).body.id;
  keys.hospital = makeClientKey('hospital');
  keys.device = makeClientKey('device');
  keys.stranger = makeClientKey('stranger');
  await register('hospital-sync', 'admin', keys.hospital.file, ['--scope', 'system/*.rs', '--name', 'Hospital A records sync']);
  await register('wearable-42', 'device', keys.device.file, ['--patient', patientId]);
});
after(async () => server && (await server.dispose()));

test('the SMART configuration names the token endpoint and private_key_jwt', () => {
  assert.equal(smart.token_endpoint, `${server.base}/auth/token`);
  assert.ok(smart.grant_types_supported.includes('client_credentials'));
  assert.ok(smart.token_endpoint_auth_methods_supported.includes('private_key_jwt'));
});

test('a real OAuth client gets a backend-services token and reads data with it', async () => {
  const tokens = await oauth.clientCredentialsGrant(await oauthClient('hospital-sync', keys.hospital), { scope: 'system/*.rs system/*.cruds' });
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.equal(tokens.scope, 'system/*.rs', 'granted no more than registered');
  assert.ok(tokens.expires_in > 0 && tokens.expires_in <= 300);

  const fhir = new Client({ baseUrl: server.base, customHeaders: { authorization: `Bearer ${tokens.access_token}` } });
  const patient = await fhir.read({ resourceType: 'Patient', id: patientId });
  assert.equal(patient.name[0].family, 'Home');
  const bundle = await fhir.search({ resourceType: 'Patient', searchParams: { family: 'Other' } });
  assert.equal(bundle.total, 1);
  // Read-only scopes: a write is refused.
  const write = await fetch(`${server.base}/Patient`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/fhir+json' },
    body: JSON.stringify({ resourceType: 'Patient' }),
  });
  assert.equal(write.status, 403);
});

test('a device client writes readings for its own patient only', async () => {
  const tokens = await oauth.clientCredentialsGrant(await oauthClient('wearable-42', keys.device), { scope: 'patient/Observation.crs' });
  const post = (pid) =>
    fetch(`${server.base}/Observation`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: 'heart rate' }, subject: { reference: `Patient/${pid}` } }),
    });
  assert.equal((await post(patientId)).status, 201);
  assert.equal((await post(otherPatientId)).status, 403);
});

test('bad token requests get RFC 6749 errors, and no token', async () => {
  const h = keys.hospital;
  const cases = [
    ['unknown client', grant(assertion('nobody', h)), 401, 'invalid_client'],
    ['signed with another key', grant(assertion('hospital-sync', { ...keys.stranger, kid: h.kid })), 401, 'invalid_client'],
    ['iss differs from sub', grant(assertion('hospital-sync', h, { sub: 'wearable-42' })), 401, 'invalid_client'],
    ['addressed elsewhere', grant(assertion('hospital-sync', h, { aud: 'https://elsewhere.example/token' })), 401, 'invalid_client'],
    ['expired', grant(assertion('hospital-sync', h, { exp: Math.floor(Date.now() / 1000) - 600 })), 401, 'invalid_client'],
    ['valid for an hour', grant(assertion('hospital-sync', h, { exp: Math.floor(Date.now() / 1000) + 3600 })), 401, 'invalid_client'],
    ['no jti', grant(assertion('hospital-sync', h, { jti: undefined })), 401, 'invalid_client'],
    ['alg none', grant(assertion('hospital-sync', h, {}, { alg: 'none' }).replace(/[^.]+$/, '')), 401, 'invalid_client'],
    ['no assertion', { grant_type: 'client_credentials', scope: 'system/*.rs' }, 401, 'invalid_client'],
    ['password grant', { ...grant(assertion('hospital-sync', h)), grant_type: 'password' }, 400, 'unsupported_grant_type'],
    ['no scope', { ...grant(assertion('hospital-sync', h)), scope: '' }, 400, 'invalid_scope'],
    ['scopes it may not have', grant(assertion('hospital-sync', h), 'user/*.cruds'), 400, 'invalid_scope'],
  ];
  for (const [name, fields, status, error] of cases) {
    const res = await tokenRequest(fields);
    assert.equal(res.status, status, `${name}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.error, error, name);
    assert.equal(res.body.access_token, undefined, name);
    assert.equal(res.headers.get('cache-control'), 'no-store', name);
  }
  // A repeated field is a malformed request; GET is not a method of the endpoint.
  const dup = await fetch(smart.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `${new URLSearchParams(grant(assertion('hospital-sync', h)))}&scope=system/*.rs`,
  });
  assert.equal(dup.status, 400);
  assert.equal((await fetch(smart.token_endpoint)).status, 405, 'the token endpoint takes POST only');
});

test('an assertion is good for one token: a replay is refused', async () => {
  const once = assertion('hospital-sync', keys.hospital);
  assert.equal((await tokenRequest(grant(once))).status, 200);
  const again = await tokenRequest(grant(once));
  assert.equal(again.status, 401);
  assert.match(again.body.error_description, /already used/);
});

test('a removed client is refused at once, without a restart', async () => {
  const key = makeClientKey('temporary');
  await register('temporary', 'admin', key.file, ['--scope', 'system/Patient.rs']);
  assert.equal((await tokenRequest(grant(assertion('temporary', key), 'system/Patient.rs'))).status, 200);
  const listed = await runMedulla(['client', 'list', '--data-dir', server.dataDir]);
  assert.match(listed.stdout, /^temporary\trole=admin\tscope=system\/Patient.rs/m);
  const removed = await runMedulla(['client', 'remove', '--data-dir', server.dataDir, '--id', 'temporary']);
  assert.equal(removed.code, 0, removed.output);
  const res = await tokenRequest(grant(assertion('temporary', key), 'system/Patient.rs'));
  assert.equal(res.status, 401);
});

test('registration refuses what cannot work', async () => {
  const bad = [
    [['--id', 'x', '--role', 'device', '--jwks', keys.device.file], /needs a patient/],
    [['--id', 'bad id!', '--role', 'admin', '--jwks', keys.device.file], /client id/],
    [['--id', 'x', '--role', 'analyst', '--jwks', keys.device.file, '--scope', 'system/Patient.r'], /grants nothing/],
    [['--id', 'x', '--role', 'admin', '--jwks', '/nonexistent.json'], /cannot read/],
  ];
  for (const [args, message] of bad) {
    const r = await runMedulla(['client', 'add', '--data-dir', server.dataDir, ...args]);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.output, message);
  }
  const priv = path.join(makeTempDir('medulla-e2e-jwks-'), 'private.json');
  fs.writeFileSync(priv, JSON.stringify({ keys: [keys.device.privateKey.export({ format: 'jwk' })] }));
  const r = await runMedulla(['client', 'add', '--data-dir', server.dataDir, '--id', 'x', '--role', 'admin', '--jwks', priv]);
  assert.equal(r.code, 2, 'a JWKS with a private key is refused');
});

test('token requests, granted and refused, are in the audit log; the assertion is not', async () => {
  const res = await admin('GET', '/AuditEvent?_count=200');
  assert.equal(res.status, 200);
  const events = res.body.entry.map((e) => e.resource);
  const text = (e) => JSON.stringify(e);
  const logins = events.filter((e) => text(e).includes('/auth/token'));
  assert.ok(logins.some((e) => text(e).includes('hospital-sync') && e.outcome === '0'), 'a granted token is audited with its client');
  assert.ok(logins.some((e) => e.outcome !== '0' && text(e).includes('already used')), 'a refused replay is audited');
  for (const e of logins) assert.ok(!/eyJ[\w-]{20,}\.[\w-]{20,}/.test(text(e)), 'no JWT in an audit entry');
});
