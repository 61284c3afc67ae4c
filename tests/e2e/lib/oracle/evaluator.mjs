// A reference evaluator of FHIR R4 search (https://hl7.org/fhir/R4/search.html) over resources
// held in memory, written for the search oracle test (search_oracle.test.mjs). It is
// deliberately independent of medulla's C++ code: the values a parameter indexes come from the
// official SearchParameter expressions run by fhirpath.js (params.mjs), and the matching rules
// below are written from the specification.
//
//   const oracle = new SearchOracle(resources, SearchParameters.load(file));
//   const r = oracle.search('Observation', [['code', 'http://loinc.org|8302-2'], ['_count', '50']]);
//   r.matches   // ['Observation/<id>', ...]  every match (in _sort order when _sort is given)
//   r.includes  // ['Patient/<id>', ...]      what _include/_revinclude add
//
// A query is a list of [name, value] pairs exactly as they appear in the URL after percent-
// decoding (the test encodes each value with encodeURIComponent). The oracle throws on anything
// it does not implement, so that an unsupported query can never pass by accident.
//
// Semantic choices, where R4 leaves room (the server is expected to make the same ones):
// - string: a value matches when some part of the element starts with the search value after
//   both are normalised (Unicode NFD, combining marks removed, lower-cased); HumanName parts are
//   family, given, text, prefix, suffix; Address parts are line, city, district, state,
//   postalCode, country, text. `:exact` compares a part with the raw value (case and accents
//   count); `:contains` is a normalised substring match.
// - token: `code` matches any system; `system|code` needs both on one Coding/Identifier;
//   `|code` needs a Coding/Identifier without a system; `system|` matches any code of the
//   system. Codes compare case-sensitively. A plain code, boolean, id or string element has no
//   system: it matches `code` and `|code`, never `system|code`. A ContactPoint matches by value.
//   `:not` matches the resources that the same search without `:not` does not match (including
//   those without the element; with a comma list: matching none of the values). `:text` is a
//   string (normalised prefix) match on CodeableConcept.text and Coding.display.
// - reference: `Type/id` and (with `:Type`) `id` compare type and id; a bare `id` matches a
//   reference to any type with that id. References that are not `[base/]Type/id` (contained
//   `#x`, display-only) never match a value.
// - date: every value is a half-open interval [lo, hi) in UTC milliseconds: a date or dateTime
//   covers its whole precision (`2014` is all of 2014, a dateTime with seconds is that second),
//   a Period is [start.lo, end.hi) with a missing end open (+infinity) and a missing start open
//   (-infinity). Times with a zone are converted to UTC; dates and dateTimes WITHOUT a zone are
//   taken as UTC. With search range [sl, sh) and target [tl, th):
//     eq: tl >= sl && th <= sh   ne: !eq   lt: tl < sl   le: tl < sh   gt: th > sh
//     ge: th > sl   sa: tl >= sh   eb: th <= sl          (ap is not implemented)
// - number and quantity: eq/ne use the implicit range of the number as written (`100` is
//   [99.5, 100.5), `100.0` is [99.95, 100.05)); gt/lt/ge/le compare with the exact value.
//   Arithmetic is exact (BigInt decimals). A bare `n` ignores units.
// - quantity units are UCUM-aware, with the UCUM library of the LHC (npm `@lhncbc/ucum-lhc`,
//   the one fhirpath.js uses): when the search value is `n|http://unitsofmeasure.org|code` or
//   `n||code` and `code` is a valid UCUM expression as written (no substitution of names or
//   case), a stored Quantity matches when its own code (with system UCUM or no system) is valid
//   UCUM, commensurable with the search unit (same dimension: `{score}`, `%`, `1` and `mg/g` are
//   all dimensionless; mass and substance amount are not commensurable) and its value, converted
//   to the search unit, satisfies the prefix as above (Cel, [degF] and K are affine). A stored
//   code identical to the search code is not converted (exact decimals); a converted value is a
//   double, so the query generator avoids values within 1e-9 (relative) of a boundary. Stored
//   quantities without a UCUM code never match such a search, whatever their `unit` says.
//   Otherwise (another system, or a code that is not UCUM): `n|system|code` needs system and
//   code to match; `n||code` matches Quantity.code or Quantity.unit.
// - uri: exact (case-sensitive); `:below` = the element starts with the value, `:above` = the
//   value starts with the element.
// - `:missing=true` matches resources where the parameter's expression yields nothing.
// - Several values of one element: the resource matches when any value does (also for `ne`).
// - Comma = OR within a parameter; a repeated parameter = AND. `\,` `\|` `\$` `\\` escape.
// - Chains (`subject:Patient.name=x`, `a.b.c=x`) follow only references to resources that exist
//   in the corpus; without a `:Type`, every target type of the reference parameter that defines
//   the next parameter is tried. `_has:T:ref:param=x` matches the resources that some T
//   matching param=x references through ref.
// - `_include=T:ref[:Target]` adds the existing resources that the matches reference;
//   `_revinclude=T:ref[:Target]` adds the resources of T that reference a match. Included
//   resources that are also matches are not counted as includes.
// - `_sort`: a resource's sort key for a parameter is its only value (date: the interval's lo;
//   string: normalised; token: the code; quantity: the value); a resource with no value or
//   several different values makes the order undefined, which result.sortAmbiguous reports.
import { createRequire } from 'node:module';
import { parseReference, SUPPORTED_TYPES } from './params.mjs';

