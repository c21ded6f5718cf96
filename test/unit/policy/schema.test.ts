/**
 * docs/policy.schema.json must describe exactly what the loader accepts. No JSON Schema validator
 * is a dependency, so (1) the property sets of every object in the schema are compared with the
 * loader's field lists, and (2) a small validator for the keywords the schema uses checks that
 * the schema and the loader agree on valid and invalid documents.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { POLICY_FIELDS, parsePolicy } from '../../../src/policy';
import { EXAMPLE_POLICY } from './fixtures';

type Schema = Record<string, unknown>;
const schemaPath = path.resolve(__dirname, '../../../docs/policy.schema.json');
const schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8')) as Schema;
const defs = schema.$defs as Record<string, Schema>;

function deref(s: Schema): Schema {
  let out = s;
  while (typeof out.$ref === 'string') {
    const m = /^#\/\$defs\/(.+)$/.exec(out.$ref);
    if (!m || !defs[m[1]!]) throw new Error(`unresolvable $ref ${out.$ref}`);
    out = { ...defs[m[1]!], ...Object.fromEntries(Object.entries(out).filter(([k]) => k !== '$ref')) };
  }
  return out;
}

function propsOf(s: Schema): string[] {
  return Object.keys(deref(s).properties as Schema).sort();
}

/** The object variant of a schema that may be a oneOf (deniedPackage: string or object). */
function objectVariant(s: Schema): Schema {
  const d = deref(s);
  if (d.properties) return d;
  const variant = (d.oneOf as Schema[]).map(deref).find((v) => v.properties);
  if (!variant) throw new Error('no object variant');
  return variant;
}

const sorted = (l: readonly string[]) => [...l].sort();

describe('docs/policy.schema.json', () => {
  it('is draft 2020-12 JSON with resolvable references', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    const refs = JSON.stringify(schema).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) expect(() => deref({ $ref: (JSON.parse(`{${ref}}`) as { $ref: string }).$ref })).not.toThrow();
  });

  it('lists exactly the fields the loader accepts, object by object', () => {
    const rule = (schema.properties as Schema).rules as Schema;
    const ruleSchema = deref(rule.items as Schema);
    const require = deref((ruleSchema.properties as Schema).require as Schema);
    const requireProps = require.properties as Record<string, Schema>;
    const vulns = deref(requireProps.vulnerabilities!);
    const sbom = deref(requireProps.sbom!);
    const walk: Record<keyof typeof POLICY_FIELDS, string[]> = {
      policy: propsOf(schema),
      defaults: propsOf((schema.properties as Schema).defaults as Schema),
      rule: propsOf(ruleSchema),
      match: propsOf((ruleSchema.properties as Schema).match as Schema),
      push: propsOf((ruleSchema.properties as Schema).push as Schema),
      require: propsOf(require),
      signatures: propsOf(requireProps.signatures!),
      identity: propsOf(((deref(requireProps.signatures!).properties as Schema).identities as Schema).items as Schema),
      notation: propsOf((deref(requireProps.signatures!).properties as Schema).notation as Schema),
      witnessMinimum: propsOf((deref(requireProps.signatures!).properties as Schema).transparencyLog as Schema),
      sbom: propsOf(sbom),
      deniedPackage: Object.keys(
        objectVariant(((sbom.properties as Schema).deniedPackages as Schema).items as Schema).properties as Schema,
      ).sort(),
      vulnerabilities: propsOf(vulns),
      vulnerabilityException: propsOf(((vulns.properties as Schema).exceptions as Schema).items as Schema),
      attestation: propsOf(requireProps.attestations!.items as Schema),
      exception: propsOf(((schema.properties as Schema).exceptions as Schema).items as Schema),
    };
    for (const [object, fields] of Object.entries(POLICY_FIELDS)) {
      expect({ object, fields: walk[object as keyof typeof POLICY_FIELDS] }).toEqual({ object, fields: sorted(fields) });
    }
    // …and every object in the schema refuses unknown fields, as the loader does.
    for (const [name, def] of Object.entries(defs)) {
      if (def.properties) expect({ name, additionalProperties: def.additionalProperties }).toEqual({ name, additionalProperties: false });
    }
  });

  it('uses the same enumerations as the loader', () => {
    const enumOf = (name: string) => (defs[name]!.enum as string[]).slice().sort();
    expect(enumOf('mode')).toEqual(['audit', 'enforce', 'warn']);
    expect(enumOf('verdict')).toEqual(['allow', 'deny']);
    expect(enumOf('multiArch')).toEqual(['either', 'index', 'platforms']);
    expect(enumOf('action')).toEqual(['deploy', 'pull', 'push']);
    expect(enumOf('severity')).toEqual(['critical', 'high', 'low', 'medium', 'negligible']);
  });
});

// -------------------------------------------------------------------------------------------------
// A validator for the keywords docs/policy.schema.json uses (and nothing more).

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

const KNOWN = new Set([
  '$schema',
  '$id',
  '$ref',
  '$defs',
  'title',
  'description',
  'default',
  'type',
  'enum',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'minItems',
  'uniqueItems',
  'minLength',
  'pattern',
  'minimum',
  'minProperties',
  'oneOf',
]);

