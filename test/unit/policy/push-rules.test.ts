import { DEFAULT_POLICY, evaluate, evidenceSources, parsePolicy, PUSH_LABELS, type Policy } from '../../../src/policy';
import type { Evidence, RequestContext } from '../../../src/policy/input';
import { IMAGE_DIGEST, image, signature } from './fixtures';

const NOW = new Date('2026-06-01T12:00:00Z');
const OTHER = `sha256:${'9'.repeat(64)}`;
const POLICY = parsePolicy(
  `rules:
  - name: prod-push
    match: { images: ["registry.example.com/prod/*"], actions: [push] }
    evidenceFrom: ["registry.example.com/staging/{name}"]
    push:
      immutableTags: ["v*"]
      tagPattern: "v[0-9]+\\\\.[0-9]+\\\\.[0-9]+|latest"
      identities: ["ci-team-a", "release-*"]
    require:
      signatures: { keys: [ci-release] }
  - name: open-push
    match: { actions: [push] }
    push: { immutableTags: ["stable"] }
    allow: "content until pulled"
  - name: pulls
    require: { signatures: { keys: [ci-release] } }
`,
  'policy.yaml',
);

function push(
  tag: string,
  context: RequestContext,
  evidence: Evidence[] = [signature('ci-release')],
  policy: Policy = POLICY,
  repo = 'prod/app',
) {
  return evaluate(policy, {
    image: image(`registry.example.com/${repo}:${tag}@${IMAGE_DIGEST}`),
    action: 'push',
    context,
    evidence,
    now: NOW,
  });
}
const labels = (current: string, extra: Record<string, string> = {}) => ({ [PUSH_LABELS.currentDigest]: current, ...extra });

