/**
 * Keyless signer identities in `require.signatures`: cosign's exact / regular-expression issuer and
 * subject, Fulcio extensions, distinct signers across keys and identities, and minimum numbers of
 * transparency-log entries and timestamps. A keyless signature never counts unless the rule names
 * its identity (anyone can obtain a public-good Fulcio certificate).
 */
import { PREDICATE_TYPE } from '../../../src/attestations';
import { evaluate, parsePolicy, type Decision } from '../../../src/policy';
import type { Evidence } from '../../../src/policy/input';
import { attestation, digestOf, image, signature } from './fixtures';

const NOW = new Date('2026-06-01T12:00:00Z');
const GH = 'https://token.actions.githubusercontent.com';
const RELEASE = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';

function keyless(subject: string, issuer = GH, over: Partial<Evidence> = {}, extensions: Record<string, string> = {}): Evidence {
  const {
    keyId: _k,
    keyName: _n,
    ...sig
  } = signature('unused', { referrerDigest: digestOf(`keyless:${subject}:${issuer}:${JSON.stringify(over)}`) });
  return { ...sig, identity: { issuer, subject, extensions }, transparencyLogEntries: 1, timestamps: 1, ...over };
}

function decide(requireSignatures: string, evidence: Evidence[]): Decision {
  const policy = parsePolicy(`rules:\n  - name: r\n    require:\n      signatures: ${requireSignatures}\n`, 'policy.yaml');
  return evaluate(policy, { image: image('registry.example.com/acme/app:1.0'), action: 'deploy', context: {}, evidence, now: NOW });
}

const sigMessage = (d: Decision) => d.requirements.find((r) => r.requirement === 'signatures')!.message;

test('an exact identity admits its signer and names it', () => {
  const d = decide(`{ identities: [{ issuer: "${GH}", subject: "${RELEASE}" }] }`, [keyless(RELEASE)]);
  expect(d.allowed).toBe(true);
  expect(sigMessage(d)).toContain(`${RELEASE} (issuer ${GH})`);
});

test('another subject or issuer is denied, naming what was found', () => {
  const other = decide(`{ identities: [{ issuer: "${GH}", subject: "${RELEASE}" }] }`, [
    keyless('https://github.com/evil/app/.github/workflows/x.yml@refs/heads/main'),
  ]);
  expect(other.allowed).toBe(false);
  expect(sigMessage(other)).toMatch(
    /no signature by keyless signer subject https:\/\/github\.com\/acme.*found signatures by https:\/\/github\.com\/evil.*which this rule does not accept/,
  );
  const issuer = decide(`{ identities: [{ issuer: "${GH}", subject: "${RELEASE}" }] }`, [keyless(RELEASE, 'https://accounts.google.com')]);
  expect(issuer.allowed).toBe(false);
});

test('exact subjects are whole-string comparisons (a prefix or a regexp-looking value does not match)', () => {
  expect(decide(`{ identities: [{ issuer: "${GH}", subject: "https://github.com/acme/app" }] }`, [keyless(RELEASE)]).allowed).toBe(false);
  expect(decide(`{ identities: [{ issuer: "${GH}", subject: ".*" }] }`, [keyless(RELEASE)]).allowed).toBe(false);
});

test('regular expressions follow cosign (unanchored); anchors work', () => {
  expect(decide(`{ identities: [{ issuerRegExp: "github", subjectRegExp: "acme/app" }] }`, [keyless(RELEASE)]).allowed).toBe(true);
  expect(decide(`{ identities: [{ issuerRegExp: "github", subjectRegExp: "^acme/app" }] }`, [keyless(RELEASE)]).allowed).toBe(false);
  expect(decide(`{ identities: [{ issuer: "${GH}", subjectRegExp: "^https://github\\\\.com/acme/" }] }`, [keyless(RELEASE)]).allowed).toBe(
    true,
  );
});

test('Fulcio extensions must all be equal', () => {
  const ev = keyless(RELEASE, GH, {}, { githubWorkflowRepository: 'acme/app', githubWorkflowRef: 'refs/heads/main' });
  expect(
    decide(`{ identities: [{ issuer: "${GH}", subjectRegExp: "acme", extensions: { githubWorkflowRepository: acme/app } }] }`, [ev])
      .allowed,
  ).toBe(true);
  expect(
    decide(
      `{ identities: [{ issuer: "${GH}", subjectRegExp: "acme", extensions: { githubWorkflowRepository: acme/app, githubWorkflowRef: refs/heads/dev } }] }`,
      [ev],
    ).allowed,
  ).toBe(false);
  expect(
    decide(
      `{ identities: [{ issuer: "${GH}", subjectRegExp: "acme", extensions: { sourceRepositoryUri: "https://github.com/acme/app" } }] }`,
      [ev],
    ).allowed,
  ).toBe(false);
});

