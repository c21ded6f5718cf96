/**
 * Adversarial review of policy matching, precedence, exceptions and loading. The attacker pushes
 * images and tags, pushes unsigned or wrongly signed evidence, and chooses image references freely.
 * It found two holes, closed since (the spelling of a registry with its default port, and an
 * exception waiving push constraints); every test states what a demanding verifier answers.
 */
import { parseReference } from '../../../src/registry/reference';
import { decideWithoutEvidence, evaluate, matchesImage, parsePolicy, type Decision, type Policy } from '../../../src/policy';
import type { Action, Evidence, ImageFacts, RequestContext } from '../../../src/policy/input';
import { EXAMPLE_POLICY, IMAGE_DIGEST, LEGACY_DIGEST, digestOf, factsOf, signature } from './fixtures';

const NOW = new Date('2026-06-01T12:00:00Z');

function decide(
  policy: Policy,
  reference: string,
  opts: { action?: Action; context?: RequestContext; evidence?: Evidence[]; digest?: string; now?: Date } = {},
): Decision {
  return evaluate(policy, {
    image: factsOf(reference, opts.digest),
    action: opts.action ?? 'deploy',
    context: opts.context ?? { namespace: 'default' },
    evidence: opts.evidence ?? [],
    now: opts.now ?? NOW,
  });
}

const strictThenLax = parsePolicy(
  `rules:
  - name: prod-strict
    match: { images: ["registry.example.com/prod/**"] }
    deny: "prod images are only deployed through the release pipeline"
  - name: no-public
    match: { images: ["docker.io/**"] }
    deny: "no Docker Hub"
  - name: anything-signed
    require: { signatures: {} }
`,
  'strict-then-lax.yaml',
);

// -------------------------------------------------------------------------------------------------
// Host aliasing: one registry endpoint, several spellings

