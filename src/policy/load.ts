/**
 * Reads a policy document (YAML or JSON: JSON is YAML, so one parser serves both) into the typed
 * model, refusing anything doubtful. A policy is security configuration: a misspelled field that
 * is silently ignored ("maxSeverty") is a hole nobody notices, so unknown fields, wrong types and
 * out-of-range values are all errors, and every one of them is reported at once, with its line,
 * column and field path, so that one edit can fix them all.
 *
 * The generic reader (positions, typed accessors, unknown fields with "did you mean") is
 * src/shared/checked-document.ts, shared with the service configuration; the vocabulary (fields,
 * enumerated values, the size bound and the built-in default policy) is schema.ts; this file reads
 * a document against them.
 */
import { createHash, type X509Certificate } from 'node:crypto';
import { isMap, isScalar, isSeq, type Node } from 'yaml';
import { resolvePredicateType } from '../attestations';
import { CheckedDocument, type DocumentProblem, type Field } from '../shared/checked-document';
import { canonicalName } from '../shared/image-pattern';
import { parseImagePattern } from './match';
import { CoverageBudget, matchCovers } from './rule-coverage';
import type {
  AttestationRequirement,
  Defaults,
  DeniedPackage,
  IdentityRequirement,
  MatchSpec,
  Policy,
  PolicyException,
  PushRules,
  Requirements,
  Rule,
  SbomRequirement,
  SignatureRequirement,
  VulnerabilityException,
  VulnerabilityRequirement,
} from './types';
import {
  ACTIONS,
  DEFAULT_DEFAULTS,
  MAX_POLICY_BYTES,
  MODES,
  MULTI_ARCH,
  POLICY_FIELDS,
  POLICY_SEVERITIES,
  POLICY_VERSIONS,
  SBOM_FORMATS,
  SCAN_FORMATS,
  VERDICTS,
} from './schema';
import { parseDuration, parseExpiry, parseVersionRange } from './values';
import { canonicalJson } from '../formats/canonical-json';
import { FULCIO_EXTENSIONS } from '../formats/fulcio';
import { describeMatcher } from './identity';
import { NOTATION_LEVELS, parseNotationIdentity, type NotationLevel, type NotationTrust } from './notation-trust';
import { readTrustStoreFile } from './notation-trust-store';
import { dirname, isAbsolute, resolve } from 'node:path';

/**
 * `host/path/{name}` or a literal `host/path`: a repository whose evidence for the same digest
 * counts. Host and path components are held to what a repository name may be (image-pattern.ts's
 * canonicalName, the definition patterns use): `..`, `.staging` or `staging-` names no repository.
 * `{name}` stands for a path component, and `x` is one: a component is valid with `x` in its place
 * exactly when it is valid with any other.
 */
function checkEvidenceSource(value: string): string | undefined {
  const concrete = value.replace(/\{name\}/g, 'x');
  if (!/^[a-z0-9.-]+(?::\d{1,5})?\/[a-z0-9._/-]+$/.test(concrete) || concrete.includes('//') || concrete.endsWith('/')) {
    return `"${value}" is not a repository like registry.example.com/staging/{name} ({name} is the last path component of the image's repository)`;
  }
  if (/[{}]/.test(concrete)) return `"${value}": the only placeholder is {name}`;
  const slash = concrete.indexOf('/');
  const host = concrete.slice(0, slash);
  if (canonicalName(host, 'x') === undefined) return `"${value}": "${host}" is not a registry host[:port]`;
  const segments = value.slice(value.indexOf('/') + 1).split('/');
  const bad = segments.find((segment) => canonicalName(host, segment.replace(/\{name\}/g, 'x')) === undefined);
  if (bad !== undefined) {
    return (
      `"${value}": path component "${bad}" can never name a repository (path components are lowercase letters and digits ` +
      `separated by '.', '_', '__' or '-')`
    );
  }
  return undefined;
}

/**
 * A denied package name (a `*` glob) is compared with the SBOM's package names, which hold no
 * whitespace and no comparison operator: a name holding either (a range written into `name`, a
 * stray space) denies nothing.
 */
function packageNameProblem(name: string): string | undefined {
  if (!/[\s<>=,]/.test(name)) return undefined;
  const range = /^([^\s<>=,]+)\s*([<>=].*)$/s.exec(name.trim());
  if (range) {
    return (
      `"${name}" holds a version range, and no package is called that; write ` +
      `{ name: ${range[1]!}, versions: "${range[2]!}" } (or the string "${range[1]!} ${range[2]!}")`
    );
  }
  const trimmed = name.trim();
  if (trimmed !== '' && !/[\s<>=,]/.test(trimmed))
    return `"${name}" holds whitespace around the name, and no package is called that; write "${trimmed}"`;
  return `"${name}" holds whitespace or one of < > = , and no package name does; write one package name (a range goes in "versions")`;
}

/**
 * A denied license is compared with each license id of a package's license expressions
 * (requirements.ts splits "MIT OR GPL-3.0-only" into its ids): an expression, or an operator,
 * in the list equals no id and denies nothing.
 */
