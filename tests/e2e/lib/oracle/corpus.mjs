// The search oracle's data set: every Synthea bundle of tests/data/fhir/synthea and the valid
// examples of tests/data/fhir/examples, prepared so that the server and the in-memory evaluator
// see byte-for-byte the same resources under the same ids.
//
// Synthea bundles are transactions of POST entries with `urn:uuid:` fullUrls. With POST the
// server would assign its own ids, so each bundle is rewritten into a transaction of
// `PUT Type/<uuid>` entries (the resource's own id, or the uuid of its fullUrl), and every
// `urn:uuid:X` reference inside it becomes `Type/X`, which is what a server does to a POST
// transaction anyway. The examples are PUT one by one under their own ids.
//
// Some Organizations and Practitioners appear in several bundles (the same id, sometimes with
// different extensions). The bundles are sent in file-name order, one after the other, so the
// last one wins on the server; `resources` holds the same final state.
import fs from 'node:fs';
import path from 'node:path';

/**
 * Example files that are not used, with the reason (tests/data/fhir/README.md lists the broken
 * and the not-valid-R4 ones). Bundles are request payloads, not resources to search, and files
 * without an id cannot be PUT.
 */
const EXAMPLE_SKIPS = new Map([
  ['msfhir/Bundle-TransactionWithInvalidBundleEntry.json', 'deliberately broken: not JSON'],
  ['msfhir/Bundle-InvalidBundleType.json', 'deliberately broken: Bundle.type "invalid-type"'],
  ['msfhir/PatientMissingResourceType.json', 'deliberately broken: resourceType ""'],
  ['msfhir/PatientWithUnknownElements.json', 'deliberately broken: unknown elements'],
  ['msfhir/ObservationWithNoCode.json', 'deliberately broken: Observation without code'],
  ['msfhir/Observation-For-Patient-f001.json', 'not valid R4: single interpretation object'],
  ['msfhir/ObservationWithTemperature.json', 'not valid R4: single interpretation object'],
  ['msfhir/ObservationWithBloodPressure.json', 'not valid R4: single interpretation object'],
  ['msfhir/Patient.json', 'not valid R4: meta.lastUpdated without a time zone'],
]);

/** Deep copy of a JSON value with every {reference: s} string passed through fn. */
export function mapReferences(value, fn) {
  if (Array.isArray(value)) return value.map((v) => mapReferences(v, fn));
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = k === 'reference' && typeof v === 'string' ? fn(v) : mapReferences(v, fn);
    }
    return out;
  }
  return value;
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, ''));
}

/** Turns one Synthea POST transaction into a PUT transaction with Type/id references. */
export function toPutTransaction(bundle, file) {
  const byFullUrl = new Map();
  for (const e of bundle.entry || []) {
    const r = e.resource;
    const m = /^urn:uuid:(.+)$/.exec(e.fullUrl || '');
    const id = r.id || (m && m[1]);
    if (!id) throw new Error(`${file}: entry ${r.resourceType} has neither an id nor a urn:uuid fullUrl`);
    if (e.fullUrl) byFullUrl.set(e.fullUrl, `${r.resourceType}/${id}`);
  }
  const entry = (bundle.entry || []).map((e) => {
    const id = e.resource.id || e.fullUrl.slice('urn:uuid:'.length);
    const resource = mapReferences({ ...e.resource, id }, (ref) => byFullUrl.get(ref) || ref);
    return { resource, request: { method: 'PUT', url: `${resource.resourceType}/${id}` } };
  });
  return { resourceType: 'Bundle', type: 'transaction', entry };
}

/**
 * Loads the corpus below testData (the repository's tests/data). Returns
 *   transactions: [{file, bundle}]   PUT transactions, to be POSTed to / in this order
 *   examples:     [{file, resource}] to be PUT to /Type/id after the transactions
 *   skipped:      [{file, reason}]   example files not used
 *   resources:    Map "Type/id" -> resource, the final state the server should hold
 */
export function loadCorpus(testData) {
  const syntheaDir = path.join(testData, 'fhir', 'synthea');
  const examplesDir = path.join(testData, 'fhir', 'examples');
  const resources = new Map();
  const put = (r) => {
    const key = `${r.resourceType}/${r.id}`;
    resources.delete(key); // keep Map order = order of the last write
    resources.set(key, r);
  };

  const transactions = [];
  for (const name of fs.readdirSync(syntheaDir).filter((f) => f.endsWith('.json')).sort()) {
    const file = path.join(syntheaDir, name);
    const bundle = toPutTransaction(readJson(file), name);
    transactions.push({ file: name, bundle });
    for (const e of bundle.entry) put(e.resource);
  }

  const examples = [];
  const skipped = [];
  const seenIds = new Map();
  const candidates = [];
  for (const sub of fs.readdirSync(examplesDir).sort()) {
    for (const name of fs.readdirSync(path.join(examplesDir, sub)).filter((f) => f.endsWith('.json')).sort()) {
      const rel = `${sub}/${name}`;
      if (EXAMPLE_SKIPS.has(rel)) {
        skipped.push({ file: rel, reason: EXAMPLE_SKIPS.get(rel) });
        continue;
      }
      const resource = readJson(path.join(examplesDir, sub, name));
      if (resource.resourceType === 'Bundle') {
        skipped.push({ file: rel, reason: 'a Bundle (request payload)' });
      } else if (!resource.id) {
        skipped.push({ file: rel, reason: 'no id' });
      } else {
        const key = `${resource.resourceType}/${resource.id}`;
        seenIds.set(key, (seenIds.get(key) || 0) + 1);
        candidates.push({ file: rel, resource, key });
      }
    }
  }
  for (const c of candidates) {
    if (seenIds.get(c.key) > 1) skipped.push({ file: c.file, reason: `duplicate id ${c.key}` });
    else if (resources.has(c.key)) skipped.push({ file: c.file, reason: `id ${c.key} already used by Synthea` });
    else {
      examples.push({ file: c.file, resource: c.resource });
      put(c.resource);
    }
  }
  return { transactions, examples, skipped, resources };
}
