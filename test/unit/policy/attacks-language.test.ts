/**
 * Adversarial review of the policy language: how a policy is written (author mistakes that
 * silently weaken enforcement), what a hostile or huge document does to the loader (a policy file,
 * or SetPolicy by a caller with the policy-admin role), how a policy in force survives reloads
 * (an invalid, unreadable or swapped file; a stored policy that does not parse) and how rules
 * decide (order, actions, deletes, host spellings). Each test guards behaviour that holds.
 *
 * Not repeated here: attacks.test.ts (host aliases, :443, tag/digest scoping, exceptions and push
 * constraints, the first list of refused documents), attacks-notation.test.ts, load.test.ts,
 * policy-store.test.ts, stored-policy.test.ts.
 */
import { mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { PREDICATE_TYPE } from '../../../src/attestations';
import { AuditLog } from '../../../src/audit';
import { evaluate, parsePolicy, type Decision, type Policy } from '../../../src/policy';
import type { Action, Evidence, RequestContext } from '../../../src/policy/input';
import { PolicyStore } from '../../../src/policy-store';
import { CountersignError } from '../../../src/shared/errors';
import { openDatabase, SqliteStore } from '../../../src/store';
import { IMAGE_DIGEST, attestation, digestOf, factsOf, signature, spdxSbom, trivyScan } from './fixtures';

const NOW = new Date('2026-06-01T12:00:00Z');
const hoursAgo = (h: number): string => new Date(NOW.getTime() - h * 3600_000).toISOString().replace(/\.000Z$/, 'Z');

function decide(
  policy: Policy,
  reference: string,
  opts: { action?: Action; context?: RequestContext; evidence?: Evidence[] } = {},
): Decision {
  return evaluate(policy, {
    image: factsOf(reference),
    action: opts.action ?? 'deploy',
    context: opts.context ?? { namespace: 'default' },
    evidence: opts.evidence ?? [],
    now: NOW,
  });
}

/** The problems a refused document reports (field paths and messages). */
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

// -------------------------------------------------------------------------------------------------
// Author mistakes: a field read differently than the author meant must be an error

describe('author mistakes are refused, not read loosely', () => {
  it.each([
    ['`requires:` for `require:`', 'rules:\n  - name: r\n    requires: { signatures: {} }\n'],
    ['`signature:` for `signatures:`', 'rules:\n  - name: r\n    require: { signature: { keys: [ci-release] } }\n'],
    ['`onerror` (wrong case)', 'rules:\n  - name: r\n    onerror: deny\n    require: { signatures: {} }\n'],
    ['`keys: ci-release` as a string', 'rules:\n  - name: r\n    require: { signatures: { keys: ci-release } }\n'],
    ['`maxAge: 7` without a unit (a number)', 'rules:\n  - name: r\n    require: { vulnerabilities: { maxAge: 7 } }\n'],
    ['`maxAge: "7"` without a unit (a string)', 'rules:\n  - name: r\n    require: { vulnerabilities: { maxAge: "7" } }\n'],
    ['`mode: Enforce`', 'rules:\n  - name: r\n    mode: Enforce\n    require: { signatures: {} }\n'],
    ['`minimum: 0`', 'rules:\n  - name: r\n    require: { signatures: { minimum: 0 } }\n'],
    ['`minimum: "2"` (a quoted number)', 'rules:\n  - name: r\n    require: { signatures: { keys: [a, b], minimum: "2" } }\n'],
    ['`minimum: !!str 2`', 'rules:\n  - name: r\n    require: { signatures: { keys: [a, b], minimum: !!str 2 } }\n'],
    ['`minimum: 1.5`', 'rules:\n  - name: r\n    require: { signatures: { keys: [a, b], minimum: 1.5 } }\n'],
    ['a minimum more keys than listed', 'rules:\n  - name: r\n    require: { signatures: { keys: [a, b], minimum: 3 } }\n'],
    ['a key listed twice (minimum 2 would be one key)', 'rules:\n  - name: r\n    require: { signatures: { keys: [a, a], minimum: 2 } }\n'],
    ['`defaults.onUnmatched: Allow`', 'defaults: { onUnmatched: Allow }\nrules: []\n'],
    ['`defaults:` left empty', 'defaults:\nrules: []\n'],
    ['`match:` left empty', 'rules:\n  - name: r\n    match:\n    deny: x\n'],
    ['`images:` left empty', 'rules:\n  - name: r\n    match: { images: }\n    deny: x\n'],
    ['an empty images list', 'rules:\n  - name: r\n    match: { images: [] }\n    deny: x\n'],
    ['an empty actions list', 'rules:\n  - name: r\n    match: { actions: [] }\n    deny: x\n'],
    ['an unknown action (`delete`)', 'rules:\n  - name: r\n    match: { actions: [delete] }\n    deny: x\n'],
    ['a pattern with an upper-case path', 'rules:\n  - name: r\n    match: { images: ["registry.example.com/Prod/**"] }\n    deny: x\n'],
    ['a pattern with "***"', 'rules:\n  - name: r\n    match: { images: ["registry.example.com/***"] }\n    deny: x\n'],
    ['a pattern with a short digest', 'rules:\n  - name: r\n    match: { images: ["registry.example.com/a@sha256:abc"] }\n    deny: x\n'],
    [
      'a pattern with an upper-case digest',
      `rules:\n  - name: r\n    match: { images: ["registry.example.com/a@sha256:${'A'.repeat(64)}"] }\n    deny: x\n`,
    ],
    [
      'an expiry without a time zone',
      'rules: []\nexceptions:\n  - { images: ["**"], expires: "2027-01-01T00:00:00", reason: r, approvedBy: a }\n',
    ],
    [
      'an expiry on a leap second',
      'rules: []\nexceptions:\n  - { images: ["**"], expires: "2027-12-31T23:59:60Z", reason: r, approvedBy: a }\n',
    ],
    ['an expiry without zero padding', 'rules: []\nexceptions:\n  - { images: ["**"], expires: 2027-1-5, reason: r, approvedBy: a }\n'],
    ['an exception without images', 'rules: []\nexceptions:\n  - { expires: 2027-01-01, reason: r, approvedBy: a }\n'],
    [
      'an exception with an empty reason',
      'rules: []\nexceptions:\n  - { images: ["**"], expires: 2027-01-01, reason: " ", approvedBy: a }\n',
    ],
    [
      'a version range without its comma',
      'rules:\n  - name: r\n    require: { sbom: { deniedPackages: ["log4j-core >= 2.0 < 2.17.1"] } }\n',
    ],
    [
      'a version range with a trailing comma',
      'rules:\n  - name: r\n    require: { sbom: { deniedPackages: [{ name: log4j-core, versions: "< 2.17.1," }] } }\n',
    ],
    ['`version: 2`', 'version: 2\nrules: []\n'],
    ['`transparencyLog: {}` (no minimum)', 'rules:\n  - name: r\n    require: { signatures: { transparencyLog: {} } }\n'],
    ['a tagPattern that is not a regular expression', 'rules:\n  - name: r\n    push: { tagPattern: "v[0-9" }\n    allow: x\n'],
  ])('%s', (_what, text) => {
    expect(problemsOf(text).length).toBeGreaterThan(0);
  });

  it('a rule name cannot impersonate what the evaluator itself reports ((unmatched), (default), exception:0)', () => {
    for (const name of ['(unmatched)', '(default)', '(default-push)', 'exception:0', 'exception-0 ', '"x"']) {
      expect(problemsOf(`rules:\n  - name: ${JSON.stringify(name)}\n    allow: x\n`).length).toBeGreaterThan(0);
    }
  });

  // A rule placed after a catch-all never decides anything: the author who appends "prod needs
  // the release key" below "everything needs some signature" believes prod is held to the
  // release key, and every prod image signed by any trusted key is admitted. The loader refuses
  // an unsatisfiable `minimum` ("no image could ever satisfy it") for the same reason.
  it('a rule that can never match (after a catch-all rule) is refused, naming the rule that decides in its place', () => {
    const text = `rules:
  - name: everything-signed
    require: { signatures: {} }
  - name: prod-release-key
    match: { images: ["registry.example.com/prod/**"] }
    require: { signatures: { keys: [ci-release] } }
`;
    const accepted = (() => {
      try {
        return parsePolicy(text, 'p.yaml');
      } catch {
        return undefined;
      }
    })();
    if (accepted !== undefined) {
      // What the author did not mean: prod signed by any trusted key is admitted by the first rule.
      const d = decide(accepted, 'registry.example.com/prod/app:1', { evidence: [signature('intern-laptop')] });
      expect({ allowed: d.allowed, rule: d.rule }).toEqual({ allowed: true, rule: 'everything-signed' });
    }
    expect(problemsOf(text).map((p) => p.path)).toContain('rules[1].match');
  });

  it('a rule whose match repeats an earlier one exactly (dead: the earlier one always decides) is refused', () => {
    const text = `rules:
  - name: prod
    match: { images: ["registry.example.com/prod/**"], actions: [deploy] }
    require: { signatures: {} }
  - name: prod-strict
    match: { images: ["registry.example.com/prod/**"], actions: [deploy] }
    require: { signatures: { keys: [ci-release] } }
`;
    expect(problemsOf(text).length).toBeGreaterThan(0);
  });

  // `{ name: "log4j-core < 2.17.1" }` mixes the string shorthand into the object form; the name is
  // then the whole text, which no package is called, and the deny list denies nothing. Package
  // names and license ids never hold whitespace or comparison operators.
  it('a denied package name holding a version range or whitespace, and a denied license expression, are refused', () => {
    const text = `rules:
  - name: r
    require:
      signatures: {}
      sbom: { deniedPackages: [{ name: "log4j-core < 2.17.1" }, { name: "openssl " }], deniedLicenses: ["AGPL-3.0-only OR GPL-3.0-only"] }
`;
    const accepted = (() => {
      try {
        return parsePolicy(text, 'p.yaml');
      } catch {
        return undefined;
      }
    })();
    if (accepted !== undefined) {
      const sbom = attestation(
        PREDICATE_TYPE.SPDX,
        spdxSbom([
          { name: 'log4j-core', version: '2.14.1' },
          { name: 'openssl', version: '1.0.1', license: 'AGPL-3.0-only' },
        ]),
      );
      const d = decide(accepted, 'registry.example.com/app:1', { evidence: [signature('ci-release'), sbom] });
      // log4j-core 2.14.1, openssl and an AGPL package: all admitted.
      expect(d.allowed).toBe(true);
    }
    const paths = problemsOf(text).map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'rules[0].require.sbom.deniedPackages[0].name',
        'rules[0].require.sbom.deniedPackages[1].name',
        'rules[0].require.sbom.deniedLicenses[0]',
      ]),
    );
  });

  // Exceptions waive findings above maxSeverity; without maxSeverity no finding is ever judged,
  // so an author who wrote the exceptions (and forgot, or misplaced, the threshold) believes the
  // other vulnerabilities are gated when a critical one passes.
  it('vulnerability exceptions without maxSeverity (under which a critical finding would pass) are refused', () => {
    const text = `rules:
  - name: r
    require:
      vulnerabilities:
        maxAge: 72h
        exceptions: [{ id: CVE-2024-0001, expires: 2027-01-31, reason: "mitigated", approvedBy: security }]
`;
    const accepted = (() => {
      try {
        return parsePolicy(text, 'p.yaml');
      } catch {
        return undefined;
      }
    })();
    if (accepted !== undefined) {
      const scan = attestation(PREDICATE_TYPE.COSIGN_VULN, trivyScan(hoursAgo(1), [{ id: 'CVE-2024-9999', severity: 'CRITICAL' }]));
      expect(decide(accepted, 'registry.example.com/app:1', { evidence: [scan] }).allowed).toBe(true);
    }
    expect(problemsOf(text).map((p) => p.path)).toContain('rules[0].require.vulnerabilities.exceptions');
  });

  it('an exception whose expiry has already passed is ignored with a warning (fails closed), even when it is the only way in', () => {
    const p = parsePolicy(
      'rules: []\nexceptions:\n  - { images: ["registry.example.com/**"], expires: 2020-01-01, reason: old, approvedBy: a }\n',
      'p.yaml',
    );
    const d = decide(p, 'registry.example.com/app:1');
    expect(d.allowed).toBe(false);
    expect(d.rule).toBe('(unmatched)');
    expect(d.warnings.join('\n')).toContain('expired 2020-01-01 and was ignored');
  });
});

