// Encryption at rest of the embedded store (docs/security.md, "Encryption at rest"), through the
// real binary: writers create Patients under a store key, the server is killed with SIGKILL
// mid-write, and then
// - no file under the data directory holds the patients' names (database, WAL, audit journal,
//   export files), while the same run without a key does (the control);
// - a restart with the key returns every acknowledged create;
// - a start without the key, with another key, or with a key file others may read, refuses
//   with a clear message and changes nothing;
// - `medulla audit verify` and `medulla import` work with the key;
// - $export files are sealed on disk and plain NDJSON when downloaded.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { MedullaServer, makeTempDir, mapLimit, runMedulla, show } from './lib/server.mjs';

const MARKER = 'Qwertzuiopasd';  // a family name that appears nowhere else
const servers = [];
after(async () => {
  for (const s of servers) await s.dispose();
});

function keyFile(dir, name, mode = 0o600) {
  const file = path.join(dir, name);
  fs.writeFileSync(file, crypto.randomBytes(32).toString('hex') + '\n', { mode });
  fs.chmodSync(file, mode);
  return file;
}

/** Files under dir whose bytes contain needle (any case: the search index lowercases). */
function filesContaining(dir, needle) {
  const found = [];
  const lower = Buffer.from(needle.toLowerCase());
  const upper = Buffer.from(needle);
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const bytes = fs.readFileSync(p);
        if (bytes.includes(upper) || bytes.includes(lower)) found.push(path.relative(dir, p));
      }
    }
  };
  walk(dir);
  return found;
}

async function startFails(dataDir, env) {
  const r = await runMedulla(['serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0'], {
    env,
    timeoutMs: 30_000,
  });
  assert.notEqual(r.code, 0, `serve should refuse: ${r.output}`);
  assert.equal(r.timedOut, false, 'serve should refuse at once, not run');
  return r.output;
}

