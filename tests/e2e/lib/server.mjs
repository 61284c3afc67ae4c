// Shared helpers for the end-to-end tests: run the real medulla binary, talk HTTP to it, and
// check every FHIR body it sends against the official R4 JSON schema.
//
// Environment:
//   MEDULLA_BIN        the medulla executable (default: <repo>/build/release/medulla)
//   MEDULLA_TEST_DATA  the repository's tests/data directory (default: <repo>/tests/data)
//   MEDULLA_E2E_KEEP=1 keep temporary data directories and server logs (their paths are printed)
//
// Importing this module installs two things for the whole test file:
//   * a wrapper around the global fetch (which fhir-kit-client also uses): every response whose
//     body is a FHIR resource (Content-Type application/fhir+json, or any JSON object with a
//     resourceType) is validated against fhir.schema.json; a violation makes that fetch reject
//     with the validator's errors, and
//   * an afterEach hook that fails the current test if any violation was recorded, even if the
//     test caught the rejection.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fhirSchemaErrors } from './fhir_schema.mjs';

export { fhirSchemaErrors, fhirResourceTypes } from './fhir_schema.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, '..', '..', '..');
export const MEDULLA_BIN = process.env.MEDULLA_BIN
  ? path.resolve(process.env.MEDULLA_BIN)
  : path.join(REPO_ROOT, 'build', 'release', 'medulla');
export const TEST_DATA = process.env.MEDULLA_TEST_DATA
  ? path.resolve(process.env.MEDULLA_TEST_DATA)
  : path.join(REPO_ROOT, 'tests', 'data');
const KEEP = process.env.MEDULLA_E2E_KEEP === '1';

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 20_000;

// ---------------------------------------------------------------------------------------------
// Temporary directories and process bookkeeping

const tempDirs = [];
const liveChildren = new Set();

/** A fresh, empty temporary directory, removed when the test process exits (unless KEEP). */
export function makeTempDir(prefix = 'medulla-e2e-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

process.on('exit', () => {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  if (KEEP) {
    if (tempDirs.length) process.stderr.write(`MEDULLA_E2E_KEEP: kept ${tempDirs.join(' ')}\n`);
    return;
  }
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function waitForExit(child, timeoutMs) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode, timedOut: false });
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ code: null, signal: null, timedOut: true }), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut: false });
    });
  });
}