test('without identities no keyless signature counts, even under the default "any trusted key"', () => {
  const d = decide('{ minimum: 1 }', [keyless(RELEASE)]);
  expect(d.allowed).toBe(false);
  expect(sigMessage(d)).toMatch(/found signatures by .*acme.*which this rule does not accept/);
});

test('with identities and no keys, key signatures do not count; with both, either does', () => {
  expect(decide(`{ identities: [{ issuer: "${GH}", subject: "${RELEASE}" }] }`, [signature('ci-release')]).allowed).toBe(false);
  expect(
    decide(`{ keys: [ci-release], identities: [{ issuer: "${GH}", subject: "${RELEASE}" }] }`, [signature('ci-release')]).allowed,
  ).toBe(true);
  expect(decide(`{ keys: [ci-release], identities: [{ issuer: "${GH}", subject: "${RELEASE}" }] }`, [keyless(RELEASE)]).allowed).toBe(true);
});

test('minimum counts distinct signers across keys and identities; one identity signing twice is one signer', () => {
  const req = `{ keys: [ci-release], identities: [{ issuer: "${GH}", subject: "${RELEASE}" }], minimum: 2 }`;
  const two = decide(req, [signature('ci-release'), keyless(RELEASE)]);
  expect(two.allowed).toBe(true);
  expect(sigMessage(two)).toMatch(/2 distinct signers, 2 required/);
  const twice = decide(req, [keyless(RELEASE), keyless(RELEASE, GH, { referrerDigest: digestOf('again') })]);
  expect(twice.allowed).toBe(false);
  expect(sigMessage(twice)).toMatch(/1 distinct signer .* but 2 are required/);
});

test('transparencyLog and timestamps minimums: a signature with fewer does not count, and the message says so', () => {
  const unlogged = keyless(RELEASE, GH, { transparencyLogEntries: 0, timestamps: 1 });
  const d = decide(`{ identities: [{ issuer: "${GH}", subject: "${RELEASE}" }], transparencyLog: { minimum: 1 } }`, [unlogged]);
  expect(d.allowed).toBe(false);
  expect(sigMessage(d)).toMatch(/has 0 transparency-log entries, 1 required/);
  expect(
    decide(`{ identities: [{ issuer: "${GH}", subject: "${RELEASE}" }], transparencyLog: { minimum: 1 } }`, [keyless(RELEASE)]).allowed,
  ).toBe(true);
  // A key-based bundle can be required to carry a log entry or a timestamp too.
  expect(decide('{ keys: [ci-release], timestamps: { minimum: 1 } }', [signature('ci-release')]).allowed).toBe(false);
  expect(decide('{ keys: [ci-release], timestamps: { minimum: 1 } }', [signature('ci-release', { timestamps: 1 })]).allowed).toBe(true);
  expect(
    decide('{ keys: [ci-release], transparencyLog: { minimum: 2 } }', [signature('ci-release', { transparencyLogEntries: 1 })]).allowed,
  ).toBe(false);
});

test('keyless attestations do not satisfy SBOM requirements that name no identity (no "any Fulcio certificate")', () => {
  const policy = parsePolicy('rules:\n  - name: r\n    require:\n      sbom: { formats: [spdx] }\n', 'policy.yaml');
  const { keyId: _k, keyName: _n, ...sbom } = attestation(PREDICATE_TYPE.SPDX, { spdxVersion: 'SPDX-2.3', packages: [] });
  const d = evaluate(policy, {
    image: image('registry.example.com/acme/app:1.0'),
    action: 'deploy',
    context: {},
    evidence: [{ ...sbom, identity: { issuer: GH, subject: RELEASE, extensions: {} } }],
    now: NOW,
  });
  expect(d.allowed).toBe(false);
});

