// The search oracle's queries: several hundred FHIR searches derived deterministically from the
// values actually present in the corpus (so that most of them match something), plus queries
// that must match nothing. The same corpus and QUERY_SEED always give the same list.
//
// A query is {type, pairs: [[name, value], ...]}: names and values as a server sees them after
// percent-decoding. formatQuery() gives the readable form used as the test name, queryPath() the
// request path with every value percent-encoded.
//
// Families: token (system|code, code, system|, |code, :not, :text, OR), string (prefix, accents,
// :exact, :contains), reference (Type/id, id, :Type), date (year/month/day/second precision,
// every prefix, time zones, Periods with open ends), quantity (units kg cm mm[Hg] /min Cel % ...,
// precision of eq, ||unit), uri (:below, :above), :missing, chains (one and two levels),
// _has, _include/_revinclude, _sort (one and two keys), _count paging, _summary=count,
// _total=accurate, AND of repeated parameters, and (last, so that adding them changes no other
// query) UCUM conversions: a search unit other than the stored one ([lb_av] and g for kg, [in_i]
// and m for cm, [degF] and K for Cel, g/L for mg/dL, ...), units that are not commensurable,
// and unit strings that are not UCUM, then composites (code$value pairs, their pairing inside
// one item, OR and AND). A quantity value is never generated when a converted
// stored value lands within 1e-9 (relative) of one of its boundaries (quantityNearBoundary).
import {
  SearchOracle,
  compareDecimal,
  decimalRange,
  escapeValue,
  parseDateRange,
  parseDecimal,
  quantityNearBoundary,
  splitEscaped,
  ucumConvert,
} from './evaluator.mjs';
import { parseReference } from './params.mjs';

/** The seed of every random choice below (mulberry32, as lib/server.mjs's seededRandom). */
export const QUERY_SEED = 20261122;

/** `Type?name=value&...`, unencoded: the test name of a query. */
export function formatQuery({ type, pairs }) {
  return `${type}?${pairs.map(([n, v]) => `${n}=${v}`).join('&')}`;
}

/** `/Type?name=value&...` with each value percent-encoded (names are URL-safe as they are). */
export function queryPath({ type, pairs }) {
  return `/${type}?${pairs.map(([n, v]) => `${n}=${encodeURIComponent(v)}`).join('&')}`;
}

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const UCUM = 'http://unitsofmeasure.org';
const DAY = 86_400_000;

/**
 * UCUM conversions (see the file comment): for each [LOINC code, stored unit, forms], a few
 * stored values of that code, each searched in other units. A form is
 * [prefix, search unit, decimals, '|' (with the UCUM system) or '||' (without), narrowing]
 * with narrowing 'code' (the Observation code) or 'patient' (the Observation's Patient, so that
 * every commensurable quantity of that patient is compared, whatever its code).
 */
const CONVERSIONS = [
  ['29463-7', 'kg', [['gt', '[lb_av]', 0, '|', 'code'], ['eq', '[lb_av]', 1, '||', 'code'], ['eq', 'g', 0, '|', 'code'], ['ne', '[lb_av]', 0, '|', 'patient'], ['le', 'g', -2, '||', 'code']]],
  ['8302-2', 'cm', [['lt', '[in_i]', 0, '||', 'code'], ['eq', '[in_i]', 2, '|', 'code'], ['eq', 'm', 3, '|', 'code'], ['ge', 'm', 2, '|', 'patient'], ['eq', 'mm', 0, '||', 'code']]],
  ['8331-1', 'Cel', [['gt', '[degF]', 1, '|', 'code'], ['eq', '[degF]', 1, '||', 'code'], ['le', 'K', 1, '|', 'code'], ['eq', 'K', 2, '|', 'code']]],
  ['2093-3', 'mg/dL', [['gt', 'g/L', 1, '|', 'code'], ['eq', 'g/dL', 3, '|', 'code'], ['ne', 'g/L', 1, '|', 'patient'], ['ge', 'g/L', 2, '||', 'patient']]],
  ['777-3', '10*3/uL', [['gt', '10*6/uL', 2, '|', 'code'], ['eq', '10*9/L', 0, '|', 'code'], ['lt', '10*9/L', 0, '||', 'patient']]],
  ['2947-0', 'mmol/L', [['gt', 'umol/L', -3, '|', 'code'], ['eq', 'mol/L', 4, '|', 'code']]],
  ['4544-3', '%', [['lt', '1', 2, '|', 'patient'], ['eq', '1', 3, '||', 'code'], ['gt', '{ratio}', 2, '|', 'code']]],
  ['72514-3', '{score}', [['gt', '%', -1, '|', 'code'], ['ge', '1', 1, '||', 'patient'], ['eq', '%', -1, '|', 'code']]],
  ['33914-3', 'mL/min/{1.73_m2}', [['gt', 'mL/min', 0, '|', 'code'], ['lt', 'L/h', 1, '|', 'code']]],
];