function tail(text, n = 4000) {
  return text.length > n ? `...${text.slice(-n)}` : text;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Runs `medulla ARGS...` to completion (stdin closed) and returns its exit code and output.
 * A run that outlives timeoutMs is killed with SIGKILL and reported with timedOut = true.
 * env: variables added to its environment.
 */
export function runMedulla(args, { timeoutMs = 120_000, cwd = REPO_ROOT, env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(MEDULLA_BIN, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    liveChildren.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      liveChildren.delete(child);
      reject(new Error(`cannot run ${MEDULLA_BIN}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      liveChildren.delete(child);
      resolve({ code, signal, stdout, stderr, timedOut, output: `${stdout}${stderr}` });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Tokens

/** `medulla token --data-dir DIR ARGS...`: the token it prints on its last line. */
export function mintToken(dataDir, args) {
  const r = spawnSync(MEDULLA_BIN, ['token', '--data-dir', dataDir, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`medulla token ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.trim().split('\n').pop();
}

// Each started server's admin token: requests to it carry it unless they set Authorization
// themselves (the security tests send their own tokens, or none).
const serverTokens = new Map();

function withServerToken(input, init) {
  const url = input instanceof Request ? input.url : String(input);
  for (const [base, token] of serverTokens) {
    if (!url.startsWith(base)) continue;
    const headers = new Headers(init && init.headers ? init.headers : input instanceof Request ? input.headers : undefined);
    if (headers.has('authorization')) return init;
    headers.set('authorization', `Bearer ${token}`);
    return { ...(init || {}), headers };
  }
  return init;
}

// ---------------------------------------------------------------------------------------------
// The server

export class MedullaServer {
  constructor({ child, port, dataDir, logPath, tls }) {
    this.child = child;
    this.port = port;
    this.dataDir = dataDir;
    this.logPath = logPath;
    this.tls = tls;
    this.base = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    this.http = new HttpClient(this.base);
  }

  /** The server's combined stdout and stderr so far. */
  log() {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  get running() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Starts `medulla serve --data-dir DIR --listen 127.0.0.1:PORT` and waits until GET /healthz
   * answers 200. dataDir defaults to a fresh empty temporary directory. With tls = { cert, key }
   * (PEM files) it serves HTTPS with them and the health check trusts cert. host: the address
   * to listen on (still reached through 127.0.0.1). env: variables added to the server's
   * environment (MEDULLA_* settings).
   */
  static async start({ dataDir, args = [], tls, host = '127.0.0.1', env = {} } = {}) {
    dataDir = dataDir || path.join(makeTempDir('medulla-e2e-data-'), 'data');
    fs.mkdirSync(dataDir, { recursive: true });
    const logDir = makeTempDir('medulla-e2e-log-');
    let lastError;
    // A port picked as free can be taken by someone else before the server binds it: retry then.
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const logPath = path.join(logDir, `server-${port}.log`);
      const logFd = fs.openSync(logPath, 'w');
      const argv = ['serve', '--data-dir', dataDir, '--listen', `${host}:${port}`, ...args];
      if (tls) argv.push('--tls-cert', tls.cert, '--tls-key', tls.key);
      const child = spawn(MEDULLA_BIN, argv, {
        cwd: REPO_ROOT,
        env: { ...process.env, ...env },
        stdio: ['ignore', logFd, logFd],
      });
      fs.closeSync(logFd);
      liveChildren.add(child);
      child.once('exit', () => liveChildren.delete(child));
      const spawnError = new Promise((resolve) => child.once('error', resolve));
      const server = new MedullaServer({ child, port, dataDir, logPath, tls });
      const outcome = await server.#waitHealthy(spawnError);
      if (outcome === 'ok') {
        server.token = mintToken(dataDir, ['--role', 'admin', '--expires', '86400']);
        serverTokens.set(server.base, server.token);
        return server;
      }
      const log = server.log();
      if (outcome === 'exited' && /in use|EADDRINUSE/i.test(log) && attempt < 2) {
        lastError = new Error(`port ${port} taken: ${tail(log, 300)}`);
        continue;
      }
      if (outcome === 'timeout') {
        child.kill('SIGKILL');
        await waitForExit(child, 5000);
        throw new Error(
          `medulla serve did not answer GET /healthz with 200 within ${START_TIMEOUT_MS} ms\n` +
            `command: ${MEDULLA_BIN} ${argv.join(' ')}\n--- server log ---\n${tail(log)}`,
        );
      }
      const how = child.exitCode !== null ? `exit code ${child.exitCode}` : `signal ${child.signalCode}`;
      throw new Error(
        `medulla serve exited (${how}) before it was healthy\n` +
          `command: ${MEDULLA_BIN} ${argv.join(' ')}\n--- server log ---\n${tail(log)}` +
          (typeof outcome === 'object' ? `\nspawn error: ${outcome.message}` : ''),
      );
    }
    throw lastError;
  }

  async #waitHealthy(spawnError) {
    let failed = null;
    spawnError.then((err) => (failed = err));
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (failed) return failed;
      if (!this.running) return 'exited';
      try {
        if (this.tls) {
          const res = await httpsRequest(`${this.base}/healthz`, { ca: this.tls.cert, timeoutMs: 1000 });
          if (res.status === 200) return 'ok';
        } else {
          const res = await rawFetch(`${this.base}/healthz`, { signal: AbortSignal.timeout(1000) });
          await res.arrayBuffer();
          if (res.status === 200) return 'ok';
        }
      } catch {
        // not listening yet
      }
      await delay(50); // bounded polling for readiness
    }
    return this.running ? 'timeout' : 'exited';
  }

  /** SIGTERM, then asserts a clean exit (code 0) within 20 s; kills with SIGKILL otherwise. */
  async stop() {
    if (!this.running) {
      assert.fail(
        `server was expected to be running before SIGTERM but had exited ` +
          `(code ${this.child.exitCode}, signal ${this.child.signalCode})\n--- server log ---\n${tail(this.log())}`,
      );
    }
    this.child.kill('SIGTERM');
    const res = await waitForExit(this.child, STOP_TIMEOUT_MS);
    if (res.timedOut) {
      this.child.kill('SIGKILL');
      await waitForExit(this.child, 5000);
      assert.fail(`server did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM\n--- server log ---\n${tail(this.log())}`);
    }
    assert.equal(
      res.code,
      0,
      `server should exit with code 0 after SIGTERM, got code ${res.code} signal ${res.signal}\n` +
        `--- server log ---\n${tail(this.log())}`,
    );
  }

  /** kill -9, and waits until the process is gone. */
  async kill9() {
    if (this.running) this.child.kill('SIGKILL');
    await waitForExit(this.child, 10_000);
  }

  /** Best-effort cleanup for after() hooks: SIGKILL if still running. */
  async dispose() {
    await this.kill9();
  }
}

/**
 * One HTTPS request with node:https, trusting the PEM certificate file `ca` (global fetch cannot
 * be given a CA). Resolves to { status, headers, body (text), protocol, cipher }.
 */
export function httpsRequest(url, { ca, method = 'GET', headers = {}, body, timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, ca: fs.readFileSync(ca), timeout: timeoutMs }, (res) => {
      const tlsInfo = { protocol: res.socket.getProtocol(), cipher: res.socket.getCipher().name };
      let text = '';
      res.setEncoding('utf8').on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text, ...tlsInfo }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------
// Schema checking of every FHIR body (fetch wrapper + afterEach)

const violations = [];

export class SchemaViolation extends Error {}

function recordViolation(where, errors) {
  const message = `FHIR body failed fhir.schema.json validation (${where}):\n  ${errors.join('\n  ')}`;
  violations.push(message);
  return new SchemaViolation(message);
}

/**
 * Validates one response body. Returns null, or a SchemaViolation (already recorded) when the
 * body is declared FHIR JSON but is not valid JSON, is a FHIR resource that fails the schema, or
 * is a FHIR resource served with a Content-Type other than application/fhir+json.
 */
export function checkFhirBody(where, contentType, text, { plainJsonAsked = false } = {}) {
  const ct = (contentType || '').toLowerCase();
  // A client that asked for application/json (Accept or _format) may get it back.
  const isFhirJson = ct.startsWith('application/fhir+json') || (plainJsonAsked && ct.startsWith('application/json'));
  if (!text) return null;
  let body;
  try {
    body = JSON.parse(text);
  } catch (err) {
    if (isFhirJson) return recordViolation(where, [`Content-Type ${contentType} but the body is not JSON: ${err.message}`]);
    return null;
  }
  const looksFhir = body && typeof body === 'object' && !Array.isArray(body) && typeof body.resourceType === 'string';
  if (!isFhirJson && !looksFhir) return null;
  const errors = fhirSchemaErrors(body);
  if (looksFhir && !isFhirJson) errors.push(`FHIR resource served with Content-Type ${JSON.stringify(contentType)}, want application/fhir+json`);
  return errors.length ? recordViolation(where, errors) : null;
}

const rawFetch = globalThis.fetch;
export { rawFetch };

// OAuth and discovery documents are plain JSON, not FHIR, whatever the client accepts.
const NON_FHIR_PATHS = new Set(['/auth/token', '/.well-known/smart-configuration']);

function asksPlainJson(input, init) {
  const url = input instanceof Request ? input.url : String(input);
  if (NON_FHIR_PATHS.has(new URL(url).pathname)) return false;
  const format = new URL(url).searchParams.get('_format');
  if (format === 'application/json') return true;
  const headers = new Headers(init && init.headers ? init.headers : input instanceof Request ? input.headers : undefined);
  return (headers.get('accept') || '').trim().toLowerCase() === 'application/json';
}

function describeRequest(input, init) {
  const method = (init && init.method) || (input instanceof Request ? input.method : 'GET');
  const url = input instanceof Request ? input.url : String(input);
  return `${method} ${url}`;
}

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

globalThis.fetch = async function schemaCheckedFetch(input, init) {
  init = withServerToken(input, init);
  const res = await rawFetch(input, init);
  const buf = Buffer.from(await res.arrayBuffer());
  const where = `${describeRequest(input, init)} -> ${res.status}`;
  const violation = checkFhirBody(where, res.headers.get('content-type'), buf.toString('utf8'), {
    plainJsonAsked: asksPlainJson(input, init),
  });
  if (violation) throw violation;
  const copy = new Response(NULL_BODY_STATUS.has(res.status) ? null : buf, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
  Object.defineProperty(copy, 'url', { value: res.url });
  return copy;
};

afterEach(() => {
  if (violations.length) {
    const all = violations.splice(0);
    throw new Error(`${all.length} FHIR response body/bodies failed schema validation:\n${all.join('\n')}`);
  }
});

// ---------------------------------------------------------------------------------------------
// A small HTTP client over (the schema-checked) fetch

export class HttpClient {
  constructor(base) {
    this.base = base;
  }

  url(p) {
    if (/^https?:\/\//i.test(p)) return p;
    return `${this.base}${p.startsWith('/') ? '' : '/'}${p}`;
  }

  /**
   * request(method, path, {body, headers, timeoutMs}) -> {status, headers, text, json}
   * body: an object (sent as JSON), a string or a Buffer. JSON bodies get
   * Content-Type application/fhir+json unless headers say otherwise.
   */
  async request(method, p, { body, headers = {}, timeoutMs = 60_000 } = {}) {
    const h = { accept: 'application/fhir+json', ...lowerKeys(headers) };
    let payload;
    if (body !== undefined) {
      payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      if (!('content-type' in h)) h['content-type'] = 'application/fhir+json';
    }
    const url = this.url(p);
    const res = await fetch(url, { method, headers: h, body: payload, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    let json;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json, url, method };
  }

  get(p, opts) {
    return this.request('GET', p, opts);
  }
  post(p, body, opts = {}) {
    return this.request('POST', p, { ...opts, body });
  }
  put(p, body, opts = {}) {
    return this.request('PUT', p, { ...opts, body });
  }
  delete(p, opts) {
    return this.request('DELETE', p, opts);
  }
}

function lowerKeys(obj) {
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k.toLowerCase(), v]));
}

/** One line describing a response, for assertion messages. */
export function show(res) {
  const body = res.text === undefined ? '' : res.text.length > 600 ? `${res.text.slice(0, 600)}...` : res.text;
  return `${res.method || ''} ${res.url || ''} -> ${res.status} ${body}`.trim();
}

// ---------------------------------------------------------------------------------------------
// FHIR assertions

/** Asserts res has one of the statuses and an OperationOutcome body with at least one issue. */
export function assertOutcome(res, statuses, what) {
  const want = Array.isArray(statuses) ? statuses : [statuses];
  assert.ok(want.includes(res.status), `${what}: want HTTP ${want.join(' or ')}, got ${show(res)}`);
  const ct = res.headers.get('content-type') || '';
  assert.ok(ct.startsWith('application/fhir+json'), `${what}: want Content-Type application/fhir+json on the error, got ${JSON.stringify(ct)} (${show(res)})`);
  assert.equal(res.json && res.json.resourceType, 'OperationOutcome', `${what}: want an OperationOutcome body, got ${show(res)}`);
  assert.ok(Array.isArray(res.json.issue) && res.json.issue.length > 0, `${what}: OperationOutcome without issues: ${show(res)}`);
  return res.json;
}

/** All issue[].expression (and the deprecated issue[].location) strings of an OperationOutcome. */
export function outcomeExpressions(oo) {
  return (oo.issue || []).flatMap((i) => [...(i.expression || []), ...(i.location || [])]);
}

/** Asserts some issue expression names `path` (exactly, or a deeper path below it). */
export function assertExpression(oo, pathWanted, what) {
  const exprs = outcomeExpressions(oo);
  const hit = exprs.some((e) => e === pathWanted || e.startsWith(`${pathWanted}.`) || e.startsWith(`${pathWanted}[`));
  assert.ok(hit, `${what}: want an issue whose expression names ${pathWanted}, got expressions ${JSON.stringify(exprs)} in ${JSON.stringify(oo)}`);
}

/** The url of the link with the given relation, or undefined. */
export function linkOf(bundle, relation) {
  const l = (bundle.link || []).find((x) => x.relation === relation);
  return l && l.url;
}

/**
 * Follows `next` links from `first` and returns {pages, entries}. Fails on a non-200 page, a
 * body that is not a Bundle of `type`, a page with more than `count` entries, or a next link that
 * was already visited (a loop).
 */
export async function walkPages(http, first, { type = 'searchset', count, maxPages = 10_000 } = {}) {
  const pages = [];
  const entries = [];
  const seen = new Set();
  let url = first;
  while (url) {
    const abs = new URL(url, `${http.base}/`).href;
    assert.ok(!seen.has(abs), `paging loops: next link ${abs} was already visited (after ${pages.length} pages)`);
    seen.add(abs);
    assert.ok(pages.length < maxPages, `paging did not end after ${maxPages} pages (from ${first})`);
    const res = await http.get(abs);
    assert.equal(res.status, 200, `page ${pages.length + 1} of ${first}: ${show(res)}`);
    const b = res.json;
    assert.equal(b && b.resourceType, 'Bundle', `page ${pages.length + 1} of ${first} is not a Bundle: ${show(res)}`);
    assert.equal(b.type, type, `page ${pages.length + 1} of ${first}: Bundle.type`);
    const es = b.entry || [];
    if (count !== undefined) {
      assert.ok(es.length <= count, `page ${pages.length + 1} of ${first} has ${es.length} entries, more than _count=${count}`);
    }
    pages.push(b);
    entries.push(...es);
    url = linkOf(b, 'next');
    if (url && es.length === 0 && count !== 0) {
      assert.fail(`page ${pages.length} of ${first} is empty but has a next link ${url}`);
    }
  }
  return { pages, entries };
}

/** Only the entries a search matched (search.mode absent or "match"). */
export function matches(entries) {
  return entries.filter((e) => !e.search || !e.search.mode || e.search.mode === 'match').map((e) => e.resource);
}

// ---------------------------------------------------------------------------------------------
// Raw TCP, for what fetch will not send (garbage, oversized headers, half requests)

/**
 * Sends `head` (and then `body`, written in 64 KiB pieces with back-pressure, stopping early if
 * the server answers or closes) on a fresh connection to 127.0.0.1:port and reads one response.
 * Resolves {status, headers, body, closed, error, timedOut, rawText}; status is null if the
 * server closed (or reset) the connection without sending a status line. keepOpen leaves the
 * socket open after a response; onSocket(socket) is called at once (to destroy it later);
 * headFirstMs waits that long for an answer to the head alone before the body is sent.
 */
export function rawHttp(port, head, { body, timeoutMs = 15_000, keepOpen = false, onSocket, headFirstMs = 0 } = {}) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    if (onSocket) onSocket(socket);
    let buf = Buffer.alloc(0);
    let done = false;
    let error = null;
    let closed = false;
    const finish = (extra = {}) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const parsed = parseHttpResponse(buf);
      if (!keepOpen || closed) socket.destroy();
      resolve({ ...parsed, closed, error, socket, ...extra });
    };
    const timer = setTimeout(() => finish({ timedOut: true }), timeoutMs);
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const parsed = parseHttpResponse(buf);
      if (parsed.complete) finish();
    });
    socket.on('error', (err) => {
      error = err.code || err.message;
    });
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('connect', async () => {
      socket.write(head);
      if (body === undefined) return;
      // Give the server headFirstMs to answer from the headers alone (e.g. 413 for a
      // Content-Length over its limit) before sending the body.
      for (const until = Date.now() + headFirstMs; !done && Date.now() < until; ) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const data = Buffer.isBuffer(body) ? body : Buffer.from(body);
      for (let off = 0; off < data.length && !done && !socket.destroyed; off += 65536) {
        const ok = socket.write(data.subarray(off, off + 65536));
        if (!ok) {
          await new Promise((r) => {
            socket.once('drain', r);
            socket.once('close', r);
          });
        }
      }
    });
  });
}

