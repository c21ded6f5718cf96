import { CountersignError } from '../../../src/shared/errors';
import { DEFAULT_POLICY, parsePolicy, type PolicyProblem } from '../../../src/policy';
import { EXAMPLE_POLICY, LEGACY_DIGEST } from './fixtures';

/** The problems of an invalid document, as `LINE:COL path` plus the full message for content checks. */
function problemsOf(text: string, source = 'policy.yaml'): { where: string[]; message: string; problems: PolicyProblem[] } {
  try {
    parsePolicy(text, source);
  } catch (err) {
    expect(err).toBeInstanceOf(CountersignError);
    const e = err as CountersignError;
    expect(e.code).toBe('INVALID_ARGUMENT');
    const problems = e.details!.problems as PolicyProblem[];
    return { where: problems.map((p) => `${p.line}:${p.column} ${p.path}`), message: e.message, problems };
  }
  throw new Error('expected the policy to be refused');
}

const lines = (...l: string[]): string => `${l.join('\n')}\n`;

describe('parsePolicy: the example from the issue', () => {
  const policy = parsePolicy(EXAMPLE_POLICY, 'policy.yaml');

  it('loads with defaults, three rules in order and one exception', () => {
    expect(policy.defaults).toEqual({ mode: 'enforce', onUnmatched: 'deny', onError: 'deny', multiArch: 'either' });
    expect(policy.rules.map((r) => r.name)).toEqual(['payments', 'approved-public-images', 'no-direct-public-pulls']);
    expect(policy.rules.map((r) => r.line)).toEqual([3, 10, 13]);
    expect(policy.source).toBe('policy.yaml');
    expect(policy.revision).toMatch(/^[0-9a-f]{12}$/);
  });

  it('normalizes requirements: durations, dates, defaults filled in', () => {
    const payments = policy.rules[0]!;
    expect(payments.match).toEqual({
      images: ['registry.example.com/acmecorp/payments-*'],
      namespaces: ['payments*'],
      actions: ['deploy', 'pull'],
    });
    expect(payments.require!.signatures).toEqual({ keys: ['ci-release'], minimum: 1 });
    expect(payments.require!.sbom).toEqual({ formats: ['spdx', 'cyclonedx'], deniedPackages: [], deniedLicenses: [] });
    const vulns = payments.require!.vulnerabilities!;
    expect(vulns.maxSeverity).toBe('medium');
    expect(vulns.maxAgeMs).toBe(72 * 3600_000);
    expect(vulns.exceptions).toEqual([
      {
        id: 'CVE-2023-1234',
        expires: new Date('2027-02-01T00:00:00Z'), // a date expires at the end of that day (UTC)
        expiresText: '2027-01-31',
        reason: 'mitigated by network policy',
        approvedBy: 'security',
      },
    ]);
    expect(policy.rules[1]!.require!.vulnerabilities!.maxAgeMs).toBe(7 * 86_400_000);
    expect(policy.rules[1]!.require!.signatures).toEqual({ keys: ['security-team'], minimum: 1 });
    expect(policy.rules[2]!.deny).toBe('use registry.example.com/approved/… instead of public registries');
    expect(policy.exceptions).toEqual([
      {
        images: [`registry.example.com/acmecorp/legacy-batch@${LEGACY_DIGEST}`],
        expires: new Date('2027-01-01T00:00:00Z'),
        expiresText: '2026-12-31',
        reason: 'batch job retired in Q4',
        approvedBy: 'platform-team',
      },
    ]);
  });

  it('keeps the revision it had before the policy used the shared canonical JSON (src/formats)', () => {
    // Computed by the policy loader's own former canonical JSON; the shared one writes the same
    // bytes for every document a valid policy can be, so revisions did not change.
    expect(parsePolicy(EXAMPLE_POLICY, 'policy.yaml').revision).toBe('36784c8253e1');
  });

  it('has a revision that ignores comments and formatting but not content', () => {
    const reformatted = EXAMPLE_POLICY.replace('# third-party images only', '# edited comment').replace(
      'defaults: {',
      '# header\ndefaults: {',
    );
    expect(parsePolicy(reformatted, 'other.yaml').revision).toBe(policy.revision);
    expect(parsePolicy(EXAMPLE_POLICY.replace('maxAge: 72h', 'maxAge: 48h'), 'p').revision).not.toBe(policy.revision);
  });

  it('reads the same document written as JSON, with the same revision', () => {
    const { parse } = jest.requireActual<typeof import('yaml')>('yaml');
    const json = JSON.stringify(parse(EXAMPLE_POLICY), null, 2);
    const fromJson = parsePolicy(json, 'policy.json');
    expect(fromJson.revision).toBe(policy.revision);
    expect(fromJson.rules).toEqual(policy.rules.map((r, i) => ({ ...r, line: fromJson.rules[i]!.line })));
  });
});