/** A UTC instant (ms) as a FHIR dateTime with seconds and the given zone offset in minutes. */
function isoWithOffset(ms, offsetMin) {
  const local = new Date(ms + offsetMin * 60_000).toISOString().slice(0, 19);
  if (offsetMin === 0) return `${local}Z`;
  const sign = offsetMin < 0 ? '-' : '+';
  const a = Math.abs(offsetMin);
  return `${local}${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}
const dayOf = (ms) => new Date(ms).toISOString().slice(0, 10);
const monthOf = (ms) => new Date(ms).toISOString().slice(0, 7);

class Generator {
  constructor(oracle, seed) {
    this.oracle = oracle;
    this.random = mulberry32(seed);
    this.queries = [];
    this.seen = new Set();
    this.totals = new Map();
  }

  // --- randomness -------------------------------------------------------------------------

  pick(list) {
    if (!list.length) throw new Error('query generator: pick from an empty list');
    return list[Math.floor(this.random() * list.length)];
  }

  /** n distinct items of list (fewer if it is shorter), in a seeded order. */
  sample(list, n) {
    const a = [...list];
    const out = [];
    while (a.length && out.length < n) out.push(a.splice(Math.floor(this.random() * a.length), 1)[0]);
    return out;
  }

  // --- the corpus -------------------------------------------------------------------------

  resources(type) {
    return this.oracle.all(type).map((x) => x.resource);
  }

  param(type, code) {
    const p = this.oracle.params.get(type, code);
    if (!p) throw new Error(`query generator: ${type} has no parameter ${code}`);
    return p;
  }

  /** [{resource, v}] for every value of type.code in the corpus. */
  values(type, code) {
    const p = this.param(type, code);
    return this.resources(type).flatMap((resource) => p.values(resource).map((v) => ({ resource, v })));
  }

  /** Distinct codings of a token parameter, most frequent first: [{system, code, display, text, n}]. */
  codings(type, code) {
    const m = new Map();
    for (const { v } of this.values(type, code)) {
      const list = v.type === 'CodeableConcept' ? (v.value.coding || []).map((c) => ({ ...c, text: v.value.text })) : v.type === 'Coding' ? [v.value] : [];
      for (const c of list) {
        const k = `${c.system}|${c.code}`;
        if (!m.has(k)) m.set(k, { system: c.system, code: c.code, display: c.display, text: c.text, n: 0 });
        m.get(k).n++;
      }
    }
    return [...m.values()].sort((a, b) => b.n - a.n || `${a.system}|${a.code}`.localeCompare(`${b.system}|${b.code}`));
  }

  /** The id of the Patient a resource belongs to (through its `patient` parameter), or null. */
  patientOf(resource) {
    const p = this.oracle.params.get(resource.resourceType, 'patient');
    const ref = p && p.values(resource).map((v) => parseReference(v.value.reference)).find((r) => r && r.type === 'Patient');
    return ref ? ref.id : null;
  }

  /** A random existing resource that some `type` references through parameter `code`. */
  referenced(type, code) {
    const keys = [...new Set(this.values(type, code).map(({ v }) => Generator.refId(v)).filter(Boolean).map((r) => `${r.type}/${r.id}`))].sort();
    return this.oracle.byKey.get(this.pick(keys.filter((k) => this.oracle.byKey.has(k))));
  }

  /** The id of a reference value, or null. */
  static refId(v) {
    const r = v && v.type === 'Reference' && parseReference(v.value.reference);
    return r ? r : null;
  }

  // --- recording queries ------------------------------------------------------------------

  total(type, pairs) {
    const k = formatQuery({ type, pairs });
    if (!this.totals.has(k)) this.totals.set(k, this.oracle.search(type, pairs).total);
    return this.totals.get(k);
  }

  /** Adds a query (once); `max` skips it when it would match more than max resources. */
  add(type, pairs, { max = Infinity } = {}) {
    const q = { type, pairs };
    const k = formatQuery(q);
    if (this.seen.has(k)) return false;
    if (max !== Infinity && this.total(type, pairs) > max) return false;
    this.seen.add(k);
    this.queries.push(q);
    return true;
  }

  /**
   * Is every quantity value among `pairs` (a query on `type`) free of floating-point boundary
   * cases (see quantityNearBoundary)? A chain `a.b.param` is checked on the values of the types
   * that `a` can reference.
   */
  quantitySafe(type, pairs) {
    if (!this.quantityValues) this.quantityValues = new Map();
    return pairs.every(([name, value]) => {
      if (name.startsWith('_') || name.includes(':missing')) return true;
      const steps = name.split('.').map((x) => x.split(':')[0]);
      let types = [type];
      for (const step of steps.slice(0, -1)) {
        types = types.flatMap((t) => {
          const p = this.oracle.params.get(t, step);
          return p && p.type === 'reference' ? p.targets : [];
        });
      }
      const code = steps[steps.length - 1];
      return types.every((t) => {
        const p = this.oracle.params.get(t, code);
        if (!p || p.type !== 'quantity') return true;
        const key = `${t}.${code}`;
        if (!this.quantityValues.has(key)) this.quantityValues.set(key, this.values(t, code).map(({ v }) => v));
        return splitEscaped(value, ',').every((alt) => !quantityNearBoundary(alt, this.quantityValues.get(key)));
      });
    });
  }

  /** add() for a hand-written quantity query, which must be free of boundary cases. */
  addQuantity(type, pairs) {
    if (!this.quantitySafe(type, pairs)) throw new Error(`query generator: ${formatQuery({ type, pairs })} compares a converted value at a boundary`);
    return this.add(type, pairs);
  }

  /** A narrowing parameter for big types: the Patient of `resource`, in one of four forms. */
  narrow(resource) {
    const id = this.patientOf(resource);
    if (!id) return [];
    const forms = [
      ['patient', id],
      ['patient', `Patient/${id}`],
      ['subject', `Patient/${id}`],
      ['subject:Patient', id],
    ];
    const f = this.pick(forms);
    // Not every type has `subject` (Claim, Immunization, ...): fall back to patient.
    return this.oracle.params.get(resource.resourceType, f[0].split(':')[0]) ? [f] : [['patient', id]];
  }

  // =======================================================================================
  // Families

  tokens() {
    // [type, code, how many codings, forms]
    const specs = [
      ['Observation', 'code', 4, ['sc', 'c', 'text', 'or']],
      ['Observation', 'category', 3, ['sc', 'c', 'not']],
      ['Observation', 'combo-code', 2, ['sc', 'c']],
      ['Observation', 'component-code', 2, ['sc', 'c']],
      ['Observation', 'value-concept', 3, ['sc', 'c', 'text']],
      ['Condition', 'code', 5, ['sc', 'c', 'text', 'or', 'bar']],
      ['Condition', 'clinical-status', 2, ['sc', 'c', 'not']],
      ['Condition', 'verification-status', 1, ['sc', 's|']],
      ['Procedure', 'code', 4, ['sc', 'c', 'text']],
      ['MedicationRequest', 'code', 4, ['sc', 'c', 'text']],
      ['Immunization', 'vaccine-code', 4, ['sc', 'c', 'text', 'not', 'or']],
      ['DiagnosticReport', 'code', 3, ['sc', 'c', 'text']],
      ['DiagnosticReport', 'category', 1, ['sc', 'c']],
      ['CarePlan', 'category', 3, ['sc', 'c', 'text']],
      ['CarePlan', 'activity-code', 3, ['sc', 'c']],
      ['Claim', 'priority', 1, ['sc', 's|']],
      ['AllergyIntolerance', 'code', 3, ['sc', 'c', 'text']],
      ['AllergyIntolerance', 'clinical-status', 1, ['sc']],
      ['AllergyIntolerance', 'verification-status', 1, ['sc', 'not']],
      ['Encounter', 'class', 3, ['sc', 'c', 'bar', 'not']],
      ['Encounter', 'type', 4, ['sc', 'c', 'text']],
      ['Encounter', 'reason-code', 3, ['sc', 'c', 'or']],
      ['Goal', 'achievement-status', 1, ['sc', 'c']],
      ['ImagingStudy', 'modality', 3, ['sc', 'c', 'or']],
      ['ImagingStudy', 'bodysite', 2, ['sc', 'c']],
      ['ImagingStudy', 'dicom-class', 1, ['sc']],
      ['Organization', 'type', 1, ['sc', 's|', 'text']],
      ['Patient', 'language', 3, ['sc', 'c', 'text', 'not']],
      ['Device', 'type', 1, ['sc', 'c', 'text']],
      ['Location', 'type', 1, ['sc', 'c']],
      ['DeviceMetric', 'type', 1, ['sc', 'c']],
    ];
    for (const [type, code, n, forms] of specs) {
      const pool = this.codings(type, code);
      // Half from the most frequent codings, half from anywhere, deduplicated.
      const picked = [...new Map([...pool.slice(0, Math.ceil(n / 2)), ...this.sample(pool, n)].map((c) => [`${c.system}|${c.code}`, c])).values()].slice(0, n);
      const big = this.resources(type).length > 1000;
      picked.forEach((c, i) => {
        const form = forms[i % forms.length];
        const extra = big && form === 'not' ? this.narrow(this.pick(this.resources(type))) : [];
        if (form === 'sc' || i === 0) this.add(type, [[code, `${c.system}|${c.code}`]]);
        if (form === 'c') this.add(type, [[code, c.code]]);
        if (form === 's|') this.add(type, [[code, `${c.system}|`]]);
        if (form === 'bar') this.add(type, [[code, `|${c.code}`]]); // every coding here has a system: matches nothing
        if (form === 'not') this.add(type, [[`${code}:not`, `${c.system}|${c.code}`], ...extra]);
        if (form === 'text') {
          const text = c.text || c.display;
          if (text) this.add(type, [[`${code}:text`, escapeValue(text.slice(0, Math.max(4, Math.floor(text.length / 2))).toLowerCase())]]);
        }
        if (form === 'or' && pool.length > 1) {
          const other = this.pick(pool.filter((o) => o !== c));
          this.add(type, [[code, `${c.system}|${c.code},${other.code}`]]);
        }
      });
    }
    // Plain codes, booleans, identifiers, contact points.
    for (const [type, code] of [
      ['Observation', 'status'],
      ['Encounter', 'status'],
      ['MedicationRequest', 'status'],
      ['MedicationRequest', 'intent'],
      ['CarePlan', 'status'],
      ['CarePlan', 'intent'],
      ['Procedure', 'status'],
      ['Immunization', 'status'],
      ['DiagnosticReport', 'status'],
      ['Claim', 'use'],
      ['ExplanationOfBenefit', 'status'],
      ['AllergyIntolerance', 'criticality'],
      ['AllergyIntolerance', 'type'],
      ['AllergyIntolerance', 'category'],
      ['Goal', 'lifecycle-status'],
      ['ImagingStudy', 'status'],
      ['Patient', 'gender'],
      ['Practitioner', 'gender'],
      ['Device', 'status'],
      ['DeviceMetric', 'category'],
    ]) {
      const codes = [...new Set(this.values(type, code).map(({ v }) => String(v.value)))].sort();
      const c = this.pick(codes);
      this.add(type, [[code, c]], { max: 1500 });
      if (codes.length > 1) this.add(type, [[code, codes.join(',')]], { max: 1500 });
      this.add(type, [[code, `${c}-no-such-code`]]);
    }
    this.add('Patient', [['gender:not', 'female']]);
    this.add('Patient', [['gender:not', 'male,female']]);
    this.add('Observation', [['status:not', 'final'], ['category', 'vital-signs']]);
    for (const v of ['true', 'false']) {
      this.add('Patient', [['deceased', v]]);
      this.add('Organization', [['active', v]]);
      this.add('Practitioner', [['active', v]]);
      this.add('Patient', [['active', v]]);
    }
    // Identifiers: system|value, value, system|, |value.
    const ids = this.values('Patient', 'identifier').filter(({ v }) => v.value.system && v.value.value);
    for (const { v } of this.sample(ids, 6)) {
      this.add('Patient', [['identifier', `${v.value.system}|${v.value.value}`]]);
      this.add('Patient', [['identifier', v.value.value]]);
    }
    this.add('Patient', [['identifier', 'http://hl7.org/fhir/sid/us-ssn|']]);
    this.add('Patient', [['identifier', `|${ids[0].v.value.value}`]]);
    this.add('Patient', [['identifier', `http://example.org/no-such-system|${ids[0].v.value.value}`]]);
    for (const { v } of this.sample(this.values('Practitioner', 'identifier'), 2)) this.add('Practitioner', [['identifier', `${v.value.system}|${v.value.value}`]]);
    for (const { v } of this.sample(this.values('Organization', 'identifier'), 2)) this.add('Organization', [['identifier', `${v.value.system}|${v.value.value}`]]);
    const eobIds = this.values('ExplanationOfBenefit', 'identifier').filter(({ v }) => /clm_id/.test(v.value.system));
    this.add('ExplanationOfBenefit', [['identifier', `${this.pick(eobIds).v.value.system}|${this.pick(eobIds).v.value.value}`]]);
    this.add('ExplanationOfBenefit', [['identifier', this.pick(eobIds).v.value.value]]);
    for (const { v } of this.sample(this.values('ImagingStudy', 'identifier'), 1)) this.add('ImagingStudy', [['identifier', `${v.value.system}|${v.value.value}`]]);
    for (const code of ['series', 'instance']) this.add('ImagingStudy', [[code, String(this.pick(this.values('ImagingStudy', code)).v.value)]]);
    this.add('Device', [['identifier', String(this.pick(this.values('Device', 'identifier')).v.value.value)]]);
    // Contact points: by value.
    for (const { v } of this.sample(this.values('Patient', 'phone'), 3)) this.add('Patient', [['phone', v.value.value]]);
    for (const { v } of this.sample(this.values('Patient', 'telecom'), 2)) this.add('Patient', [['telecom', v.value.value]]);
    for (const { v } of this.values('Patient', 'email')) this.add('Patient', [['email', v.value.value]]);
    // _id and _tag.
    const pats = this.resources('Patient');
    const [p1, p2] = this.sample(pats, 2);
    this.add('Patient', [['_id', p1.id]]);
    this.add('Patient', [['_id', `${p1.id},${p2.id},no-such-id`]]);
    const obs = this.pick(this.resources('Observation'));
    this.add('Observation', [['_id', obs.id], ['code', obs.code.coding[0].code]]);
    this.add('Observation', [['_id', obs.id], ['code', `${obs.code.coding[0].code}-other`]]);
    const tag = 'https://smarthealthit.org/tags|synthea-5-2019';
    this.add('Condition', [['_tag', tag]]);
    this.add('Condition', [['_tag:not', tag]]);
    this.add('Observation', [['_tag', 'http://terminology.hl7.org/CodeSystem/v3-ActReason|HTEST']]);
    this.add('Practitioner', [['_tag', 'synthea-5-2019']]);
    // Escaped comma inside a :text value (a display with a comma), and an OR of three.
    const flu = this.codings('Immunization', 'vaccine-code').find((c) => (c.text || '').includes(','));
    if (flu) this.add('Immunization', [['vaccine-code:text', escapeValue(flu.text.slice(0, flu.text.indexOf(',') + 5))]]);
    const three = this.sample(this.codings('Condition', 'code'), 3).map((c) => c.code);
    this.add('Condition', [['code', three.join(',')]]);
    // A display with a zero-width space: a prefix that stops before it.
    this.add('Observation', [['code:text', 'Protein [Mass/']]);
  }

  strings() {
    const pats = this.resources('Patient');
    const names = pats.flatMap((p) => p.name || []);
    const families = [...new Set(names.map((n) => n.family).filter(Boolean))].sort();
    for (const f of this.sample(families, 5)) {
      this.add('Patient', [['family', f.slice(0, 3).toLowerCase()]]);
      this.add('Patient', [['family', f]]);
    }
    for (const f of this.sample(families, 3)) {
      this.add('Patient', [['family:exact', f]]);
      this.add('Patient', [['family:exact', f.toLowerCase()]]); // case counts: no match
      this.add('Patient', [['family:exact', f.slice(0, -1)]]); // whole value only: no match
      this.add('Patient', [['family:contains', f.slice(1, -1).toUpperCase()]]);
    }
    const givens = [...new Set(names.flatMap((n) => n.given || []))].sort();
    for (const g of this.sample(givens, 4)) {
      this.add('Patient', [['given', g.slice(0, 2)]]);
      this.add('Patient', [['name', g.slice(0, 4).toUpperCase()]]);
    }
    this.add('Patient', [['name', 'mr']]); // a prefix (Mr.) is part of the name
    this.add('Patient', [['name:contains', 'ar']]);
    this.add('Patient', [['name', 'van de']]); // a space inside the value
    this.add('Patient', [['family', 'heuvel']]); // not a prefix of "van de Heuvel"
    this.add('Patient', [['family:contains', 'heuvel']]);
    this.add('Patient', [['family', 'zzzz']]);
    const cities = [...new Set(this.values('Patient', 'address-city').map(({ v }) => v.value))].sort();
    for (const c of this.sample(cities, 3)) {
      this.add('Patient', [['address-city', c]]);
      this.add('Patient', [['address-city', c.slice(0, 4).toLowerCase()]]);
    }
    this.add('Patient', [['address-city:exact', this.pick(cities).toUpperCase()]]);
    this.add('Patient', [['address-state', 'mass']]);
    this.add('Patient', [['address-state:exact', 'Massachusetts']]);
    this.add('Patient', [['address-postalcode', '018']]);
    this.add('Patient', [['address-country', 'us']]);
    const line = this.pick(this.values('Patient', 'address').filter(({ v }) => v.value.line)).v.value.line[0];
    this.add('Patient', [['address', line.split(' ').slice(0, 2).join(' ')]]);
    this.add('Patient', [['address:contains', line.split(' ')[1]]]);
    // Accents: Synthea has Practitioners named Urías and Rodrígez.
    this.add('Practitioner', [['family', 'urias']]);
    this.add('Practitioner', [['family', 'RODRIG']]);
    this.add('Practitioner', [['name', 'Urí']]);
    this.add('Practitioner', [['family:exact', 'Urías']]);
    this.add('Practitioner', [['family:exact', 'Urias']]);
    this.add('Practitioner', [['family:contains', 'ías']]);
    const pracFam = [...new Set(this.values('Practitioner', 'family').map(({ v }) => v.value))].sort();
    for (const f of this.sample(pracFam, 3)) this.add('Practitioner', [['family', f.slice(0, 3)]]);
    const pracGiven = [...new Set(this.values('Practitioner', 'given').map(({ v }) => v.value))].sort();
    this.add('Practitioner', [['given', this.pick(pracGiven)]]);
    this.add('Practitioner', [['name', 'dr']]);
    this.add('Practitioner', [['address-city', this.pick(this.values('Practitioner', 'address-city')).v.value.toLowerCase()]]);
    const orgNames = [...new Set(this.values('Organization', 'name').map(({ v }) => v.value))].sort();
    for (const n of this.sample(orgNames, 3)) this.add('Organization', [['name', n.split(' ')[0].toLowerCase()]]);
    this.add('Organization', [['name:contains', 'hospital']]);
    this.add('Organization', [['name:exact', this.pick(orgNames)]]);
    this.add('Organization', [['address-city', 'boston']]);
    this.add('Organization', [['address-postalcode', '02']]);
    this.add('Organization', [['address-state', 'MA']]);
    this.add('Observation', [['value-string', 'never']]);
    this.add('Observation', [['value-string:exact', 'Never smoker']]);
    this.add('Observation', [['value-string:exact', 'never smoker']]);
    this.add('Observation', [['value-string:contains', 'smoker'], ['value-string', 'former']]);
    this.add('Device', [['device-name', 'ecg']]);
    this.add('Device', [['device-name', 'electrocardio']]);
    this.add('Device', [['manufacturer', this.resources('Device')[0].manufacturer.slice(0, 3)]]);
    this.add('Location', [['name', this.resources('Location')[0].name.slice(0, 5).toLowerCase()]]);
    this.add('Condition', [['onset-info:contains', 'november']]);
  }

  references() {
    const pats = this.resources('Patient').filter((p) => !['example', 'f001'].includes(p.id));
    for (const p of this.sample(pats, 3)) {
      this.add('Observation', [['subject', `Patient/${p.id}`], ['category', 'laboratory']]);
      this.add('Condition', [['patient', p.id]]);
      this.add('Encounter', [['subject:Patient', p.id]]);
    }
    const [pa, pb] = this.sample(pats, 2);
    this.add('Immunization', [['patient', `Patient/${pa.id},Patient/${pb.id}`]]);
    this.add('MedicationRequest', [['subject', `Patient/${pa.id}`]]);
    this.add('Procedure', [['patient', `Patient/${pb.id}`]]);
    this.add('AllergyIntolerance', [['patient', this.patientOf(this.pick(this.resources('AllergyIntolerance')))]]);
    this.add('Goal', [['subject', `Patient/${this.patientOf(this.pick(this.resources('Goal')))}`]]);
    this.add('ImagingStudy', [['patient', this.patientOf(this.pick(this.resources('ImagingStudy')))]]);
    this.add('Claim', [['patient', `Patient/${pa.id}`]]);
    this.add('ExplanationOfBenefit', [['patient', pb.id]]);
    this.add('CarePlan', [['subject', `Patient/${pa.id}`]]);
    this.add('DiagnosticReport', [['patient', `Patient/${pb.id}`]]);
    this.add('Observation', [['subject', 'Patient/no-such-patient']]);
    this.add('Observation', [['subject', `Group/${pa.id}`]]); // right id, wrong type
    this.add('Observation', [['subject:Group', pa.id]]);
    // Examples reference Patient/example, which is not stored: a dangling reference still matches.
    this.add('Observation', [['subject', 'Patient/example']]);
    this.add('Observation', [['subject', 'example']]); // a bare id matches any type
    this.add('Observation', [['patient', 'example']]);
    this.add('Condition', [['subject', 'f001']]);
    this.add('Encounter', [['subject', 'Patient/f001']]);
    this.add('DeviceMetric', [['source', 'Device/dev1']]);
    this.add('Observation', [['device', this.pick(this.values('Observation', 'device')).v.value.reference]]);
    // Other reference parameters, from values present.
    for (const [type, code, n] of [
      ['Observation', 'encounter', 2],
      ['Encounter', 'participant', 2],
      ['Encounter', 'practitioner', 1],
      ['Encounter', 'service-provider', 2],
      ['Claim', 'provider', 1],
      ['Claim', 'encounter', 1],
      ['ExplanationOfBenefit', 'claim', 1],
      ['ExplanationOfBenefit', 'care-team', 1],
      ['ExplanationOfBenefit', 'provider', 1],
      ['DiagnosticReport', 'result', 2],
      ['DiagnosticReport', 'encounter', 1],
      ['CarePlan', 'condition', 1],
      ['CarePlan', 'goal', 1],
      ['CarePlan', 'encounter', 1],
      ['Procedure', 'reason-reference', 1],
      ['Procedure', 'encounter', 1],
      ['MedicationRequest', 'requester', 1],
      ['MedicationRequest', 'encounter', 1],
      ['Condition', 'encounter', 1],
      ['ImagingStudy', 'encounter', 1],
    ]) {
      const refs = this.values(type, code).map(({ v }) => Generator.refId(v)).filter(Boolean);
      this.sample(refs, n).forEach((r, i) => {
        const forms = [`${r.type}/${r.id}`, r.id];
        this.add(type, [[code, forms[i % 2]]], { max: 1000 });
        if (i === 0) this.add(type, [[`${code}:${r.type}`, r.id]], { max: 1000 });
      });
    }
  }

  dates() {
    // Point-valued parameters (date, dateTime, instant).
    const specs = [
      ['Patient', 'birthdate'],
      ['Patient', 'death-date'],
      ['Observation', 'date'],
      ['Condition', 'onset-date'],
      ['Condition', 'abatement-date'],
      ['Condition', 'recorded-date'],
      ['Immunization', 'date'],
      ['DiagnosticReport', 'date'],
      ['DiagnosticReport', 'issued'],
      ['Claim', 'created'],
      ['ExplanationOfBenefit', 'created'],
      ['MedicationRequest', 'authoredon'],
      ['AllergyIntolerance', 'date'],
      ['ImagingStudy', 'started'],
    ];
    // Each variant turns one target value into one search value; the variants are handed out
    // round-robin over the parameters so that every one is used several times.
    const variants = [
      (v, r) => r.text.slice(0, 4), // year
      (v, r) => r.text.slice(0, 7), // month
      (v, r) => r.text.slice(0, 10), // day
      (v, r) => (r.hasTime ? r.text : `${r.text.slice(0, 10)}T12:00:00Z`), // exact as written / a second inside a date
      (v, r) => (r.hasTime ? isoWithOffset(v.lo, 0) : `ne${r.text.slice(0, 10)}T12:00:00Z`), // the same instant in Z
      (v, r) => (r.hasTime ? isoWithOffset(v.lo, -300) : `eb${dayOf(v.hi)}`), // the same instant at -05:00
      (v, r) => (r.hasTime ? isoWithOffset(v.lo, 330) : `sa${dayOf(v.lo - DAY)}`), // ... at +05:30
      (v, r) => `gt${r.text}`,
      (v, r) => `ge${r.text}`,
      (v, r) => `lt${r.text}`,
      (v, r) => `le${r.text}`,
      (v) => `lt${dayOf(v.lo)}`,
      (v) => `le${dayOf(v.lo)}`,
      (v) => `gt${dayOf(v.lo)}`,
      (v) => `ge${dayOf(v.lo)}`,
      (v) => `sa${dayOf(v.lo)}`,
      (v) => `eb${dayOf(v.lo)}`,
      (v) => `sa${dayOf(v.lo - DAY)}`,
      (v) => `eb${dayOf(v.lo + DAY)}`,
      (v) => `ne${dayOf(v.lo)}`,
      (v) => `gt${isoWithOffset(v.lo - 1000, 0)}`, // one second before
      (v) => `lt${isoWithOffset(v.lo + 1000, 0)}`, // one second after
      (v) => `ge${monthOf(v.lo)}`,
      (v) => `lt${monthOf(v.lo)}`,
    ];
    let turn = 0;
    for (const [type, code] of specs) {
      const vals = this.values(type, code).filter(({ v }) => typeof v.value === 'string' && parseDateRange(v.value));
      const big = this.resources(type).length > 300;
      for (const { resource, v } of this.sample(vals, 3)) {
        const range = parseDateRange(v.value);
        const r = { text: v.value, hasTime: v.value.includes('T') };
        for (let k = 0; k < 3; k++) {
          const value = variants[turn++ % variants.length](range, r);
          this.add(type, [[code, value], ...(big ? this.narrow(resource) : [])]);
        }
      }
      // A range as two ANDed parameters, and a value before all data.
      const { resource, v } = this.pick(vals);
      const lo = parseDateRange(v.value).lo;
      this.add(type, [[code, `ge${monthOf(lo)}`], [code, `lt${dayOf(lo + 40 * DAY)}`], ...(big ? this.narrow(resource) : [])]);
      this.add(type, [[code, 'lt1800']]);
    }
    // Whole-data ranges by year on a mid-sized type.
    this.add('Immunization', [['date', 'ge2015'], ['date', 'lt2016']]);
    this.add('Patient', [['birthdate', 'lt1950']]);
    this.add('Patient', [['birthdate', 'ge2000-01-01']]);
    this.add('Patient', [['birthdate', '2017,1964']]);

    // Periods: [start, end], open at a missing end.
    for (const [type, code] of [
      ['Encounter', 'date'],
      ['Procedure', 'date'],
      ['CarePlan', 'date'],
    ]) {
      const vals = this.values(type, code).filter(({ v }) => v.type === 'Period' && v.value.start);
      const big = this.resources(type).length > 300;
      for (const { resource, v } of this.sample(vals, 3)) {
        const start = parseDateRange(v.value.start);
        const end = v.value.end ? parseDateRange(v.value.end) : null;
        const n = big ? this.narrow(resource) : [];
        this.add(type, [[code, v.value.start.slice(0, 10)], ...n]);
        this.add(type, [[code, `ge${v.value.start}`], ...n]);
        this.add(type, [[code, `lt${v.value.start}`], ...n]);
        this.add(type, [[code, `le${v.value.start}`], ...n]);
        this.add(type, [[code, `sa${isoWithOffset(start.lo - 1000, 0)}`], ...n]);
        if (end) {
          const mid = Math.floor((start.lo + end.lo) / 2000) * 1000;
          this.add(type, [[code, isoWithOffset(mid, 0)], ...n]); // one second inside: not eq
          this.add(type, [[code, `ne${isoWithOffset(mid, 0)}`], ...n]);
          this.add(type, [[code, `gt${v.value.end}`], ...n]);
          this.add(type, [[code, `ge${v.value.end}`], ...n]);
          this.add(type, [[code, `eb${isoWithOffset(end.hi, 0)}`], ...n]);
        }
      }
    }
    this.add('CarePlan', [['date', 'gt2100']]); // only open-ended periods reach past 2100
    this.add('CarePlan', [['date', '2100']]);
    this.add('CarePlan', [['date', 'eb2100-01-01']]);
    this.add('Encounter', [['date', '1995']]); // the example's period starts in 1995, open end: not eq
    this.add('Encounter', [['date', 'ge1995-06']]);

    // Hand-made edge cases on the examples: a day-precision effectiveDateTime and one at +01:00.
    for (const value of [
      '1999-07-02',
      '1999-07',
      'eq1999-07-02T10:00:00Z', // a second inside the day: the day is not within the second
      'ne1999-07-02T10:00:00Z',
      'le1999-07-02T00:00:00Z',
      'lt1999-07-02T00:00:00Z',
      'ge1999-07-02T23:59:59Z',
      'gt1999-07-02T23:59:59Z',
      '2014-12-05T08:30:10Z', // = 09:30:10+01:00
      '2014-12-05T09:30:10+01:00',
      '2014-12-05T09:30:10Z',
      '2014-12-05T03:30:10-05:00',
      'sa2014-12-05T08:30:09Z',
      'eb2014-12-05T08:30:11Z',
      '2014-12-05',
    ]) {
      this.add('Observation', [['date', value], ['_tag', 'http://terminology.hl7.org/CodeSystem/v3-ActReason|HTEST']]);
    }
    this.add('Observation', [['date', '2014-12-04'], ['date', 'lt2014-12-06']]);
    this.add('Condition', [['onset-date', '2011-08-05']]);
    this.add('Condition', [['onset-date', 'le2011-08-04T23:59:59Z']]);
  }

  quantities() {
    // The Observation codes with quantity values of each unit.
    const byUnit = new Map();
    for (const { resource, v } of this.values('Observation', 'combo-value-quantity')) {
      if (typeof v.value.value !== 'number') continue;
      const unit = v.value.code || v.value.unit;
      if (!byUnit.has(unit)) byUnit.set(unit, []);
      byUnit.get(unit).push({ resource, q: v.value });
    }
    const units = ['kg', 'cm', 'mm[Hg]', '/min', 'Cel', '%', 'kg/m2', 'mg/dL', '10*3/uL', 'mmol/L', '{score}'].filter((u) => byUnit.has(u));
    const forms = [
      (q, n) => `gt${n(0)}|${UCUM}|${q.code}`,
      (q, n) => `lt${n(0)}||${q.code}`,
      (q, n) => `${n(1)}|${UCUM}|${q.code}`,
      (q, n) => `${n(2)}||${q.unit}`,
      (q, n) => `ge${n(1)}`,
      (q, n) => `le${n(1)}||${q.code}`,
      (q, n) => `${n(0)}`,
      (q, n) => `eq${n(3)}|${UCUM}|${q.code}`,
      (q, n) => `ne${n(0)}|${UCUM}|${q.code}`,
    ];
    let turn = 0;
    for (const unit of units) {
      for (const { resource, q } of this.sample(byUnit.get(unit), 2)) {
        const isComponent = !resource.valueQuantity;
        const code = isComponent ? 'component-value-quantity' : 'value-quantity';
        // n(d): the value rounded to d decimals, unless it sits exactly on an eq boundary.
        const n = (d) => {
          const text = q.value.toFixed(d).replace(/^-0(\.0*)?$/, '0$1');
          const r = decimalRange(text);
          const v = parseDecimal(q.value);
          return compareDecimal(v, r.lo) === 0 || compareDecimal(v, r.hi) === 0 ? q.value.toFixed(d + 1) : text;
        };
        for (let k = 0; k < 3; k++) {
          const value = forms[turn++ % forms.length](q, n);
          const narrow = value.startsWith('ne') || !value.includes('|') ? this.narrow(resource) : [['code', resource.code.coding[0].code]];
          const pairs = [[code, value], ...narrow];
          if (this.quantitySafe('Observation', pairs)) this.add('Observation', pairs);
        }
      }
    }
    // combo- covers value and components; the example values (/min, Cel, %).
    this.addQuantity('Observation', [['combo-value-quantity', `gt140|${UCUM}|mm[Hg]`]]);
    this.addQuantity('Observation', [['combo-value-quantity', 'lt70||mm[Hg]'], ['code', '55284-4']]);
    this.addQuantity('Observation', [['component-value-quantity', 'ge90||mm[Hg]'], ['component-code', '8462-4']]);
    this.addQuantity('Observation', [['value-quantity', '44||/min']]);
    this.addQuantity('Observation', [['value-quantity', '44||beats/minute']]); // the unit, not the code
    this.addQuantity('Observation', [['value-quantity', `44|${UCUM}|beats/minute`]]); // with a system: code only
    this.addQuantity('Observation', [['value-quantity', 'gt39||Cel']]);
    this.addQuantity('Observation', [['value-quantity', `36.5|${UCUM}|Cel`]]);
    this.addQuantity('Observation', [['value-quantity', 'ge95||%'], ['_tag', 'http://terminology.hl7.org/CodeSystem/v3-ActReason|HTEST']]);
    this.addQuantity('Observation', [['value-quantity', 'gt0|http://example.org/other-units|kg']]);
    this.addQuantity('Observation', [['value-quantity', 'gt0||lb']]);
    this.addQuantity('Observation', [['value-quantity', 'gt100000']]);
    this.addQuantity('Observation', [['value-quantity', `gt60|${UCUM}|kg,lt100||cm`], ['category', 'vital-signs'], ['value-quantity', 'lt90']]);
  }

  uris() {
    const vs = 'http://hl7.org/fhir/StructureDefinition/vitalsigns';
    this.add('Observation', [['_profile', vs]]);
    this.add('Observation', [['_profile', `${vs}-other`]]);
    this.add('Observation', [['_profile:below', 'http://hl7.org/fhir/StructureDefinition/']]);
    this.add('Observation', [['_profile:below', 'http://hl7.org/fhir/ValueSet/']]);
    this.add('Observation', [['_profile:above', `${vs}/extra/path`]]);
    this.add('Observation', [['_profile', 'http://hl7.org/fhir/StructureDefinition/VitalSigns']]); // case counts
  }

  missing() {
    for (const [type, code] of [
      ['Condition', 'abatement-date'],
      ['Patient', 'death-date'],
      ['Encounter', 'reason-code'],
      ['CarePlan', 'goal'],
      ['Observation', 'component-code'],
      ['Procedure', 'reason-reference'],
      ['Patient', 'address-postalcode'],
      ['Observation', 'value-concept'],
      ['Organization', 'identifier'],
      ['Encounter', 'length'],
    ]) {
      this.add(type, [[`${code}:missing`, 'true']], { max: 1500 });
      this.add(type, [[`${code}:missing`, 'false']], { max: 1500 });
    }
    this.add('Observation', [['value-quantity:missing', 'true'], ['category', 'survey']]);
  }

  chains() {
    const pats = this.resources('Patient').filter((p) => p.name && p.identifier);
    const [p1, p2, p3] = this.sample(pats, 3);
    const code = this.pick(this.codings('Observation', 'code').slice(0, 6));
    this.add('Observation', [['subject:Patient.name', p1.name[0].family.toLowerCase()], ['code', code.code]]);
    this.add('Observation', [['patient.family', p2.name[0].family], ['category', 'laboratory']]);
    const ident = p3.identifier.find((i) => /us-ssn/.test(i.system)) || p3.identifier[0];
    this.add('Observation', [['patient.identifier', `${ident.system}|${ident.value}`], ['code', code.code]]);
    this.add('Condition', [['patient.identifier', `${ident.system}|${ident.value}`]]);
    this.add('Condition', [['subject:Patient.gender', 'female'], ['clinical-status', 'active']]);
    this.add('Encounter', [['patient.birthdate', 'lt1960'], ['class', 'EMER']]);
    this.add('Immunization', [['patient.address-city', this.pick(p1.address).city]]);
    this.add('MedicationRequest', [['patient.gender', 'male'], ['status', 'active']]);
    this.add('Claim', [['patient.family', p2.name[0].family.slice(0, 4)]]);
    this.add('DiagnosticReport', [['subject:Patient.birthdate', `ge${p3.birthDate.slice(0, 4)}`], ['code', this.pick(this.codings('DiagnosticReport', 'code')).code]]);
    // References to Practitioners and Organizations (ones that are referenced).
    const prac = this.referenced('Encounter', 'practitioner');
    this.add('Encounter', [['practitioner.family', prac.name[0].family]]);
    this.add('Encounter', [['participant:Practitioner.name', prac.name[0].family.slice(0, 3)], ['class', 'AMB']], { max: 500 });
    const org = this.referenced('Encounter', 'service-provider');
    this.add('Encounter', [['service-provider.name', org.name]]);
    this.add('Encounter', [['service-provider.address-city', org.address[0].city]]);
    this.add('Claim', [['provider:Organization.name', this.referenced('Claim', 'provider').name.split(' ')[0]]], { max: 800 });
    this.add('MedicationRequest', [['requester:Practitioner.given', this.referenced('MedicationRequest', 'requester').name[0].given[0]]]);
    this.add('Observation', [['encounter.class', 'EMER']]);
    this.add('Condition', [['encounter.class', 'IMP']]);
    this.add('Procedure', [['encounter.type', this.pick(this.codings('Encounter', 'type').slice(0, 5)).code], ['date', 'ge2010']]);
    this.add('ExplanationOfBenefit', [['claim.patient', `Patient/${p1.id}`]]);
    this.add('DiagnosticReport', [['result.code', '2093-3']]); // Total Cholesterol
    this.addQuantity('DiagnosticReport', [['result.value-quantity', `gt200|${UCUM}|mg/dL`], ['result.code', '2093-3']]);
    // Two levels.
    this.add('Observation', [['encounter.subject:Patient.gender', 'female'], ['code', '8302-2']]);
    this.add('Observation', [['encounter.patient.family', p1.name[0].family], ['category', 'vital-signs']]);
    this.add('DiagnosticReport', [['encounter.service-provider.name', org.name]]);
    this.add('ExplanationOfBenefit', [['claim.patient.gender', 'female'], ['created', 'ge2018']]);
    this.add('CarePlan', [['encounter.participant:Practitioner.gender', 'female']]);
    this.add('Procedure', [['encounter.service-provider.address-city', org.address[0].city]]);
    this.add('Observation', [['subject:Patient.family', 'no-such-family']]);
    this.add('Observation', [['patient.name', 'peter']]); // Patient/example is referenced but not stored
    // Reverse chains.
    const cond = this.pick(this.codings('Condition', 'code').slice(0, 10));
    this.add('Patient', [['_has:Condition:patient:code', cond.code]]);
    this.add('Patient', [['_has:Condition:subject:code', `${cond.system}|${cond.code}`], ['gender', 'male']]);
    this.add('Patient', [['_has:Observation:patient:code', '72166-2'], ['_has:Observation:patient:value-concept', '449868002']]);
    this.add('Patient', [['_has:Immunization:patient:vaccine-code', this.pick(this.codings('Immunization', 'vaccine-code').slice(3)).code]]);
    this.add('Patient', [['_has:AllergyIntolerance:patient:criticality', 'high']]);
    this.add('Patient', [['_has:MedicationRequest:subject:status', 'active']]);
    this.add('Encounter', [['_has:Observation:encounter:code', '72514-3'], ['patient', p2.id]]);
    this.add('Encounter', [['_has:Condition:encounter:code', cond.code]]);
    this.add('Practitioner', [['_has:Encounter:participant:class', 'EMER']]);
    this.add('Organization', [['_has:Encounter:service-provider:class', 'IMP']]);
    this.add('Claim', [['_has:ExplanationOfBenefit:claim:created', 'ge2019']]);
    this.add('Observation', [['_has:DiagnosticReport:result:code', '57698-3'], ['patient', p3.id]]);
    this.add('Patient', [['_has:Condition:patient:code', 'no-such-code']]);
    this.add('Patient', [['_has:Encounter:patient:_has:Condition:encounter:code', cond.code]]);
  }

  includes() {
    const pats = this.resources('Patient').filter((p) => p.name && p.name.length);
    const [p1, p2] = this.sample(pats, 2);
    const obsCode = this.pick(this.codings('Observation', 'code').slice(6, 20));
    this.add('Observation', [['code', obsCode.code], ['_include', 'Observation:patient']]);
    this.add('Observation', [['code', obsCode.code], ['_include', 'Observation:encounter'], ['_include', 'Observation:subject:Patient']]);
    this.add('Observation', [['_tag', 'http://terminology.hl7.org/CodeSystem/v3-ActReason|HTEST'], ['_include', 'Observation:subject']]); // Patient/example is not stored
    this.add('DiagnosticReport', [['patient', p1.id], ['_include', 'DiagnosticReport:result']]);
    this.add('Encounter', [['class', 'EMER'], ['_include', 'Encounter:service-provider'], ['_include', 'Encounter:participant:Practitioner']]);
    this.add('Encounter', [['class', 'IMP'], ['_include', 'Encounter:practitioner']]);
    this.add('ExplanationOfBenefit', [['patient', p2.id], ['_include', 'ExplanationOfBenefit:claim']]);
    this.add('Claim', [['patient', p1.id], ['_include', 'Claim:provider'], ['_include', 'Claim:patient']]);
    this.add('MedicationRequest', [['status', 'active'], ['_include', 'MedicationRequest:requester']]);
    this.add('CarePlan', [['goal:missing', 'false'], ['_include', 'CarePlan:goal'], ['_include', 'CarePlan:condition']]);
    this.add('Condition', [['code', this.pick(this.codings('Condition', 'code').slice(0, 5)).code], ['_include', 'Condition:encounter']]);
    this.add('Patient', [['family', p1.name[0].family], ['_revinclude', 'Condition:patient']]);
    this.add('Patient', [['birthdate', 'lt1950'], ['gender', 'female'], ['_revinclude', 'Immunization:patient'], ['_revinclude', 'AllergyIntolerance:patient']]);
    this.add('Patient', [['_id', p2.id], ['_revinclude', 'Observation:subject:Patient'], ['_count', '40']]);
    this.add('Organization', [['name', this.referenced('Encounter', 'service-provider').name], ['_revinclude', 'Encounter:service-provider']]);
    this.add('Practitioner', [['family', this.referenced('Encounter', 'practitioner').name[0].family], ['_revinclude', 'Encounter:practitioner']]);
    const claim = this.referenced('ExplanationOfBenefit', 'claim');
    this.add('Claim', [['patient', this.patientOf(claim)], ['created', `ge${claim.created.slice(0, 4)}`], ['_revinclude', 'ExplanationOfBenefit:claim']]);
    this.add('Encounter', [['patient', p1.id], ['class', 'AMB'], ['_revinclude', 'Observation:encounter'], ['_include', 'Encounter:patient'], ['_count', '5']]);
    this.add('Patient', [['family', 'no-such-family'], ['_revinclude', 'Observation:patient']]);
  }

  sorts() {
    const pats = this.resources('Patient');
    const p = this.pick(pats.filter((x) => x.id !== 'example' && x.id !== 'f001'));
    const candidates = [
      ['Patient', [['_sort', 'birthdate']]],
      ['Patient', [['_sort', '-birthdate'], ['_count', '7']]],
      ['Patient', [['gender', 'female'], ['_sort', 'birthdate']]],
      ['Patient', [['_sort', 'gender,-birthdate']]],
      ['Patient', [['gender', 'male'], ['_sort', 'family']]],
      ['Patient', [['_sort', 'family'], ['_count', '10']]],
      ['Practitioner', [['_sort', 'family'], ['_count', '25']]],
      ['Practitioner', [['_sort', '-family']]],
      ['Practitioner', [['gender', 'female'], ['_sort', 'given,family']]],
      ['Organization', [['_sort', 'name'], ['_count', '30']]],
      ['Organization', [['_sort', '-address-city,name']]],
      ['Observation', [['patient', p.id], ['code', '29463-7'], ['_sort', 'date']]],
      ['Observation', [['patient', p.id], ['code', '29463-7'], ['_sort', '-value-quantity']]],
      ['Observation', [['code', '8302-2'], ['_sort', 'value-quantity'], ['_count', '100']]],
      ['Observation', [['code', '39156-5'], ['value-quantity', 'gt30'], ['_sort', '-date']]],
      ['Observation', [['category', 'laboratory'], ['patient', p.id], ['_sort', 'code,-date']]],
      ['Immunization', [['patient', p.id], ['_sort', '-date']]],
      ['Immunization', [['vaccine-code', '140'], ['_sort', 'date'], ['_count', '50']]],
      ['Claim', [['patient', p.id], ['_sort', 'created']]],
      ['Condition', [['_sort', 'recorded-date'], ['_count', '60']]],
      ['Condition', [['clinical-status', 'active'], ['_sort', '-onset-date']]],
      ['DiagnosticReport', [['_sort', '-issued'], ['_count', '100']]],
      ['MedicationRequest', [['_sort', 'status,-authoredon']]],
      ['AllergyIntolerance', [['_sort', 'criticality,date']]],
      ['ExplanationOfBenefit', [['patient', p.id], ['_sort', '-created'], ['_count', '8']]],
      ['ImagingStudy', [['_sort', 'started']]],
    ];
    for (const [type, pairs] of candidates) {
      const r = this.oracle.search(type, pairs);
      if (r.sortAmbiguous.length) continue; // some match has no or several sort values
      if (!this.stringSortAgrees(type, r)) continue;
      this.add(type, pairs);
    }
  }

  /** For string sort keys: is the order of the raw values the same as of the normalised ones? */
  stringSortAgrees(type, r) {
    const stringKeys = r.sort.map(({ code }) => this.param(type, code).type === 'string');
    if (!stringKeys.some(Boolean)) return true;
    const raw = (k) =>
      r.sort.map(({ code }, i) => {
        if (!stringKeys[i]) return r.sortTuple(k)[i];
        const v = this.param(type, code).values(this.oracle.byKey.get(k))[0];
        return typeof v.value === 'string' ? v.value : JSON.stringify(v.value);
      });
    const byRaw = [...r.matches].sort((a, b) => SearchOracle.compareTuples(raw(a), raw(b), r.sort));
    return byRaw.every((k, i) => SearchOracle.compareTuples(r.sortTuple(k), r.sortTuple(r.matches[i]), r.sort) === 0);
  }

  paging() {
    const p = this.pick(this.resources('Patient').filter((x) => x.id !== 'example' && x.id !== 'f001'));
    this.add('Observation', [['patient', p.id], ['_count', '7']]);
    this.add('Encounter', [['class', 'AMB'], ['_count', '100']]);
    this.add('Observation', [['category', 'laboratory'], ['_count', '250']]);
    this.add('Condition', [['_count', '1'], ['code', this.pick(this.codings('Condition', 'code').slice(3, 8)).code]]);
    this.add('Claim', [['patient', p.id], ['_count', '3']]);
    this.add('Observation', [['code', '72514-3'], ['_summary', 'count']]);
    this.add('Patient', [['gender', 'female'], ['_summary', 'count']]);
    this.add('Encounter', [['date', 'ge2015'], ['_summary', 'count']]);
    this.add('Observation', [['status', 'final'], ['_summary', 'count']]);
    this.add('Condition', [['code', 'no-such-code'], ['_summary', 'count']]);
    this.add('Immunization', [['vaccine-code', '140'], ['_total', 'accurate'], ['_count', '20']]);
    this.add('Procedure', [['date', 'ge2000'], ['_total', 'accurate']]);
    this.add('Observation', [['code', '8302-2'], ['_total', 'accurate'], ['_count', '150']]);
    this.add('Patient', [['_count', '0']]);
    this.add('ExplanationOfBenefit', [['status', 'active'], ['_count', '0']]);
  }

  combinations() {
    const pats = this.resources('Patient').filter((x) => x.id !== 'example' && x.id !== 'f001');
    for (const p of this.sample(pats, 3)) {
      const obs = this.resources('Observation').filter((o) => this.patientOf(o) === p.id);
      if (!obs.length) continue;
      const o = this.pick(obs);
      this.add('Observation', [['patient', p.id], ['code', o.code.coding[0].code], ['date', `ge${o.effectiveDateTime.slice(0, 4)}`]]);
      this.add('Observation', [['patient', p.id], ['category', 'vital-signs,laboratory'], ['date', `lt${o.effectiveDateTime.slice(0, 7)}`], ['status', 'final']]);
    }
    this.add('Patient', [['gender', 'female'], ['birthdate', 'ge1960'], ['birthdate', 'lt1990'], ['address-state', 'Massachusetts']]);
    this.add('Encounter', [['class', 'AMB'], ['type', '185345009'], ['date', 'ge2012'], ['date', 'lt2014']]);
    this.add('Condition', [['clinical-status', 'resolved'], ['code', '444814009,195662009'], ['onset-date', 'lt2000']]);
    this.add('Condition', [['code', '444814009'], ['code', '195662009']]); // AND of two codes: none
    this.add('Immunization', [['vaccine-code', '140'], ['date', '2016']]);
    this.add('Procedure', [['code', '428191000124101'], ['date', 'ge2018-01'], ['status', 'completed']]);
    this.add('MedicationRequest', [['status', 'stopped'], ['authoredon', 'lt2000'], ['intent', 'order']]);
    this.add('Observation', [['code', '72166-2'], ['value-concept', '8517006'], ['date', 'ge2015']]);
  }

  // UCUM conversions, with CONVERSIONS (see there).
  conversions() {
    const forCode = (loinc, unit) =>
      this.values('Observation', 'value-quantity').filter(({ resource, v }) => v.value.code === unit && typeof v.value.value === 'number' && resource.code.coding[0].code === loinc);
    for (const [loinc, unit, forms] of CONVERSIONS) {
      const stored = forCode(loinc, unit);
      if (!stored.length) continue;
      for (const [prefix, to, decimals, bar, narrowing] of forms) {
        // The first sampled value whose query has no boundary case.
        for (const { resource, v } of this.sample(stored, 8)) {
          const x = ucumConvert(v.value.value, unit, to);
          if (x === null) throw new Error(`query generator: ${unit} does not convert to ${to}`);
          // decimals < 0: rounded to 10^-decimals (toFixed takes no negative digits)
          const num = decimals >= 0 ? x.toFixed(decimals) : String(Math.round(x / 10 ** -decimals) * 10 ** -decimals);
          const value = `${prefix === 'eq' ? '' : prefix}${num}${bar === '|' ? `|${UCUM}|` : '||'}${to}`;
          const narrow = narrowing === 'code' ? [['code', loinc]] : [['patient', this.patientOf(resource)]];
          const pairs = [['value-quantity', value], ...narrow];
          if (this.quantitySafe('Observation', pairs)) {
            this.add('Observation', pairs);
            break;
          }
        }
      }
    }
    // combo- and component- in kPa (mm[Hg] is a pressure), a chain in g/L, a Duration in h and s.
    this.addQuantity('Observation', [['component-value-quantity', `gt18|${UCUM}|kPa`], ['component-code', '8480-6']]);
    this.addQuantity('Observation', [['combo-value-quantity', `lt9.5||kPa`], ['code', '55284-4']]);
    this.addQuantity('DiagnosticReport', [['result.value-quantity', `gt2.05|${UCUM}|g/L`], ['result.code', '2093-3']]);
    this.addQuantity('Encounter', [['length', `gt2|${UCUM}|h`]]);
    this.addQuantity('Encounter', [['length', `2.33|${UCUM}|h`]]);
    this.addQuantity('Encounter', [['length', 'le8401||s']]);
    // The heart rate example: 44 /min, unit "beats/minute": the same in {beats}/min and Hz.
    this.addQuantity('Observation', [['value-quantity', `44|${UCUM}|{beats}/min`]]);
    this.addQuantity('Observation', [['value-quantity', '0.733||Hz']]);
    this.addQuantity('Observation', [['value-quantity', `gt0.7|${UCUM}|s-1`], ['code', '8867-4']]);
    // The body temperature example: 36.5 Cel with unit "C" (which, as a UCUM code, is a coulomb).
    this.addQuantity('Observation', [['value-quantity', `97.7|${UCUM}|[degF]`], ['code', '8310-5']]);
    this.addQuantity('Observation', [['value-quantity', '36.5||C']]);
    // Not commensurable: no match (mass vs length, substance vs mass concentration, length vs mass).
    this.addQuantity('Observation', [['value-quantity', `gt0|${UCUM}|m`], ['code', '29463-7']]);
    this.addQuantity('Observation', [['value-quantity', `gt0|${UCUM}|mg/dL`], ['code', '2947-0']]);
    this.addQuantity('Observation', [['value-quantity', 'gt0||[lb_av]'], ['code', '8302-2']]);
    // Not UCUM as written: exact code (or unit, without a system) matching: KG and kilogram find
    // nothing, (score) finds the MMSE scores coded `(score)`.
    this.addQuantity('Observation', [['value-quantity', `gt0|${UCUM}|KG`], ['code', '29463-7']]);
    this.addQuantity('Observation', [['value-quantity', 'gt0||kilogram'], ['code', '29463-7']]);
    this.addQuantity('Observation', [['value-quantity', `gt0|${UCUM}|(score)`]]);
  }

  // Composites (search.html#composite), after everything else: code$value pairs that must hold
  // inside one item. The blood pressure panels (55284-4 in Synthea) give the pairing test: a diastolic
  // code with a value only the systolic reaches matches the panel only if pairing is ignored.
  composites() {
    const LOINC = 'http://loinc.org';
    const safe = (pairs) => this.compositeQuantitySafe(pairs);
    const codesOf = (o) => (o.component || []).map((c) => c.code.coding[0].code).sort().join(',');
    const panels = this.resources('Observation').filter((o) => codesOf(o) === '8462-4,8480-6' && o.component.every((c) => c.valueQuantity));
    const valueOf = (o, loinc) => o.component.find((c) => c.code.coding[0].code === loinc).valueQuantity.value;
    for (const o of this.sample(panels, 4)) {
      const sys = valueOf(o, '8480-6');
      const dia = valueOf(o, '8462-4');
      const narrow = this.narrow(o);
      for (const pairs of [
        [['component-code-value-quantity', `${LOINC}|8480-6$gt${Math.floor(sys)}`], ...narrow],
        [['component-code-value-quantity', `8462-4$lt${Math.ceil(dia)}|${UCUM}|mm[Hg]`], ...narrow],
        [['component-code-value-quantity', `8462-4$ge${Math.floor(sys)}`], ...narrow], // pairing
        [['combo-code-value-quantity', `${LOINC}|8480-6$${sys.toFixed(0)}||mm[Hg]`], ...narrow],
        [['component-code-value-quantity', `8480-6$gt${Math.floor(sys)},8462-4$lt${Math.ceil(dia)}`], ...narrow],
      ]) {
        if (safe(pairs)) this.add('Observation', pairs);
      }
    }
    this.add('Observation', [['component-code-value-quantity', `8480-6$gt150`], ['component-code-value-quantity', `8462-4$lt75`]], { max: 200 });
    if (!this.add('Observation', [['component-code-value-quantity', `8480-6$gt20|${UCUM}|kPa`]], { max: 200 })) {
      throw new Error('query generator: the kPa composite query matches too much');
    }
    this.add('Observation', [['code-value-quantity', '8480-6$gt0']]); // components are not the Observation's value
    this.add('Observation', [['component-code-value-quantity:missing', 'false'], ['code', '55284-4'], ['date', 'ge2019']], { max: 200 });
    // Observations' own values: one of each of a few quantity codes, in their units.
    const quantities = this.resources('Observation').filter((o) => o.valueQuantity && typeof o.valueQuantity.value === 'number' && o.valueQuantity.code);
    const byCode = new Map();
    for (const o of quantities) if (!byCode.has(o.code.coding[0].code)) byCode.set(o.code.coding[0].code, o);
    for (const o of this.sample([...byCode.values()], 6)) {
      const q = o.valueQuantity;
      const code = o.code.coding[0].code;
      const pairs = [
        [['code-value-quantity', `${code}$ge${Math.floor(q.value)}|${UCUM}|${q.code}`], ...this.narrow(o)],
        [['combo-code-value-quantity', `${LOINC}|${code}$lt${Math.ceil(q.value)}`], ...this.narrow(o)],
      ];
      for (const p of pairs) if (safe(p)) this.add('Observation', p);
    }
    // Concepts and strings, and their OR and AND.
    this.add('Observation', [['code-value-concept', `72166-2$http://snomed.info/sct|449868002`]]);
    this.add('Observation', [['combo-code-value-concept', `${LOINC}|72166-2$8517006,72166-2$449868002`]]);
    this.add('Observation', [['code-value-concept', '69453-9$22298006']]);
    this.add('Observation', [['code-value-concept', '69453-9$449868002']]); // a code of another pair
    this.add('Observation', [['code-value-string', '71802-3$patient is'], ['code-value-string', '71802-3$patient']]);
    this.add('Observation', [['code-value-string', '76690-7$heterosexual,63513-6$no']]);
    this.add('Observation', [['code-value-string', '63513-6$heterosexual']]);
    this.add('Observation', [['component-code-value-concept', '8480-6$x']]);
  }

  /** quantitySafe for the quantity components of composite values. */
  compositeQuantitySafe(pairs) {
    return pairs.every(([name, value]) => {
      const p = this.oracle.params.get('Observation', name.split(':')[0]);
      if (!p || p.type !== 'composite') return this.quantitySafe('Observation', [[name, value]]);
      const i = p.components.findIndex((c) => c.type === 'quantity');
      if (i < 0) return true;
      const key = `composite:${name}`;
      if (!this.quantityValues) this.quantityValues = new Map();
      if (!this.quantityValues.has(key)) this.quantityValues.set(key, this.resources('Observation').flatMap((r) => p.values(r).flatMap((item) => item[i])));
      return splitEscaped(value, ',').every((alt) => !quantityNearBoundary(splitEscaped(alt, '$')[i], this.quantityValues.get(key)));
    });
  }
}

/** Generates the oracle's queries from the corpus behind `oracle` (a SearchOracle). */
export function generateQueries(oracle, seed = QUERY_SEED) {
  const g = new Generator(oracle, seed);
  g.tokens();
  g.strings();
  g.references();
  g.dates();
  g.quantities();
  g.uris();
  g.missing();
  g.chains();
  g.includes();
  g.sorts();
  g.paging();
  g.combinations();
  g.conversions();
  g.composites();
  return g.queries;
}