// -------------------------------------------------------------------------------------------------
// Hostile documents (a policy file, or SetPolicy by a policy-admin or a stolen token with that role)

describe('hostile documents', () => {
  it.each([
    ['a billion-laughs alias tree', 'a: &a ["x","x"]\nb: &b [*a,*a]\nc: &c [*b,*b]\nrules: []\n'],
    ['an alias used as a rule list', 'x: &r [{ name: r, allow: y }]\nrules: *r\n'],
    ['a merge key under %YAML 1.1', '%YAML 1.1\n---\nrules:\n  - name: r\n    <<: { allow: x }\n    require: { signatures: {} }\n'],
    ['a YAML 1.1 boolean under %YAML 1.1', '%YAML 1.1\n---\ndefaults: { onError: yes }\nrules: []\n'],
    ['a second document (a reader taking the last one would see other rules)', 'rules: []\n---\nrules: [{ name: a, allow: x }]\n'],
    ['a JSON key written twice', '{"defaults": {"onUnmatched": "deny"}, "rules": [], "defaults": {"onUnmatched": "allow"}}'],
    ['a key written twice, once with an escape', '{"defaults": {"onUnmatched": "deny", "onUnm\\u0061tched": "allow"}, "rules": []}'],
    ['a complex mapping key', 'rules: []\n? [a, b]\n: 1\n'],
    ['a numeric mapping key', 'rules: []\n1: x\n'],
    ['a !!set', 'rules:\n  - name: r\n    match: !!set { images }\n    deny: x\n'],
  ])('%s is refused', (_what, text) => {
    expect(problemsOf(text).length).toBeGreaterThan(0);
  });

  it.each([10_000, 300_000])('nesting %i levels deep is refused as invalid, not a crash', (depth) => {
    const problems = problemsOf(`rules: ${'['.repeat(depth)}${']'.repeat(depth)}\n`);
    expect(problems.length).toBeGreaterThan(0);
  });

  it('a document over 1 MiB is refused before it is parsed', () => {
    const problems = problemsOf(`rules:\n  - name: r\n    deny: "${'x'.repeat(1024 * 1024)}"\n`);
    expect(problems).toEqual([expect.objectContaining({ path: '(document)' })]);
  });

  // The yaml parser's uniqueKeys check compares every key of a mapping with every other: 10 000
  // keys take about 1 s, 40 000 about 14 s, and the 130 000 that fit in 1 MiB minutes, all on
  // the event loop (SetPolicy runs it in the request: every Verify, admission review and gate
  // decision of the process waits; an admission webhook with failurePolicy: Ignore then admits).
  it('a mapping with 20 000 keys (180 KB) is refused up front, not parsed in full', () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `k${i}: 1`).join(', ');
    const problems = problemsOf(`rules: []\ndescription: {${keys}}\n`);
    // Refused on its size in values, before the parser builds the tree (not "description is not a string").
    expect(problems.map((p) => p.path)).toEqual(['(document)']);
  }, 120_000);

  // The yaml library resolves a tag it does not know to the plain scalar (with a warning nobody
  // reads): `!!js/function` and `!custom` values are taken as strings. Another reader (a YAML 1.1
  // tool, a linter in CI) may read the same document differently; aliases are refused for that
  // very reason ("they hide where a value really comes from").
  it('an unknown YAML tag (!!js/function, a local !tag) is refused, not silently dropped', () => {
    for (const tagged of ['!!js/function "function () { return 1 }"', '!allow "x"', '!!python/object:os.system "id"']) {
      expect({ tagged, problems: problemsOf(`rules:\n  - name: r\n    deny: ${tagged}\n`).length > 0 }).toEqual({ tagged, problems: true });
    }
  });

  // Rule names are "one plain token" because they reach decisions, logs and kubectl output; the
  // deny and allow messages and an exception's reason and approver reach the same places (the
  // gate's 403, the admission response, the audit of the decision) unescaped.
  it('control, NUL and bidi characters in a deny message or an exception approver are refused at load', () => {
    const text =
      'rules:\n  - name: r\n    deny: "denied\\0\\x1b[2K\\x1b[1Aallowed \\u202eyb devorppa"\n' +
      'exceptions:\n  - { images: ["registry.example.com/x"], expires: 2027-01-01, reason: "ok", approvedBy: "security\\u202e" }\n';
    const accepted = (() => {
      try {
        return parsePolicy(text, 'p.yaml');
      } catch {
        return undefined;
      }
    })();
    if (accepted !== undefined) {
      const d = decide(accepted, 'registry.example.com/app:1');
      expect(d.reasons.join('')).toContain('\u001b[2K');
    }
    expect(problemsOf(text).map((p) => p.path)).toEqual(expect.arrayContaining(['rules[0].deny', 'exceptions[0].approvedBy']));
  });

  it('an evidenceFrom repository with a ".." segment (or one no repository could have) is refused', () => {
    for (const source of [
      'registry.example.com/staging/../prod/{name}',
      'registry.example.com/.staging/{name}',
      'registry.example.com/staging-/{name}',
    ]) {
      const text = `rules:\n  - name: r\n    evidenceFrom: ["${source}"]\n    require: { signatures: {} }\n`;
      expect({ source, refused: problemsOf(text).length > 0 }).toEqual({ source, refused: true });
    }
  });
});

