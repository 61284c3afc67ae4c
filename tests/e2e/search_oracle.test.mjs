// The search oracle: several hundred FHIR searches against the whole test corpus (every
// Synthea bundle and the valid examples), each compared with an independent reference evaluator
// written in JavaScript (lib/oracle/): the official R4 SearchParameter expressions run by
// fhirpath.js, and the R4 search rules as lib/oracle/evaluator.mjs's header spells them out.
//
// One server for the whole file. The corpus goes in as PUT transactions (lib/oracle/corpus.mjs)
// so that the server's ids are known; the queries are derived from the data with a fixed seed
// (lib/oracle/queries.mjs, QUERY_SEED). Each query is its own test, named by the query, and
// checks:
//   - the matches (search.mode match): no duplicates, none missing, none extra;
//   - the included resources (search.mode include) of _include/_revinclude, as a set over all
//     pages (a resource may be repeated on several pages);
//   - every page has at most _count matches (includes come on top) and the `next` links reach
//     every match, without loops or empty pages;
//   - Bundle.total when present (it must be with _total=accurate, _summary=count, _count=0);
//   - with _sort, that the matches come in the order of their sort keys (ties in any order).
// A query without _count is sent with _count=500 so that big results take a few pages. Every
// request asks `Prefer: handling=strict`, so an unsupported parameter is a 400 that names it.
//
//   node tests/e2e/lib/oracle/selftest.mjs --list     # every query with its expected counts
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadCorpus } from './lib/oracle/corpus.mjs';
import { SearchOracle } from './lib/oracle/evaluator.mjs';
import { SearchParameters } from './lib/oracle/params.mjs';
import { formatQuery, generateQueries, queryPath } from './lib/oracle/queries.mjs';
import { MedullaServer, REPO_ROOT, TEST_DATA, linkOf, show } from './lib/server.mjs';

const PAGE = 500; // _count added to queries that have none
const CONCURRENCY = 3; // queries in flight at once
const SHOW = 10; // ids shown per list in a failure message

const corpus = loadCorpus(TEST_DATA);
const oracle = new SearchOracle(corpus.resources, SearchParameters.load(path.join(REPO_ROOT, 'data', 'fhir', 'definitions', 'search-parameters.json')));
const queries = generateQueries(oracle);

let server;
let http;

before(async () => {
  server = await MedullaServer.start();
  http = server.http;
  for (const { file, bundle } of corpus.transactions) {
    const res = await http.post('/', bundle, { headers: { prefer: 'return=minimal' }, timeoutMs: 120_000 });
    assert.equal(res.status, 200, `loading ${file} as a PUT transaction: ${show(res)}`);
  }
  for (const { file, resource } of corpus.examples) {
    const res = await http.put(`/${resource.resourceType}/${resource.id}`, resource, { headers: { prefer: 'return=minimal' } });
    assert.ok([200, 201].includes(res.status), `loading ${file}: ${show(res)}`);
  }
});

after(async () => {
  if (server) await server.dispose();
});

test('the corpus is loaded: the count of every type is what the oracle holds', async () => {
  const types = [...new Set([...corpus.resources.values()].map((r) => r.resourceType))].sort();
  const got = {};
  const want = {};
  for (const type of types) {
    const res = await http.get(`/${type}?_count=0`);
    assert.equal(res.status, 200, show(res));
    got[type] = res.json.total;
    want[type] = oracle.all(type).length;
  }
  assert.deepEqual(got, want, 'resources per type (GET /Type?_count=0 total)');
  assert.ok(queries.length >= 300, `only ${queries.length} queries generated`);
});

describe('search oracle', { concurrency: CONCURRENCY }, () => {
  for (const q of queries) test(formatQuery(q), () => checkQuery(q));
});

test('the server stops cleanly after the oracle', async () => {
  await server.stop();
});

// ---------------------------------------------------------------------------------------------

/** `n: a, b, c, ... (k more)` for a failure message. */
function list(keys) {
  const head = keys.slice(0, SHOW).join(', ');
  return `${keys.length}${keys.length ? `: ${head}` : ''}${keys.length > SHOW ? `, ... (${keys.length - SHOW} more)` : ''}`;
}

/** Compares two lists of "Type/id" as sets; returns a message, or '' when equal. */
function setDiff(what, got, want) {
  const g = new Set(got);
  const w = new Set(want);
  const missing = [...w].filter((k) => !g.has(k));
  const extra = [...g].filter((k) => !w.has(k));
  if (!missing.length && !extra.length) return '';
  return `${what}: got ${g.size}, want ${w.size}\n  missing ${list(missing)}\n  extra ${list(extra)}`;
}

