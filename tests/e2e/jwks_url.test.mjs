// An external identity provider whose keys are published at a JWKS URL (security.jwks_url):
// a real HTTPS server (node:https, a certificate made with the openssl CLI and trusted through
// security.jwks_ca_file) serves the set. Its tokens are accepted; a key it rotates in is
// trusted after the refetch that the first token naming it asks for; a broken publication keeps
// the keys already loaded; a provider that is down at start does not stop the server, and its
// keys load once it is up; plain http:// to a non-loopback host is refused at start.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { MedullaServer, freePort, makeTempDir, mintToken, runMedulla } from './lib/server.mjs';

const ISSUER = 'https://idp.test/realms/city';
const AUDIENCE = 'urn:medulla:e2e:fhir';
let dir;
let tlsFiles;
let server;
let config;
let idp; // { port, publish(body), close() }
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function makeCertificate() {
  const cert = path.join(dir, 'idp.crt');
  const key = path.join(dir, 'idp.key');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `openssl req: ${r.stderr}`);
  return { cert, key };
}

function newKey(kid) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' } };
}
const jwks = (...keys) => JSON.stringify({ keys: keys.map((k) => k.jwk) });

/** A token of the built-in issuer, which takes the configured issuer and audience. */
const builtIn = (dataDir, file) => mintToken(dataDir, ['--config', file, '--role', 'admin']);

/** An access token as the identity provider would issue it, signed with `key`. */
function idpToken(key, claims = {}) {
  const now = Math.floor(Date.now() / 1000);
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64({ alg: 'ES256', typ: 'JWT', kid: key.kid })}.${b64({
    iss: ISSUER, aud: AUDIENCE, sub: 'ops-1', role: 'admin', scope: 'system/*.rs', jti: crypto.randomUUID(),
    iat: now, exp: now + 300, ...claims })}`;
  const sig = crypto.sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

/** The provider: an HTTPS server on `port` serving whatever was last published at /jwks. */
function startProvider(port, body) {
  let published = body;
  let requests = 0;
  const srv = https.createServer({ cert: fs.readFileSync(tlsFiles.cert), key: fs.readFileSync(tlsFiles.key) }, (req, res) => {
    requests++;
    if (req.url !== '/realms/city/jwks') return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(published);
  });
  return new Promise((resolve) => srv.listen(port, '127.0.0.1', () => resolve({
    port,
    publish: (b) => { published = b; },
    requests: () => requests,
    close: () => new Promise((r) => srv.close(r)),
  })));
}

function writeConfig(port, extra = '') {
  const file = path.join(dir, `medulla-${port}.toml`);
  fs.writeFileSync(file, `[security]\nissuer = "${ISSUER}"\naudience = "${AUDIENCE}"\n` +
    `jwks_url = "https://127.0.0.1:${port}/realms/city/jwks"\njwks_ca_file = "${tlsFiles.cert}"\n` +
    `jwks_min_interval_seconds = 1\n${extra}`);
  return file;
}

async function read(token) {
  return server.http.request('GET', '/Patient?_count=1', { headers: { authorization: `Bearer ${token}` } });
}

const keyA = newKey('idp-key-a');
const keyB = newKey('idp-key-b');

before(async () => {
  dir = makeTempDir('medulla-e2e-jwks-');
  tlsFiles = makeCertificate();
  idp = await startProvider(await freePort(), jwks(keyA));
  config = writeConfig(idp.port);
  server = await MedullaServer.start({ args: ['--config', config] });
});
after(async () => {
  await server?.stop();
  await idp?.close();
});

test("the provider's tokens are accepted over its HTTPS JWKS URL; a stranger's are not", async () => {
  assert.equal((await read(idpToken(keyA))).status, 200);
  assert.equal((await read(idpToken(newKey('idp-key-a')))).status, 401, 'same kid, another key');
  assert.equal((await read(idpToken(keyA, { iss: 'https://other.idp' }))).status, 401, 'another issuer');
  assert.equal((await read(builtIn(server.dataDir, config))).status, 200, 'the built-in issuer still works');
});

test('a key rotated in at the provider is trusted after the refetch its first token asks for', async () => {
  idp.publish(jwks(keyA, keyB));
  const before = idp.requests();
  const token = idpToken(keyB);
  assert.equal((await read(token)).status, 401, 'not in the set loaded at start');
  let status = 401;
  for (let i = 0; i < 50 && status !== 200; i++) {
    await sleep(100);
    status = (await read(token)).status;
  }
  assert.equal(status, 200, 'trusted after the refetch');
  assert.ok(idp.requests() - before <= 2, `${idp.requests() - before} fetches for one rotation`);
});

test('a broken publication keeps the keys already loaded', async () => {
  idp.publish('<html>maintenance</html>');
  await read(idpToken(newKey('unknown-kid'))); // asks for a refetch, which fails
  await sleep(1500);
  assert.equal((await read(idpToken(keyA))).status, 200);
  idp.publish(jwks(keyA, keyB));
});

test('a provider down at start does not stop the server; its keys load once it is up', async () => {
  const port = await freePort();
  const lateConfig = writeConfig(port);
  const late = await MedullaServer.start({ args: ['--config', lateConfig] });
  try {
    assert.match(late.log(), /could not be loaded/);
    const token = idpToken(keyA);
    const as = (t) => late.http.request('GET', '/Patient?_count=1', { headers: { authorization: `Bearer ${t}` } });
    assert.equal((await as(token)).status, 401);
    assert.equal((await as(builtIn(late.dataDir, lateConfig))).status, 200, 'the built-in issuer works meanwhile');
    const provider = await startProvider(port, jwks(keyA));
    try {
      let status = 401;
      for (let i = 0; i < 50 && status !== 200; i++) {
        await sleep(100);
        status = (await as(token)).status;
      }
      assert.equal(status, 200);
    } finally {
      await provider.close();
    }
  } finally {
    await late.stop();
  }
});

test('plain http:// to a host that is not loopback is refused at start', async () => {
  const file = path.join(dir, 'plain.toml');
  fs.writeFileSync(file, '[security]\njwks_url = "http://idp.example.org/jwks"\n');
  const r = await runMedulla(['serve', '--config', file, '--data-dir', path.join(dir, 'plain-data'), '--listen', '127.0.0.1:0']);
  assert.notEqual(r.code, 0);
  assert.match(r.output, /jwks_url must be https/);
});
