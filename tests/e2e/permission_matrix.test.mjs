// The permission matrix: every role x interaction x resource type x consent state, each with its
// expected allow/deny, driven through the real server with real tokens from `medulla token`.
//
// The expectations are written from the documented model (docs/security.md, src/security/
// consent.h, principal.cc's role ceilings, the policy comments in api/fhir_api.cc), never copied
// from the server's answers: `expected()` below decides each case from three small tables (the
// scopes each role is granted, which patients each principal may see, and which writes it may
// make). The server's answer must then match:
//   allow  2xx (200 read/search/update, 201 create, 204 delete; 410 for a deleted resource the
//          principal may know about), and for searches, histories and $everything every resource
//          returned must be one the principal may see (and the ones it may see are there);
//   deny   401 without a token; 403 (OperationOutcome) when the role's scopes do not grant the
//          interaction on the type, or a write names a patient the principal may not write for;
//          404 when the resource exists but the principal has no right to know (another
//          patient's record, an unshared patient, a deleted resource of one);
//   hidden a compartment search of a patient the principal may not see: 404, or a searchset
//          with no entries at all (either tells nothing: a patient that does not exist answers
//          with an empty searchset).
//
// Cases the model says one thing and the server does another are listed in KNOWN_BUG: they are
// reported (diagnostics) but do not fail the test; an entry that no longer matches a failing
// case fails it, so a fixed bug gets its entry removed and stays fixed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MedullaServer, mintToken } from './lib/server.mjs';

// ---------------------------------------------------------------------------------------------
// Known server bugs: cases whose expectation (from the model) the server does not meet yet.
// Each entry: what is wrong, where, and match(c, msgs): whether a failing case is this bug
// (c.p the principal, c.op the interaction, c.type, c.state the consent state or null; msgs the
// case's problems). A failing case no entry matches fails the test; so does an entry that
// matches no failing case (the bug is fixed: remove the entry).

const isClinician = (c) => c.p.role === 'clinician';
const hiddenFrom = (c) => !sees(c.p, c.type, c.pid);
const only = (msgs, re) => msgs.length > 0 && msgs.every((m) => re.test(m));

const KNOWN_BUG = [];

// ---------------------------------------------------------------------------------------------
// The model

const A = 'hospital-a';
const B = 'clinic-b';
const EMERGENCY = new Set(['ETREAT', 'BTG']); // v3 ActReason codes that open break-glass
const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';

const actor = (org) => ({
  role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] },
  reference: { reference: `Organization/${org}` },
});

// Consent states. Every patient is managed by `managing` (Patient.managingOrganization) and has
// the patient-privacy Consents `consents`; `permits` and `deniesByName` are what they mean for
// sharing, read off the model by hand (consent.h: the most recent active patient-privacy
// Consent governs; the deepest applicable provision decides; a general deny does not cut the
// patient off from the managing organisation, a deny naming it does; opt-in by default).
const STATES = {
  none: { managing: A, consents: [], permits: [], deniesByName: [] },
  permitB: {
    managing: A,
    consents: [{ dateTime: '2024-01-01T00:00:00Z', provision: { type: 'permit', actor: [actor(B)] } }],
    permits: [B],
    deniesByName: [],
  },
  denyAll: {
    managing: A,
    consents: [{ dateTime: '2024-01-01T00:00:00Z', provision: { type: 'deny' } }],
    permits: [],
    deniesByName: [],
  },
  // A general refusal with an exception for clinic-b (nested provision of the opposite type).
  denyExceptB: {
    managing: A,
    consents: [{
      dateTime: '2024-01-01T00:00:00Z',
      provision: { type: 'deny', provision: [{ type: 'permit', actor: [actor(B)] }] },
    }],
    permits: [B],
    deniesByName: [],
  },
  // A refusal that names the managing organisation itself.
  denyA: {
    managing: A,
    consents: [{ dateTime: '2024-01-01T00:00:00Z', provision: { type: 'deny', actor: [actor(A)] } }],
    permits: [],
    deniesByName: [A],
  },
  managedB: { managing: B, consents: [], permits: [], deniesByName: [] },
  // Shared with clinic-b in 2020, withdrawn by a general refusal in 2021. The newer one is
  // stored first: the Consent's dateTime decides which is the most recent, not storage order.
  withdrawn: {
    managing: A,
    consents: [
      { dateTime: '2021-01-01T00:00:00Z', provision: { type: 'deny' } },
      { dateTime: '2020-01-01T00:00:00Z', provision: { type: 'permit', actor: [actor(B)] } },
    ],
    permits: [],
    deniesByName: [],
  },
  // A permit for clinic-b that is not active: it governs nothing.
  inactive: {
    managing: A,
    consents: [{ status: 'inactive', dateTime: '2024-01-01T00:00:00Z', provision: { type: 'permit', actor: [actor(B)] } }],
    permits: [],
    deniesByName: [],
  },
  // A permit for clinic-b whose period ended: it no longer applies.
  expired: {
    managing: A,
    consents: [{
      dateTime: '2019-01-01T00:00:00Z',
      provision: { type: 'permit', actor: [actor(B)], period: { start: '2019-01-01', end: '2020-12-31' } },
    }],
    permits: [],
    deniesByName: [],
  },
  // No managing organisation and no consent: no clinician's organisation has it.
  unmanaged: { managing: null, consents: [], permits: [], deniesByName: [] },
};
const STATE_KEYS = Object.keys(STATES);