const require = createRequire(import.meta.url);
const { UcumLhcUtils } = require('@lhncbc/ucum-lhc');
const ucum = UcumLhcUtils.getInstance();

export const UCUM_SYSTEM = 'http://unitsofmeasure.org';

export const DATE_PREFIXES = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'];
const RESULT_PARAMS = new Set(['_sort', '_count', '_include', '_revinclude', '_summary', '_total']);
const STRING_MODIFIERS = new Set(['exact', 'contains']);

// ---------------------------------------------------------------------------------------------
// Value helpers (exported for the query generator and the self-test)

/** Case- and accent-insensitive form of a string (NFD, combining marks removed, lower case). */
export function normalizeString(s) {
  return String(s).normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

/** Splits a parameter value on unescaped `sep`, keeping escapes (unescape each part later). */
export function splitEscaped(value, sep) {
  const parts = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\' && i + 1 < value.length) {
      cur += c + value[i + 1];
      i++;
    } else if (c === sep) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  return parts;
}

/** Removes the search escapes `\,` `\|` `\$` `\\`. */
export function unescapeValue(s) {
  return s.replace(/\\([,|$\\])/g, '$1');
}

/** Escapes `\` `,` `|` `$` in a literal so that it can be used as a search value. */
export function escapeValue(s) {
  return String(s).replace(/[\\,|$]/g, (c) => `\\${c}`);
}

const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

function utcMs(y, mo, d, h, mi, s, ms) {
  const t = new Date(0);
  t.setUTCFullYear(y, mo, d);
  t.setUTCHours(h, mi, s, ms);
  return t.getTime();
}

/**
 * The interval [lo, hi) in UTC milliseconds that a FHIR date, dateTime or instant (or a date
 * search value) covers, or null if s is not one. Without a zone the time is taken as UTC.
 */
