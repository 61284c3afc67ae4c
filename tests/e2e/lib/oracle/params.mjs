// The FHIR R4 search parameters the oracle evaluates, taken from the official definitions in
// data/fhir/definitions/search-parameters.json and run with fhirpath.js (npm `fhirpath`, R4
// model), the FHIRPath reference implementation. Nothing here comes from medulla's C++ code.
//
// For a resource type T and a parameter code, the definition whose `base` lists T (or Resource)
// is used, and of its `expression` only the `|` alternatives that start with T or Resource: the
// shared definitions (clinical-patient, clinical-code, ...) list one alternative per base type.
//
// Two deliberate adaptations, the same as tools/fhirpath_golden.mjs makes:
// - `X as T` and `X.as(T)` are evaluated as `X.ofType(T)`. FHIRPath says `as` needs a single
//   input and fhirpath.js enforces it, but several R4 expressions apply it to lists
//   (`Observation.component.value as Quantity`); servers filter each item, which is ofType.
// - resolve() is replaced by a stub that returns {resourceType, id} parsed from the reference
//   (fhirpath.js would fetch it over HTTP). The search expressions only ask `resolve() is T`.
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const fhirpath = require('fhirpath');
const r4Model = require('fhirpath/fhir-context/r4');
// Not part of the package's documented API; needed to give the resolve() stubs a type.
const { ResourceNode } = require('fhirpath/src/types.js');

/** The parameter types the oracle understands (special is not evaluated). */
export const SUPPORTED_TYPES = new Set(['string', 'token', 'reference', 'date', 'number', 'quantity', 'uri', 'composite']);

/** [base/]Type/id[/_history/vid] -> {type, id}; anything else (#local, urn:, conditional) -> null. */
export function parseReference(ref) {
  if (typeof ref !== 'string') return null;
  const m = /^(?:.*\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(ref);
  return m && !ref.includes('?') ? { type: m[1], id: m[2] } : null;
}

const resolveStub = {
  // fhirpath.js calls user functions with the evaluation context as `this`.
  fn: function resolve(inputs) {
    return inputs.flatMap((input) => {
      const data = fhirpath.util.valData(input);
      const target = parseReference(data && data.reference);
      return target ? [ResourceNode.makeResNode(this, { resourceType: target.type, id: target.id }, null, null, null, null)] : [];
    });
  },
  arity: { 0: [] },
};

/** Splits a FHIRPath expression at its top-level `|` operators (not inside () or quotes). */
export function splitUnion(expression) {
  const parts = [];
  let depth = 0;
  let quote = null;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = null;
    } else if (c === "'" || c === '`') quote = c;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) {
      parts.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(expression.slice(start).trim());
  return parts.filter(Boolean);
}

/** `(X as T)rest` -> `X.ofType(T)rest` and `X.as(T)` -> `X.ofType(T)` (see the file comment). */
export function asToOfType(alternative) {
  let e = alternative.replace(/\.as\(([A-Za-z]+)\)/g, '.ofType($1)');
  const m = /^\((.+) as ([A-Za-z]+)\)(.*)$/.exec(e);
  if (m) e = `${m[1]}.ofType(${m[2]})${m[3]}`;
  return e;
}

