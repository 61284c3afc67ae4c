// Durability: 8 concurrent writers create Patients for about 3 s, the server is killed with
// SIGKILL while requests are in flight, and a new server on the same data directory must return
// every create that had been acknowledged with 201, exactly as acknowledged.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { MedullaServer, mapLimit, show, walkPages, matches } from './lib/server.mjs';

const WRITERS = 8;
const WRITE_MS = 3000;

const servers = [];
after(async () => {
  for (const s of servers) await s.dispose();
});

test('every create acknowledged with 201 before kill -9 survives a restart', async () => {
  const first = await MedullaServer.start();
  servers.push(first);
  const dataDir = first.dataDir;

  const acked = [];
  const failures = [];
  let killed = false;
  let inFlightAtKill = 0;
  let inFlight = 0;

  const writer = async (k) => {
    for (let i = 0; !killed; i++) {
      const body = {
        resourceType: 'Patient',
        identifier: [{ system: 'urn:medulla-e2e:crash', value: `w${k}-${i}` }],
        name: [{ family: `Crash${k}`, given: [`Writer${k}`, `Seq${i}`] }],
        birthDate: `19${String(10 + ((k * 7 + i) % 89)).padStart(2, '0')}-0${1 + (i % 9)}-1${i % 10}`,
        gender: ['male', 'female', 'other', 'unknown'][i % 4],
      };
      let res;
      inFlight++;
      try {
        res = await first.http.post('/Patient', body, { timeoutMs: 10_000 });
      } catch (err) {
        if (!killed) failures.push(`writer ${k} request ${i} failed before the kill: ${err.message}`);
        return;
      } finally {
        inFlight--;
      }
      if (res.status === 201) {
        acked.push({ sent: body, got: res.json });
      } else if (!killed) {
        failures.push(`writer ${k} request ${i}: ${show(res)}`);
        return;
      }
    }
  };

  const running = Array.from({ length: WRITERS }, (_, k) => writer(k));
  await new Promise((r) => setTimeout(r, WRITE_MS)); // let the writers run for a while
  inFlightAtKill = inFlight;
  killed = true;
  first.child.kill('SIGKILL');
  await Promise.all(running);
  await first.kill9();
  console.log(`# ${acked.length} creates acknowledged in ~${WRITE_MS} ms by ${WRITERS} writers; ${inFlightAtKill} in flight at kill -9`);

  assert.deepEqual(failures, [], 'requests failed while the server was healthy');
  assert.ok(acked.length >= WRITERS, `too few creates acknowledged (${acked.length}) to test anything`);
  const ids = new Set(acked.map((a) => a.got.id));
  assert.equal(ids.size, acked.length, 'the server acknowledged two creates with the same id');
  for (const a of acked) {
    assert.equal(a.got.meta.versionId, '1', `acknowledged create ${a.got.id} is not version 1`);
    assert.deepEqual(a.got.identifier, a.sent.identifier, `acknowledged create ${a.got.id} does not carry what was sent`);
  }

  const second = await MedullaServer.start({ dataDir });
  servers.push(second);
  const lost = [];
  const changed = [];
  await mapLimit(acked, 8, async (a) => {
    const res = await second.http.get(`/Patient/${a.got.id}`);
    if (res.status !== 200) lost.push(`Patient/${a.got.id} (${a.sent.identifier[0].value}): ${res.status}`);
    else if (JSON.stringify(res.json) !== JSON.stringify(a.got)) {
      try {
        assert.deepEqual(res.json, a.got);
      } catch {
        changed.push(`Patient/${a.got.id}: read ${JSON.stringify(res.json)} but create answered ${JSON.stringify(a.got)}`);
      }
    }
  });
  assert.deepEqual(lost.slice(0, 20), [], `${lost.length} of ${acked.length} acknowledged creates lost after kill -9`);
  assert.deepEqual(changed.slice(0, 5), [], `${changed.length} acknowledged creates read back different from the 201 response`);

  // The store is consistent: search sees every acknowledged create once (and perhaps some whose
  // 201 never arrived), and the server keeps accepting writes.
  const { entries } = await walkPages(second.http, '/Patient?_count=200', { count: 200 });
  const found = matches(entries).map((r) => r.id);
  assert.equal(new Set(found).size, found.length, 'search after restart lists a Patient twice');
  const foundSet = new Set(found);
  const unsearchable = [...ids].filter((id) => !foundSet.has(id));
  assert.deepEqual(unsearchable.slice(0, 20), [], 'acknowledged creates that read back but are missing from search');
  assert.ok(found.length <= acked.length + inFlightAtKill + WRITERS, `search finds ${found.length} Patients, more than were ever sent`);

  const later = await second.http.post('/Patient', { resourceType: 'Patient', name: [{ family: 'AfterCrash' }] });
  assert.equal(later.status, 201, `create after the restart: ${show(later)}`);
  assert.ok(!ids.has(later.json.id), 'an id handed out before the crash was handed out again');

  await second.stop();
});