export function parseDateRange(s) {
  const m = DATE_RE.exec(String(s));
  if (!m) return null;
  const [, Y, M, D, h, mi, sec, frac, zone] = m;
  const y = Number(Y);
  if (M === undefined) return { lo: utcMs(y, 0, 1, 0, 0, 0, 0), hi: utcMs(y + 1, 0, 1, 0, 0, 0, 0) };
  const mo = Number(M) - 1;
  if (D === undefined) return { lo: utcMs(y, mo, 1, 0, 0, 0, 0), hi: utcMs(y, mo + 1, 1, 0, 0, 0, 0) };
  const d = Number(D);
  if (h === undefined) return { lo: utcMs(y, mo, d, 0, 0, 0, 0), hi: utcMs(y, mo, d + 1, 0, 0, 0, 0) };
  let offset = 0;
  if (zone && zone !== 'Z') offset = (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  let lo;
  let width;
  if (sec === undefined) {
    lo = utcMs(y, mo, d, Number(h), Number(mi), 0, 0);
    width = 60_000;
  } else if (frac === undefined) {
    lo = utcMs(y, mo, d, Number(h), Number(mi), Number(sec), 0);
    width = 1000;
  } else {
    const digits = frac.slice(1);
    lo = utcMs(y, mo, d, Number(h), Number(mi), Number(sec), 0) + Math.floor(Number(`0.${digits}`) * 1000);
    width = digits.length >= 3 ? 1 : 10 ** (3 - digits.length);
  }
  return { lo: lo - offset, hi: lo - offset + width };
}

/** Does target interval t satisfy `prefix` against search interval s (see the file comment)? */
export function dateMatches(prefix, s, t) {
  const eq = t.lo >= s.lo && t.hi <= s.hi;
  switch (prefix) {
    case 'eq':
      return eq;
    case 'ne':
      return !eq;
    case 'lt':
      return t.lo < s.lo;
    case 'le':
      return t.lo < s.hi;
    case 'gt':
      return t.hi > s.hi;
    case 'ge':
      return t.hi > s.lo;
    case 'sa':
      return t.lo >= s.hi;
    case 'eb':
      return t.hi <= s.lo;
    default:
      throw new Error(`date prefix ${prefix} is not implemented by the oracle`);
  }
}

/** An exact decimal {m: BigInt, e: scale} (value = m / 10^e) from a decimal string or number. */
export function parseDecimal(x) {
  const s = typeof x === 'number' ? String(x) : x;
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s);
  if (!m || (m[2] === '' && (m[3] === undefined || m[3] === ''))) return null;
  const [, sign, int, frac = '', exp = '0'] = m;
  let mant = BigInt(`${int || '0'}${frac}`);
  let scale = frac.length - Number(exp);
  if (sign === '-') mant = -mant;
  if (scale < 0) {
    mant *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { m: mant, e: scale };
}

/** Compares two exact decimals: -1, 0 or 1. */
export function compareDecimal(a, b) {
  const e = Math.max(a.e, b.e);
  const x = a.m * 10n ** BigInt(e - a.e);
  const y = b.m * 10n ** BigInt(e - b.e);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The implicit range [lo, hi) of a decimal search value as written: `100` -> [99.5, 100.5). */
export function decimalRange(text) {
  const d = parseDecimal(text);
  const e = d.e + 1; // half a unit of the last digit is 5 at one more decimal place
  return { lo: { m: d.m * 10n - 5n, e }, hi: { m: d.m * 10n + 5n, e } };
}

/** A predicate on a number (a JSON number) for a number/quantity search value with a prefix. */
function numberMatcher(prefix, text) {
  const n = parseDecimal(text);
  if (!n) throw new Error(`bad number in search value: ${text}`);
  const r = decimalRange(text);
  /** value compared with n (-1, 0, 1), or null when value is not a number. */
  const cmp = (value) => {
    const v = parseDecimal(value);
    return v ? compareDecimal(v, n) : null;
  };
  const inRange = (value) => {
    const v = parseDecimal(value);
    return Boolean(v) && compareDecimal(v, r.lo) >= 0 && compareDecimal(v, r.hi) < 0;
  };
  const when = (ok) => (value) => {
    const c = cmp(value);
    return c !== null && ok(c);
  };
  switch (prefix) {
    case 'eq':
      return inRange;
    case 'ne':
      return (value) => parseDecimal(value) !== null && !inRange(value);
    case 'gt':
      return when((c) => c > 0);
    case 'lt':
      return when((c) => c < 0);
    case 'ge':
      return when((c) => c >= 0);
    case 'le':
      return when((c) => c <= 0);
    default:
      throw new Error(`number/quantity prefix ${prefix} is not implemented by the oracle`);
  }
}

// ---------------------------------------------------------------------------------------------
// UCUM units (ucum-lhc)

const ucumValidity = new Map();
const ucumCommensurable = new Map();

/** Is `code` a UCUM unit expression that ucum-lhc accepts exactly as written and can convert? */
export function ucumValid(code) {
  if (typeof code !== 'string' || code === '') return false;
  let ok = ucumValidity.get(code);
  if (ok === undefined) {
    // validateUnitString reports 'invalid' when it had to substitute (`kilogram` -> `kg`);
    // convertUnitTo alone would accept such names.
    ok = ucum.validateUnitString(code, false).status === 'valid' && ucum.convertUnitTo(code, 1, code).status === 'succeeded';
    ucumValidity.set(code, ok);
  }
  return ok;
}

/**
 * `value` (a number) in UCUM unit `from` expressed in unit `to` (a double), or null when either is
 * not valid UCUM or they are not commensurable. The same code is returned unchanged.
 */
export function ucumConvert(value, from, to) {
  if (!ucumValid(from) || !ucumValid(to)) return null;
  if (from === to) return value;
  const key = `${from}\u0000${to}`;
  let ok = ucumCommensurable.get(key);
  if (ok === undefined) {
    ok = ucum.convertUnitTo(from, 1, to).status === 'succeeded';
    ucumCommensurable.set(key, ok);
  }
  if (!ok) return null;
  const r = ucum.convertUnitTo(from, value, to);
  return r.status === 'succeeded' && Number.isFinite(r.toVal) ? r.toVal : null;
}

/** Parses a quantity search value: {prefix, number (text), system, code}; system/code undefined when bare. */
export function parseQuantityValue(alt) {
  const parts = splitEscaped(alt, '|').map(unescapeValue);
  if (parts.length !== 1 && parts.length !== 3) throw new Error(`quantity value needs number or number|system|code: ${alt}`);
  const [prefix, text] = splitPrefix(parts[0]);
  return { prefix, text, system: parts[1], code: parts[2] };
}

/** The UCUM unit a quantity search value is compared in, or null when it keeps the exact rules. */
export function ucumSearchUnit({ system, code }) {
  return code && (system === UCUM_SYSTEM || system === '') && ucumValid(code) ? code : null;
}

/** A stored Quantity's value in UCUM unit `unit`, or null (system not UCUM, code not UCUM, not commensurable). */
export function quantityIn(q, unit) {
  if (typeof q.value !== 'number') return null;
  if (q.system !== undefined && q.system !== UCUM_SYSTEM) return null;
  return ucumConvert(q.value, q.code, unit);
}

/**
 * Does some stored quantity among `values` ([{type, value}]) that the search value `alt` compares
 * after a conversion (a stored code other than the search unit) land within `rel` (relative) of
 * a boundary of the search value (the ends of its range for eq/ne, the number otherwise)? Then the
 * outcome depends on floating-point rounding, and the query generator avoids the value.
 */
export function quantityNearBoundary(alt, values, rel = 1e-9) {
  const sv = parseQuantityValue(alt);
  const unit = ucumSearchUnit(sv);
  if (!unit) return false;
  const r = decimalRange(sv.text);
  const toNumber = (d) => Number(d.m) / 10 ** d.e;
  const bounds = sv.prefix === 'eq' || sv.prefix === 'ne' ? [toNumber(r.lo), toNumber(r.hi)] : [Number(sv.text)];
  return convertedValues(values, unit).some((x) => bounds.some((b) => Math.abs(x - b) <= rel * Math.max(Math.abs(x), Math.abs(b))));
}

const convertedCache = new WeakMap(); // values array -> Map unit -> [number]

/** The values of the quantities among `values` whose code is not `unit` but converts to it, in `unit`. */
function convertedValues(values, unit) {
  if (!convertedCache.has(values)) convertedCache.set(values, new Map());
  const byUnit = convertedCache.get(values);
  if (!byUnit.has(unit)) {
    const out = [];
    for (const { type, value: q } of values) {
      if (!QUANTITY_TYPES.has(type) || q.code === unit) continue;
      const x = quantityIn(q, unit);
      if (x !== null) out.push(x);
    }
    byUnit.set(unit, out);
  }
  return byUnit.get(unit);
}

/** Splits a leading prefix (eq, lt, ...) off a date/number/quantity value. */
export function splitPrefix(v) {
  const p = v.slice(0, 2);
  if (DATE_PREFIXES.includes(p) && /^[0-9+\-.]/.test(v.slice(2))) return [p, v.slice(2)];
  return ['eq', v];
}

// ---------------------------------------------------------------------------------------------
// What each FHIR type offers to each kind of search

/** The strings a string search looks at in one value. */
function stringParts({ type, value }) {
  if (value === null || value === undefined) return [];
  if (type === 'HumanName') return [value.family, ...(value.given || []), value.text, ...(value.prefix || []), ...(value.suffix || [])].filter((x) => typeof x === 'string');
  if (type === 'Address') {
    return [...(value.line || []), value.city, value.district, value.state, value.postalCode, value.country, value.text].filter((x) => typeof x === 'string');
  }
  return typeof value === 'string' ? [value] : [];
}

/** The {system, code} pairs a token search looks at in one value (system undefined = none). */
function tokenCodes({ type, value }) {
  if (value === null || value === undefined) return [];
  switch (type) {
    case 'Coding':
      return [{ system: value.system, code: value.code }];
    case 'CodeableConcept':
      return (value.coding || []).map((c) => ({ system: c.system, code: c.code }));
    case 'Identifier':
      return [{ system: value.system, code: value.value }];
    case 'ContactPoint':
      return [{ system: undefined, code: value.value }];
    default:
      return typeof value === 'object' ? [] : [{ system: undefined, code: String(value) }];
  }
}

/** The texts a token `:text` search looks at in one value. */
function tokenTexts({ type, value }) {
  if (type === 'CodeableConcept') return [value.text, ...(value.coding || []).map((c) => c.display)].filter((x) => typeof x === 'string');
  if (type === 'Coding') return typeof value.display === 'string' ? [value.display] : [];
  return [];
}

const intervalCache = new WeakMap();

/** The [lo, hi) intervals a date search looks at in one value (memoised per value object). */
function dateIntervals(v) {
  let out = intervalCache.get(v);
  if (!out) {
    out = computeIntervals(v);
    intervalCache.set(v, out);
  }
  return out;
}

function computeIntervals({ type, value }) {
  if (type === 'Period') {
    if (!value.start && !value.end) return [];
    const start = value.start ? parseDateRange(value.start) : null;
    const end = value.end ? parseDateRange(value.end) : null;
    return [{ lo: start ? start.lo : -Infinity, hi: end ? end.hi : Infinity }];
  }
  if (type === 'Timing') return (value.event || []).map(parseDateRange).filter(Boolean);
  const r = typeof value === 'string' ? parseDateRange(value) : null;
  return r ? [r] : [];
}

const QUANTITY_TYPES = new Set(['Quantity', 'Age', 'Duration', 'Distance', 'Count', 'SimpleQuantity', 'MoneyQuantity']);

// ---------------------------------------------------------------------------------------------
// Matching one search value against one indexed value

/**
 * A predicate on one value {type, value} of a resource for one search value `alt` (one of the
 * comma-separated alternatives, still escaped) of a parameter of param.type with a modifier.
 */
function valueMatcher(param, modifier, alt) {
  switch (param.type) {
    case 'string': {
      if (modifier && !STRING_MODIFIERS.has(modifier)) throw new Error(`string modifier :${modifier} is not implemented`);
      const want = unescapeValue(alt);
      const norm = normalizeString(want);
      if (modifier === 'exact') return (v) => stringParts(v).some((s) => s === want);
      if (modifier === 'contains') return (v) => stringParts(v).some((s) => normalizeString(s).includes(norm));
      return (v) => stringParts(v).some((s) => normalizeString(s).startsWith(norm));
    }
    case 'token': {
      if (modifier === 'text') {
        const norm = normalizeString(unescapeValue(alt));
        return (v) => tokenTexts(v).some((t) => normalizeString(t).startsWith(norm));
      }
      if (modifier) throw new Error(`token modifier :${modifier} is not implemented`);
      const parts = splitEscaped(alt, '|').map(unescapeValue);
      if (parts.length > 2) throw new Error(`token value with more than one |: ${alt}`);
      const [system, code] = parts.length === 2 ? parts : [undefined, parts[0]];
      const hit = (c) => {
        if (system === undefined) return c.code === code;
        if (system === '') return !c.system && c.code === code;
        if (code === '') return c.system === system;
        return c.system === system && c.code === code;
      };
      return (v) => tokenCodes(v).some(hit);
    }
    case 'reference': {
      const want = unescapeValue(alt);
      const typeModifier = modifier && /^[A-Z]/.test(modifier) ? modifier : undefined;
      if (modifier && !typeModifier) throw new Error(`reference modifier :${modifier} is not implemented`);
      const target = want.includes('/') ? parseReference(want) : { type: typeModifier, id: want };
      if (!target) throw new Error(`reference value ${want} is not Type/id or id`);
      if (typeModifier && target.type !== typeModifier) return () => false;
      return (v) => {
        const ref = v.type === 'Reference' ? parseReference(v.value.reference) : null;
        return Boolean(ref) && ref.id === target.id && (!target.type || ref.type === target.type);
      };
    }
    case 'date': {
      if (modifier) throw new Error(`date modifier :${modifier} is not implemented`);
      const [prefix, text] = splitPrefix(alt);
      const s = parseDateRange(text);
      if (!s) throw new Error(`bad date in search value: ${alt}`);
      dateMatches(prefix, s, s); // throws now for a prefix the oracle does not implement
      return (v) => dateIntervals(v).some((t) => dateMatches(prefix, s, t));
    }
    case 'number': {
      if (modifier) throw new Error(`number modifier :${modifier} is not implemented`);
      const [prefix, text] = splitPrefix(alt);
      const test = numberMatcher(prefix, text);
      return (v) => typeof v.value === 'number' && test(v.value);
    }
    case 'quantity': {
      if (modifier) throw new Error(`quantity modifier :${modifier} is not implemented`);
      const sv = parseQuantityValue(alt);
      const { system, code } = sv;
      const test = numberMatcher(sv.prefix, sv.text);
      const unit = ucumSearchUnit(sv);
      if (unit) {
        return ({ type, value: q }) => {
          if (!QUANTITY_TYPES.has(type)) return false;
          const x = quantityIn(q, unit);
          if (x !== null && test(x)) return true;
          // `n||code` also keeps its literal meaning (search.html#quantity: the code or the
          // human unit equals `code`), whatever the conversion says.
          return system === '' && typeof q.value === 'number' &&
            (q.code === code || q.unit === code) && test(q.value);
        };
      }
      return ({ type, value: q }) => {
        if (!QUANTITY_TYPES.has(type) || typeof q.value !== 'number') return false;
        if (system && q.system !== system) return false;
        if (code && (system ? q.code !== code : q.code !== code && q.unit !== code)) return false;
        return test(q.value);
      };
    }
    case 'uri': {
      if (modifier && modifier !== 'below' && modifier !== 'above') throw new Error(`uri modifier :${modifier} is not implemented`);
      const want = unescapeValue(alt);
      if (modifier === 'below') return ({ value: u }) => typeof u === 'string' && u.startsWith(want);
      if (modifier === 'above') return ({ value: u }) => typeof u === 'string' && want.startsWith(u);
      return ({ value: u }) => u === want;
    }
    case 'composite': {
      // code$value: every component matches inside the same item (param.values: per item, per
      // component, the values).
      if (modifier) throw new Error(`composite modifier :${modifier} is not implemented`);
      const parts = splitEscaped(alt, '$');
      if (parts.length !== param.components.length) throw new Error(`composite value ${alt} needs ${param.components.length} parts`);
      const tests = parts.map((part, i) => valueMatcher(param.components[i], undefined, part));
      return (item) => tests.every((t, i) => item[i].some(t));
    }
    default:
      throw new Error(`${param.type} parameters are not implemented by the oracle`);
  }
}

// ---------------------------------------------------------------------------------------------
// Query parsing

/**
 * Parses one filter parameter name against a resource type into a tree:
 *   {kind: 'param', param, modifier}             name or name:modifier
 *   {kind: 'chain', param, types, next}          ref[:Type].rest  (next: per target type)
 *   {kind: 'has', type, ref, next}               _has:Type:ref:rest
 */
function parseName(params, resourceType, name) {
  if (name.startsWith('_has:')) {
    const [, type, ref, ...rest] = name.split(':');
    if (!type || !ref || !rest.length) throw new Error(`malformed _has parameter ${name}`);
    const refParam = params.get(type, ref);
    if (!refParam || refParam.type !== 'reference') throw new Error(`_has: ${type} has no reference parameter ${ref}`);
    return { kind: 'has', type, ref: refParam, next: parseName(params, type, rest.join(':')) };
  }
  const dot = name.indexOf('.');
  if (dot >= 0) {
    const [code, typeModifier] = name.slice(0, dot).split(':');
    const param = params.get(resourceType, code);
    if (!param || param.type !== 'reference') throw new Error(`chain ${name}: ${resourceType}.${code} is not a reference parameter`);
    const rest = name.slice(dot + 1);
    const restCode = rest.split(/[.:]/)[0];
    const candidates = typeModifier ? [typeModifier] : param.targets;
    const types = candidates.filter((t) => params.get(t, restCode) || restCode === '_has');
    if (!types.length) throw new Error(`chain ${name}: no target of ${resourceType}.${code} has a parameter ${restCode}`);
    return { kind: 'chain', param, types, next: new Map(types.map((t) => [t, parseName(params, t, rest)])) };
  }
  const [code, modifier] = name.split(':');
  const param = params.get(resourceType, code);
  if (!param) throw new Error(`${resourceType} has no search parameter ${code}`);
  if (!SUPPORTED_TYPES.has(param.type)) throw new Error(`${resourceType}.${code}: ${param.type} parameters are not implemented by the oracle`);
  if (!param.compiled) throw new Error(`${resourceType}.${code} has no expression`);
  return { kind: 'param', param, modifier };
}

// ---------------------------------------------------------------------------------------------
// The oracle

export class SearchOracle {
  /**
   * resources: Map "Type/id" -> resource (the whole corpus); params: a SearchParameters.
   */
  constructor(resources, params) {
    this.params = params;
    this.byKey = resources;
    this.byType = new Map();
    for (const [key, r] of resources) {
      if (!this.byType.has(r.resourceType)) this.byType.set(r.resourceType, []);
      this.byType.get(r.resourceType).push({ key, resource: r });
    }
    this.memo = new Map(); // "Type|name|value" -> Set of keys, for chains and _has
  }

  /** The resources of a type, as [{key, resource}]. */
  all(type) {
    return this.byType.get(type) || [];
  }

  /** Runs a search. Returns {matches, includes, total, count, summary, totalMode, sort, ...}. */
  search(resourceType, pairs) {
    const filters = [];
    const result = { resourceType, includes: [], count: undefined, summary: undefined, totalMode: undefined, sort: [], sortAmbiguous: [] };
    const includeSpecs = [];
    for (const [name, value] of pairs) {
      const base = name.split(':')[0];
      if (RESULT_PARAMS.has(base)) {
        if (base === '_count') result.count = Number(value);
        else if (base === '_summary') result.summary = value;
        else if (base === '_total') result.totalMode = value;
        else if (base === '_sort') result.sort = value.split(',').map((s) => ({ code: s.replace(/^-/, ''), desc: s.startsWith('-') }));
        else includeSpecs.push({ rev: base === '_revinclude', value, iterate: name.endsWith(':iterate') });
        continue;
      }
      filters.push({ name, value });
    }

    let keys = null; // null = every resource of the type
    for (const f of filters) {
      const set = this.matchSet(resourceType, parseName(this.params, resourceType, f.name), f.value, `${f.name}=${f.value}`);
      keys = keys ? new Set([...keys].filter((k) => set.has(k))) : set;
    }
    let matches = this.all(resourceType).map((x) => x.key);
    if (keys) matches = matches.filter((k) => keys.has(k));
    result.total = matches.length;

    if (result.sort.length) matches = this.sortKeys(resourceType, matches, result);
    result.matches = matches;

    const matchSet = new Set(matches);
    const included = new Set();
    for (const spec of includeSpecs) {
      if (spec.iterate) throw new Error('_include:iterate is not implemented by the oracle');
      for (const k of this.includeKeys(resourceType, matches, spec)) if (!matchSet.has(k)) included.add(k);
    }
    result.includes = [...included];
    return result;
  }

  // -------------------------------------------------------------------------------------------
  // Filters

  /** The keys of the resources of `type` that match one parameter (tree node) with one value. */
  matchSet(type, node, value, memoKey) {
    const mk = `${type}|${memoKey}`;
    if (this.memo.has(mk)) return this.memo.get(mk);
    let out;
    if (node.kind === 'param') {
      const test = this.matcher(node.param, node.modifier, value);
      out = new Set(this.all(type).filter(({ resource }) => test(resource)).map((x) => x.key));
    } else if (node.kind === 'chain') {
      // The resources of each target type that match the rest of the chain...
      const targets = new Set();
      for (const t of node.types) for (const k of this.matchSet(t, node.next.get(t), value, `${memoKey}@${t}`)) targets.add(k);
      // ...and the resources of `type` that reference one of them through the parameter.
      out = new Set(
        this.all(type)
          .filter(({ resource }) =>
            node.param.values(resource).some((v) => {
              const ref = v.type === 'Reference' && parseReference(v.value.reference);
              return ref && node.types.includes(ref.type) && targets.has(`${ref.type}/${ref.id}`);
            }),
          )
          .map((x) => x.key),
      );
    } else {
      // _has: the resources of node.type matching the rest, then what they reference.
      const sources = this.matchSet(node.type, node.next, value, `${memoKey}@has`);
      out = new Set();
      for (const k of sources) {
        for (const v of node.ref.values(this.byKey.get(k))) {
          const ref = v.type === 'Reference' && parseReference(v.value.reference);
          if (ref && ref.type === type) out.add(`${ref.type}/${ref.id}`);
        }
      }
    }
    this.memo.set(mk, out);
    return out;
  }

  /** A predicate on one resource for `param[:modifier]=value` (value: the raw, comma-separated text). */
  matcher(param, modifier, value) {
    if (modifier === 'missing') {
      if (value !== 'true' && value !== 'false') throw new Error(`:missing needs true or false, got ${value}`);
      return (resource) => (param.values(resource).length === 0) === (value === 'true');
    }
    if (modifier === 'not' && param.type !== 'token') throw new Error(':not is only implemented for token parameters');
    const tests = splitEscaped(value, ',').map((alt) => valueMatcher(param, modifier === 'not' ? undefined : modifier, alt));
    const any = (resource) => {
      const values = param.values(resource);
      return tests.some((t) => values.some(t));
    };
    return modifier === 'not' ? (resource) => !any(resource) : any;
  }

  // -------------------------------------------------------------------------------------------
  // _include / _revinclude

  includeKeys(resourceType, matches, { rev, value }) {
    const [sourceType, code, targetType] = value.split(':');
    const param = this.params.get(sourceType, code);
    if (!param || param.type !== 'reference') throw new Error(`${rev ? '_revinclude' : '_include'}=${value}: not a reference parameter`);
    const out = [];
    if (!rev) {
      if (sourceType !== resourceType) return out; // an _include of another type adds nothing
      for (const k of matches) {
        for (const v of param.values(this.byKey.get(k))) {
          const ref = v.type === 'Reference' && parseReference(v.value.reference);
          if (!ref || (targetType && ref.type !== targetType)) continue;
          const key = `${ref.type}/${ref.id}`;
          if (this.byKey.has(key)) out.push(key);
        }
      }
    } else {
      const wanted = new Set(matches);
      for (const { key, resource } of this.all(sourceType)) {
        const hit = param.values(resource).some((v) => {
          const ref = v.type === 'Reference' && parseReference(v.value.reference);
          return ref && (!targetType || ref.type === targetType) && wanted.has(`${ref.type}/${ref.id}`);
        });
        if (hit) out.push(key);
      }
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // _sort

  /** The sort key of one resource for one parameter, or undefined when it has none or several. */
  sortValue(resource, param) {
    const keys = new Set();
    let sample;
    for (const v of param.values(resource)) {
      let k;
      switch (param.type) {
        case 'date': {
          if (v.type === 'Period') return undefined; // start or end? R4 does not say: not used
          const iv = dateIntervals(v);
          k = iv.length === 1 ? iv[0].lo : undefined;
          break;
        }
        case 'string': {
          const parts = stringParts(v);
          k = parts.length === 1 ? normalizeString(parts[0]) : undefined;
          break;
        }
        case 'token': {
          const codes = tokenCodes(v);
          k = codes.length === 1 ? codes[0].code : undefined;
          break;
        }
        case 'quantity':
          k = v.value && typeof v.value.value === 'number' ? v.value.value : undefined;
          break;
        case 'number':
          k = typeof v.value === 'number' ? v.value : undefined;
          break;
        default:
          throw new Error(`_sort on a ${param.type} parameter is not implemented by the oracle`);
      }
      if (k === undefined) return undefined;
      keys.add(k);
      sample = k;
    }
    return keys.size === 1 ? sample : undefined;
  }

  /** The sort keys of one resource for the query's _sort, as an array (undefined = none). */
  sortTuple(resourceType, key, sort) {
    const r = this.byKey.get(key);
    return sort.map(({ code }) => {
      const p = this.params.get(resourceType, code);
      if (!p) throw new Error(`_sort: ${resourceType} has no parameter ${code}`);
      return this.sortValue(r, p);
    });
  }

  /** Compares two sort tuples under `sort` (ascending/descending per key). */
  static compareTuples(a, b, sort) {
    for (let i = 0; i < sort.length; i++) {
      const x = a[i];
      const y = b[i];
      const c = x < y ? -1 : x > y ? 1 : 0;
      if (c) return sort[i].desc ? -c : c;
    }
    return 0;
  }

  sortKeys(resourceType, matches, result) {
    const tuples = new Map(matches.map((k) => [k, this.sortTuple(resourceType, k, result.sort)]));
    result.sortAmbiguous = matches.filter((k) => tuples.get(k).some((x) => x === undefined));
    result.sortTuple = (k) => tuples.get(k);
    return [...matches].sort((a, b) => SearchOracle.compareTuples(tuples.get(a), tuples.get(b), result.sort));
  }
}
