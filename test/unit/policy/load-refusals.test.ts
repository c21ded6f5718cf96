/**
 * What the loader refuses because it could never work as written, and what it still accepts next
 * to it: denied package names and licenses that match nothing, vulnerability exceptions with no
 * threshold to waive, free text with control or bidi characters, evidenceFrom repositories no
 * repository could be. (attacks-language.test.ts holds the first case of each.)
 */
import { parsePolicy } from '../../../src/policy';
import { CountersignError } from '../../../src/shared/errors';

function problemsOf(text: string): Array<{ path: string; message: string }> {
  try {
    parsePolicy(text, 'p.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(CountersignError);
    expect((err as CountersignError).code).toBe('INVALID_ARGUMENT');
    return ((err as CountersignError).details as { problems: Array<{ path: string; message: string }> }).problems;
  }
  return [];
}

const sbom = (body: string): string => `rules:\n  - name: r\n    require:\n      sbom: ${body}\n`;

describe('denied packages and licenses must be matchable as written', () => {
  it.each<[string, string, string]>([
    ['a range in the name', '{ name: "log4j-core < 2.17.1" }', 'write { name: log4j-core, versions: "< 2.17.1" }'],
    ['a range without spaces', '{ name: "log4j-core>=2.0" }', 'write { name: log4j-core, versions: ">=2.0" }'],
    ['a trailing space', '{ name: "openssl " }', 'write "openssl"'],
    ['a space inside', '{ name: "open ssl" }', 'write one package name'],
    ['a comma', '{ name: "openssl,zlib" }', 'write one package name'],
  ])('a name with %s is refused', (_what, entry, hint) => {
    const problems = problemsOf(sbom(`{ deniedPackages: [${entry}] }`));
    expect(problems).toEqual([expect.objectContaining({ path: 'rules[0].require.sbom.deniedPackages[0].name' })]);
    expect(problems[0]!.message).toContain(hint);
  });

  it.each<[string, string, string]>([
    ['an OR expression', '"AGPL-3.0-only OR GPL-3.0-only"', 'list each id on its own ([AGPL-3.0-only, GPL-3.0-only])'],
    ['an expression in parentheses', '"(MIT AND BSD-3-Clause)"', '[MIT, BSD-3-Clause]'],
    ['a WITH expression', '"GPL-2.0-only WITH Classpath-exception-2.0"', '[GPL-2.0-only, Classpath-exception-2.0]'],
    ['a space around the id', '" AGPL-3.0-only"', 'write "AGPL-3.0-only"'],
    ['an operator alone', 'OR', 'is an operator of license expressions'],
  ])('a license with %s is refused', (_what, entry, hint) => {
    const problems = problemsOf(sbom(`{ deniedLicenses: [${entry}] }`));
    expect(problems).toEqual([expect.objectContaining({ path: 'rules[0].require.sbom.deniedLicenses[0]' })]);
    expect(problems[0]!.message).toContain(hint);
  });

  it('names, globs, scoped and Maven-style names, purl-style names and license ids with + and globs still load', () => {
    const p = parsePolicy(
      sbom(
        '{ deniedPackages: ["@babel/core < 7.0", { name: "org.apache.logging.log4j:log4j-core", versions: "< 2.17.1" }, ' +
          '{ name: "libstdc++6" }, { name: "log4j-*" }, "github.com/x/y"], deniedLicenses: [GPL-2.0+, "GPL-*", LicenseRef-acme] }',
      ),
      'p.yaml',
    );
    expect(p.rules[0]!.require!.sbom!.deniedPackages.map((d) => d.name)).toEqual([
      '@babel/core',
      'org.apache.logging.log4j:log4j-core',
      'libstdc++6',
      'log4j-*',
      'github.com/x/y',
    ]);
    expect(p.rules[0]!.require!.sbom!.deniedLicenses).toEqual(['GPL-2.0+', 'GPL-*', 'LicenseRef-acme']);
  });
});

describe('vulnerability exceptions must be bounded by maxSeverity', () => {
  const vulns = (body: string): string =>
    `rules:\n  - name: r\n    require:\n      vulnerabilities: { ${body}exceptions: [{ id: CVE-2024-0001, expires: 2027-01-31, reason: r, approvedBy: a }] }\n`;

  it('without maxSeverity: refused, saying what to add', () => {
    const problems = problemsOf(vulns('maxAge: 72h, '));
    expect(problems).toEqual([expect.objectContaining({ path: 'rules[0].require.vulnerabilities.exceptions' })]);
    expect(problems[0]!.message).toContain('set maxSeverity (e.g. maxSeverity: medium)');
  });

  it('under maxSeverity: critical (nothing is above it, so no exception ever applies): refused', () => {
    const problems = problemsOf(vulns('maxSeverity: critical, '));
    expect(problems).toEqual([expect.objectContaining({ path: 'rules[0].require.vulnerabilities.exceptions' })]);
    expect(problems[0]!.message).toContain('can never apply');
  });

  it.each(['negligible', 'low', 'medium', 'high'])('under maxSeverity: %s: accepted', (severity) => {
    expect(problemsOf(vulns(`maxSeverity: ${severity}, `))).toEqual([]);
  });

  it('an invalid maxSeverity is reported as such, not also as missing', () => {
    expect(problemsOf(vulns('maxSeverity: severe, ')).map((p) => p.path)).toEqual(['rules[0].require.vulnerabilities.maxSeverity']);
  });

  it('no exceptions, or an empty list, needs no maxSeverity', () => {
    expect(problemsOf('rules:\n  - name: r\n    require: { vulnerabilities: { maxAge: 72h } }\n')).toEqual([]);
    expect(problemsOf('rules:\n  - name: r\n    require: { vulnerabilities: { maxAge: 72h, exceptions: [] } }\n')).toEqual([]);
  });
});

describe('free text (deny, allow, reasons, approvers, descriptions) is plain text', () => {
  const unsafe: Array<[string, string]> = [
    ['NUL', '\\0'],
    ['ESC (a terminal escape)', '\\x1b[2K'],
    ['DEL', '\\x7f'],
    ['a C1 control (NEL)', '\\x85'],
    ['a line break', '\\n'],
    ['a carriage return', '\\r'],
    ['a tab', '\\t'],
    ['a left-to-right mark', '\\u200e'],
    ['a right-to-left mark', '\\u200f'],
    ['a bidi embedding', '\\u202a'],
    ['a right-to-left override', '\\u202e'],
    ['a bidi isolate', '\\u2066'],
    ['a pop directional isolate', '\\u2069'],
    ['a zero-width space', '\\u200b'],
    ['a line separator', '\\u2028'],
    ['a byte order mark', '\\ufeff'],
    ['an Arabic letter mark', '\\u061c'],
    ['a lone surrogate', '\\ud800'],
    ['an invisible tag character', '\\U000E0041'],
  ];

  const places: Array<[string, (t: string) => string, string]> = [
    ['deny', (t) => `rules:\n  - name: r\n    deny: "${t}"\n`, 'rules[0].deny'],
    ['allow', (t) => `rules:\n  - name: r\n    allow: "${t}"\n`, 'rules[0].allow'],
    [
      'an exception reason',
      (t) => `rules: []\nexceptions:\n  - { images: ["registry.example.com/x"], expires: 2027-01-01, reason: "${t}", approvedBy: a }\n`,
      'exceptions[0].reason',
    ],
    [
      'an exception approver',
      (t) => `rules: []\nexceptions:\n  - { images: ["registry.example.com/x"], expires: 2027-01-01, reason: r, approvedBy: "${t}" }\n`,
      'exceptions[0].approvedBy',
    ],
    [
      'a vulnerability exception reason',
      (t) =>
        `rules:\n  - name: r\n    require: { vulnerabilities: { maxSeverity: high, exceptions: [{ id: CVE-1, expires: 2027-01-01, reason: "${t}", approvedBy: a }] } }\n`,
      'rules[0].require.vulnerabilities.exceptions[0].reason',
    ],
    [
      'a vulnerability exception approver',
      (t) =>
        `rules:\n  - name: r\n    require: { vulnerabilities: { maxSeverity: high, exceptions: [{ id: CVE-1, expires: 2027-01-01, reason: r, approvedBy: "${t}" }] } }\n`,
      'rules[0].require.vulnerabilities.exceptions[0].approvedBy',
    ],
  ];

  it.each(places)('in %s, each unsafe character is refused', (_where, doc, path) => {
    for (const [what, escaped] of unsafe) {
      const problems = problemsOf(doc(`approved ${escaped} text`));
      expect({ what, paths: problems.map((p) => p.path) }).toEqual({ what, paths: [path] });
    }
  });

  it('the message names the character and says why', () => {
    const [problem] = problemsOf('rules:\n  - name: r\n    deny: "no \\u202eexe.gpj"\n');
    expect(problem!.message).toContain('holds U+202E, a control, text-direction or invisible character');
  });

  it('a block scalar keeping its final line break is refused with the fix', () => {
    const [problem] = problemsOf('rules:\n  - name: r\n    deny: >\n      prod is frozen\n');
    expect(problem!.message).toContain('use ">-" or a quoted string');
    expect(problemsOf('rules:\n  - name: r\n    deny: >-\n      prod is frozen\n      until Monday\n')).toEqual([]);
  });

  it('descriptions may span lines (and hold tabs), but hold no other control or bidi character', () => {
    const p = parsePolicy(
      'description: |\n  Organization policy.\n  \tOwned by platform.\nrules:\n  - name: r\n    description: >\n      what it\n      does\n    allow: x\n',
      'p.yaml',
    );
    expect(p.description).toBe('Organization policy.\n\tOwned by platform.\n');
    expect(p.rules[0]!.description).toBe('what it does\n');
    expect(problemsOf('description: "a \\u202e b"\nrules: []\n').map((p) => p.path)).toEqual(['description']);
    expect(problemsOf('rules:\n  - name: r\n    description: "a\\x1b[2K"\n    allow: x\n').map((p) => p.path)).toEqual([
      'rules[0].description',
    ]);
  });

  it('other languages, typography and emoji are plain text', () => {
    const p = parsePolicy('rules:\n  - name: r\n    deny: "Zugriff verweigert — 禁止 — ممنوع — “prod” 🚫"\n', 'p.yaml');
    expect(p.rules[0]!.deny).toBe('Zugriff verweigert — 禁止 — ممنوع — “prod” 🚫');
  });
});

describe('evidenceFrom names a repository that could exist', () => {
  const rule = (source: string): string => `rules:\n  - name: r\n    evidenceFrom: ["${source}"]\n    require: { signatures: {} }\n`;

  it.each([
    'registry.example.com/staging/../prod/{name}',
    'registry.example.com/./{name}',
    'registry.example.com/.staging/{name}',
    'registry.example.com/staging-/{name}',
    'registry.example.com/staging/{name}-',
    'registry.example.com/staging/.{name}',
    'registry.example.com/st___aging/{name}',
    'registry-.example.com/staging/{name}',
    '-registry.example.com/staging/{name}',
  ])('%s is refused', (source) => {
    expect(problemsOf(rule(source)).map((p) => p.path)).toEqual(['rules[0].evidenceFrom[0]']);
  });

  it('the message names the component', () => {
    expect(problemsOf(rule('registry.example.com/staging/../prod/{name}'))[0]!.message).toContain(
      'path component ".." can never name a repository',
    );
  });

  it.each([
    'registry.example.com/staging/{name}',
    'registry.example.com/staging/{name}-signed',
    'registry.example.com/stage.1/team__a/app-{name}',
    'localhost:5000/staging/{name}',
    '127.0.0.1:5000/staging/{name}',
    'registry.example.com/staging/app',
  ])('%s is accepted', (source) => {
    expect(problemsOf(rule(source))).toEqual([]);
  });
});