function licenseIdProblem(license: string): string | undefined {
  if (/^(?:AND|OR|WITH)$/i.test(license.trim())) return `"${license}" is an operator of license expressions, not a license id`;
  if (!/[\s()]/.test(license)) return undefined;
  const ids = license.split(/[\s()]+/).filter((t) => t !== '' && !/^(?:AND|OR|WITH)$/i.test(t));
  if (ids.length === 1) return `"${license}" holds whitespace or parentheses, and no license id does; write "${ids[0]!}"`;
  return (
    `"${license}" is a license expression, and it equals no license id; list each id on its own ` +
    `(${ids.length > 0 ? `[${ids.join(', ')}]` : 'e.g. [AGPL-3.0-only]'}): any of them anywhere in a package's expression denies it`
  );
}

/** Rule names appear in decisions, logs and kubectl output: keep them to one plain token. */
const RULE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** Kubernetes namespace names are DNS labels; `*` is the glob. */
const NAMESPACE_GLOB_RE = /^[a-z0-9*][a-z0-9*-]{0,62}$/;

/** One problem of a policy document; field paths such as `rules[0].require.signatures.keys`. */
export type PolicyProblem = DocumentProblem;

/**
 * Parses and validates a policy. Throws CountersignError('INVALID_ARGUMENT') listing every problem
 * as `source:LINE:COL: field.path: what is wrong`, with the problems in `details.problems`.
 */
/**
 * `trustStoreFiles`, when given, receives the absolute paths of the Notation trust store files the
 * document names, even when it is invalid (the policy store watches them: replacing a CA, or
 * fixing a missing one, must reload the policy).
 */
export function parsePolicy(text: string, source: string, trustStoreFiles?: string[]): Policy {
  const ctx = new Checker(source, text);
  const policy = ctx.run();
  trustStoreFiles?.push(...new Set(ctx.trustStorePaths));
  if (ctx.problems.length === 0 && policy === undefined) ctx.problemAt(0, '(document)', 'could not be read');
  ctx.throwIfProblems(`policy ${source} is invalid`);
  return policy!;
}

/**
 * First 12 hex digits of sha256 over the document as canonical JSON (src/formats/canonical-json.ts,
 * the audit chain's encoding: keys sorted, RFC 8785 for plain JSON).
 */
export function policyRevision(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 12);
}

/** Walks the policy's YAML syntax tree (see CheckedDocument), collecting problems with their positions. */
class Checker extends CheckedDocument {
  /** sha256 of each Notation trust store file read: replacing a CA certificate is a new policy revision. */
  private readonly trustStoreDigests: string[] = [];
  /** Absolute paths of every trust store file the policy names (read or not): the policy store watches them. */
  readonly trustStorePaths: string[] = [];

  constructor(source: string, text: string) {
    super(source, text, { maxBytes: MAX_POLICY_BYTES, noun: { singular: 'policy', plural: 'policies' } });
  }

  run(): Policy | undefined {
    const root = this.parse();
    if (root === undefined) return undefined;
    if (root === null) {
      this.problemAt(0, '(document)', 'the policy is empty; it needs at least "rules"');
      return undefined;
    }
    const policy = this.policy(root);
    if (policy === undefined || this.problems.length > 0) return undefined;
    const document = this.toJS();
    const revision = policyRevision(
      this.trustStoreDigests.length > 0 ? { document, notationTrustStores: this.trustStoreDigests } : document,
    );
    return { ...policy, revision, source: this.source };
  }

  // ---------------------------------------------------------------------------------------------
  // The document

  private policy(root: Node): Omit<Policy, 'revision' | 'source'> | undefined {
    const f = this.fields(root, '', POLICY_FIELDS.policy, '{ defaults: {…}, rules: [...], exceptions: [...] }');
    if (f === undefined) return undefined;
    const version = f.get('version');
    if (version) {
      const v = this.integer(version.value, 'version', 1);
      if (v !== undefined && !POLICY_VERSIONS.includes(v))
        this.problem(
          version.value,
          'version',
          `version ${v} is not supported; this Countersign reads version ${POLICY_VERSIONS.join(', ')}`,
        );
    }
    const description = f.get('description')
      ? this.plainText(f.get('description')!.value, 'description', undefined, { multiline: true })
      : undefined;
    const defaults = this.defaults(f.get('defaults'));
    const rulesField = f.get('rules');
    let rules: Rule[] = [];
    if (!rulesField) {
      this.problem(root, 'rules', 'is required: a list of rules (it may be empty, then every image follows defaults.onUnmatched)');
    } else {
      rules = this.rules(rulesField.value);
    }
    const exceptionsField = f.get('exceptions');
    const exceptions = exceptionsField ? this.list(exceptionsField.value, 'exceptions', (n, p) => this.exception(n, p)) : [];
    return { ...(description !== undefined ? { description } : {}), defaults, rules, exceptions };
  }

  private defaults(field: Field | undefined): Defaults {
    const out: Defaults = { ...DEFAULT_DEFAULTS };
    if (!field) return out;
    const f = this.fields(field.value, 'defaults', POLICY_FIELDS.defaults, '{ mode: enforce, onUnmatched: deny, onError: deny }');
    if (!f) return out;
    const mode = f.get('mode') && this.oneOf(f.get('mode')!.value, 'defaults.mode', MODES);
    const onUnmatched = f.get('onUnmatched') && this.oneOf(f.get('onUnmatched')!.value, 'defaults.onUnmatched', VERDICTS);
    const onError = f.get('onError') && this.oneOf(f.get('onError')!.value, 'defaults.onError', VERDICTS);
    const multiArch = f.get('multiArch') && this.oneOf(f.get('multiArch')!.value, 'defaults.multiArch', MULTI_ARCH);
    if (mode) out.mode = mode;
    if (onUnmatched) out.onUnmatched = onUnmatched;
    if (onError) out.onError = onError;
    if (multiArch) out.multiArch = multiArch;
    return out;
  }