describe('registry host spellings', () => {
  it.each([
    'registry.example.com/prod/app:1.0',
    'REGISTRY.EXAMPLE.COM/prod/app:1.0',
    `registry.example.com/prod/team/app@${digestOf('x')}`,
  ])('a deny rule on registry.example.com/prod/** catches %s', (ref) => {
    const d = decide(strictThenLax, ref, { evidence: [signature('any')] });
    expect(d.allowed).toBe(false);
    expect(d.rule).toBe('prod-strict');
  });

  it.each(['nginx', 'docker.io/nginx', 'docker.io/library/nginx', 'index.docker.io/nginx', 'registry-1.docker.io/library/nginx:1'])(
    'every Docker Hub spelling the Docker CLI normalizes is caught by docker.io/**: %s',
    (ref) => {
      const d = decide(strictThenLax, ref, { evidence: [signature('any')] });
      expect(d.rule).toBe('no-public');
      expect(d.allowed).toBe(false);
    },
  );

  // HTTPS registries are served on 443: `registry.example.com:443/prod/app` is pulled by
  // containerd/CRI-O from exactly the same endpoint as `registry.example.com/prod/app`, so a rule
  // keyed on the bare host must cover it (or the reference must be refused).
  it('registry.example.com:443/… (the default HTTPS port) is held to the rule written for registry.example.com/…', () => {
    const d = decide(strictThenLax, 'registry.example.com:443/prod/app:1.0', { evidence: [signature('any')] });
    expect(d.rule).toBe('prod-strict');
    expect(d.allowed).toBe(false);
  });

  it('Docker Hub spelled with its port (index.docker.io:443, docker.io:443) is held to a docker.io/** deny', () => {
    for (const ref of ['index.docker.io:443/library/nginx:1.25', 'docker.io:443/library/nginx', 'registry-1.docker.io:443/library/nginx']) {
      const d = decide(strictThenLax, ref, { evidence: [signature('any')] });
      expect({ ref, rule: d.rule }).toEqual({ ref, rule: 'no-public' });
    }
  });

  // registry.hub.docker.com serves Docker Hub's /v2/ API (it is what many CI docs spell), so
  // `registry.hub.docker.com/library/nginx` pulls the Hub image.
  it('registry.hub.docker.com (a Docker Hub API host) is Docker Hub', () => {
    const d = decide(strictThenLax, 'registry.hub.docker.com/library/nginx:1.25', { evidence: [signature('any')] });
    expect(d.rule).toBe('no-public');
  });

  it.each([
    ['registry.example.com/team/*', 'registry.example.com/team/a/b', false],
    ['registry.example.com/team/*', 'registry.example.com/team-evil/x', false],
    ['registry.example.com/team/**', 'registry.example.com/team-evil/x', false],
    ['registry.example.com/team/**', 'registry.example.com/team', false],
    ['registry.example.com/team/app', 'registry.example.com/team/app/evil', false],
    ['registry.example.com/team/app', 'registry.example.com.evil.com/team/app', false],
    ['*.example.com/app', 'evil.com/app', false],
    ['*.example.com/app', 'eu.example.com:5000/app', false],
    ['registry.example.com/team/app', 'registry.example.com:5000/team/app', false],
  ])('pattern %s does not reach %s', (pattern, ref, expected) => {
    expect(matchesImage(pattern, factsOf(ref))).toBe(expected);
  });

  it.each([
    'registry.example.com/prod/../dev/app',
    'registry.example.com/prod//app',
    'registry.example.com/prod/App',
    'registry.example.com/prod/app%2f..%2fdev',
    'registry.example.com/prod/app/',
    'rеgistry.example.com/prod/app', // Cyrillic е
    'registry.example.com./prod/app',
  ])('the reference parser refuses the look-alike or traversal %s (no request reaches the policy)', (ref) => {
    expect(() => parseReference(ref)).toThrow();
  });

  it('a hand-built ImageFacts with a non-canonical name matches no rule, not even **, and falls to onUnmatched (deny)', () => {
    const p = parsePolicy('rules:\n  - name: all\n    match: { images: ["**"] }\n    allow: "x"\n', 'p.yaml');
    const d = evaluate(p, {
      image: { reference: 'x', registry: 'registry.example.com', repository: 'prod/../x', digest: IMAGE_DIGEST, mediaType: '' },
      action: 'deploy',
      context: {},
      evidence: [],
      now: NOW,
    });
    expect(d.rule).toBe('(unmatched)');
    expect(d.allowed).toBe(false);
  });
});

// -------------------------------------------------------------------------------------------------
// Tags and digests

describe('tag-scoped and digest-pinned patterns', () => {
  const tagPolicy = parsePolicy(
    `rules:
  - name: debug-denied
    match: { images: ["registry.example.com/app:*-debug"] }
    deny: "debug builds never run"
  - name: dev-allowed
    match: { images: ["registry.example.com/app:dev-*"] }
    allow: "dev tags are throwaway"
  - name: bad-digest
    match: { images: ["registry.example.com/app@${digestOf('bad')}"] }
    deny: "known-bad build"
  - name: rest
    require: { signatures: {} }
`,
    'tags.yaml',
  );

  it('a tag-scoped allow is not reached by a different tag', () => {
    const d = decide(tagPolicy, 'registry.example.com/app:prod-dev-1');
    expect(d.rule).toBe('rest');
    expect(d.allowed).toBe(false);
  });

  it('a tag-scoped allow is not reached by a digest-only reference', () => {
    const d = decide(tagPolicy, `registry.example.com/app@${digestOf('evil')}`);
    expect(d.rule).toBe('rest');
    expect(d.allowed).toBe(false);
  });

  it('a digest-pinned deny is not decided before resolution (the tag could resolve to it)', () => {
    const unresolved: ImageFacts = { ...factsOf('registry.example.com/app:release'), digest: '', mediaType: '' };
    expect(decideWithoutEvidence(tagPolicy, { image: unresolved, action: 'deploy', context: {}, now: NOW })).toBeUndefined();
  });

  it('a digest-pinned deny catches the digest reached through any tag', () => {
    const d = decide(tagPolicy, 'registry.example.com/app:release', { digest: digestOf('bad'), evidence: [signature('k')] });
    expect(d.rule).toBe('bad-digest');
    expect(d.allowed).toBe(false);
  });

  it('tag globs are anchored: "dev-*" does not match "predev-1" and "*-debug" matches "x-debug" only at the end', () => {
    expect(matchesImage('registry.example.com/app:dev-*', factsOf('registry.example.com/app:predev-1'))).toBe(false);
    expect(matchesImage('registry.example.com/app:*-debug', factsOf('registry.example.com/app:x-debug-not'))).toBe(false);
    expect(matchesImage('registry.example.com/app:*-debug', factsOf('registry.example.com/app:x-debug'))).toBe(true);
  });
});