// -------------------------------------------------------------------------------------------------
// Evaluation: order, actions, deletes, host spellings

describe('evaluation', () => {
  // Go clients (containerd, CRI-O, the docker CLI) read the port number: `host:0443` is the
  // default HTTPS port and pulls from the same registry as `host`; so does Countersign's own
  // client (new URL drops it). attacks.test.ts closed `:443`; a leading zero reopens it.
  it.each(['registry.example.com:0443/prod/app:1.0', 'registry.example.com:00443/prod/app:1.0', 'index.docker.io:0443/library/nginx:1'])(
    'the default HTTPS port written with a leading zero (%s) escapes a deny rule written for the bare host',
    (ref) => {
      const p = parsePolicy(
        `rules:
  - name: prod-frozen
    match: { images: ["registry.example.com/prod/**"] }
    deny: "prod is deployed by the release pipeline only"
  - name: no-hub
    match: { images: ["docker.io/**"] }
    deny: "no Docker Hub"
  - name: anything-signed
    require: { signatures: {} }
`,
        'p.yaml',
      );
      const d = decide(p, ref, { evidence: [signature('intern-laptop')] });
      expect(d.allowed).toBe(false);
    },
  );

  // "deny: Deny every matching request with this message" (policy.schema.json). A repository
  // frozen against writes still lets anyone the registry lets in delete its tags, manifests and
  // signature referrers (the reason even says "rule frozen allows deleting …"): every signed
  // image of it then fails its pull rule, and a release tag can be deleted and written anew.
  it.each([
    [
      'a tag',
      'registry.example.com/prod/app:v1.0.0',
      { 'gate.countersign.dev/operation': 'delete', 'gate.countersign.dev/current-digest': IMAGE_DIGEST },
    ],
    [
      'a manifest by digest',
      `registry.example.com/prod/app@${digestOf('signature-referrer')}`,
      { 'gate.countersign.dev/operation': 'delete' },
    ],
  ])('a deny rule on pushes does not deny deleting %s', (_what, ref, labels) => {
    const p = parsePolicy(
      `rules:
  - name: frozen
    match: { images: ["registry.example.com/prod/**"], actions: [push] }
    deny: "prod is frozen"
  - name: pulls
    require: { signatures: { keys: [ci-release] } }
`,
      'p.yaml',
    );
    const d = decide(p, ref, { action: 'push', context: { identity: 'mallory', labels } });
    expect({ allowed: d.allowed, reasons: d.reasons }).toEqual({ allowed: false, reasons: [expect.stringContaining('prod is frozen')] });
  });

  it('a deny rule on pushes still denies a content write (an evidence tag overwritten) and a tag write', () => {
    const p = parsePolicy(
      'rules:\n  - name: frozen\n    match: { images: ["registry.example.com/prod/**"], actions: [push] }\n    deny: "prod is frozen"\n',
      'p.yaml',
    );
    const content = { 'gate.countersign.dev/operation': 'content', 'gate.countersign.dev/tag': `sha256-${IMAGE_DIGEST.slice(7)}` };
    expect(decide(p, `registry.example.com/prod/app@${IMAGE_DIGEST}`, { action: 'push', context: { labels: content } }).allowed).toBe(
      false,
    );
    expect(decide(p, 'registry.example.com/prod/app:v2', { action: 'push', context: { labels: {} } }).allowed).toBe(false);
  });

  it('an action-specific allow reaches only the actions it names; an action no rule names falls to onUnmatched (deny)', () => {
    const p = parsePolicy(
      `rules:
  - name: pushes
    match: { actions: [push] }
    allow: "evidence arrives after the image"
  - name: deploys
    match: { actions: [deploy], namespaces: ["prod"] }
    require: { signatures: { keys: [ci-release] } }
`,
      'p.yaml',
    );
    expect(decide(p, 'registry.example.com/app:1', { action: 'push', context: {} }).allowed).toBe(true);
    const pull = decide(p, 'registry.example.com/app:1', { action: 'pull', context: {} });
    expect({ allowed: pull.allowed, rule: pull.rule }).toEqual({ allowed: false, rule: '(unmatched)' });
    // A deploy outside the namespace the rule names is not held to it, and is not allowed either.
    const elsewhere = decide(p, 'registry.example.com/app:1', {
      action: 'deploy',
      context: { namespace: 'dev' },
      evidence: [signature('x')],
    });
    expect({ allowed: elsewhere.allowed, rule: elsewhere.rule }).toEqual({ allowed: false, rule: '(unmatched)' });
  });

  it('an exception for deploys does not cover pulls, and a one-segment * does not cross into sub-repositories', () => {
    const p = parsePolicy(
      `rules:
  - name: signed
    require: { signatures: { keys: [ci-release] } }
exceptions:
  - { images: ["registry.example.com/legacy/*"], actions: [deploy], expires: 2027-01-01, reason: "migrating", approvedBy: platform }
`,
      'p.yaml',
    );
    expect(decide(p, 'registry.example.com/legacy/app:1').rule).toBe('exception:0');
    expect(decide(p, 'registry.example.com/legacy/app:1', { action: 'pull', context: {} }).allowed).toBe(false);
    expect(decide(p, 'registry.example.com/legacy/team/app:1').allowed).toBe(false);
    expect(decide(p, 'registry.example.com/legacy-evil/app:1').allowed).toBe(false);
  });

  it('mode warn on one rule does not leak into a later enforcing rule, nor into onUnmatched', () => {
    const p = parsePolicy(
      `rules:
  - name: dev
    mode: warn
    match: { images: ["registry.example.com/dev/**"] }
    require: { signatures: {} }
  - name: prod
    match: { images: ["registry.example.com/prod/**"] }
    require: { signatures: {} }
`,
      'p.yaml',
    );
    expect(decide(p, 'registry.example.com/dev/app:1').allowed).toBe(true);
    expect(decide(p, 'registry.example.com/prod/app:1').allowed).toBe(false);
    expect(decide(p, 'registry.example.com/other/app:1').allowed).toBe(false);
  });
});

