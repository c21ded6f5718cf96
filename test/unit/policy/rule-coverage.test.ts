/**
 * Rules that can never match are refused at load (src/policy/rule-coverage.ts): an earlier rule
 * whose match covers a later one on every selector (images, namespaces, actions) always decides
 * in its place. Only certain cases are refused: a legitimate ordering, or a containment the check
 * cannot prove, loads.
 */
import { parsePolicy } from '../../../src/policy';
import { matchesSpec, type MatchTarget } from '../../../src/policy/match';
import { CoverageBudget, matchCovers } from '../../../src/policy/rule-coverage';
import type { MatchSpec } from '../../../src/policy/types';
import { CountersignError } from '../../../src/shared/errors';
import { digestOf } from './fixtures';

const DIGEST = digestOf('pinned');

/** A policy of rules given as `match` flow mappings (undefined = no match), each denying. */
function policyOf(...matches: Array<string | undefined>): string {
  return `rules:\n${matches
    .map((m, i) => `  - name: r${i}\n${m === undefined ? '' : `    match: ${m}\n`}    deny: "rule ${i}"\n`)
    .join('')}`;
}

function problemsOf(text: string): Array<{ path: string; message: string }> {
  try {
    parsePolicy(text, 'p.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(CountersignError);
    return ((err as CountersignError).details as { problems: Array<{ path: string; message: string }> }).problems;
  }
  return [];
}

describe('a rule that can never match is refused', () => {
  it.each<[string, string | undefined, string | undefined]>([
    ['after a rule without match', undefined, '{ images: ["registry.example.com/prod/**"] }'],
    ['a second catch-all', undefined, undefined],
    ['after a broader image pattern', '{ images: ["registry.example.com/**"] }', '{ images: ["registry.example.com/prod/app"] }'],
    ['after "**"', '{ images: ["**"] }', `{ images: ["registry.example.com/app@${DIGEST}"] }`],
    ['a tag under an untagged pattern', '{ images: ["registry.example.com/prod/*"] }', '{ images: ["registry.example.com/prod/app:v1"] }'],
    ['a tag under a tag glob', '{ images: ["registry.example.com/app:v*"] }', '{ images: ["registry.example.com/app:v1.2"] }'],
    [
      'a digest under the same digest',
      `{ images: ["registry.example.com/app@${DIGEST}"] }`,
      `{ images: ["registry.example.com/app:v1@${DIGEST}"] }`,
    ],
    ['another spelling of Docker Hub', '{ images: ["docker.io/**"] }', '{ images: ["index.docker.io/library/nginx"] }'],
    ['docker.io/nginx under docker.io/library/*', '{ images: ["docker.io/library/*"] }', '{ images: ["docker.io/nginx"] }'],
    [
      'the default HTTPS port spelled out',
      '{ images: ["registry.example.com:443/prod/**"] }',
      '{ images: ["registry.example.com/prod/app"] }',
    ],
    ['a host glob', '{ images: ["*.example.com/**"] }', '{ images: ["registry.example.com/app"] }'],
    ['"**" inside a path', '{ images: ["registry.example.com/**/app"] }', '{ images: ["registry.example.com/team/app"] }'],
    ['one segment under "*"', '{ images: ["registry.example.com/team-*/app"] }', '{ images: ["registry.example.com/team-a/app"] }'],
    [
      'every pattern under one of the earlier ones',
      '{ images: ["registry.example.com/a/**", "registry.example.com/b/**"] }',
      '{ images: ["registry.example.com/a/x", "registry.example.com/b/y/z"] }',
    ],
    ['fewer actions', '{ actions: [push, pull] }', '{ actions: [pull] }'],
    ['every action listed is every action', '{ actions: [push, pull, deploy] }', undefined],
    ['a namespace under a namespace glob', '{ namespaces: ["payments*"] }', '{ namespaces: ["payments-eu", "payments"] }'],
    ['a namespace glob under a shorter one', '{ namespaces: ["pay*"] }', '{ namespaces: ["payments-*"] }'],
    [
      'narrower on every selector',
      '{ images: ["registry.example.com/**"], namespaces: ["prod*"], actions: [deploy, pull] }',
      '{ images: ["registry.example.com/prod/app"], namespaces: ["prod"], actions: [deploy] }',
    ],
  ])('%s', (_what, earlier, later) => {
    const problems = problemsOf(policyOf(earlier, later));
    expect(problems.map((p) => p.path)).toEqual([later === undefined ? 'rules[1]' : 'rules[1].match']);
    expect(problems[0]!.message).toContain('rule "r1" can never match');
    // Actionable: it names the rule that decides instead, where it is, and what to do.
    expect(problems[0]!.message).toContain('rule "r0" (rules[0], line 2)');
  });

  it('says how to fix it: move the specific rule up, or narrow the catch-all', () => {
    const [problem] = problemsOf(policyOf(undefined, '{ images: ["registry.example.com/prod/**"] }'));
    expect(problem!.message).toBe(
      'rule "r1" can never match: rule "r0" (rules[0], line 2) comes first and matches every request this rule could match ' +
        '(the first matching rule decides); move "r1" above "r0" (specific rules first, catch-alls last), or narrow the match of "r0"',
    );
  });

  it('an exact repeat is named as such (merge or remove)', () => {
    const match = '{ images: ["registry.example.com/prod/**"], actions: [deploy] }';
    const [problem] = problemsOf(policyOf(match, match));
    expect(problem!.message).toContain('it matches the same requests as rule "r0"');
    expect(problem!.message).toContain('merge the two rules into one, or remove one of them');
  });

  it('names the first rule that covers it, and reports each dead rule', () => {
    const problems = problemsOf(
      policyOf(
        '{ images: ["registry.example.com/prod/**"] }',
        undefined,
        '{ images: ["registry.example.com/prod/a"] }',
        '{ actions: [push] }',
      ),
    );
    expect(problems.map((p) => [p.path, /rule "(r\d)" \(rules/.exec(p.message)![1]])).toEqual([
      ['rules[2].match', 'r0'],
      ['rules[3].match', 'r1'],
    ]);
  });
});

describe('legitimate orderings load', () => {
  it.each<[string, string | undefined, string | undefined]>([
    ['a specific rule before a catch-all', '{ images: ["registry.example.com/prod/**"] }', undefined],
    [
      'a deeper pattern after a one-segment one',
      '{ images: ["registry.example.com/prod/*"] }',
      '{ images: ["registry.example.com/prod/**"] }',
    ],
    [
      '"**" does not cover the repository itself',
      '{ images: ["registry.example.com/prod/**"] }',
      '{ images: ["registry.example.com/prod"] }',
    ],
    ['untagged requests after a tag rule', '{ images: ["registry.example.com/app:v*"] }', '{ images: ["registry.example.com/app"] }'],
    ['other digests after a pinned one', `{ images: ["registry.example.com/app@${DIGEST}"] }`, '{ images: ["registry.example.com/app"] }'],
    ['other actions after an action-specific rule', '{ actions: [push] }', '{ images: ["registry.example.com/**"] }'],
    ['requests without a namespace after a namespaced rule', '{ namespaces: ["*"] }', undefined],
    ['a namespace the glob does not cover', '{ namespaces: ["payments*"] }', '{ namespaces: ["payments", "dev"] }'],
    ['another registry', '{ images: ["registry.example.com/**"] }', '{ images: ["registry.example.com:5000/app"] }'],
    ['docker.io/* is only official images', '{ images: ["docker.io/*"] }', '{ images: ["docker.io/acme/app"] }'],
    [
      'one pattern of the later rule not covered',
      '{ images: ["registry.example.com/a/**"] }',
      '{ images: ["registry.example.com/a/x", "registry.example.com/b/x"] }',
    ],
    // An image whose name is not well-formed matches no pattern, "**" included, but a rule without
    // images matches it: not certain to be dead, so accepted.
    ['a rule without images after "**"', '{ images: ["**"] }', undefined],
  ])('%s', (_what, earlier, later) => {
    expect(problemsOf(policyOf(earlier, later))).toEqual([]);
  });

  it('the example policies of the docs and fixtures still load', () => {
    // Specific rules first, the catch-all last; the push rule of the promotion example before
    // rules for every action of the same repositories.
    expect(
      problemsOf(`rules:
  - name: prod-push
    match: { images: ['registry.example.com/prod/*'], actions: [push] }
    require: { signatures: { keys: [ci-release] } }
  - name: prod-pull
    match: { images: ['registry.example.com/prod/*'] }
    require: { signatures: { keys: [ci-release] } }
  - name: other-pushes
    match: { actions: [push] }
    allow: 'evidence arrives after the image; pulls are gated'
  - name: everything-signed
    require: { signatures: {} }
`),
    ).toEqual([]);
  });

  it('a rule whose own match has a problem is reported for that problem only (it neither covers nor is covered)', () => {
    const problems = problemsOf(policyOf('{ images: ["nginx"] }', '{ images: ["registry.example.com/app"] }', '{ images: [] }'));
    expect(problems.map((p) => p.path)).toEqual(['rules[0].match.images[0]', 'rules[2].match.images']);
  });

  it('many rules load in bounded time', () => {
    const rules = Array.from(
      { length: 1200 },
      (_, i) => `{ images: ["registry.example.com/team-${i}/*", "registry.example.com/t${i}/**"] }`,
    );
    const started = Date.now();
    expect(problemsOf(policyOf(...rules))).toEqual([]);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe('soundness: a covered match never matches a request its cover does not', () => {
  it('on random matches and requests', () => {
    // mulberry32: small, seeded, and with no short cycles in its low bits.
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    const pick = <T>(items: readonly T[]): T => items[rand(items.length)]!;
    const D1 = digestOf('d1');
    const D2 = digestOf('d2');
    const hosts = ['r.io', 'r.io:443', '*.io', 'docker.io', 'index.docker.io', '*'];
    const segments = ['a', 'b', 'ab', '*', '**', 'a*', '*b', 'library'];
    const randomPattern = (): string => {
      if (rand(12) === 0) return '**';
      const path = Array.from({ length: 1 + rand(2) }, () => pick(segments)).join('/');
      const tag = pick(['', '', '', ':v1', ':v*', ':*']);
      const digest = pick(['', '', '', `@${D1}`]);
      return `${pick(hosts)}/${path}${tag}${digest}`;
    };
    const randomSpec = (): MatchSpec | undefined => {
      if (rand(6) === 0) return undefined;
      const spec: MatchSpec = {};
      if (rand(3) > 0) spec.images = [...new Set(Array.from({ length: 1 + rand(2) }, randomPattern))];
      if (rand(3) === 0) spec.namespaces = [...new Set(Array.from({ length: 1 + rand(2) }, () => pick(['a', 'ab', 'a*', '*b', '*'])))];
      if (rand(3) === 0) spec.actions = [...new Set(Array.from({ length: 1 + rand(2) }, () => pick(['push', 'pull', 'deploy'] as const)))];
      return spec;
    };
    const randomRequest = (): MatchTarget => {
      const repository = Array.from({ length: 1 + rand(3) }, () => pick(['a', 'b', 'ab', 'library'])).join('/');
      const tag = pick([undefined, 'v1', 'v2', 'x']);
      const namespace = pick([undefined, 'a', 'ab', 'b', 'ba']);
      return {
        image: {
          reference: '',
          registry: pick(['r.io', 'x.io', 'docker.io', 'index.docker.io', 'r.io:443']),
          repository,
          ...(tag !== undefined ? { tag } : {}),
          digest: pick([D1, D2]),
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
        },
        action: pick(['push', 'pull', 'deploy'] as const),
        ...(namespace !== undefined ? { namespace } : {}),
      };
    };
    const requests = Array.from({ length: 2000 }, randomRequest);
    let covered = 0;
    let coveredImages = 0;
    const counterexamples: unknown[] = [];
    for (let i = 0; i < 3000; i++) {
      const earlier = randomSpec();
      const later = randomSpec();
      if (!matchCovers(earlier, later, new CoverageBudget())) continue;
      covered++;
      const matching = requests.filter((r) => matchesSpec(later, r));
      if (earlier?.images !== undefined && matching.length > 0) coveredImages++;
      const request = matching.find((r) => !matchesSpec(earlier, r));
      if (request) counterexamples.push({ earlier, later, request });
    }
    expect(counterexamples).toEqual([]);
    // The check is not vacuous: a good share of the pairs are found covered.
    expect(covered).toBeGreaterThan(300);
    expect(coveredImages).toBeGreaterThan(50);
  });
});