  private rules(node: Node | null): Rule[] {
    const seen = new Map<string, { index: number; line: number }>();
    // Rules read without a problem that decide some request: a rule covered by one of them never matches.
    const live: Array<{ rule: Rule; index: number }> = [];
    const budget = new CoverageBudget();
    return this.list(node, 'rules', (n, path, index) => {
      const before = this.problems.length;
      const rule = this.rule(n, path);
      // A rule with a problem may read broader than it was written (an invalid list left out): it
      // neither covers nor is reported as covered.
      const clean = this.problems.length === before;
      if (rule === undefined) return undefined;
      if (rule.name === '') return rule; // already reported as missing or invalid
      const first = seen.get(rule.name);
      if (first) {
        const nameNode = isMap(n) ? (n.get('name', true) as Node | undefined) : undefined;
        this.problem(
          nameNode ?? n,
          `${path}.name`,
          `rule name "${rule.name}" is already used by rules[${first.index}] (line ${first.line}); rule names must be unique`,
        );
      } else {
        seen.set(rule.name, { index, line: rule.line ?? 0 });
      }
      if (clean) {
        const cover = live.find((earlier) => matchCovers(earlier.rule.match, rule.match, budget));
        if (cover) this.deadRule(n, path, rule, cover.rule, cover.index, matchCovers(rule.match, cover.rule.match, budget));
        else live.push({ rule, index });
      }
      return rule;
    });
  }

  /** Reports `rule`, which can never match because `cover` (earlier) matches everything it could. */
  private deadRule(node: Node, path: string, rule: Rule, cover: Rule, coverIndex: number, same: boolean): void {
    const matchNode = isMap(node) ? (node.get('match', true) as Node | undefined) : undefined;
    const earlier = `rule "${cover.name}" (rules[${coverIndex}], line ${cover.line ?? 0})`;
    const message = same
      ? `rule "${rule.name}" can never match: it matches the same requests as ${earlier}, which comes first and so always decides; ` +
        'merge the two rules into one, or remove one of them'
      : `rule "${rule.name}" can never match: ${earlier} comes first and matches every request this rule could match (the first ` +
        `matching rule decides); move "${rule.name}" above "${cover.name}" (specific rules first, catch-alls last), or narrow ` +
        `the match of "${cover.name}"`;
    this.problem(matchNode ?? node, matchNode ? `${path}.match` : path, message);
  }

  private rule(node: Node, path: string): Rule | undefined {
    const f = this.fields(node, path, POLICY_FIELDS.rule, 'a rule like { name: …, match: {…}, require: {…} }');
    if (!f) return undefined;
    const line = this.pos(node).line;
    let name = '';
    const nameField = f.get('name');
    if (!nameField) {
      this.problem(node, `${path}.name`, 'is required: every rule needs a unique name (it is reported in every decision)');
    } else {
      const value = this.string(nameField.value, `${path}.name`);
      if (value !== undefined && !RULE_NAME_RE.test(value)) {
        this.problem(
          nameField.value,
          `${path}.name`,
          `"${value}" is not a valid rule name (letters, digits, '.', '_', '-'; at most 63 characters; starting with a letter or digit)`,
        );
      } else if (value !== undefined) {
        name = value;
      }
    }
    const rule: Rule = { name, line };
    const description =
      f.get('description') && this.plainText(f.get('description')!.value, `${path}.description`, undefined, { multiline: true });
    if (description !== undefined) rule.description = description;
    if (f.get('match')) {
      const match = this.match(f.get('match')!.value, `${path}.match`);
      if (match) rule.match = match;
    }
    const outcomes = (['require', 'deny', 'allow'] as const).filter((k) => f.has(k));
    if (outcomes.length === 0) {
      this.problem(node, path, 'needs one of "require" (the evidence to demand), "deny" (a message) or "allow" (a reason)');
    } else if (outcomes.length > 1) {
      this.problem(
        f.get(outcomes[1]!)!.key,
        `${path}.${outcomes[1]!}`,
        `cannot be combined with "${outcomes[0]!}" in one rule; use one of require, deny or allow`,
      );
    }
    if (f.get('require')) {
      const require = this.requirements(f.get('require')!.value, `${path}.require`);
      if (require) rule.require = require;
    }
    if (f.get('deny')) {
      const deny = this.plainText(f.get('deny')!.value, `${path}.deny`, 'the message shown to whoever is denied');
      if (deny !== undefined) rule.deny = deny;
    }
    if (f.get('allow')) {
      const allow = this.plainText(
        f.get('allow')!.value,
        `${path}.allow`,
        'why these images need no evidence (recorded in every decision)',
      );
      if (allow !== undefined) rule.allow = allow;
    }
    if (f.get('push')) {
      const push = this.pushRules(f.get('push')!.value, `${path}.push`);
      if (push) rule.push = push;
    }
    if (f.get('evidenceFrom')) {
      const from = this.stringList(f.get('evidenceFrom')!.value, `${path}.evidenceFrom`, { check: checkEvidenceSource });
      if (from) rule.evidenceFrom = from;
    }
    const mode = f.get('mode') && this.oneOf(f.get('mode')!.value, `${path}.mode`, MODES);
    const onError = f.get('onError') && this.oneOf(f.get('onError')!.value, `${path}.onError`, VERDICTS);
    const multiArch = f.get('multiArch') && this.oneOf(f.get('multiArch')!.value, `${path}.multiArch`, MULTI_ARCH);
    if (mode) rule.mode = mode;
    if (onError) rule.onError = onError;
    if (multiArch) rule.multiArch = multiArch;
    return rule;
  }