function validate(s0: Schema, v: unknown, at = '$'): string[] {
  const s = deref(s0);
  for (const k of Object.keys(s)) if (!KNOWN.has(k)) throw new Error(`validator does not support keyword ${k}`);
  const errors: string[] = [];
  if (s.type !== undefined && !(typeOf(v) === s.type || (s.type === 'number' && typeOf(v) === 'integer'))) return [`${at}: type`];
  if (s.enum !== undefined && !(s.enum as unknown[]).includes(v)) errors.push(`${at}: enum`);
  if (typeof v === 'string') {
    if (typeof s.minLength === 'number' && v.length < s.minLength) errors.push(`${at}: minLength`);
    if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(v)) errors.push(`${at}: pattern`);
  }
  if (typeof v === 'number' && typeof s.minimum === 'number' && v < s.minimum) errors.push(`${at}: minimum`);
  if (Array.isArray(v)) {
    if (typeof s.minItems === 'number' && v.length < s.minItems) errors.push(`${at}: minItems`);
    if (s.uniqueItems === true && new Set(v.map((x) => JSON.stringify(x))).size !== v.length) errors.push(`${at}: uniqueItems`);
    if (s.items) v.forEach((x, i) => errors.push(...validate(s.items as Schema, x, `${at}[${i}]`)));
  }
  if (typeOf(v) === 'object') {
    const o = v as Record<string, unknown>;
    const props = (s.properties ?? {}) as Record<string, Schema>;
    for (const r of (s.required ?? []) as string[]) if (!(r in o)) errors.push(`${at}.${r}: required`);
    if (typeof s.minProperties === 'number' && Object.keys(o).length < s.minProperties) errors.push(`${at}: minProperties`);
    for (const [k, x] of Object.entries(o)) {
      if (props[k]) errors.push(...validate(props[k], x, `${at}.${k}`));
      else if (s.additionalProperties === false) errors.push(`${at}.${k}: additionalProperties`);
    }
  }
  if (s.oneOf) {
    const passing = (s.oneOf as Schema[]).filter((alt) => validate(alt, v, at).length === 0).length;
    if (passing !== 1) errors.push(`${at}: oneOf (${passing} match)`);
  }
  return errors;
}

function loaderAccepts(text: string): boolean {
  try {
    parsePolicy(text, 'p.yaml');
    return true;
  } catch {
    return false;
  }
}

describe('schema and loader agree', () => {
  const valid: Array<[string, string]> = [
    ['the issue example', EXAMPLE_POLICY],
    [
      'every feature',
      `version: 1
description: all of it
defaults: { mode: warn, onUnmatched: allow, onError: deny, multiArch: platforms }
rules:
  - name: a
    description: x
    match: { images: ["**"], namespaces: ["ns-*"], actions: [push] }
    mode: audit
    onError: allow
    multiArch: index
    require:
      signatures: { keys: [k1, k2], minimum: 2 }
      sbom: { formats: [cyclonedx], keys: [k1], deniedPackages: ["log4j-core < 2.17.1", { name: x, versions: ">= 1.0, < 2" }], deniedLicenses: [GPL-3.0-only] }
      vulnerabilities: { maxSeverity: high, maxAge: 1h30m, formats: [grype, intoto-vulns], keys: [k1], exceptions: [{ id: CVE-1, expires: "2027-01-31T10:00:00Z", reason: r, approvedBy: a }] }
      attestations: [{ predicateType: "https://slsa.dev/provenance/v1", keys: [k2] }]
  - { name: b, allow: "ok" }
exceptions:
  - { images: ["ghcr.io/a/b:1.0"], namespaces: [x], actions: [deploy], expires: 2027-01-01, reason: r, approvedBy: a }
`,
    ],
  ];
  const invalid: Array<[string, string]> = [
    ['unknown field', 'rules: []\nextra: 1\n'],
    ['no rules', 'defaults: {}\n'],
    ['bad mode', 'defaults: { mode: loud }\nrules: []\n'],
    ['rule without name', 'rules:\n  - deny: "x"\n'],
    ['rule with require and deny', 'rules:\n  - { name: a, require: { signatures: {} }, deny: "x" }\n'],
    ['rule with neither', 'rules:\n  - { name: a }\n'],
    ['empty require', 'rules:\n  - { name: a, require: {} }\n'],
    ['empty keys', 'rules:\n  - { name: a, require: { signatures: { keys: [] } } }\n'],
    ['minimum 0', 'rules:\n  - { name: a, require: { signatures: { minimum: 0 } } }\n'],
    ['bad duration', 'rules:\n  - { name: a, require: { vulnerabilities: { maxAge: 72 } } }\n'],
    ['bad severity', 'rules:\n  - { name: a, require: { vulnerabilities: { maxSeverity: severe } } }\n'],
    [
      'exception without expiry',
      'rules:\n  - { name: a, require: { vulnerabilities: { exceptions: [{ id: X, reason: r, approvedBy: a }] } } }\n',
    ],
    [
      'exception with bad date',
      'rules:\n  - { name: a, require: { vulnerabilities: { exceptions: [{ id: X, expires: next week, reason: r, approvedBy: a }] } } }\n',
    ],
    ['top-level exception without approver', 'rules: []\nexceptions:\n  - { images: ["ghcr.io/**"], expires: 2027-01-01, reason: r }\n'],
    ['bad action', 'rules:\n  - { name: a, match: { actions: [run] }, deny: "x" }\n'],
    ['bad rule name', 'rules:\n  - { name: "a b", deny: "x" }\n'],
    ['image pattern without host', 'rules:\n  - { name: a, match: { images: [nginx] }, deny: "x" }\n'],
    ['unknown field in a denied package', 'rules:\n  - { name: a, require: { sbom: { deniedPackages: [{ name: x, version: "1" }] } } }\n'],
    ['unknown SBOM format', 'rules:\n  - { name: a, require: { sbom: { formats: [swid] } } }\n'],
  ];

  it.each(valid)('accepts %s', (_name, text) => {
    expect(loaderAccepts(text)).toBe(true);
    expect(validate(schema, parse(text))).toEqual([]);
  });

  it.each(invalid)('refuses %s', (_name, text) => {
    expect(loaderAccepts(text)).toBe(false);
    expect(validate(schema, parse(text))).not.toEqual([]);
  });
});
