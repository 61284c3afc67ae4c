// Per-client rate limits (security/rate_limiter.h): a client's user past its burst gets 429 with
// an OperationOutcome (code throttled) and Retry-After, and is admitted again once that time has
// passed; another user of the same client and administrators are not slowed by it; callers
// without a valid token, and token requests, are limited by address, the token endpoint with an
// RFC 6749-style error; refusals are counted in /metrics.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { MedullaServer, makeTempDir, mintToken } from './lib/server.mjs';

let server;
const RATE = 4; // requests per second per client and user
const BURST = 8;
const ANON_RATE = 2;
const ANON_BURST = 4;

before(async () => {
  const config = path.join(makeTempDir('medulla-e2e-rate-'), 'medulla.toml');
  fs.writeFileSync(
    config,
    `[security]\nrate_limit = ${RATE}\nrate_burst = ${BURST}\n` +
      `anonymous_rate_limit = ${ANON_RATE}\nanonymous_rate_burst = ${ANON_BURST}\n`,
  );
  server = await MedullaServer.start({ args: ['--config', config] });
});
after(async () => {
  await server?.stop();
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function clinician(subject) {
  return mintToken(server.dataDir, ['--role', 'clinician', '--organization', 'org-1', '--subject', subject]);
}

/** n requests at once with `token` (none: no Authorization header); their responses. */
function burst(n, token, p = '/Patient?_count=1') {
  const headers = token ? { authorization: `Bearer ${token}` } : { authorization: '' };
  return Promise.all(Array.from({ length: n }, () => server.http.request('GET', p, { headers })));
}

function assertThrottled(res, what) {
  assert.equal(res.status, 429, `${what}: ${res.status} ${res.text}`);
  const retry = res.headers.get('retry-after');
  assert.match(retry ?? '', /^[1-9][0-9]*$/, `${what}: Retry-After is whole seconds`);
  return Number(retry);
}

test('a user past its burst gets 429 with Retry-After, and is admitted again after it', async () => {
  const token = clinician('dr-busy');
  const replies = await burst(BURST + 6, token);
  const admitted = replies.filter((r) => r.status === 200).length;
  const refused = replies.filter((r) => r.status === 429);
  assert.ok(admitted >= BURST && admitted <= BURST + 1, `${admitted} admitted of ${replies.length}`);
  assert.ok(refused.length >= 5, `${refused.length} refused`);
  assert.equal(admitted + refused.length, replies.length, 'only 200 or 429');
  const wait = assertThrottled(refused[0], 'over the burst');
  assert.equal(refused[0].json.resourceType, 'OperationOutcome');
  assert.equal(refused[0].json.issue[0].code, 'throttled');
  assert.ok(wait <= Math.ceil(1 / RATE), `Retry-After ${wait} s for one request at ${RATE}/s`);
  await sleep(wait * 1000);
  const again = await server.http.request('GET', '/Patient?_count=1', { headers: { authorization: `Bearer ${token}` } });
  assert.equal(again.status, 200, 'admitted after Retry-After');
});

test("another user of the same client, and an administrator, are not slowed by one user's flood", async () => {
  const busy = clinician('dr-flood');
  await burst(BURST + 4, busy);
  const [other] = await burst(1, clinician('dr-calm'));
  assert.equal(other.status, 200, 'a different subject has a bucket of its own');
  const admin = await burst(BURST * 4, server.token, '/metadata');
  assert.deepEqual([...new Set(admin.map((r) => r.status))], [200], 'administrators are not limited');
});

test('requests without a valid token are limited by address; so is the token endpoint', async () => {
  await sleep(((ANON_BURST / ANON_RATE) + 0.5) * 1000); // the address bucket full again
  const replies = await burst(ANON_BURST + 4, null, '/Patient');
  assert.ok(replies.filter((r) => r.status === 401).length >= ANON_BURST, 'the burst gets its 401s');
  const refused = replies.filter((r) => r.status === 429);
  assert.ok(refused.length >= 3, `${refused.length} refused`);
  assertThrottled(refused[0], 'anonymous flood');
  const forged = await server.http.request('GET', '/Patient', { headers: { authorization: 'Bearer not.a.token' } });
  assertThrottled(forged, 'a forged token from the same address');

  const res = await fetch(`${server.base}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  assert.equal(res.status, 429);
  assert.match(res.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/);
  const body = await res.json();
  assert.equal(body.error, 'temporarily_unavailable');

  const metrics = await server.http.request('GET', '/metrics', { headers: { authorization: `Bearer ${server.token}` } });
  const m = /^medulla_rate_limited_total (\d+)$/m.exec(metrics.text);
  assert.ok(m && Number(m[1]) >= 10, `medulla_rate_limited_total: ${m && m[1]}`);
});