/** The alternatives of `expression` that apply to resourceType, joined again with `|`. */
export function expressionFor(expression, resourceType) {
  const mine = splitUnion(expression).filter((alt) => {
    const head = alt.replace(/^\(+/, '');
    return [resourceType, 'Resource'].some((t) => head === t || head.startsWith(`${t}.`) || head.startsWith(`${t} `));
  });
  return mine.map(asToOfType).join(' | ');
}

/**
 * One search parameter as it applies to one resource type.
 *   code, type ('token', 'date', ...), id (of the SearchParameter), expression (the part that
 *   applies to this type, rewritten as above), targets (reference target types)
 *   values(resource) -> [{type, value}]: what the expression yields, with the FHIR type of each
 *   item ('Coding', 'CodeableConcept', 'date', 'Period', 'boolean', ...), memoised per resource.
 */
export class ParamDef {
  constructor(def, resourceType, byUrl = new Map()) {
    this.id = def.id;
    this.code = def.code;
    this.type = def.type;
    this.resourceType = resourceType;
    this.targets = def.target || [];
    this.modifiers = def.modifier || [];
    this.expression = expressionFor(def.expression || '', resourceType);
    this.compiled = this.expression
      ? fhirpath.compile(this.expression, r4Model, { resolveInternalTypes: false, userInvocationTable: { resolve: resolveStub } })
      : null;
    this.cache = new WeakMap();
    if (this.type === 'composite') this.compileComposite(def, byUrl);
  }

  /**
   * Composite (search.html#composite): each `|` alternative of the expression gives items (the
   * Observation itself, each Observation.component, ...); each component's expression is
   * evaluated on one item at a time, with the alternative as fhirpath.js's base path so that
   * choice types (`value`) resolve. Only plain paths are supported as alternatives.
   */
  compileComposite(def, byUrl) {
    this.items = splitUnion(this.expression).map((alt) => {
      if (!/^[A-Za-z]+(\.[A-Za-z]+)*$/.test(alt)) throw new Error(`${this.id}: composite item path ${alt} is not a plain path`);
      return {
        compiled: fhirpath.compile(alt, r4Model),
        components: (def.component || []).map((c) => {
          const cdef = byUrl.get(c.definition);
          if (!cdef) throw new Error(`${this.id}: unknown component ${c.definition}`);
          return {
            type: cdef.type,
            compiled: fhirpath.compile({ base: alt, expression: asToOfType(c.expression) }, r4Model, { resolveInternalTypes: false }),
          };
        }),
      };
    });
    this.components = this.items.length ? this.items[0].components.map((c) => ({ type: c.type })) : [];
  }

  /** Composite: one entry per item, holding per component the values [{type, value}]. */
  compositeValues(resource) {
    const out = [];
    for (const alt of this.items) {
      for (const item of alt.compiled(resource)) {
        out.push(
          alt.components.map((c) => {
            const raw = c.compiled(item);
            const types = fhirpath.types(raw);
            return fhirpath.resolveInternalTypes(raw).map((value, i) => ({ type: types[i].replace(/^(FHIR|System)\./, ''), value }));
          }),
        );
      }
    }
    return out;
  }

  values(resource) {
    let v = this.cache.get(resource);
    if (v) return v;
    v = [];
    if (this.type === 'composite') {
      v = this.compositeValues(resource);
    } else if (this.compiled) {
      const raw = this.compiled(resource);
      const types = fhirpath.types(raw);
      const plain = fhirpath.resolveInternalTypes(raw);
      v = plain.map((value, i) => ({ type: types[i].replace(/^(FHIR|System)\./, ''), value }));
    }
    this.cache.set(resource, v);
    return v;
  }
}

/** All R4 search parameters, by resource type and code. */
export class SearchParameters {
  constructor(bundle) {
    this.byBase = new Map(); // base type -> Map code -> definition
    for (const { resource: def } of bundle.entry) {
      for (const base of def.base || []) {
        if (!this.byBase.has(base)) this.byBase.set(base, new Map());
        this.byBase.get(base).set(def.code, def);
      }
    }
    this.defs = new Map(); // "Type.code" -> ParamDef
    this.byUrl = new Map(bundle.entry.map(({ resource: def }) => [def.url, def]));
  }

  static load(file) {
    return new SearchParameters(JSON.parse(fs.readFileSync(file, 'utf8')));
  }

  /** The ParamDef of `code` on resourceType, or undefined if R4 defines none. */
  get(resourceType, code) {
    const key = `${resourceType}.${code}`;
    if (this.defs.has(key)) return this.defs.get(key);
    const def = ['Resource', 'DomainResource', resourceType].map((b) => this.byBase.get(b) && this.byBase.get(b).get(code)).find(Boolean);
    const p = def ? new ParamDef(def, resourceType, this.byUrl) : undefined;
    this.defs.set(key, p);
    return p;
  }

  /** Every parameter code R4 defines for resourceType (including Resource's). */
  codes(resourceType) {
    const out = new Set();
    for (const b of ['Resource', 'DomainResource', resourceType]) for (const c of (this.byBase.get(b) || new Map()).keys()) out.add(c);
    return [...out].sort();
  }
}
