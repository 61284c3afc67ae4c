// HTTPS through the real server: `openssl s_client` offering TLS 1.0, TLS 1.1 or a weak cipher
// is refused while TLS 1.2 with ECDHE+AEAD and TLS 1.3 are accepted; a real FHIR client
// (fhir-kit-client) reads over HTTPS; plain HTTP on the TLS port gets nothing; and the server
// refuses to start with a half or mismatched TLS configuration or plain HTTP on a public address.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { MedullaServer, freePort, httpsRequest, makeTempDir, runMedulla, REPO_ROOT } from './lib/server.mjs';

let server;
let certs;

/** A self-signed certificate for 127.0.0.1 and localhost, made with the openssl CLI. */
function makeCertificate(dir, name, keyArgs) {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', ...keyArgs, '-nodes', '-keyout', key, '-out', cert,
    '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `openssl req: ${r.stderr}`);
  return { cert, key };
}

/**
 * Runs `openssl s_client` against the server with the given protocol and cipher options and
 * returns the protocol and cipher it agreed, or null when the handshake was refused.
 */
function handshake(options) {
  const r = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${server.port}`, '-servername', 'localhost', ...options],
    { input: '', encoding: 'utf8', timeout: 15_000 });
  const out = `${r.stdout}${r.stderr}`;
  if (/^New, \(NONE\), Cipher is \(NONE\)/m.test(out)) return null;
  const m = out.match(/^New, (TLSv[\d.]+), Cipher is (\S+)/m);
  assert.ok(m, `s_client ${options.join(' ')} neither agreed nor was refused:\n${out}`);
  return { protocol: m[1], cipher: m[2] };
}

before(async () => {
  const dir = makeTempDir('medulla-e2e-tls-');
  // RSA: a certificate that RSA key transport (AES128-SHA and friends) could use, so refusing
  // those suites is the server's cipher policy, not the key type.
  certs = { rsa: makeCertificate(dir, 'rsa', ['rsa:2048']), ec: makeCertificate(dir, 'ec', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256']) };
  server = await MedullaServer.start({ tls: certs.rsa });
});
after(async () => server && (await server.dispose()));

test('TLS 1.0 and 1.1 are refused even when the client offers nothing else', () => {
  // SECLEVEL=0 makes Debian's OpenSSL client willing to speak the old protocols at all.
  for (const version of ['-tls1', '-tls1_1']) {
    assert.equal(handshake([version, '-cipher', 'DEFAULT@SECLEVEL=0']), null, `${version} was accepted`);
  }
});

test('weak TLS 1.2 ciphers are refused: RSA key transport, CBC, NULL, finite-field DHE', () => {
  for (const cipher of ['AES128-SHA', 'AES256-GCM-SHA384', 'ECDHE-RSA-AES128-SHA', 'ECDHE-RSA-AES256-SHA384',
    'ECDHE-RSA-NULL-SHA', 'NULL-SHA256', 'DHE-RSA-AES128-GCM-SHA256']) {
    assert.equal(handshake(['-tls1_2', '-cipher', `${cipher}@SECLEVEL=0`]), null, `${cipher} was accepted`);
  }
});

test('TLS 1.2 with ECDHE and AEAD, and TLS 1.3, are accepted', () => {
  assert.deepEqual(handshake(['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256']),
    { protocol: 'TLSv1.2', cipher: 'ECDHE-RSA-AES128-GCM-SHA256' });
  assert.deepEqual(handshake(['-tls1_2', '-cipher', 'ECDHE-RSA-CHACHA20-POLY1305']),
    { protocol: 'TLSv1.2', cipher: 'ECDHE-RSA-CHACHA20-POLY1305' });
  assert.equal(handshake(['-tls1_3']).protocol, 'TLSv1.3');
});

test('a real FHIR client reads and writes over HTTPS with a token; links say https', async () => {
  // fhir-kit-client uses the global fetch, which trusts only the CAs given at process start:
  // run it in a child node with NODE_EXTRA_CA_CERTS naming our certificate.
  const script = `
    import { Client } from 'fhir-kit-client';
    const client = new Client({ baseUrl: process.env.BASE, customHeaders: { authorization: 'Bearer ' + process.env.TOKEN } });
    const created = await client.create({ resourceType: 'Patient', body: { resourceType: 'Patient', name: [{ family: 'Over-TLS' }] } });
    const read = await client.read({ resourceType: 'Patient', id: created.id });
    const found = await client.search({ resourceType: 'Patient', searchParams: { family: 'Over-TLS' } });
    console.log(JSON.stringify({ id: read.id, family: read.name[0].family, total: found.total, self: found.link[0].url }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: path.join(REPO_ROOT, 'tests', 'e2e'), encoding: 'utf8', timeout: 30_000,
    env: { ...process.env, NODE_EXTRA_CA_CERTS: certs.rsa.cert, BASE: server.base, TOKEN: server.token },
  });
  assert.equal(r.status, 0, `client failed: ${r.stderr}`);
  const got = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.equal(got.family, 'Over-TLS');
  assert.equal(got.total, 1);
  assert.ok(got.self.startsWith(`https://127.0.0.1:${server.port}/`), got.self);

  const res = await httpsRequest(`${server.base}/Patient/${got.id}`, { ca: certs.rsa.cert, headers: { authorization: `Bearer ${server.token}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers['strict-transport-security'], /max-age=\d+/);
  const anonymous = await httpsRequest(`${server.base}/Patient/${got.id}`, { ca: certs.rsa.cert });
  assert.equal(anonymous.status, 401, 'TLS is no substitute for a token');
});

test('plain HTTP on the TLS port gets no answer, and the failures are counted', async () => {
  const before = await handshakeFailures();
  const reply = await new Promise((resolve, reject) => {
    const socket = net.connect(server.port, '127.0.0.1', () => socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
    let data = '';
    socket.setEncoding('latin1').on('data', (d) => (data += d));
    socket.on('close', () => resolve(data));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error('server kept a plain-HTTP connection open')));
  });
  assert.ok(!reply.includes('HTTP/1.1 200'), 'plain HTTP was answered');
  assert.ok((await handshakeFailures()) > before, 'the refused handshake is in medulla_tls_handshake_failures_total');
});

async function handshakeFailures() {
  const res = await httpsRequest(`${server.base}/metrics`, { ca: certs.rsa.cert, headers: { authorization: `Bearer ${server.token}` } });
  assert.equal(res.status, 200);
  const m = res.body.match(/^medulla_tls_handshake_failures_total (\d+)/m);
  return m ? Number(m[1]) : 0;
}

test('an ECDSA certificate works too, and TLS may listen on every address', async () => {
  const other = await MedullaServer.start({ tls: certs.ec, host: '0.0.0.0' });
  try {
    const res = await httpsRequest(`${other.base}/healthz`, { ca: certs.ec.cert });
    assert.equal(res.status, 200);
    assert.match(res.cipher, /^(TLS_|ECDHE-ECDSA-)/);
  } finally {
    await other.stop();
  }
});

test('refuses to start with plain HTTP on a public address, half a TLS configuration or a mismatched key', async () => {
  const dataDir = path.join(makeTempDir('medulla-e2e-tls-bad-'), 'data');
  const port = await freePort();
  const cases = [
    [[], /plain HTTP is served on loopback addresses only/],
    [['--tls-cert', certs.rsa.cert], /needs both/],
    [['--tls-cert', certs.rsa.cert, '--tls-key', certs.ec.key], /does not match/],
    [['--tls-cert', '/nonexistent/cert.pem', '--tls-key', certs.rsa.key], /certificate chain '\/nonexistent\/cert.pem'/],
    [['--tls-cert', certs.rsa.cert, '--tls-key', certs.rsa.key, '--insecure-behind-proxy'], /cannot be combined/],
  ];
  for (const [args, message] of cases) {
    const r = await runMedulla(['serve', '--data-dir', dataDir, '--listen', `0.0.0.0:${port}`, ...args], { timeoutMs: 15_000 });
    assert.notEqual(r.code, 0, `started with ${args.join(' ')}`);
    assert.ok(!r.timedOut, `kept running with ${args.join(' ')}`);
    assert.match(r.output, message);
  }
});

test('neither the private key nor a token ever reaches the server log', () => {
  const log = server.log();
  const keyBody = fs.readFileSync(certs.rsa.key, 'utf8').split('\n')[1];
  assert.ok(!log.includes(keyBody), 'the TLS private key is in the log');
  assert.ok(!log.includes(server.token.split('.')[2]), 'a token signature is in the log');
});