describe('parsePolicy: other accepted forms', () => {
  it('accepts deny-list shorthands, licenses, generic attestations (shorthands resolved) and overrides', () => {
    const p = parsePolicy(
      lines(
        'version: 1',
        'rules:',
        '  - name: strict',
        '    match: { images: ["registry.example.com/**"] }',
        '    mode: warn',
        '    onError: allow',
        '    multiArch: platforms',
        '    require:',
        '      sbom:',
        '        deniedPackages: ["log4j-core < 2.17.1", { name: openssl, versions: ">= 3.0, < 3.0.7" }, left-pad]',
        '        deniedLicenses: [AGPL-3.0-only, "GPL-*"]',
        '      vulnerabilities: { maxSeverity: high, formats: [grype], exceptions: [{ id: GHSA-xxxx, expires: "2027-01-31T18:00:00+01:00", reason: r, approvedBy: a }] }',
        '      attestations: [{ predicateType: slsaprovenance1, keys: [builder] }]',
        '  - name: system',
        '    match: { namespaces: [kube-system] }',
        '    allow: "cluster components are verified by the platform team"',
      ),
      'p.yaml',
    );
    const strict = p.rules[0]!;
    expect(strict).toMatchObject({ mode: 'warn', onError: 'allow', multiArch: 'platforms' });
    expect(strict.require!.sbom!.deniedPackages).toEqual([
      { name: 'log4j-core', versions: '< 2.17.1', constraints: [{ op: '<', version: '2.17.1' }] },
      {
        name: 'openssl',
        versions: '>= 3.0, < 3.0.7',
        constraints: [
          { op: '>=', version: '3.0' },
          { op: '<', version: '3.0.7' },
        ],
      },
      { name: 'left-pad', constraints: [] },
    ]);
    expect(strict.require!.sbom!.deniedLicenses).toEqual(['AGPL-3.0-only', 'GPL-*']);
    expect(strict.require!.vulnerabilities!.exceptions[0]!.expires).toEqual(new Date('2027-01-31T17:00:00Z'));
    expect(strict.require!.vulnerabilities!.formats).toEqual(['grype']);
    expect(strict.require!.attestations).toEqual([{ predicateType: 'https://slsa.dev/provenance/v1', keys: ['builder'] }]);
    expect(p.rules[1]).toMatchObject({ name: 'system', allow: 'cluster components are verified by the platform team' });
  });

  it('accepts an empty rule list (everything then follows onUnmatched)', () => {
    expect(parsePolicy('defaults: { onUnmatched: allow }\nrules: []\n', 'p').rules).toEqual([]);
  });
});