// -------------------------------------------------------------------------------------------------
// Precedence, exceptions and push authorization

describe('exceptions', () => {
  const example = parsePolicy(EXAMPLE_POLICY, 'policy.yaml');

  it('a digest-pinned exception does not cover a rebuilt image under the same tag', () => {
    const d = decide(example, 'registry.example.com/acmecorp/legacy-batch:2024', { digest: digestOf('rebuilt') });
    expect(d.rule).not.toMatch(/^exception:/);
    expect(d.allowed).toBe(false);
  });

  it('a date-only expiry holds through that day (UTC) and not a millisecond longer', () => {
    const ref = `registry.example.com/acmecorp/legacy-batch@${LEGACY_DIGEST}`;
    expect(decide(example, ref, { now: new Date('2026-12-31T23:59:59.999Z') }).allowed).toBe(true);
    const after = decide(example, ref, { now: new Date('2027-01-01T00:00:00Z') });
    expect(after.allowed).toBe(false);
    expect(after.warnings.join(' ')).toMatch(/expired/);
  });

  it('a namespaced exception never covers a registry pull (no namespace)', () => {
    const p = parsePolicy(
      `rules: []
exceptions:
  - { images: ["registry.example.com/**"], namespaces: ["sandbox"], expires: 2030-01-01, reason: r, approvedBy: a }
`,
      'p.yaml',
    );
    expect(decide(p, 'registry.example.com/x/y', { action: 'pull', context: {} }).allowed).toBe(false);
    expect(decide(p, 'registry.example.com/x/y', { context: { namespace: 'sandbox-evil' } }).allowed).toBe(false);
  });

  // An exception waives EVIDENCE for a known image ("the legacy batch job has no SBOM"). It must not
  // waive who may write tags: with it, anyone who can reach the registry may move an immutable
  // release tag onto the excepted (old, unscanned) digest, or delete manifests by digest.
  const pushPolicy = parsePolicy(
    `rules:
  - name: prod-push
    match: { images: ["registry.example.com/acmecorp/**"], actions: [push] }
    push: { immutableTags: ["v*"], identities: ["ci-release-bot"] }
    allow: "evidence arrives after the push"
  - name: prod
    require: { signatures: {} }
exceptions:
  - { images: ["registry.example.com/acmecorp/legacy-batch@${LEGACY_DIGEST}"], expires: 2026-12-31, reason: "retired in Q4", approvedBy: platform-team }
`,
    'push.yaml',
  );

  it('an evidence exception does not let any identity move an immutable tag onto the excepted digest', () => {
    const d = decide(pushPolicy, 'registry.example.com/acmecorp/legacy-batch:v1.0.0', {
      action: 'push',
      digest: LEGACY_DIGEST,
      context: { identity: 'mallory', labels: { 'gate.countersign.dev/current-digest': digestOf('current-release') } },
    });
    expect(d.allowed).toBe(false);
  });

  it('an evidence exception does not let an unidentified pusher delete the excepted manifest under immutableTags', () => {
    const d = decide(pushPolicy, `registry.example.com/acmecorp/legacy-batch@${LEGACY_DIGEST}`, {
      action: 'push',
      context: { labels: { 'gate.countersign.dev/operation': 'delete' } },
    });
    expect(d.allowed).toBe(false);
  });

  it('the exception still allows, by name, a push its rule permits (the identity allowed, a new tag)', () => {
    const d = decide(pushPolicy, 'registry.example.com/acmecorp/legacy-batch:v2.0.0', {
      action: 'push',
      digest: LEGACY_DIGEST,
      context: { identity: 'ci-release-bot', labels: { 'gate.countersign.dev/current-digest': '' } },
    });
    expect(d.allowed).toBe(true);
    expect(d.rule).toBe('exception:0');
  });

  it('without the exception the same push by mallory is denied by push.identities', () => {
    const d = decide(pushPolicy, 'registry.example.com/acmecorp/other:v1.0.0', {
      action: 'push',
      digest: LEGACY_DIGEST,
      context: { identity: 'mallory', labels: { 'gate.countersign.dev/current-digest': digestOf('current-release') } },
    });
    expect(d.allowed).toBe(false);
    expect(d.requirements.map((r) => r.requirement)).toContain('push.identities');
  });
});