/** Parses as much of an HTTP/1.x response as buf holds. */
export function parseHttpResponse(buf) {
  const rawText = buf.toString('latin1');
  const end = rawText.indexOf('\r\n\r\n');
  if (end < 0) return { status: null, headers: {}, body: '', complete: false, rawText };
  const lines = rawText.slice(0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  const headers = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const status = m ? Number(m[1]) : null;
  const bodyBuf = buf.subarray(Buffer.byteLength(rawText.slice(0, end + 4), 'latin1'));
  let body = bodyBuf.toString('utf8');
  let complete = false;
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    complete = bodyBuf.length >= n;
    body = bodyBuf.subarray(0, n).toString('utf8');
  } else if (/chunked/i.test(headers['transfer-encoding'] || '')) {
    const dechunked = dechunk(bodyBuf);
    complete = dechunked !== null;
    if (dechunked !== null) body = dechunked.toString('utf8');
  } else if (status === 204 || status === 304) {
    complete = true;
    body = '';
  }
  return { status, headers, body, complete, rawText };
}

function dechunk(buf) {
  const parts = [];
  let off = 0;
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', off, 'latin1');
    if (lineEnd < 0) return null;
    const size = parseInt(buf.subarray(off, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) return null;
    if (size === 0) return Buffer.concat(parts);
    if (buf.length < lineEnd + 2 + size + 2) return null;
    parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
    off = lineEnd + 2 + size + 2;
  }
}

/** Validates a raw response's body like fetch responses are validated; returns it parsed. */
export function checkRawFhir(where, res) {
  const violation = checkFhirBody(where, res.headers['content-type'], res.body);
  if (violation) throw violation;
  try {
    return res.body ? JSON.parse(res.body) : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Small utilities

/** Deterministic PRNG (mulberry32) so random samples are the same on every run. */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** JSON with object keys sorted, for order-insensitive comparison and as a map key. */
export function canonicalJson(value) {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys(v[k])]),
    );
  }
  return v;
}

/** Reads a JSON file, tolerating a UTF-8 byte order mark (several FHIR example files have one). */
export function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, ''));
}

/** A copy of a resource without id and meta. */
export function withoutIdMeta(resource) {
  const { id: _id, meta: _meta, ...rest } = resource;
  return rest;
}

/** Runs fn over items with at most `limit` in flight; returns results in order. */
export async function mapLimit(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