// The principals. `bound`: the patient a patient-bound token is bound to.
const PRINCIPALS = [
  { key: 'anon', role: null },
  { key: 'admin', role: 'admin' },
  { key: 'clinA', role: 'clinician', org: A },
  { key: 'clinB', role: 'clinician', org: B },
  { key: 'clinB-ETREAT', role: 'clinician', org: B, purpose: 'ETREAT' },
  { key: 'clinNoOrg', role: 'clinician' },
  { key: 'patient', role: 'patient', bound: 'pt-denyAll' },
  { key: 'device', role: 'device', bound: 'pt-none' },
  { key: 'dispatcher', role: 'dispatcher' },
  { key: 'analyst', role: 'analyst' },
];

// What each role's default token is granted (docs/security.md "Roles and scopes"): type ->
// SMART v2 letters. '*' is every type.
const GRANTS = {
  admin: { '*': 'cruds' },
  clinician: { '*': 'cruds' },
  patient: { '*': 'rs' },
  device: { Observation: 'crs', Device: 'rs' },
  dispatcher: {
    Location: 'rus', Organization: 'rs', HealthcareService: 'rs', Device: 'rus', Endpoint: 'rs',
    Practitioner: 'rs', PractitionerRole: 'rs', MeasureReport: 'rs',
  },
  analyst: { MeasureReport: 'rs', Measure: 'rs', Library: 'rs', Location: 'rs', Organization: 'rs' },
};
function grants(p, type, letter) {
  const g = GRANTS[p.role];
  return [g['*'], g[type]].some((letters) => letters && letters.includes(letter));
}

// Directory types (policy.cc): no patient's data; any token whose scopes name them reads them.
const DIRECTORY = new Set(['Location', 'Organization']);

// The patients the test knows: id -> { managing, permits, deniesByName }.
const patients = new Map();

// Does a clinician's organisation share this patient (consent.h), or does break-glass open it?
function clinicianShares(p, d) {
  const org = p.org || null;
  let shared;
  if (org && d.deniesByName.includes(org)) shared = false; // a refusal naming the organisation
  else if (org && d.managing === org) shared = true; // its own patient, whatever a general refusal says
  else shared = Boolean(org) && d.permits.includes(org); // elsewhere: opt-in, only what consent shares
  return shared || EMERGENCY.has(p.purpose); // break-glass passes a refusal
}

// May principal p see a resource of `type` that belongs to patient `pid` (null: to no patient)?
function sees(p, type, pid) {
  if (p.role === 'admin') return true;
  // A patient-bound token: its own compartment and directory types, nothing else.
  if (p.bound) return DIRECTORY.has(type) || (pid !== null && pid === p.bound);
  if (pid === null) return true; // directories, definitions, aggregates
  if (p.role === 'clinician') {
    const d = patients.get(pid);
    if (!d) throw new Error(`the test does not know Patient/${pid}`);
    return clinicianShares(p, d);
  }
  // Dispatchers and analysts: no clinical records; nothing that names a patient.
  return false;
}

const LETTER = {
  read: 'r', 'read-deleted': 'r', history: 'r', everything: 'r', 'history-type': 'r',
  search: 's', 'search-all': 's', compartment: 's',
  create: 'c', update: 'u', delete: 'd',
};