async function exportPatients(server) {
  const kick = await server.http.request('GET', '/$export?_type=Patient', {
    headers: { prefer: 'respond-async', accept: 'application/fhir+json' },
  });
  assert.equal(kick.status, 202, show(kick));
  const status = new URL(kick.headers.get('content-location')).pathname;
  for (let i = 0; i < 600; i++) {
    const res = await server.http.get(status);
    if (res.status === 200) return res.json;
    assert.equal(res.status, 202, show(res));
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail('no export manifest after 30 s');
}

/**
 * Writers create marked Patients for at least `ms`, and on until `minAcked` are acknowledged
 * (at most 20 s: a loaded CI machine commits slowly), then kill -9; returns what was
 * acknowledged.
 */
async function writeUntilKilled(server, ms, minAcked = 1) {
  const acked = [];
  let killed = false;
  const writer = async (k) => {
    for (let i = 0; !killed; i++) {
      const body = { resourceType: 'Patient', name: [{ family: MARKER, given: [`W${k}`, `N${i}`] }] };
      let res;
      try {
        res = await server.http.post('/Patient', body, { timeoutMs: 10_000 });
      } catch {
        return; // the kill
      }
      if (res.status === 201) acked.push(res.json);
      else if (!killed) throw new Error(show(res));
    }
  };
  const running = Array.from({ length: 6 }, (_, k) => writer(k));
  await new Promise((r) => setTimeout(r, ms));
  for (let waited = 0; acked.length < minAcked && waited < 20_000; waited += 50) {
    await new Promise((r) => setTimeout(r, 50));
  }
  // Reads too, so the audit journal holds entries naming the patients.
  await mapLimit(acked.slice(0, 20), 4, (p) => server.http.get(`/Patient/${p.id}`));
  killed = true;
  server.child.kill('SIGKILL');
  await Promise.allSettled(running);
  await server.kill9();
  return acked;
}

test('an encrypted store holds no plaintext, survives kill -9, and opens only with its key', async () => {
  const secrets = makeTempDir('medulla-e2e-keys-');
  const key = keyFile(secrets, 'store.key');
  const env = { MEDULLA_STORE_KEY_FILE: key };
  const first = await MedullaServer.start({ env });
  servers.push(first);
  const dataDir = first.dataDir;
  const acked = await writeUntilKilled(first, 1500, 20);
  assert.ok(acked.length >= 20, `too few creates acknowledged (${acked.length})`);
  console.log(`# ${acked.length} creates acknowledged before kill -9`);

  assert.deepEqual(filesContaining(dataDir, MARKER), [], 'files holding a patient name in the clear');
  assert.deepEqual(filesContaining(dataDir, 'SQLite format 3'), [], 'a database file in the clear');

  // Refusals, each before anything is written.
  assert.match(await startFails(dataDir, {}), /is encrypted/);
  assert.match(await startFails(dataDir, { MEDULLA_STORE_KEY_FILE: keyFile(secrets, 'other.key') }),
    /does not open/);
  assert.match(await startFails(dataDir, { MEDULLA_STORE_KEY_FILE: keyFile(secrets, 'open.key', 0o644) }),
    /readable by others/);
  assert.match(await startFails(dataDir, { MEDULLA_STORE_KEY: 'abc' }), /64 hex digits/);

  const second = await MedullaServer.start({ dataDir, env });
  servers.push(second);
  const lost = [];
  await mapLimit(acked, 8, async (p) => {
    const res = await second.http.get(`/Patient/${p.id}`);
    if (res.status !== 200 || JSON.stringify(res.json) !== JSON.stringify(p)) lost.push(p.id);
  });
  assert.deepEqual(lost, [], 'acknowledged creates lost or changed');
  const search = await second.http.get(`/Patient?family=${MARKER}&_summary=count`);
  assert.equal(search.status, 200, show(search));
  // The search index reads through the same encryption: every acknowledged create is found.
  assert.ok(search.json.total >= acked.length, `search total ${search.json.total} < ${acked.length}`);

  // $export: sealed on disk, NDJSON when downloaded.
  const manifest = await exportPatients(second);
  assert.equal(manifest.output.length, 1);
  const file = await second.http.get(new URL(manifest.output[0].url).pathname);
  assert.equal(file.status, 200, show(file));
  const lines = file.text.split('\n').filter((l) => l);
  assert.equal(lines.length, manifest.output[0].count);
  assert.ok(lines.length >= acked.length);
  assert.ok(lines.every((l) => JSON.parse(l).resourceType === 'Patient'));
  assert.ok(file.text.includes(MARKER));
  assert.deepEqual(filesContaining(path.join(dataDir, 'exports'), MARKER), [], 'export files in the clear');

  // The audit chain, read beside the running server with the key; refused without it.
  const verify = await runMedulla(['audit', 'verify', '--data-dir', dataDir], { env });
  assert.equal(verify.code, 0, verify.output);
  assert.match(verify.stdout, /audit log intact/);
  const unkeyed = await runMedulla(['audit', 'verify', '--data-dir', dataDir]);
  assert.equal(unkeyed.code, 2, unkeyed.output);
  assert.match(unkeyed.output, /is encrypted/);
  await second.stop();

  // Import writes through the same encryption.
  const bundle = path.join(secrets, 'bundle.json');
  fs.writeFileSync(bundle, JSON.stringify({
    resourceType: 'Bundle', type: 'transaction',
    entry: [{ resource: { resourceType: 'Patient', id: 'imported-1', name: [{ family: MARKER }] },
      request: { method: 'PUT', url: 'Patient/imported-1' } }],
  }));
  const imported = await runMedulla(['import', '--data-dir', dataDir, bundle], { env });
  assert.equal(imported.code, 0, imported.output);
  assert.deepEqual(filesContaining(dataDir, MARKER), [], 'files in the clear after import');
  const third = await MedullaServer.start({ dataDir, env });
  servers.push(third);
  assert.equal((await third.http.get('/Patient/imported-1')).status, 200);
});

test('the control: without a key the same names are in the files', async () => {
  const server = await MedullaServer.start();
  servers.push(server);
  const acked = await writeUntilKilled(server, 300);
  assert.ok(acked.length > 0);
  assert.notDeepEqual(filesContaining(server.dataDir, MARKER), []);
});