describe('parsePolicy: errors name the file, line, column and field', () => {
  it('reports every problem of a document at once, sorted by line', () => {
    const { where, message } = problemsOf(
      lines(
        'defaults: { mode: enforced, onUnmatched: deny }', // 1
        'rules:', // 2
        '  - name: payments', // 3
        '    match: { imagez: ["registry.example.com/**"] }', // 4
        '    require:', // 5
        '      signatures: { keys: [], minimum: 0 }', // 6
        '      vulnerabilities: { maxSeverity: severe, maxAge: 72 }', // 7
        '  - name: payments', // 8
        '    deny: 5', // 9
      ),
    );
    expect(where).toEqual([
      '1:19 defaults.mode',
      '4:14 rules[0].match.imagez',
      '6:27 rules[0].require.signatures.keys',
      '6:40 rules[0].require.signatures.minimum',
      '7:39 rules[0].require.vulnerabilities.maxSeverity',
      '7:55 rules[0].require.vulnerabilities.maxAge',
      '8:11 rules[1].name',
      '9:11 rules[1].deny',
    ]);
    expect(message).toContain('policy policy.yaml is invalid (8 problems):');
    expect(message).toContain('policy.yaml:1:19: defaults.mode: must be one of enforce, warn, audit, not "enforced"');
    expect(message).toContain('policy.yaml:4:14: rules[0].match.imagez: unknown field; did you mean "images"?');
    expect(message).toContain(
      'policy.yaml:6:27: rules[0].require.signatures.keys: must not be an empty list; omit keys to accept any trusted key',
    );
    expect(message).toContain('policy.yaml:7:55: rules[0].require.vulnerabilities.maxAge: must be a string');
    expect(message).toContain('policy.yaml:8:11: rules[1].name: rule name "payments" is already used by rules[0] (line 3)');
    expect(message).toContain('policy.yaml:9:11: rules[1].deny: must be a string');
  });

  it.each<[string, string, string[], string]>([
    ['unknown top-level field', lines('rules: []', 'rulez: []'), ['2:1 rulez'], 'did you mean "rules"?'],
    ['rules missing', lines('defaults: { mode: audit }'), ['1:1 rules'], 'is required'],
    ['top level is a list', lines('- name: x'), ['1:1 (document)'], 'must be a mapping'],
    ['empty document', '', ['1:1 (document)'], 'the policy is empty'],
    ['YAML syntax error', lines('rules:', '  - name: x', '    match: { images: [a }'), ['3:25 (syntax)', '3:26 (syntax)'], ''],
    ['duplicate key', lines('rules: []', 'rules: []'), ['2:1 (syntax)'], 'Map keys must be unique'],
    [
      'alias',
      lines('rules:', '  - name: a', '    deny: &msg no', '  - name: b', '    deny: *msg'),
      ['5:11 (document)'],
      'alias *msg is not supported',
    ],
    ['rule without name', lines('rules:', '  - deny: "no"'), ['2:5 rules[0].name'], 'is required'],
    ['bad rule name', lines('rules:', '  - name: "my rule"', '    deny: "no"'), ['2:11 rules[0].name'], 'not a valid rule name'],
    ['rule without outcome', lines('rules:', '  - name: a', '    match: { actions: [push] }'), ['2:5 rules[0]'], 'needs one of "require"'],
    [
      'require and deny',
      lines('rules:', '  - name: a', '    require: { signatures: {} }', '    deny: "no"'),
      ['4:5 rules[0].deny'],
      'cannot be combined with "require"',
    ],
    ['empty require', lines('rules:', '  - name: a', '    require: {}'), ['3:14 rules[0].require'], 'lists no requirement'],
    [
      'minimum above keys',
      lines('rules:', '  - name: a', '    require:', '      signatures: { keys: [a, b], minimum: 3 }'),
      ['4:44 rules[0].require.signatures.minimum'],
      'is 3 but only 2 keys are listed',
    ],
    [
      'minimum not an integer',
      lines('rules:', '  - name: a', '    require: { signatures: { minimum: 1.5 } }'),
      ['3:39 rules[0].require.signatures.minimum'],
      'must be a whole number, not the number 1.5',
    ],
    [
      'key listed twice',
      lines('rules:', '  - name: a', '    require: { signatures: { keys: [a, a] } }'),
      ['3:40 rules[0].require.signatures.keys[1]'],
      '"a" is listed twice',
    ],
    [
      'bad duration',
      lines('rules:', '  - name: a', '    require: { vulnerabilities: { maxAge: 3 days } }'),
      ['3:43 rules[0].require.vulnerabilities.maxAge'],
      'is not a duration',
    ],
    [
      'bad severity case',
      lines('rules:', '  - name: a', '    require: { vulnerabilities: { maxSeverity: HIGH } }'),
      ['3:48 rules[0].require.vulnerabilities.maxSeverity'],
      'values are lower case: "high"',
    ],
    [
      'vulnerability exception without expiry, reason or approver',
      lines(
        'rules:',
        '  - name: a',
        '    require:',
        '      vulnerabilities:',
        '        exceptions:',
        '          - id: CVE-2023-1234',
        '        maxSeverity: medium',
      ),
      [
        '6:13 rules[0].require.vulnerabilities.exceptions[0].expires',
        '6:13 rules[0].require.vulnerabilities.exceptions[0].reason',
        '6:13 rules[0].require.vulnerabilities.exceptions[0].approvedBy',
      ],
      'exceptions cannot be permanent',
    ],
    [
      'impossible expiry date',
      lines(
        'rules:',
        '  - name: a',
        '    require:',
        '      vulnerabilities:',
        '        exceptions: [{ id: X, expires: 2027-02-30, reason: r, approvedBy: a }]',
        '        maxSeverity: medium',
      ),
      ['5:40 rules[0].require.vulnerabilities.exceptions[0].expires'],
      'not a valid calendar date',
    ],
    [
      'same CVE excepted twice',
      lines(
        'rules:',
        '  - name: a',
        '    require:',
        '      vulnerabilities:',
        '        exceptions:',
        '          - { id: CVE-1, expires: 2027-01-01, reason: r, approvedBy: a }',
        '          - { id: cve-1, expires: 2027-01-01, reason: r, approvedBy: a }',
        '        maxSeverity: medium',
      ),
      ['7:13 rules[0].require.vulnerabilities.exceptions[1].id'],
      'listed twice',
    ],
    [
      'bad version range',
      lines('rules:', '  - name: a', '    require:', '      sbom: { deniedPackages: ["log4j-core ~> 2.17"] }'),
      ['4:32 rules[0].require.sbom.deniedPackages[0]'],
      'is not a version range',
    ],
    [
      'unknown SBOM format',
      lines('rules:', '  - name: a', '    require:', '      sbom: { formats: [spdx, syft] }'),
      ['4:31 rules[0].require.sbom.formats[1]'],
      'must be one of spdx, cyclonedx, not "syft"',
    ],
    [
      'bad predicate type',
      lines('rules:', '  - name: a', '    require:', '      attestations: [{ predicateType: slsa.dev/provenance/v1 }]'),
      ['4:39 rules[0].require.attestations[0].predicateType'],
      'did you mean "https://slsa.dev/provenance/v1"',
    ],
    [
      'image pattern without host',
      lines('rules:', '  - name: a', '    match: { images: [nginx] }', '    deny: "no"'),
      ['3:23 rules[0].match.images[0]'],
      'has no registry host',
    ],
    [
      'bad digest pin',
      lines('rules:', '  - name: a', '    match: { images: ["ghcr.io/x/y@sha256:abc"] }', '    deny: "no"'),
      ['3:23 rules[0].match.images[0]'],
      'is not a digest',
    ],
    [
      'bad action',
      lines('rules:', '  - name: a', '    match: { actions: [deploy, run] }', '    deny: "no"'),
      ['3:32 rules[0].match.actions[1]'],
      'must be one of push, pull, deploy',
    ],
    [
      'bad namespace glob',
      lines('rules:', '  - name: a', '    match: { namespaces: [Payments] }', '    deny: "no"'),
      ['3:27 rules[0].match.namespaces[0]'],
      'is not a namespace',
    ],
    ['unsupported version', lines('version: 2', 'rules: []'), ['1:10 version'], 'version 2 is not supported'],
    [
      'top-level exception without expiry and approver',
      lines('rules: []', 'exceptions:', '  - images: ["registry.example.com/a@sha256:' + 'a'.repeat(64) + '"]', '    reason: legacy'),
      ['3:5 exceptions[0].expires', '3:5 exceptions[0].approvedBy'],
      'is required',
    ],
    [
      'top-level exception without images',
      lines('rules: []', 'exceptions:', '  - { expires: 2027-01-01, reason: r, approvedBy: a }'),
      ['3:5 exceptions[0].images'],
      'is required',
    ],
    ['empty string', lines('rules:', '  - name: a', '    deny: "  "'), ['3:11 rules[0].deny'], 'must not be empty'],
  ])('%s', (_title, text, expected, messagePart) => {
    const { where, message } = problemsOf(text);
    expect(where).toEqual(expected);
    expect(message).toContain(messagePart);
  });

  it('reports JSON documents with JSON line numbers', () => {
    const json = [
      '{',
      '  "rules": [',
      '    {',
      '      "name": "a",',
      '      "require": { "signatures": { "minimum": "2" } }',
      '    }',
      '  ]',
      '}',
    ].join('\n');
    const { where, message } = problemsOf(json, 'policy.json');
    expect(where).toEqual(['5:47 rules[0].require.signatures.minimum']);
    expect(message).toContain('policy.json:5:47: rules[0].require.signatures.minimum: must be a whole number, not the string "2"');
  });

  it('refuses documents larger than 1 MiB', () => {
    const { where } = problemsOf(`rules: []\n#${'x'.repeat(1024 * 1024)}\n`);
    expect(where).toEqual(['1:1 (document)']);
  });
});

describe('DEFAULT_POLICY', () => {
  it('allows pushes, requires one signature by any trusted key for everything else, and fails closed', () => {
    expect(DEFAULT_POLICY.revision).toBe('default');
    expect(DEFAULT_POLICY.defaults).toEqual({ mode: 'enforce', onUnmatched: 'deny', onError: 'deny', multiArch: 'either' });
    expect(DEFAULT_POLICY.rules).toEqual([
      { name: '(default-push)', match: { actions: ['push'] }, allow: expect.stringContaining('pushes are allowed') as unknown },
      { name: '(default)', require: { signatures: { minimum: 1 } } },
    ]);
    expect(DEFAULT_POLICY.exceptions).toEqual([]);
    expect(Object.isFrozen(DEFAULT_POLICY)).toBe(true);
  });
});
