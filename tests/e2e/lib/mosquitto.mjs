// A real mosquitto broker (Debian's) on a free 127.0.0.1 port, for the MQTT end-to-end tests.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './server.mjs';

const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => fs.existsSync(p));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts a broker that keeps a persistent session's messages while its client is away, with
 * room for a burst. Returns { child, port, log() }.
 */
export async function startBroker() {
  assert.ok(MOSQUITTO, 'mosquitto is not installed (scripts/install-deps.sh installs it)');
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medulla-mosquitto-'));
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'max_inflight_messages 1000',
      'max_queued_messages 1000000',
      '',
    ].join('\n'),
  );
  const child = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  for (let i = 0; i < 100; i++) {
    const up = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) return { child, port, log: () => log };
    await sleep(50);
  }
  child.kill('SIGKILL');
  assert.fail(`mosquitto did not start: ${log}`);
}