  private pushRules(node: Node | null, path: string): PushRules | undefined {
    const f = this.fields(
      node,
      path,
      POLICY_FIELDS.push,
      '{ immutableTags: ["v*"], tagPattern: "^v[0-9]+[.][0-9]+[.][0-9]+$", identities: [ci-team-a] }',
    );
    if (!f) return undefined;
    const out: PushRules = {};
    const globs = { check: (v: string) => (/^[\x21-\x7e]{1,256}$/.test(v) ? undefined : `"${v}" is not a glob of printable characters`) };
    if (f.get('immutableTags')) {
      const tags = this.stringList(f.get('immutableTags')!.value, `${path}.immutableTags`, globs);
      if (tags) out.immutableTags = tags;
    }
    if (f.get('identities')) {
      const ids = this.stringList(f.get('identities')!.value, `${path}.identities`, globs);
      if (ids) out.identities = ids;
    }
    if (f.get('tagPattern')) {
      const field = f.get('tagPattern')!;
      const source = this.string(field.value, `${path}.tagPattern`, 'a regular expression every tag written must match in full');
      if (source !== undefined) {
        try {
          out.tagPattern = { source, regex: new RegExp(`^(?:${source})$`, 'u') };
        } catch (err) {
          this.problem(field.value, `${path}.tagPattern`, `is not a valid regular expression: ${(err as Error).message}`);
        }
      }
    }
    return out;
  }

  private match(node: Node | null, path: string): MatchSpec | undefined {
    const f = this.fields(node, path, POLICY_FIELDS.match, '{ images: [...], namespaces: [...], actions: [...] }');
    if (!f) return undefined;
    const spec: MatchSpec = {};
    if (f.get('images')) {
      const images = this.imagePatterns(f.get('images')!.value, `${path}.images`);
      if (images) spec.images = images;
    }
    if (f.get('namespaces')) {
      const ns = this.namespaces(f.get('namespaces')!.value, `${path}.namespaces`);
      if (ns) spec.namespaces = ns;
    }
    if (f.get('actions')) {
      const actions = this.enumList(f.get('actions')!.value, `${path}.actions`, ACTIONS);
      if (actions) spec.actions = actions;
    }
    return spec;
  }

  private imagePatterns(node: Node | null, path: string): string[] | undefined {
    return this.stringList(node, path, {
      check: (value) => {
        const parsed = parseImagePattern(value);
        return 'error' in parsed ? `image pattern ${parsed.error}` : undefined;
      },
    });
  }