const allow = (statuses, why) => ({ verdict: 'allow', statuses, why });
const deny = (statuses, why) => ({ verdict: 'deny', statuses, why });
const hidden = (why) => ({ verdict: 'hidden', statuses: [404, 200], why });

/** The expected outcome of case c, from the model alone. */
function expected(c) {
  const { p } = c;
  if (!p.role) return deny([401], 'no token');
  const scopeType = c.op === 'everything' ? 'Patient' : c.type;
  if (!grants(p, scopeType, LETTER[c.op])) return deny([403], `${p.role} scopes lack '${LETTER[c.op]}' on ${scopeType}`);
  const see = sees(p, c.type, c.pid);
  switch (c.op) {
    case 'read':
    case 'history':
    case 'everything':
      return see ? allow([200], 'may see it') : deny([404], 'exists, but not for this principal to know');
    case 'read-deleted':
      if (!see) return deny([404], 'a deleted resource the principal may not see reads as unknown');
      // A patient-bound token may be told 404 for its own deleted resource too: the server
      // cannot always tell whose a deleted resource was, and hiding it discloses nothing.
      return p.bound ? allow([410, 404], 'its own, deleted') : allow([410], 'may see it: 410 Gone');
    case 'search':
    case 'search-all':
    case 'history-type':
      return allow([200], 'results filtered to what it may see');
    case 'compartment':
      return see ? allow([200], 'may see the patient') : hidden('not this principal\'s patient');
    case 'create':
      if (p.bound) {
        return c.pid !== null && c.pid === p.bound ? allow([201], 'its own patient') : deny([403], 'a patient-bound token writes only its own patient\'s record');
      }
      if (p.role === 'clinician') {
        if (c.type === 'Patient') {
          return p.org && c.managing === p.org ? allow([201], 'managed by its organisation') : deny([403], 'a clinician writes only patients its organisation manages');
        }
        if (c.type === 'Consent' && (!p.org || patients.get(c.pid).managing !== p.org)) {
          return deny([403], 'a patient\'s consents are written by the organisation that manages them, not by one they are shared with');
        }
        if (!see) return deny([403], 'names a patient not shared with its organisation');
      }
      return allow([201], 'may write it');
    case 'update':
    case 'delete': {
      if (!see) return deny([404], 'exists, but not for this principal to know');
      if (p.role === 'clinician' && ['Patient', 'Consent'].includes(c.type) && (!p.org || patients.get(c.pid).managing !== p.org)) {
        return deny([403], 'demographics and consents belong to the managing organisation: a clinician changes them only for patients its organisation manages');
      }
      return allow(c.op === 'update' ? [200] : [204], 'may write it');
    }
    default:
      throw new Error(`no expectation for ${c.op}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Resources

const patientBody = (id, managing) => ({
  resourceType: 'Patient',
  ...(id ? { id } : {}),
  name: [{ family: id || 'Created' }],
  ...(managing ? { managingOrganization: { reference: `Organization/${managing}` } } : {}),
});
const observationBody = (id, pid) => ({
  resourceType: 'Observation',
  ...(id ? { id } : {}),
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
  subject: { reference: `Patient/${pid}` },
  valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
});
// A patient-privacy Consent: it governs sharing.
const privacyConsentBody = (id, pid, c) => ({
  resourceType: 'Consent',
  id,
  status: c.status || 'active',
  scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
  category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
  patient: { reference: `Patient/${pid}` },
  dateTime: c.dateTime,
  provision: c.provision,
});
// A research Consent: in the patient's compartment, but it does not govern sharing, so writing
// one does not change the consent state the other cases rely on.
const researchConsentBody = (id, pid) => ({
  resourceType: 'Consent',
  ...(id ? { id } : {}),
  status: 'active',
  scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'research' }] },
  category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
  patient: { reference: `Patient/${pid}` },
  provision: { type: 'permit', purpose: [{ system: ACT_REASON, code: 'HRESCH' }] },
});
// An individual MeasureReport: about one patient (MeasureReport.subject), in its compartment.
const individualReportBody = (id, pid) => ({
  resourceType: 'MeasureReport',
  ...(id ? { id } : {}),
  status: 'complete',
  type: 'individual',
  measure: 'http://example.org/fhir/Measure/heart-rate-checked',
  subject: { reference: `Patient/${pid}` },
  period: { start: '2024-01-01', end: '2024-12-31' },
});
// A population MeasureReport: an aggregate that names no patient.
const populationReportBody = (id) => ({
  resourceType: 'MeasureReport',
  ...(id ? { id } : {}),
  status: 'complete',
  type: 'summary',
  measure: 'http://example.org/fhir/Measure/heart-rate-checked',
  period: { start: '2024-01-01', end: '2024-12-31' },
  group: [{ population: [{ code: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/measure-population', code: 'initial-population' }] }, count: 10 }] }],
});
const locationBody = (id) => ({ resourceType: 'Location', ...(id ? { id } : {}), status: 'active', name: id || 'New ward' });
const organizationBody = (id) => ({ resourceType: 'Organization', ...(id ? { id } : {}), active: true, name: id || 'New clinic' });

// The clinical types of the matrix: per consent state, each has a body builder owned by the
// state's patient. Patient is its own.
const CLINICAL = {
  Observation: (id, pid) => observationBody(id, pid),
  Consent: (id, pid) => researchConsentBody(id, pid),
  MeasureReport: (id, pid) => individualReportBody(id, pid),
};
const DIRECTORY_LIKE = {
  Location: (id) => locationBody(id),
  Organization: (id) => organizationBody(id),
  MeasureReport: (id) => populationReportBody(id),
};
const prefix = { Observation: 'obs', Consent: 'cr', MeasureReport: 'mr', Location: 'loc', Organization: 'org' };

// Who each resource belongs to: "Type/id" -> patient id or null (for deletion entries in
// histories, which carry no body).
const owners = new Map();
const seedBodies = new Map();

function ownerOf(r) {
  const ref = (x) => (x && typeof x.reference === 'string' && x.reference.startsWith('Patient/') ? x.reference.slice(8) : null);
  switch (r.resourceType) {
    case 'Patient':
      return r.id;
    case 'Observation':
      return ref(r.subject);
    case 'Consent':
      return ref(r.patient);
    case 'MeasureReport':
      return ref(r.subject);
    default:
      return null;
  }
}

function seedEntries() {
  const entries = [];
  const gone = [];
  const put = (r) => {
    entries.push({ resource: r, request: { method: 'PUT', url: `${r.resourceType}/${r.id}` } });
    owners.set(`${r.resourceType}/${r.id}`, ownerOf(r));
    seedBodies.set(`${r.resourceType}/${r.id}`, r);
  };
  const addPatient = (id, s) => {
    const st = STATES[s];
    patients.set(id, { managing: st.managing, permits: st.permits, deniesByName: st.deniesByName, state: s });
    put(patientBody(id, st.managing));
    st.consents.forEach((c, i) => put(privacyConsentBody(`${id}-cp${i}`, id, c)));
  };
  for (const org of [A, B, 'org-main']) put(organizationBody(org));
  put(locationBody('loc-main'));
  put(populationReportBody('mr-main'));
  for (const s of STATE_KEYS) {
    const pid = `pt-${s}`;
    addPatient(pid, s);
    for (const [type, body] of Object.entries(CLINICAL)) put(body(`${prefix[type]}-${s}`, pid));
    // Deleted ones: a patient (with its consents) and one of each clinical type.
    addPatient(`gone-pt-${s}`, s);
    gone.push(`Patient/gone-pt-${s}`);
    for (const [type, body] of Object.entries(CLINICAL)) {
      put(body(`gone-${prefix[type]}-${s}`, pid));
      gone.push(`${type}/gone-${prefix[type]}-${s}`);
    }
    // Fresh ones for each principal's delete cases.
    for (const p of PRINCIPALS) {
      addPatient(`del-${p.key}-pt-${s}`, s);
      for (const [type, body] of Object.entries(CLINICAL)) put(body(`del-${p.key}-${prefix[type]}-${s}`, pid));
    }
  }
  for (const [type, body] of Object.entries(DIRECTORY_LIKE)) {
    put(body(`gone-${prefix[type]}-main`));
    gone.push(`${type}/gone-${prefix[type]}-main`);
    for (const p of PRINCIPALS) put(body(`del-${p.key}-${prefix[type]}-main`));
  }
  return { entries, gone };
}

// ---------------------------------------------------------------------------------------------
// The cases

function buildCases() {
  const cases = [];
  const add = (p, op, type, state, method, path, { pid = null, target = null, body, managing, includes } = {}) => {
    cases.push({
      p, op, type, state, method, path, pid, target, body, managing, includes,
      name: `${p.key} ${op} ${type}${state ? ` [${state}]` : ''}: ${method} ${path}`,
    });
  };
  for (const p of PRINCIPALS) {
    for (const s of STATE_KEYS) {
      const pid = `pt-${s}`;
      const own = (id) => ({ pid, target: id });
      // Patient
      add(p, 'read', 'Patient', s, 'GET', `/Patient/${pid}`, own(`Patient/${pid}`));
      add(p, 'read-deleted', 'Patient', s, 'GET', `/Patient/gone-pt-${s}`, { pid: `gone-pt-${s}` });
      add(p, 'search', 'Patient', s, 'GET', `/Patient?_id=${pid}`, own(`Patient/${pid}`));
      add(p, 'history', 'Patient', s, 'GET', `/Patient/${pid}/_history`, own(`Patient/${pid}`));
      add(p, 'everything', 'Patient', s, 'GET', `/Patient/${pid}/$everything`, own(`Patient/${pid}`));
      add(p, 'update', 'Patient', s, 'PUT', `/Patient/${pid}`, { pid, body: { ...seedBodies.get(`Patient/${pid}`), active: true } });
      add(p, 'delete', 'Patient', s, 'DELETE', `/Patient/del-${p.key}-pt-${s}`, { pid: `del-${p.key}-pt-${s}` });
      // Observation, Consent (research), MeasureReport (individual)
      for (const [type, body] of Object.entries(CLINICAL)) {
        const id = `${prefix[type]}-${s}`;
        const searchParam = type === 'Consent' ? 'patient' : 'subject';
        add(p, 'read', type, s, 'GET', `/${type}/${id}`, own(`${type}/${id}`));
        add(p, 'read-deleted', type, s, 'GET', `/${type}/gone-${id}`, { pid });
        add(p, 'search', type, s, 'GET', `/${type}?${searchParam}=Patient/${pid}`, own(`${type}/${id}`));
        add(p, 'compartment', type, s, 'GET', `/Patient/${pid}/${type}`, own(`${type}/${id}`));
        add(p, 'history', type, s, 'GET', `/${type}/${id}/_history`, own(`${type}/${id}`));
        add(p, 'create', type, s, 'POST', `/${type}`, { pid, body: body(undefined, pid) });
        add(p, 'update', type, s, 'PUT', `/${type}/${id}`, { pid, body: seedBodies.get(`${type}/${id}`) });
        add(p, 'delete', type, s, 'DELETE', `/${type}/del-${p.key}-${id}`, { pid });
      }
    }
    // Directory types and the population MeasureReport: no patient.
    for (const [type, body] of Object.entries(DIRECTORY_LIKE)) {
      const id = `${prefix[type]}-main`;
      add(p, 'read', type, null, 'GET', `/${type}/${id}`, { target: `${type}/${id}` });
      add(p, 'read-deleted', type, null, 'GET', `/${type}/gone-${id}`);
      add(p, 'search', type, null, 'GET', `/${type}?_id=${id}`, { target: `${type}/${id}` });
      add(p, 'history', type, null, 'GET', `/${type}/${id}/_history`, { target: `${type}/${id}` });
      add(p, 'create', type, null, 'POST', `/${type}`, { body: body(undefined) });
      add(p, 'update', type, null, 'PUT', `/${type}/${id}`, { body: seedBodies.get(`${type}/${id}`) });
      add(p, 'delete', type, null, 'DELETE', `/${type}/del-${p.key}-${id}`);
    }
    // Creating patients, by managing organisation.
    for (const managing of [A, B, null]) {
      add(p, 'create', 'Patient', null, 'POST', '/Patient', { body: patientBody(undefined, managing), managing, pid: null });
    }
  }
  // Whole-type searches and histories last, when every write above has happened: each result
  // must be one the principal may see, and the seeded ones it may see must be there.
  for (const p of PRINCIPALS) {
    for (const type of ['Patient', 'Observation', 'Consent', 'MeasureReport', 'Location', 'Organization']) {
      add(p, 'search-all', type, null, 'GET', `/${type}?_count=1000`, { includes: true });
      add(p, 'history-type', type, null, 'GET', `/${type}/_history?_count=1000`);
    }
  }
  return cases;
}

// The seeded resources of `type` (not the deleted ones, nor the per-principal copies) that
// principal p may see: what a whole-type search must return at least.
function seededVisible(p, type) {
  const out = [];
  for (const [key, pid] of owners) {
    const [t, id] = key.split('/');
    if (t !== type || /^(gone|del)-/.test(id)) continue;
    if (sees(p, t, pid)) out.push(key);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Driving the server

let server;
const tokens = new Map();

function call(token, method, p, body) {
  return server.http.request(method, p, { headers: { authorization: token ? `Bearer ${token}` : '' }, body });
}

/** All entries of a searchset or history Bundle, following `next` links. */
async function allEntries(token, first) {
  const entries = [];
  const seen = new Set();
  let res = first;
  for (;;) {
    if (res.status !== 200 || !res.json || res.json.resourceType !== 'Bundle') {
      throw new Error(`a page is not a 200 Bundle: ${res.status} ${res.text.slice(0, 300)}`);
    }
    entries.push(...(res.json.entry || []));
    const next = (res.json.link || []).find((l) => l.relation === 'next');
    if (!next || seen.has(next.url)) break;
    seen.add(next.url);
    res = await call(token, 'GET', next.url);
  }
  return entries;
}

function describe(key) {
  const pid = owners.get(key);
  if (pid === undefined) return `${key} (not a resource the test knows)`;
  return pid === null ? key : `${key} (Patient/${pid}, ${patients.get(pid) ? patients.get(pid).state : 'created by the test'})`;
}

/** The problems with a response to case c, expected `want`; empty when it matches. */
async function problems(c, want, res, token) {
  const out = [];
  if (!want.statuses.includes(res.status)) {
    out.push(`want ${want.verdict} (HTTP ${want.statuses.join(' or ')}: ${want.why}), got ${res.status} ${res.text.slice(0, 200)}`);
    return out;
  }
  if (res.status >= 400) {
    if (!res.json || res.json.resourceType !== 'OperationOutcome') out.push(`a ${res.status} without an OperationOutcome: ${res.text.slice(0, 200)}`);
    return out;
  }
  if (c.op === 'read' && res.json && `${res.json.resourceType}/${res.json.id}` !== c.target) {
    out.push(`read returned ${res.json.resourceType}/${res.json.id}, not ${c.target}`);
  }
  if (c.op === 'create' && res.json && res.json.id) {
    owners.set(`${res.json.resourceType}/${res.json.id}`, ownerOf(res.json));
    if (res.json.resourceType === 'Patient') {
      patients.set(res.json.id, { managing: c.managing, permits: [], deniesByName: [], state: null });
    }
  }
  const bundleOps = ['search', 'search-all', 'history-type', 'history', 'everything', 'compartment'];
  if (!bundleOps.includes(c.op) || res.status !== 200) return out;
  const entries = await allEntries(token, res);
  const history = c.op === 'history' || c.op === 'history-type';
  const reached = []; // "Type/id" of each resource (or deletion) sent
  for (const e of entries) {
    if (e.search && e.search.mode === 'outcome') continue;
    let key;
    let pid;
    if (e.resource) {
      if (e.resource.resourceType === 'OperationOutcome') continue;
      key = `${e.resource.resourceType}/${e.resource.id}`;
      pid = ownerOf(e.resource);
      if (!owners.has(key)) owners.set(key, pid);
    } else if (history && e.request) {
      // A deletion: no body. Whose it was comes from what the test wrote.
      key = e.request.url;
      pid = owners.get(key);
      if (pid === undefined) {
        out.push(`history entry for ${key}, a resource the test does not know`);
        continue;
      }
    } else {
      continue;
    }
    reached.push(key);
    const type = key.split('/')[0];
    if (pid !== null && !patients.has(pid)) {
      out.push(`returned ${key} of Patient/${pid}, a patient the test does not know`);
      continue;
    }
    if (!sees(c.p, type, pid)) out.push(`leaks ${describe(key)}${e.resource ? '' : ' (a deletion entry)'}`);
  }
  if (c.verdict === 'hidden' && entries.length) {
    // As for a patient that does not exist: no entries at all, not even a note that some were
    // withheld (that note would tell the patient exists and has records).
    const what = entries.map((e) =>
      !e.resource ? 'an entry without a resource'
        : e.resource.resourceType === 'OperationOutcome' ? `OperationOutcome "${(e.resource.issue || []).map((i) => i.diagnostics).join('; ')}"`
          : `${e.resource.resourceType}/${e.resource.id}`);
    out.push(`a compartment the principal may not see is not the empty searchset a patient that does not exist gives: ${what.join(', ')}`);
  }
  // What must be there.
  const must = [];
  if (c.target && sees(c.p, c.type, c.pid)) must.push(c.target);
  if (c.includes) must.push(...seededVisible(c.p, c.type));
  const got = new Set(reached);
  const missing = must.filter((k) => !got.has(k));
  if (missing.length) out.push(`missing ${missing.length} it may see: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`);
  return out;
}

before(async () => {
  // Thousands of requests in seconds, a tenth of them without a token: rate limits (which
  // rate_limit.test.mjs covers) would turn their 401s into 429s.
  server = await MedullaServer.start({ env: { MEDULLA_RATE_LIMIT: '0', MEDULLA_ANONYMOUS_RATE_LIMIT: '0' } });
  const { entries, gone } = seedEntries();
  const seeded = await call(server.token, 'POST', '/', { resourceType: 'Bundle', type: 'transaction', entry: entries });
  assert.equal(seeded.status, 200, `seeding: ${seeded.text.slice(0, 1000)}`);
  const removed = await call(server.token, 'POST', '/', {
    resourceType: 'Bundle', type: 'transaction', entry: gone.map((url) => ({ request: { method: 'DELETE', url } })),
  });
  assert.equal(removed.status, 200, `deleting: ${removed.text.slice(0, 1000)}`);
  for (const p of PRINCIPALS) {
    if (!p.role) continue;
    const args = ['--role', p.role, '--subject', `matrix-${p.key}`];
    if (p.org) args.push('--organization', p.org);
    if (p.bound) args.push('--patient', p.bound);
    if (p.purpose) args.push('--purpose', p.purpose);
    tokens.set(p.key, mintToken(server.dataDir, args));
  }
});
after(async () => server && (await server.dispose()));

test('permission matrix: role x interaction x resource type x consent state', async (t) => {
  const cases = buildCases();
  const started = Date.now();
  const failures = []; // { c, msgs }
  for (const c of cases) {
    const want = expected(c);
    c.verdict = want.verdict;
    const token = c.p.role ? tokens.get(c.p.key) : null;
    let msgs;
    try {
      const res = await call(token, c.method, c.path, c.body);
      msgs = await problems(c, want, res, token);
    } catch (err) {
      msgs = [`request failed: ${err.message}`];
    }
    if (msgs.length) failures.push({ c, msgs });
  }
  const byVerdict = cases.reduce((m, c) => ((m[c.verdict] = (m[c.verdict] || 0) + 1), m), {});
  t.diagnostic(`${cases.length} cases in ${Date.now() - started} ms: ${JSON.stringify(byVerdict)}`);

  const known = new Map(KNOWN_BUG.map((b) => [b, []]));
  const unexpected = [];
  for (const f of failures) {
    const bug = KNOWN_BUG.find((b) => b.match(f.c, f.msgs));
    if (bug) known.get(bug).push(f);
    else unexpected.push(f);
  }
  for (const [bug, hits] of known) {
    t.diagnostic(`KNOWN_BUG ${bug.id}: ${hits.length} cases. ${bug.what}`);
    for (const f of hits.slice(0, 8)) t.diagnostic(`  ${f.c.name}: ${f.msgs.join('; ')}`);
    if (hits.length > 8) t.diagnostic(`  ... and ${hits.length - 8} more`);
  }
  const stale = [...known].filter(([, hits]) => hits.length === 0).map(([b]) => b.id);

  assert.ok(cases.length >= 200, `the matrix has ${cases.length} cases, want at least 200`);
  assert.ok(
    unexpected.length === 0,
    `${unexpected.length} of ${cases.length} cases do not match the model:\n` +
      unexpected.map((f) => `  ${f.c.name}\n      ${f.msgs.join('\n      ')}`).join('\n'),
  );
  assert.deepEqual(stale, [], 'KNOWN_BUG entries that match no failing case any more (fixed? remove them)');
});