// -------------------------------------------------------------------------------------------------
// Reloads: the last good policy stays in force

describe('reloading a policy file', () => {
  let dir: string;
  let file: string;
  const stores: PolicyStore[] = [];
  const GOOD = 'rules:\n  - name: signed\n    require: { signatures: { keys: [ci-release] } }\n';

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-attacks-language-'));
    file = path.join(dir, 'policy.yaml');
  });
  afterEach(() => {
    for (const s of stores.splice(0)) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function openGood(): Promise<PolicyStore> {
    writeFileSync(file, GOOD);
    const store = await PolicyStore.open(file, { pollMs: 0, watch: false });
    stores.push(store);
    return store;
  }

  function replaceBy(create: () => unknown): void {
    unlinkSync(file);
    create();
  }

  it.each([
    ['an empty file', () => writeFileSync(file, '')],
    ['a file of only a comment', () => writeFileSync(file, '# emptied by mistake\n')],
    ['a file that is not UTF-8', () => writeFileSync(file, Buffer.from([0xff, 0xfe, 0x72, 0x00]))],
    ['a symlink to /dev/zero', () => replaceBy(() => symlinkSync('/dev/zero', file))],
    ['a symlink to a directory', () => replaceBy(() => symlinkSync(dir, file))],
    ['a dangling symlink', () => replaceBy(() => symlinkSync(path.join(dir, 'nowhere.yaml'), file))],
    ['a FIFO', () => replaceBy(() => execFileSync('mkfifo', [file]))],
    ['a valid policy larger than 1 MiB', () => writeFileSync(file, `${GOOD}# ${'x'.repeat(1024 * 1024)}\n`)],
  ])('replaced by %s: the last good policy stays in force and the refusal is recorded', async (_what, swap) => {
    const store = await openGood();
    const good = store.current();
    swap();
    expect(await store.reload()).toBe(false);
    expect(store.current()).toBe(good);
    expect(store.info().text).toBe(GOOD);
    expect(store.lastError()).toBeInstanceOf(Error);
  });

  it('a stored policy that no longer parses here is a startup error, never the built-in default in its place', async () => {
    const sdir = mkdtempSync(path.join(os.tmpdir(), 'countersign-attacks-language-db-'));
    const db = await SqliteStore.open(openDatabase(path.join(sdir, 'countersign.db')), { changeCheckMs: 0 });
    try {
      const audit = await AuditLog.open(db);
      const first = await PolicyStore.open(undefined, { stored: { store: db, audit }, pollMs: 0, watch: false });
      await first.set({ text: GOOD, actor: 'alice' });
      first.close();
      // A text the loader of this version refuses (written before an upgrade, or by a database writer).
      await db.run('UPDATE stored_policy SET text = ? WHERE id = 1', 'rules:\n  - name: r\n    require: { signatures: { keys: [] } }\n');
      await expect(PolicyStore.open(undefined, { stored: { store: db, audit }, pollMs: 0, watch: false })).rejects.toThrow(
        /rules\[0\]\.require\.signatures\.keys/,
      );
    } finally {
      await db.close();
      rmSync(sdir, { recursive: true, force: true });
    }
  });

  it('SetPolicy refuses a hostile document as INVALID_ARGUMENT (not INTERNAL) and stores nothing', async () => {
    const sdir = mkdtempSync(path.join(os.tmpdir(), 'countersign-attacks-language-db-'));
    const db = await SqliteStore.open(openDatabase(path.join(sdir, 'countersign.db')), { changeCheckMs: 0 });
    try {
      const audit = await AuditLog.open(db);
      const ps = await PolicyStore.open(undefined, { stored: { store: db, audit }, pollMs: 0, watch: false });
      stores.push(ps);
      await ps.set({ text: GOOD, actor: 'alice' });
      const before = ps.current();
      for (const text of [
        `rules: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`,
        'a: &a [x, x]\nb: &b [*a, *a]\nrules: []\n',
        `rules: []\ndescription: "${'x'.repeat(1024 * 1024)}"\n`,
        '\u0000',
      ]) {
        const err = await ps.set({ text, actor: 'mallory' }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(CountersignError);
        expect((err as CountersignError).code).toBe('INVALID_ARGUMENT');
      }
      expect(ps.current()).toBe(before);
      expect(ps.info().setBy).toBe('alice');
    } finally {
      await db.close();
      rmSync(sdir, { recursive: true, force: true });
    }
  });
});