  private namespaces(node: Node | null, path: string): string[] | undefined {
    return this.stringList(node, path, {
      check: (value) =>
        NAMESPACE_GLOB_RE.test(value) ? undefined : `"${value}" is not a namespace or namespace glob (lowercase letters, digits, '-', '*')`,
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Requirements

  private requirements(node: Node | null, path: string): Requirements | undefined {
    const f = this.fields(node, path, POLICY_FIELDS.require, '{ signatures: {…}, sbom: {…}, vulnerabilities: {…} }');
    if (!f) return undefined;
    if (f.size === 0) {
      this.problem(
        node,
        path,
        'lists no requirement; name at least one of signatures, sbom, vulnerabilities, attestations (or use "allow: <reason>")',
      );
      return undefined;
    }
    const req: Requirements = {};
    if (f.get('signatures')) {
      const s = this.signatures(f.get('signatures')!.value, `${path}.signatures`);
      if (s) req.signatures = s;
    }
    if (f.get('sbom')) {
      const s = this.sbom(f.get('sbom')!.value, `${path}.sbom`);
      if (s) req.sbom = s;
    }
    if (f.get('vulnerabilities')) {
      const v = this.vulnerabilities(f.get('vulnerabilities')!.value, `${path}.vulnerabilities`);
      if (v) req.vulnerabilities = v;
    }
    if (f.get('attestations')) {
      req.attestations = this.list(f.get('attestations')!.value, `${path}.attestations`, (n, p) => this.attestation(n, p), {
        nonEmpty: true,
      });
    }
    return req;
  }

  private signatures(node: Node | null, path: string): SignatureRequirement | undefined {
    const f = this.fields(node, path, POLICY_FIELDS.signatures, '{ keys: [ci-release], minimum: 1 }');
    if (!f) return undefined;
    const keys = this.keys(f.get('keys'), `${path}.keys`);
    const identities = f.get('identities')
      ? this.list(f.get('identities')!.value, `${path}.identities`, (n, p) => this.identity(n, p), { nonEmpty: true })
      : undefined;
    const notation = f.get('notation') ? this.notation(f.get('notation')!.value, `${path}.notation`) : undefined;
    const minField = f.get('minimum');
    let minimum = 1;
    if (minField) {
      const m = this.integer(minField.value, `${path}.minimum`, 1);
      if (m !== undefined) {
        minimum = m;
        // An identity with a regular expression may match several signers: only exact lists bound it.
        const exact = identities === undefined || identities.every((i) => i.subjectRegExp === undefined && i.issuerRegExp === undefined);
        const bound = (keys?.length ?? 0) + (identities?.length ?? 0);
        if (
          (keys !== undefined || identities !== undefined) &&
          (notation === undefined || notation.level === 'skip') &&
          exact &&
          m > bound
        ) {
          const listed = [
            keys ? `${keys.length} ${keys.length === 1 ? 'key' : 'keys'}` : '',
            identities ? `${identities.length} ${identities.length === 1 ? 'identity' : 'identities'}` : '',
          ]
            .filter(Boolean)
            .join(' and ');
          this.problem(
            minField.value,
            `${path}.minimum`,
            `is ${m} but only ${listed} ${bound === 1 ? 'is' : 'are'} listed; no image could ever satisfy it`,
          );
        }
      }
    }
    if (notation?.level === 'skip' && keys === undefined && identities === undefined) {
      this.problem(
        f.get('notation')!.value,
        `${path}.notation.level`,
        'is skip, which verifies nothing, so no Notation signature counts as a signer; this rule could never be satisfied (list keys or identities, or use level audit to admit any intact Notation signature)',
      );
    }
    const transparencyLog = f.get('transparencyLog')
      ? this.witnessMinimum(f.get('transparencyLog')!.value, `${path}.transparencyLog`)
      : undefined;
    const timestamps = f.get('timestamps') ? this.witnessMinimum(f.get('timestamps')!.value, `${path}.timestamps`) : undefined;
    return {
      ...(keys !== undefined ? { keys } : {}),
      ...(identities !== undefined ? { identities } : {}),
      ...(notation !== undefined ? { notation } : {}),
      minimum,
      ...(transparencyLog ? { transparencyLog } : {}),
      ...(timestamps ? { timestamps } : {}),
    };
  }

  /**
   * `notation: { trustStore: [files], identities: ["x509.subject: …" | "*"], level }`: a Notary
   * Project trust policy. Trust store files are resolved against the policy file's folder.
   */
  private notation(node: Node | null, path: string): NotationTrust | undefined {
    const example = '{ trustStore: [certs/acme-ca.pem], identities: ["x509.subject: C=US, ST=WA, O=Acme"], level: strict }';
    const f = this.fields(node, path, POLICY_FIELDS.notation, example);
    if (!f) return undefined;
    let level: NotationLevel = 'strict';
    const levelField = f.get('level');
    if (levelField) {
      const v = this.string(levelField.value, `${path}.level`);
      if (v === undefined) return undefined;
      if (!(NOTATION_LEVELS as readonly string[]).includes(v)) {
        this.problem(levelField.value, `${path}.level`, `is "${v}"; use one of ${NOTATION_LEVELS.join(', ')}`);
        return undefined;
      }
      level = v as NotationLevel;
    }
    const storeField = f.get('trustStore');
    const idField = f.get('identities');
    if (level === 'skip') {
      return { name: 'a Notation trust policy with level skip', level, trustStore: [], identities: [] };
    }
    if (!storeField) {
      this.problem(node, `${path}.trustStore`, 'is required: files of CA certificates (PEM), e.g. [certs/acme-ca.pem]');
      return undefined;
    }
    if (!idField) {
      this.problem(
        node,
        `${path}.identities`,
        'is required: ["*"] (any signer the trust store vouches for) or ["x509.subject: C=US, ST=WA, O=Acme"]',
      );
      return undefined;
    }
    const files = this.list(storeField.value, `${path}.trustStore`, (n, p) => this.string(n, p), { nonEmpty: true });
    const identities = this.list(
      idField.value,
      `${path}.identities`,
      (n, p) => {
        const text = this.string(n, p);
        if (text === undefined) return undefined;
        const parsed = parseNotationIdentity(text);
        if (typeof parsed === 'string') {
          this.problem(n, p, parsed);
          return undefined;
        }
        return parsed;
      },
      { nonEmpty: true },
    );
    // notation-go: "a wildcard identity cannot be used in conjunction with other values" (beside
    // x509.subject entries, "*" would silently make them meaningless).
    if (identities.length > 1 && identities.some((i) => i.any)) {
      this.problem(
        idField.value,
        `${path}.identities`,
        'lists "*" beside other identities; "*" alone trusts every signer of the trust store',
      );
    }
    const trustStore = this.trustStoreFiles(storeField.value, files, `${path}.trustStore`);
    const saField = f.get('signingAuthorityTrustStore');
    const saFiles = saField
      ? this.list(saField.value, `${path}.signingAuthorityTrustStore`, (n, p) => this.string(n, p), { nonEmpty: true })
      : undefined;
    const saStore = saField && saFiles ? this.trustStoreFiles(saField.value, saFiles, `${path}.signingAuthorityTrustStore`) : undefined;
    const tsaField = f.get('tsaTrustStore');
    const tsaFiles = tsaField
      ? this.list(tsaField.value, `${path}.tsaTrustStore`, (n, p) => this.string(n, p), { nonEmpty: true })
      : undefined;
    const tsaStore = tsaField && tsaFiles ? this.trustStoreFiles(tsaField.value, tsaFiles, `${path}.tsaTrustStore`) : undefined;
    let verifyTimestamp: 'always' | 'afterCertExpiry' | undefined;
    const vtField = f.get('verifyTimestamp');
    if (vtField) {
      const v = this.string(vtField.value, `${path}.verifyTimestamp`);
      if (v === undefined) return undefined;
      if (v !== 'always' && v !== 'afterCertExpiry') {
        this.problem(vtField.value, `${path}.verifyTimestamp`, `is "${v}"; use always or afterCertExpiry`);
        return undefined;
      }
      verifyTimestamp = v;
    }
    if (trustStore === undefined || (tsaField && tsaStore === undefined) || (saField && saStore === undefined)) return undefined;
    return {
      name: `Notation trust store ${files.join(', ')}`,
      level,
      trustStore,
      identities,
      ...(saStore && saFiles
        ? { signingAuthorityStore: saStore, signingAuthorityName: `signing-authority trust store ${saFiles.join(', ')}` }
        : {}),
      ...(tsaStore && tsaFiles ? { tsaStore, tsaName: `TSA trust store ${tsaFiles.join(', ')}` } : {}),
      ...(verifyTimestamp ? { verifyTimestamp } : {}),
    };
  }

  /**
   * Reads trust store files (resolved against the policy file's folder). Their digests join the
   * revision, and their paths are remembered so that the policy store reloads when one changes.
   */
  private trustStoreFiles(node: Node | null, files: string[], path: string): X509Certificate[] | undefined {
    const certificates: X509Certificate[] = [];
    const base = dirname(this.source);
    for (const [i, file] of files.entries()) {
      const full = isAbsolute(file) ? file : resolve(base, file);
      this.trustStorePaths.push(full);
      try {
        const read = readTrustStoreFile(full);
        certificates.push(...read.certificates);
        this.trustStoreDigests.push(read.sha256);
      } catch (err) {
        this.problem(node, `${path}[${i}]`, (err as Error).message);
        return undefined;
      }
    }
    return certificates;
  }

  /** `identities: [...]` of a requirement, when given. */
  private identities(f: Map<string, Field>, path: string): IdentityRequirement[] | undefined {
    const field = f.get('identities');
    return field ? this.list(field.value, `${path}.identities`, (n, p) => this.identity(n, p), { nonEmpty: true }) : undefined;
  }

  /** `{ minimum: N }` for transparency-log entries and timestamps. */
  private witnessMinimum(node: Node | null, path: string): { minimum: number } | undefined {
    const f = this.fields(node, path, POLICY_FIELDS.witnessMinimum, '{ minimum: 1 }');
    if (!f) return undefined;
    if (!f.get('minimum')) {
      this.problem(node, `${path}.minimum`, 'is required, e.g. { minimum: 1 }');
      return undefined;
    }
    const m = this.integer(f.get('minimum')!.value, `${path}.minimum`, 0);
    return m === undefined ? undefined : { minimum: m };
  }

  /** One keyless signer: an issuer and a subject, each exact or a regular expression (cosign's flags). */
  private identity(node: Node, path: string): IdentityRequirement | undefined {
    const f = this.fields(
      node,
      path,
      POLICY_FIELDS.identity,
      '{ issuer: https://token.actions.githubusercontent.com, subjectRegExp: "^https://github.com/acme/app/" }',
    );
    if (!f) return undefined;
    const out: IdentityRequirement = { text: '' };
    let ok = true;
    for (const [exact, regexp, what] of [
      ['issuer', 'issuerRegExp', 'the OIDC issuer, e.g. https://token.actions.githubusercontent.com'],
      ['subject', 'subjectRegExp', 'the certificate identity (SAN), e.g. an e-mail address or a workflow URI'],
    ] as const) {
      const e = f.get(exact);
      const r = f.get(regexp);
      if (e && r) {
        this.problem(r.value, `${path}.${regexp}`, `give either ${exact} or ${regexp}, not both`);
        ok = false;
      } else if (!e && !r) {
        this.problem(node, `${path}.${exact}`, `is required (${exact} or ${regexp}): ${what}`);
        ok = false;
      } else if (e) {
        const v = this.string(e.value, `${path}.${exact}`);
        if (v === undefined) ok = false;
        else out[exact] = v;
      } else {
        const v = this.string(r!.value, `${path}.${regexp}`);
        if (v === undefined) ok = false;
        else {
          try {
            out[regexp] = new RegExp(v, 'u');
          } catch (err) {
            this.problem(r!.value, `${path}.${regexp}`, `is not a valid regular expression: ${(err as Error).message}`);
            ok = false;
          }
        }
      }
    }
    const extField = f.get('extensions');
    if (extField) {
      const ext = this.fields(
        extField.value,
        `${path}.extensions`,
        Object.keys(FULCIO_EXTENSIONS),
        '{ githubWorkflowRepository: acme/app }',
      );
      if (!ext) ok = false;
      else {
        const values: Record<string, string> = {};
        for (const [name, field] of ext) {
          const v = this.string(field.value, `${path}.extensions.${name}`);
          if (v === undefined) ok = false;
          else values[name] = v;
        }
        if (Object.keys(values).length > 0) out.extensions = values;
      }
    }
    if (!ok) return undefined;
    out.text = describeMatcher(out);
    return out;
  }

  /** `keys`: absent = any trusted key; present = a non-empty list of distinct names or ids. */
  private keys(field: Field | undefined, path: string): string[] | undefined {
    if (!field) return undefined;
    const keys = this.stringList(field.value, path, { emptyHint: 'omit keys to accept any trusted key' });
    return keys;
  }

  private sbom(node: Node | null, path: string): SbomRequirement | undefined {
    const f = this.fields(node, path, POLICY_FIELDS.sbom, '{ formats: [spdx, cyclonedx] }');
    if (!f) return undefined;
    const formats = (f.get('formats') && this.enumList(f.get('formats')!.value, `${path}.formats`, SBOM_FORMATS)) || [...SBOM_FORMATS];
    const keys = this.keys(f.get('keys'), `${path}.keys`);
    const deniedPackages = f.get('deniedPackages')
      ? this.list(f.get('deniedPackages')!.value, `${path}.deniedPackages`, (n, p) => this.deniedPackage(n, p), { nonEmpty: true })
      : [];
    const deniedLicenses =
      (f.get('deniedLicenses') && this.stringList(f.get('deniedLicenses')!.value, `${path}.deniedLicenses`, { check: licenseIdProblem })) ||
      [];
    const identities = this.identities(f, path);
    return {
      formats,
      ...(keys !== undefined ? { keys } : {}),
      ...(identities !== undefined ? { identities } : {}),
      deniedPackages,
      deniedLicenses,
    };
  }

  /** `{ name: log4j-core, versions: "< 2.17.1" }` or the shorthand string `"log4j-core < 2.17.1"`. */
  private deniedPackage(node: Node, path: string): DeniedPackage | undefined {
    if (isScalar(node) && typeof node.value === 'string') {
      const m = /^([^\s<>=,]+)\s*(.*)$/s.exec(node.value.trim());
      if (!m || node.value.trim() === '') {
        this.problem(node, path, 'must be a package name, optionally followed by a version range, e.g. "log4j-core < 2.17.1"');
        return undefined;
      }
      return this.packageRange(node, path, m[1]!, m[2]!.trim() === '' ? undefined : m[2]!.trim());
    }
    const f = this.fields(node, path, POLICY_FIELDS.deniedPackage, '{ name: log4j-core, versions: "< 2.17.1" } or "log4j-core < 2.17.1"');
    if (!f) return undefined;
    const nameField = f.get('name');
    if (!nameField) {
      this.problem(node, `${path}.name`, 'is required: the package name, e.g. log4j-core');
      return undefined;
    }
    let name = this.string(nameField.value, `${path}.name`);
    const nameProblem = name !== undefined ? packageNameProblem(name) : undefined;
    if (nameProblem !== undefined) {
      this.problem(nameField.value, `${path}.name`, nameProblem);
      name = undefined;
    }
    const versionsField = f.get('versions');
    const versions = versionsField ? this.string(versionsField.value, `${path}.versions`) : undefined;
    if (name === undefined || (versionsField && versions === undefined)) return undefined;
    return this.packageRange(versionsField?.value ?? node, `${path}${versionsField ? '.versions' : ''}`, name, versions);
  }

  private packageRange(node: Node, path: string, name: string, versions: string | undefined): DeniedPackage | undefined {
    if (versions === undefined) return { name, constraints: [] };
    const range = parseVersionRange(versions);
    if ('error' in range) {
      this.problem(node, path, range.error);
      return undefined;
    }
    return { name, versions, constraints: range.constraints };
  }

  private vulnerabilities(node: Node | null, path: string): VulnerabilityRequirement | undefined {
    const f = this.fields(node, path, POLICY_FIELDS.vulnerabilities, '{ maxSeverity: medium, maxAge: 72h }');
    if (!f) return undefined;
    const req: VulnerabilityRequirement = { exceptions: [], formats: [...SCAN_FORMATS] };
    if (f.get('maxSeverity')) {
      const s = this.oneOf(f.get('maxSeverity')!.value, `${path}.maxSeverity`, POLICY_SEVERITIES);
      if (s) req.maxSeverity = s;
    }
    const ageField = f.get('maxAge');
    if (ageField) {
      const text = this.string(ageField.value, `${path}.maxAge`);
      if (text !== undefined) {
        const d = parseDuration(text);
        if ('error' in d) this.problem(ageField.value, `${path}.maxAge`, d.error);
        else {
          req.maxAgeMs = d.ms;
          req.maxAgeText = text;
        }
      }
    }
    if (f.get('exceptions')) {
      const seen = new Set<string>();
      req.exceptions = this.list(f.get('exceptions')!.value, `${path}.exceptions`, (n, p) => {
        const e = this.vulnerabilityException(n, p);
        if (e && seen.has(e.id.toLowerCase())) {
          this.problem(n, `${p}.id`, `${e.id} is listed twice; keep one exception per vulnerability`);
        }
        if (e) seen.add(e.id.toLowerCase());
        return e;
      });
    }
    this.exceptionsBounded(f, path);
    const formats = f.get('formats') && this.enumList(f.get('formats')!.value, `${path}.formats`, SCAN_FORMATS);
    if (formats) req.formats = formats;
    const keys = this.keys(f.get('keys'), `${path}.keys`);
    if (keys) req.keys = keys;
    const identities = this.identities(f, path);
    if (identities) req.identities = identities;
    return req;
  }

  /**
   * Exceptions waive findings above `maxSeverity`, so they need one below the top: without it no
   * finding is judged by severity (a critical one passes while the author believes the others
   * are gated), and above `critical` there is no finding for them to waive.
   */
  private exceptionsBounded(f: Map<string, Field>, path: string): void {
    const field = f.get('exceptions');
    if (!field || !isSeq(field.value) || field.value.items.length === 0) return;
    const severity = f.get('maxSeverity');
    if (!severity) {
      this.problem(
        field.value,
        `${path}.exceptions`,
        'waive findings above maxSeverity, and maxSeverity is not set: no finding is judged by severity, so a critical one ' +
          'passes with or without an exception; set maxSeverity (e.g. maxSeverity: medium) so that only the listed ' +
          'vulnerabilities are waived above it',
      );
    } else if (isScalar(severity.value) && severity.value.value === 'critical') {
      this.problem(
        field.value,
        `${path}.exceptions`,
        'can never apply: they waive findings above maxSeverity, and no finding is above critical; lower maxSeverity ' +
          '(e.g. maxSeverity: medium) so that only the listed vulnerabilities are waived above it, or remove the exceptions',
      );
    }
  }

  private vulnerabilityException(node: Node, path: string): VulnerabilityException | undefined {
    const f = this.fields(
      node,
      path,
      POLICY_FIELDS.vulnerabilityException,
      '{ id: CVE-2023-1234, expires: 2027-01-31, reason: "…", approvedBy: security }',
    );
    if (!f) return undefined;
    const id = this.requiredPlainText(f, node, path, 'id', 'the vulnerability id, e.g. CVE-2023-1234');
    const expiry = this.expiry(f, node, path);
    const reason = this.requiredPlainText(f, node, path, 'reason', 'why the vulnerability is acceptable');
    const approvedBy = this.requiredPlainText(f, node, path, 'approvedBy', 'who accepted the risk');
    if (id === undefined || expiry === undefined || reason === undefined || approvedBy === undefined) return undefined;
    return { id, ...expiry, reason, approvedBy };
  }

  private attestation(node: Node, path: string): AttestationRequirement | undefined {
    const f = this.fields(node, path, POLICY_FIELDS.attestation, '{ predicateType: https://slsa.dev/provenance/v1, keys: [ci-release] }');
    if (!f) return undefined;
    const typeText = this.required(f, node, path, 'predicateType', 'an absolute predicate type URI such as https://slsa.dev/provenance/v1');
    const keys = this.keys(f.get('keys'), `${path}.keys`);
    const identities = f.get('identities')
      ? this.list(f.get('identities')!.value, `${path}.identities`, (n, p) => this.identity(n, p), { nonEmpty: true })
      : undefined;
    if (typeText === undefined) return undefined;
    let predicateType: string;
    try {
      predicateType = resolvePredicateType(typeText);
    } catch (err) {
      this.problem(f.get('predicateType')!.value, `${path}.predicateType`, err instanceof Error ? err.message : String(err));
      return undefined;
    }
    return { predicateType, ...(keys !== undefined ? { keys } : {}), ...(identities !== undefined ? { identities } : {}) };
  }

  private exception(node: Node, path: string): PolicyException | undefined {
    const f = this.fields(node, path, POLICY_FIELDS.exception, '{ images: [...], expires: 2026-12-31, reason: "…", approvedBy: "…" }');
    if (!f) return undefined;
    let images: string[] | undefined;
    if (!f.get('images'))
      this.problem(node, `${path}.images`, 'is required: the image patterns the exception covers (pin a digest where you can)');
    else images = this.imagePatterns(f.get('images')!.value, `${path}.images`);
    const namespaces = f.get('namespaces') && this.namespaces(f.get('namespaces')!.value, `${path}.namespaces`);
    const actions = f.get('actions') && this.enumList(f.get('actions')!.value, `${path}.actions`, ACTIONS);
    const expiry = this.expiry(f, node, path);
    const reason = this.requiredPlainText(f, node, path, 'reason', 'why the exception is needed');
    const approvedBy = this.requiredPlainText(f, node, path, 'approvedBy', 'who approved it');
    if (images === undefined || expiry === undefined || reason === undefined || approvedBy === undefined) return undefined;
    return {
      images,
      ...(namespaces ? { namespaces } : {}),
      ...(actions ? { actions } : {}),
      ...expiry,
      reason,
      approvedBy,
    };
  }

  private expiry(f: Map<string, Field>, parent: Node, path: string): { expires: Date; expiresText: string } | undefined {
    const text = this.required(
      f,
      parent,
      path,
      'expires',
      'a date (2027-01-31) or date-time after which it no longer applies; exceptions cannot be permanent',
    );
    if (text === undefined) return undefined;
    const parsed = parseExpiry(text);
    if ('error' in parsed) {
      this.problem(f.get('expires')!.value, `${path}.expires`, parsed.error);
      return undefined;
    }
    return { expires: parsed.expires, expiresText: text };
  }
}