describe('loading identities', () => {
  const load = (sig: string) => () => parsePolicy(`rules:\n  - name: r\n    require:\n      signatures: ${sig}\n`, 'policy.yaml');
  test.each([
    [`{ identities: [{ subject: a@b.c }] }`, /identities\[0\]\.issuer: is required \(issuer or issuerRegExp\)/],
    [`{ identities: [{ issuer: x }] }`, /identities\[0\]\.subject: is required \(subject or subjectRegExp\)/],
    [
      `{ identities: [{ issuer: x, issuerRegExp: y, subject: a }] }`,
      /identities\[0\]\.issuerRegExp: give either issuer or issuerRegExp, not both/,
    ],
    [`{ identities: [{ issuer: x, subjectRegExp: "(" }] }`, /identities\[0\]\.subjectRegExp: is not a valid regular expression/],
    [`{ identities: [{ issuer: x, subject: a, extensions: { githubRepo: acme/app } }] }`, /identities\[0\]\.extensions/],
    [`{ identities: [] }`, /identities: must not be an empty list/],
    [`{ identities: [{ issuer: x, subject: a }], minimum: 2 }`, /minimum: is 2 but only 1 identity is listed/],
    [`{ keys: [k], identities: [{ issuer: x, subject: a }], minimum: 3 }`, /minimum: is 3 but only 1 key and 1 identity are listed/],
    [`{ transparencyLog: {} }`, /transparencyLog\.minimum: is required/],
    [`{ timestamps: { minimum: -1 } }`, /timestamps\.minimum: must be at least 0/],
  ])('%s is refused', (sig, message) => {
    expect(load(sig)).toThrow(message);
  });

  test('a regexp identity does not bound minimum (it may match several signers)', () => {
    expect(load(`{ identities: [{ issuer: x, subjectRegExp: "@acme\\\\.com$" }], minimum: 2 }`)).not.toThrow();
  });
});

test('attestations may name keyless identities too (e.g. SLSA provenance from a release workflow)', () => {
  const SLSA = 'https://slsa.dev/provenance/v1';
  const policy = (ids: string) =>
    parsePolicy(
      `rules:\n  - name: r\n    require:\n      attestations: [{ predicateType: "${SLSA}", identities: [${ids}] }]\n`,
      'policy.yaml',
    );
  const { keyId: _k, keyName: _n, ...prov } = attestation(SLSA, { buildDefinition: {} });
  const evidence = [{ ...prov, identity: { issuer: GH, subject: RELEASE, extensions: {} } }];
  const run = (p: ReturnType<typeof policy>) =>
    evaluate(p, { image: image('registry.example.com/acme/app:1.0'), action: 'deploy', context: {}, evidence, now: NOW });
  expect(run(policy(`{ issuer: "${GH}", subject: "${RELEASE}" }`)).allowed).toBe(true);
  const denied = run(policy(`{ issuer: "${GH}", subject: "https://github.com/acme/other/.github/workflows/x.yml@refs/heads/main" }`));
  expect(denied.allowed).toBe(false);
  expect(denied.requirements[0]!.message).toMatch(
    /no https:\/\/slsa\.dev\/provenance\/v1 attestation signed by keyless signer subject .*acme\/other.*found attestations by .*acme\/app/,
  );
});

test('SBOM and vulnerability requirements may name keyless identities too', () => {
  const policy = (ids: string) =>
    parsePolicy(`rules:\n  - name: r\n    require:\n      sbom: { formats: [spdx], identities: [${ids}] }\n`, 'policy.yaml');
  const { keyId: _k, keyName: _n, ...sbom } = attestation(PREDICATE_TYPE.SPDX, { spdxVersion: 'SPDX-2.3', packages: [] });
  const evidence = [{ ...sbom, identity: { issuer: GH, subject: RELEASE, extensions: {} } }];
  const run = (p: ReturnType<typeof policy>) =>
    evaluate(p, { image: image('registry.example.com/acme/app:1.0'), action: 'deploy', context: {}, evidence, now: NOW }).allowed;
  expect(run(policy(`{ issuer: "${GH}", subject: "${RELEASE}" }`))).toBe(true);
  expect(run(policy(`{ issuer: "${GH}", subject: "someone@else.com" }`))).toBe(false);
  expect(() =>
    parsePolicy(`rules:\n  - name: r\n    require:\n      vulnerabilities: { maxSeverity: high, identities: [{ issuer: x }] }\n`, 'p.yaml'),
  ).toThrow(/vulnerabilities\.identities\[0\]\.subject: is required/);
});