describe('push rules', () => {
  test('an allowed identity writes a well-named new tag with the evidence', () => {
    const d = push('v1.2.3', { identity: 'ci-team-a', labels: labels('') });
    expect(d.allowed).toBe(true);
    expect(d.requirements.map((r) => r.requirement)).toEqual(['push.identities', 'push.tagPattern', 'push.immutableTags', 'signatures']);
  });

  test('identities: an unlisted or missing identity is denied, before any evidence', () => {
    const d = push('v1.2.3', { identity: 'mallory', labels: labels('') });
    expect(d.allowed).toBe(false);
    expect(d.reasons).toEqual(['mallory may not push to registry.example.com/prod/app: rule prod-push does not list this identity']);
    // The reason reaches the pusher (the gate's 403): it names who was refused and by which rule,
    // never who would be accepted (that is a list of accounts worth stealing).
    expect(d.requirements.map((r) => r.message).join(' ')).not.toMatch(/ci-team-a|release-/);
    expect(push('v1.2.3', { labels: labels('') }).reasons[0]).toContain('an unidentified pusher may not push');
    expect(push('v1.2.3', { identity: 'release-bot', labels: labels('') }).allowed).toBe(true);
  });

  test('tag naming: a tag that breaks the rule is denied, the whole tag must match', () => {
    const d = push('v1.2', { identity: 'ci-team-a', labels: labels('') });
    expect(d.allowed).toBe(false);
    expect(d.reasons[0]).toContain('tag "v1.2" does not follow the naming rule');
    expect(push('xv1.2.3', { identity: 'ci-team-a', labels: labels('') }).allowed).toBe(false);
    expect(push('v1.2.3-rc', { identity: 'ci-team-a', labels: labels('') }).allowed).toBe(false);
  });

  test('immutable tags: same digest again is fine, another digest or a delete is denied, unknown current target is denied', () => {
    const ctx = (current: string | undefined, op?: string): RequestContext => ({
      identity: 'ci-team-a',
      labels: {
        ...(current !== undefined ? { [PUSH_LABELS.currentDigest]: current } : {}),
        ...(op ? { [PUSH_LABELS.operation]: op } : {}),
      },
    });
    expect(push('v1.2.3', ctx(IMAGE_DIGEST)).allowed).toBe(true);
    const moved = push('v1.2.3', ctx(OTHER));
    expect(moved.allowed).toBe(false);
    expect(moved.reasons[0]).toBe(`tag v1.2.3 is immutable (v*): it points at ${OTHER} and cannot be moved to ${IMAGE_DIGEST}`);
    const unknown = push('v1.2.3', ctx(undefined));
    expect(unknown.allowed).toBe(false);
    expect(unknown.reasons[0]).toContain('does not say what it points at now');
    const del = push('v1.2.3', ctx(IMAGE_DIGEST, 'delete'));
    expect(del.allowed).toBe(false);
    expect(del.reasons[0]).toContain('cannot be deleted');
    // "latest" is a valid name but not immutable: it may move, and be deleted without evidence.
    expect(push('latest', ctx(OTHER)).allowed).toBe(true);
    expect(push('latest', ctx(OTHER, 'delete'), []).allowed).toBe(true);
  });

  test('a delete by digest is denied where tags are immutable, allowed elsewhere without evidence', () => {
    const byDigest = (repo: string) =>
      evaluate(POLICY, {
        image: image(`registry.example.com/${repo}@${IMAGE_DIGEST}`),
        action: 'push',
        context: { identity: 'ci-team-a', labels: { [PUSH_LABELS.operation]: 'delete' } },
        evidence: [],
        now: NOW,
      });
    expect(byDigest('prod/app').allowed).toBe(false);
    expect(byDigest('prod/app').reasons[0]).toContain('cannot be deleted by digest');
    const open = parsePolicy(`rules:\n  - name: o\n    require: { signatures: { minimum: 1 } }\n`, 'o.yaml');
    const d = evaluate(open, {
      image: image(`registry.example.com/x/app@${IMAGE_DIGEST}`),
      action: 'push',
      context: { labels: { [PUSH_LABELS.operation]: 'delete' } },
      evidence: [],
      now: NOW,
    });
    expect(d.allowed).toBe(true);
  });

  test('push rules apply to allow rules too, and never to pulls', () => {
    expect(push('stable', { labels: labels(OTHER) }, [], POLICY, 'team/app').allowed).toBe(false);
    expect(push('stable', { labels: labels('') }, [], POLICY, 'team/app').allowed).toBe(true);
    const pull = evaluate(POLICY, {
      image: image(`registry.example.com/prod/app:v1.2@${IMAGE_DIGEST}`),
      action: 'pull',
      context: {},
      evidence: [signature('ci-release')],
      now: NOW,
    });
    expect(pull.allowed).toBe(true);
  });

  test('mode warn turns push-rule failures into warnings', () => {
    const warn = parsePolicy(`rules:\n  - name: w\n    mode: warn\n    push: { identities: [ci] }\n    allow: ok\n`, 'w.yaml');
    const d = push('v1', { identity: 'mallory' }, [], warn);
    expect(d.allowed).toBe(true);
    expect(d.warnings[0]).toContain('mallory may not push');
  });

  test('the loader refuses a bad regex, unknown push fields and bad evidence sources, naming the line', () => {
    expect(() => parsePolicy(`rules:\n  - name: a\n    push: { tagPattern: "(" }\n    allow: x\n`, 'p.yaml')).toThrow(
      /p\.yaml:3:.*rules\[0\]\.push\.tagPattern: is not a valid regular expression/,
    );
    expect(() => parsePolicy(`rules:\n  - name: a\n    push: { immutable: [v*] }\n    allow: x\n`, 'p.yaml')).toThrow(
      /rules\[0\]\.push\.immutable: unknown field.*immutableTags/,
    );
    expect(() => parsePolicy(`rules:\n  - name: a\n    evidenceFrom: ["staging/{repo}"]\n    allow: x\n`, 'p.yaml')).toThrow(
      /rules\[0\]\.evidenceFrom\[0\]/,
    );
  });

  test('no policy file: pushes are allowed, pulls need a trusted signature', () => {
    expect(push('v1', {}, [], DEFAULT_POLICY).allowed).toBe(true);
    const pull = evaluate(DEFAULT_POLICY, {
      image: image(`registry.example.com/prod/app:v1@${IMAGE_DIGEST}`),
      action: 'pull',
      context: {},
      evidence: [],
      now: NOW,
    });
    expect(pull.allowed).toBe(false);
  });
});