describe('rule precedence', () => {
  it('first match wins: a later deny does not undo an earlier lax rule (documented), and an earlier deny is not bypassed', () => {
    const p = parsePolicy(
      `rules:
  - name: deny-untrusted
    match: { images: ["registry.example.com/untrusted/**"] }
    deny: "no"
  - name: all-signed
    match: { images: ["registry.example.com/**"] }
    require: { signatures: {} }
`,
      'p.yaml',
    );
    expect(decide(p, 'registry.example.com/untrusted/x', { evidence: [signature('k')] }).allowed).toBe(false);
    expect(decide(p, 'registry.example.com/trusted/x', { evidence: [signature('k')] }).allowed).toBe(true);
  });

  it('a namespace-scoped deny does not leak into other namespaces and never applies without a namespace', () => {
    const p = parsePolicy(
      `defaults: { onUnmatched: allow }
rules:
  - name: deny-prod-ns
    match: { namespaces: ["prod"] }
    deny: "no"
`,
      'p.yaml',
    );
    expect(decide(p, 'registry.example.com/x', { context: { namespace: 'prod' } }).allowed).toBe(false);
    expect(decide(p, 'registry.example.com/x', { context: { namespace: 'prod2' } }).allowed).toBe(true);
    expect(decide(p, 'registry.example.com/x', { action: 'pull', context: {} }).allowed).toBe(true);
  });

  it('onError: allow turns only transport errors into an allow; an unusable image is denied', () => {
    const p = parsePolicy('rules:\n  - name: r\n    onError: allow\n    require: { signatures: {} }\n', 'p.yaml');
    const unusable = evaluate(p, {
      image: { ...factsOf('registry.example.com/x:1'), unusable: 'the image index is malformed' },
      action: 'deploy',
      context: {},
      evidence: [],
      now: NOW,
    });
    expect(unusable.allowed).toBe(false);
    const err = evaluate(p, {
      image: factsOf('registry.example.com/x:1'),
      action: 'deploy',
      context: {},
      evidence: [],
      now: NOW,
      error: { code: 'UNAVAILABLE', message: 'down' },
    });
    expect(err.allowed).toBe(true);
    expect(err.warnings.join(' ')).toMatch(/onError: allow/);
  });

  it('onError defaults to deny', () => {
    const p = parsePolicy('rules:\n  - name: r\n    require: { signatures: {} }\n', 'p.yaml');
    const err = evaluate(p, {
      image: factsOf('registry.example.com/x:1'),
      action: 'deploy',
      context: {},
      evidence: [signature('k')],
      now: NOW,
      error: { code: 'UNAVAILABLE', message: 'down' },
    });
    expect(err.allowed).toBe(false);
  });

  it('unverified signatures, keyless signatures without an identity and other subjects never count', () => {
    const p = parsePolicy('rules:\n  - name: r\n    require: { signatures: { keys: [ci-release] } }\n', 'p.yaml');
    const forged = signature('ci-release', { verified: false, reason: 'bad signature' });
    const otherImage = signature('ci-release', { subjectDigest: digestOf('other') });
    const keyless = signature('x', {
      keyId: undefined,
      keyName: undefined,
      identity: { issuer: 'https://accounts.google.com', subject: 'ci-release' },
    } as Partial<Evidence>);
    const wrongKind = signature('ci-release', { kind: 'attestation' });
    const d = decide(p, 'registry.example.com/x:1', { evidence: [forged, otherImage, keyless, wrongKind] });
    expect(d.allowed).toBe(false);
  });
});

