#!/usr/bin/env node
// Runs the search oracle without a server: checks a few answers worked out by hand from the
// test data, then (with --list) prints every generated query with its expected result counts.
//
//   node tests/e2e/lib/oracle/selftest.mjs            # hand checks and a summary
//   node tests/e2e/lib/oracle/selftest.mjs --list     # ... and "matches [+includes]  query" lines
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCorpus } from './corpus.mjs';
import { SearchOracle, dateMatches, parseDateRange, ucumConvert, ucumValid } from './evaluator.mjs';
import { SearchParameters } from './params.mjs';
import { QUERY_SEED, formatQuery, generateQueries } from './queries.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..', '..', '..');
const TEST_DATA = process.env.MEDULLA_TEST_DATA ? path.resolve(process.env.MEDULLA_TEST_DATA) : path.join(ROOT, 'tests', 'data');

const t0 = Date.now();
const corpus = loadCorpus(TEST_DATA);
const oracle = new SearchOracle(corpus.resources, SearchParameters.load(path.join(ROOT, 'data', 'fhir', 'definitions', 'search-parameters.json')));
const t1 = Date.now();

/** Ids (without the type) of an oracle search, sorted. */
const ids = (type, pairs) => oracle.search(type, pairs).matches.map((k) => k.split('/')[1]).sort();
let checks = 0;
function check(what, got, want) {
  assert.deepEqual(got, want, what);
  checks++;
}

// --- Date intervals and prefixes (the rules in evaluator.mjs's header) ------------------------
const day = parseDateRange('2014-12-05');
check('a day covers 24 h', day.hi - day.lo, 86_400_000);
check('+01:00 is converted to UTC', parseDateRange('2014-12-05T09:30:10+01:00').lo, Date.UTC(2014, 11, 5, 8, 30, 10));
check('a second covers 1000 ms', parseDateRange('2014-12-05T09:30:10Z').hi - parseDateRange('2014-12-05T09:30:10Z').lo, 1000);
check('milliseconds cover 1 ms', parseDateRange('2012-04-24T09:21:52.137+00:00').hi - parseDateRange('2012-04-24T09:21:52.137+00:00').lo, 1);
check('a year before 1970', parseDateRange('1950').lo, Date.UTC(1950, 0, 1));
check('no zone = UTC', parseDateRange('2014-12-05T09:30:10').lo, Date.UTC(2014, 11, 5, 9, 30, 10));
const sec = parseDateRange('2014-12-05T10:00:00Z');
check('eq: a day is not within one of its seconds', dateMatches('eq', sec, day), false);
check('ne: ... so ne matches', dateMatches('ne', sec, day), true);
check('le: the day starts before the second ends', dateMatches('le', sec, day), true);
check('sa: the day after', dateMatches('sa', day, parseDateRange('2014-12-06')), true);
check('sa: not the same day', dateMatches('sa', day, parseDateRange('2014-12-05T23:59:59Z')), false);
check('eb: the day before', dateMatches('eb', day, parseDateRange('2014-12-04')), true);