describe('content writes (operation content): who writes is judged, never evidence', () => {
  const content = (ref: string, context: RequestContext, policy: Policy = POLICY) =>
    evaluate(policy, {
      image: image(ref),
      action: 'push',
      context: { ...context, labels: { [PUSH_LABELS.operation]: 'content', ...context.labels } },
      evidence: [],
      now: NOW,
    });

  test('an unlisted or unidentified writer is denied; a listed one is allowed with no evidence at all', () => {
    const denied = content(`registry.example.com/prod/app@${IMAGE_DIGEST}`, { identity: 'mallory' });
    expect(denied.allowed).toBe(false);
    expect(denied.reasons).toEqual(['mallory may not push to registry.example.com/prod/app: rule prod-push does not list this identity']);
    expect(content(`registry.example.com/prod/app@${IMAGE_DIGEST}`, {}).reasons[0]).toContain('an unidentified pusher');
    const ok = content(`registry.example.com/prod/app@${IMAGE_DIGEST}`, { identity: 'release-bot' });
    expect(ok.allowed).toBe(true);
    expect(ok.requirements.map((r) => r.requirement)).toEqual(['push.identities', 'content']);
    expect(ok.evidenceUsed).toEqual([]);
  });

  test('an evidence tag is content: neither the naming rule nor immutability applies to it, and the reason names it', () => {
    const tag = `sha256-${'1'.repeat(64)}`;
    const policy = parsePolicy(
      `rules:\n  - name: p\n    push: { immutableTags: ["*"], tagPattern: "v[0-9]+", identities: [ci] }\n    require: { signatures: { minimum: 1 } }\n`,
      'p.yaml',
    );
    const d = content(
      `registry.example.com/prod/app@${IMAGE_DIGEST}`,
      { identity: 'ci', labels: { [PUSH_LABELS.tag]: tag, [PUSH_LABELS.currentDigest]: OTHER } },
      policy,
    );
    expect(d.allowed).toBe(true);
    expect(d.requirements.map((r) => r.requirement)).toEqual(['push.identities', 'content']);
    expect(d.reasons.join(' ')).toContain(`evidence tag ${tag}`);
  });

  test('a deny rule denies content too; an unmatched write follows onUnmatched', () => {
    const frozen = parsePolicy(
      `defaults: { onUnmatched: deny }\nrules:\n  - name: frozen\n    match: { images: ["registry.example.com/frozen/**"], actions: [push] }\n    deny: "frozen for the audit"\n`,
      'f.yaml',
    );
    const d = content(`registry.example.com/frozen/app@${IMAGE_DIGEST}`, { identity: 'ci' }, frozen);
    expect(d.allowed).toBe(false);
    expect(d.reasons[0]).toContain('frozen for the audit');
    expect(content(`registry.example.com/other/app@${IMAGE_DIGEST}`, { identity: 'ci' }, frozen).allowed).toBe(false);
  });

  test('no policy file: content may be written by anyone', () => {
    expect(content(`registry.example.com/prod/app@${IMAGE_DIGEST}`, {}, DEFAULT_POLICY).allowed).toBe(true);
  });
});

describe('evidenceFrom', () => {
  test('names the staging repository of the same name for the deciding rule only', () => {
    const target = (repo: string, action: 'push' | 'pull') => ({ image: image(`registry.example.com/${repo}:v1@${IMAGE_DIGEST}`), action });
    expect(evidenceSources(POLICY, target('prod/app', 'push'))).toEqual([{ registry: 'registry.example.com', repository: 'staging/app' }]);
    expect(evidenceSources(POLICY, target('prod/app', 'pull'))).toEqual([]);
    expect(evidenceSources(POLICY, target('team/app', 'push'))).toEqual([]);
  });
});