// -------------------------------------------------------------------------------------------------
// Policy loading: nothing a user believes restricts something may be silently ignored

describe('policy loading refuses what it would otherwise silently ignore', () => {
  it.each([
    ['a misspelled requirement', 'rules:\n  - name: r\n    require: { vulnerabilities: { maxSeverty: low } }\n'],
    ['a misspelled match key', 'rules:\n  - name: r\n    match: { image: ["registry.example.com/**"] }\n    deny: x\n'],
    ['a key in the wrong case', 'Rules: []\n'],
    ['a duplicate key (the second deny would win)', 'rules:\n  - name: r\n    match: { images: ["**"] }\n    deny: a\n    deny: b\n'],
    [
      'a duplicate match (the laxer one would win)',
      'rules:\n  - name: r\n    match: { images: ["registry.example.com/prod/**"] }\n    match: { images: ["registry.example.com/none"] }\n    deny: a\n',
    ],
    ['a YAML merge key', 'rules:\n  - name: r\n    <<: { deny: x }\n    require: { signatures: {} }\n'],
    ['an alias', 'x: &a { deny: no }\nrules: []\n'],
    ['a __proto__ key', '{"rules": [], "__proto__": {"defaults": {"onUnmatched": "allow"}}}'],
    ['an upper-case severity', 'rules:\n  - name: r\n    require: { vulnerabilities: { maxSeverity: HIGH } }\n'],
    ['an unknown severity', 'rules:\n  - name: r\n    require: { vulnerabilities: { maxSeverity: unknown } }\n'],
    ['a bare-number maxAge', 'rules:\n  - name: r\n    require: { vulnerabilities: { maxAge: 72 } }\n'],
    ['an empty keys list', 'rules:\n  - name: r\n    require: { signatures: { keys: [] } }\n'],
    ['an empty require', 'rules:\n  - name: r\n    require: {}\n'],
    ['require and allow together', 'rules:\n  - name: r\n    require: { signatures: {} }\n    allow: x\n'],
    ['a pattern without host', 'rules:\n  - name: r\n    match: { images: ["nginx"] }\n    deny: x\n'],
    ['an upper-case action', 'rules:\n  - name: r\n    match: { actions: [Deploy] }\n    deny: x\n'],
    ['a permanent exception', 'rules: []\nexceptions:\n  - { images: ["**"], reason: r, approvedBy: a }\n'],
    ['an invalid calendar date', 'rules: []\nexceptions:\n  - { images: ["**"], expires: 2026-02-30, reason: r, approvedBy: a }\n'],
    ['a YAML 1.1 boolean for onError', 'defaults: { onError: yes }\nrules: []\n'],
    ['a traversal segment', 'rules:\n  - name: r\n    match: { images: ["registry.example.com/prod/../x"] }\n    deny: x\n'],
  ])('%s', (_what, text) => {
    expect(() => parsePolicy(text, 'p.yaml')).toThrow();
  });
});