async function checkQuery(q) {
  const name = formatQuery(q);
  const want = oracle.search(q.type, q.pairs);
  const param = (n) => (q.pairs.find(([k]) => k === n) || [])[1];
  const count = param('_count') === undefined ? PAGE : Number(param('_count'));
  const onlyTotal = param('_summary') === 'count' || count === 0;
  const url = queryPath(q) + (param('_count') === undefined ? `&_count=${PAGE}` : '');

  const first = await http.get(url, { headers: { prefer: 'handling=strict' } });
  assert.equal(first.status, 200, `${name}: ${show(first)}`);
  const bundle = first.json;
  assert.equal(bundle && bundle.resourceType, 'Bundle', `${name}: not a Bundle: ${show(first)}`);
  assert.equal(bundle.type, 'searchset', `${name}: Bundle.type`);
  const outcomes = (bundle.entry || []).filter((e) => e.search && e.search.mode === 'outcome').map((e) => JSON.stringify(e.resource));
  const context = outcomes.length ? `\n  outcome entries: ${outcomes.join(' ')}` : '';

  if (onlyTotal) {
    const matched = (bundle.entry || []).filter((e) => !e.search || e.search.mode !== 'outcome');
    assert.equal(matched.length, 0, `${name}: only the total was asked for, got ${matched.length} entries${context}`);
    assert.equal(bundle.total, want.total, `${name}: Bundle.total${context}`);
    return;
  }

  // Walk the `next` links. _count limits the matches of a page; included resources come on top.
  const mode = (e) => (e.search && e.search.mode) || 'match';
  const key = (e) => `${e.resource.resourceType}/${e.resource.id}`;
  const entries = [];
  const visited = new Set();
  for (let page = bundle, n = 1; page; n++) {
    const es = page.entry || [];
    const matchesHere = es.filter((e) => mode(e) === 'match').length;
    assert.ok(matchesHere <= count, `${name}: page ${n} has ${matchesHere} matches, more than _count=${count}`);
    entries.push(...es);
    const next = linkOf(page, 'next');
    if (!next) break;
    assert.ok(matchesHere > 0, `${name}: page ${n} has no matches but a next link ${next}`);
    const abs = new URL(next, `${http.base}/`).href;
    assert.ok(!visited.has(abs), `${name}: paging loops: next link ${abs} of page ${n} was already visited`);
    visited.add(abs);
    const res = await http.get(abs);
    assert.equal(res.status, 200, `${name}: page ${n + 1}: ${show(res)}`);
    assert.equal(res.json && res.json.resourceType, 'Bundle', `${name}: page ${n + 1} is not a Bundle: ${show(res)}`);
    assert.equal(res.json.type, 'searchset', `${name}: page ${n + 1}: Bundle.type`);
    page = res.json;
  }
  const got = entries.filter((e) => mode(e) === 'match').map(key);
  const gotIncludes = entries.filter((e) => mode(e) === 'include').map(key);

  const counts = new Map();
  for (const k of got) counts.set(k, (counts.get(k) || 0) + 1);
  const dups = [...counts].filter(([, n]) => n > 1).map(([k, n]) => `${k} x${n}`);
  assert.deepEqual(dups, [], `${name}: matches returned more than once (across pages)${context}`);
  const wrongType = got.filter((k) => !k.startsWith(`${q.type}/`));
  assert.deepEqual(wrongType, [], `${name}: matches of another type${context}`);

  const problems = [setDiff('matches', got, want.matches)];
  const matchSet = new Set(got);
  problems.push(setDiff('included', gotIncludes.filter((k) => !matchSet.has(k)), want.includes));
  const message = problems.filter(Boolean).join('\n');
  assert.ok(!message, `${name}\n${message}${context}`);

  if (bundle.total !== undefined || param('_total') === 'accurate') {
    assert.equal(bundle.total, want.total, `${name}: Bundle.total${context}`);
  }

  if (want.sort.length) {
    assert.deepEqual(want.sortAmbiguous, [], `${name}: the oracle cannot order these matches (no or several sort values)`);
    for (let i = 1; i < got.length; i++) {
      const a = oracle.sortTuple(q.type, got[i - 1], want.sort);
      const b = oracle.sortTuple(q.type, got[i], want.sort);
      if (SearchOracle.compareTuples(a, b, want.sort) > 0) {
        assert.fail(`${name}: out of order at position ${i}: ${got[i - 1]} (sort key ${JSON.stringify(a)}) comes before ${got[i]} (${JSON.stringify(b)})`);
      }
    }
  }
}