// --- Answers worked out by hand from tests/data/fhir --------------------------------------------
// The three spec-r4 Observations are the only ones tagged HTEST: heart-rate and
// body-temperature have effectiveDateTime 1999-07-02, satO2 2014-12-05T09:30:10+01:00.
const HTEST = ['_tag', 'http://terminology.hl7.org/CodeSystem/v3-ActReason|HTEST'];
check('HTEST examples', ids('Observation', [HTEST]), ['body-temperature', 'heart-rate', 'satO2']);
check('date=1999-07-02', ids('Observation', [['date', '1999-07-02'], HTEST]), ['body-temperature', 'heart-rate']);
check('date=2014-12-05T08:30:10Z is 09:30:10+01:00', ids('Observation', [['date', '2014-12-05T08:30:10Z'], HTEST]), ['satO2']);
check('date=2014-12-05T09:30:10Z is not', ids('Observation', [['date', '2014-12-05T09:30:10Z'], HTEST]), []);
check('date=eq1999-07-02T10:00:00Z', ids('Observation', [['date', 'eq1999-07-02T10:00:00Z'], HTEST]), []);
check('date=ne1999-07-02T10:00:00Z', ids('Observation', [['date', 'ne1999-07-02T10:00:00Z'], HTEST]), ['body-temperature', 'heart-rate', 'satO2']);
check('heart rate 44 /min by code', ids('Observation', [['value-quantity', '44||/min']]), ['heart-rate']);
check('... by unit', ids('Observation', [['value-quantity', '44||beats/minute']]), ['heart-rate']);
check('... with a system the unit is not used', ids('Observation', [['value-quantity', '44|http://unitsofmeasure.org|beats/minute']]), []);
check('eq44.0 is [43.95, 44.05)', ids('Observation', [['value-quantity', '44.0||/min']]), ['heart-rate']);
check('eq43.6 is [43.55, 43.65)', ids('Observation', [['value-quantity', '43.6||/min']]), []);
check('eq44 is [43.5, 44.5): 44 in', ids('Observation', [['value-quantity', 'lt44.5||/min'], ['value-quantity', '44']]), ['heart-rate']);
// UCUM (ucum-lhc): conversions, affine temperatures, dimensionless annotations, strict codes.
const near = (x, y) => x !== null && Math.abs(x - y) < 1e-9 * Math.abs(y);
check('80 kg in [lb_av]', near(ucumConvert(80, 'kg', '[lb_av]'), 176.36980974790205), true);
check('37 Cel in [degF] (affine)', near(ucumConvert(37, 'Cel', '[degF]'), 98.6), true);
check('3 {score} in %', near(ucumConvert(3, '{score}', '%'), 300), true);
check('mmol/L and mg/dL are not commensurable', ucumConvert(1, 'mmol/L', 'mg/dL'), null);
check('kilogram is not a UCUM code (ucum-lhc would substitute kg)', ucumValid('kilogram'), false);
check('KG is not a UCUM code (case counts)', ucumValid('KG'), false);
const UCUM = 'http://unitsofmeasure.org';
check('44 /min is 44 {beats}/min', ids('Observation', [['value-quantity', `44|${UCUM}|{beats}/min`]]), ['heart-rate']);
check('36.5 Cel is 97.7 [degF]', ids('Observation', [['value-quantity', `97.7|${UCUM}|[degF]`], HTEST]), ['body-temperature']);
check('95 % is 0.95 (unity)', ids('Observation', [['value-quantity', `0.95|${UCUM}|1`], HTEST]), ['satO2']);
check('36.5||C: C is UCUM (coulomb), but ||C also matches the unit text "C" of 36.5 Cel', ids('Observation', [['value-quantity', '36.5||C'], HTEST]), ['body-temperature']);
check('_profile:below', ids('Observation', [['_profile:below', 'http://hl7.org/fhir/StructureDefinition/']]), ['body-temperature', 'heart-rate', 'satO2']);
check('_profile:above', ids('Observation', [['_profile:above', 'http://hl7.org/fhir/StructureDefinition/vitalsigns/x']]), ['body-temperature', 'heart-rate', 'satO2']);
// Two Practitioners carry accents: Urías and Rodrígez.
check('family=urias (accent-insensitive)', ids('Practitioner', [['family', 'urias']]).length, 1);
check('family:exact=Urias', ids('Practitioner', [['family:exact', 'Urias']]).length, 0);
check('family:exact=Urías', ids('Practitioner', [['family:exact', 'Urías']]).length, 1);
// Patient f001 (an example) is "van de Heuvel", born 1944-11-17.
check('family=van de', ids('Patient', [['family', 'van de']]), ['f001']);
check('family=heuvel (not a prefix)', ids('Patient', [['family', 'heuvel']]), []);
check('family:contains=heuvel', ids('Patient', [['family:contains', 'heuvel']]), ['f001']);
check('birthdate=1944-11-17', ids('Patient', [['birthdate', '1944-11-17']]), ['f001']);
// Chains and _has agree with a direct search on the referenced resources.
const adolfo = '63731047-b5a9-4b05-a14b-8cf6507efc98'; // Adolfo Marquardt
check('subject:Patient.name = patient', ids('Observation', [['subject:Patient.name', 'marquardt']]), ids('Observation', [['patient', adolfo]]));
check('_has gives the patient', ids('Patient', [['_has:Observation:patient:subject', `Patient/${adolfo}`]]), [adolfo]);
// Every Synthea Condition has clinical status active or resolved, none both.
const cond = oracle.all('Condition').length;
check('clinical-status active + :not active', ids('Condition', [['clinical-status', 'active']]).length + ids('Condition', [['clinical-status:not', 'active']]).length, cond);
// :missing=true and :missing=false split every type.
check(':missing partitions', ids('Condition', [['abatement-date:missing', 'true']]).length + ids('Condition', [['abatement-date:missing', 'false']]).length, cond);

// --- The generated queries ----------------------------------------------------------------------
const queries = generateQueries(oracle);
const t2 = Date.now();
const types = new Map();
let empty = 0;
const lines = [];
for (const q of queries) {
  const r = oracle.search(q.type, q.pairs);
  types.set(q.type, (types.get(q.type) || 0) + 1);
  if (!r.matches.length) empty++;
  lines.push(`${String(r.matches.length).padStart(5)} ${r.includes.length ? `+${r.includes.length}`.padEnd(5) : '     '} ${formatQuery(q)}`);
}
const t3 = Date.now();
if (process.argv.includes('--list')) console.log(lines.join('\n'));
console.log(`${checks} hand checks passed`);
console.log(`${corpus.resources.size} resources (${corpus.transactions.length} bundles, ${corpus.examples.length} examples; ${corpus.skipped.length} example files skipped)`);
console.log(`${queries.length} queries (seed ${QUERY_SEED}) over ${types.size} types, ${empty} matching nothing: ${[...types].map(([t, n]) => `${t} ${n}`).join(', ')}`);
console.log(`load ${t1 - t0} ms, generate ${t2 - t1} ms, evaluate ${t3 - t2} ms`);
