import { canonicalImageName, findRule, matchesImage, matchesSpec, parseImagePattern, parsePolicy } from '../../../src/policy';
import { EXAMPLE_POLICY, IMAGE_DIGEST, digestOf, factsOf } from './fixtures';

describe('image patterns', () => {
  it.each<[string, string, boolean]>([
    // * stays within one segment, ** crosses segments
    ['registry.example.com/acmecorp/payments-*', 'registry.example.com/acmecorp/payments-api:1.0', true],
    ['registry.example.com/acmecorp/payments-*', 'registry.example.com/acmecorp/payments-api/worker:1.0', false],
    ['registry.example.com/acmecorp/payments-*', 'registry.example.com/acmecorp/billing:1.0', false],
    ['registry.example.com/acmecorp/*', 'registry.example.com/acmecorp/team/app', false],
    ['registry.example.com/approved/**', 'registry.example.com/approved/nginx', true],
    ['registry.example.com/approved/**', 'registry.example.com/approved/bitnami/redis:7', true],
    ['registry.example.com/approved/**', 'registry.example.com/approvedx/nginx', false],
    ['registry.example.com/approved/**', 'registry.example.com/other/approved/nginx', false],
    ['registry.example.com/**/base', 'registry.example.com/a/b/base', true],
    ['**', 'quay.io/anything/at/all:tag', true],
    // Docker Hub: every spelling of the host, and the implicit library/
    ['docker.io/**', 'nginx', true],
    ['docker.io/**', 'docker.io/bitnami/redis', true],
    ['docker.io/**', 'index.docker.io/library/nginx:1.25', true],
    ['index.docker.io/**', 'registry-1.docker.io/library/nginx', true],
    ['registry-1.docker.io/library/*', 'ubuntu:22.04', true],
    ['docker.io/nginx', 'nginx:latest', true],
    ['docker.io/nginx', 'docker.io/library/nginx', true],
    ['docker.io/nginx', 'docker.io/bitnami/nginx', false],
    ['docker.io/*', 'docker.io/library/redis', true],
    ['docker.io/*', 'docker.io/bitnami/redis', false],
    ['docker.io/bitnami/*', 'bitnami/redis', true],
    ['ghcr.io/**', 'docker.io/library/ghcr.io', false],
    // hosts are case-insensitive, ports are part of the host
    ['REGISTRY.example.com/app', 'registry.example.com/app', true],
    ['localhost:5000/**', 'localhost:5000/team/app', true],
    ['localhost:5000/**', 'localhost:5001/team/app', false],
    ['*.example.com/app', 'eu.example.com/app', true],
    // tags
    ['ghcr.io/org/app:v1.*', 'ghcr.io/org/app:v1.2.3', true],
    ['ghcr.io/org/app:v1.*', 'ghcr.io/org/app:v2.0', false],
    ['ghcr.io/org/app:latest', `ghcr.io/org/app@${IMAGE_DIGEST}`, false],
  ])('%s vs %s → %s', (pattern, reference, expected) => {
    expect(matchesImage(pattern, factsOf(reference))).toBe(expected);
  });

  it('digest pins match only the pinned digest, whichever tag was asked for', () => {
    const pinned = digestOf('legacy');
    const pattern = `registry.example.com/acmecorp/legacy-batch@${pinned}`;
    expect(matchesImage(pattern, factsOf('registry.example.com/acmecorp/legacy-batch:2024', pinned))).toBe(true);
    expect(matchesImage(pattern, factsOf(`registry.example.com/acmecorp/legacy-batch@${pinned}`))).toBe(true);
    expect(matchesImage(pattern, factsOf('registry.example.com/acmecorp/legacy-batch:2024', digestOf('rebuilt')))).toBe(false);
    expect(matchesImage(pattern, factsOf('registry.example.com/acmecorp/other', pinned))).toBe(false);
  });

  it('canonical names use docker.io for Docker Hub', () => {
    expect(canonicalImageName(factsOf('nginx'))).toBe('docker.io/library/nginx');
    expect(canonicalImageName(factsOf('registry.example.com/a/b'))).toBe('registry.example.com/a/b');
  });

  it.each([
    ['nginx', 'has no registry host'],
    ['acmecorp/payments', 'does not start with a registry host'],
    ['registry.example.com//app', 'empty path segment'],
    ['registry.example.com/App', 'lowercase'],
    ['registry.example.com/app@sha256:123', 'is not a digest'],
    ['registry.example.com/app:bad tag', 'whitespace'],
    ['registry.example.com/a***', '"***" is not a wildcard'],
  ])('refuses the pattern %s', (pattern, message) => {
    const parsed = parseImagePattern(pattern);
    expect('error' in parsed && parsed.error).toContain(message);
  });

  it('treats regex characters in patterns literally', () => {
    expect(matchesImage('registry.example.com/a.b', factsOf('registry.example.com/axb'))).toBe(false);
    expect(matchesImage('registry.example.com/a.b', factsOf('registry.example.com/a.b'))).toBe(true);
  });
});

describe('match specs: namespaces and actions', () => {
  const image = factsOf('registry.example.com/acmecorp/payments-api:1.0');
  const spec = {
    images: ['registry.example.com/acmecorp/payments-*'],
    namespaces: ['payments*'],
    actions: ['deploy' as const, 'pull' as const],
  };

  it('needs every given list to match', () => {
    expect(matchesSpec(spec, { image, action: 'deploy', namespace: 'payments' })).toBe(true);
    expect(matchesSpec(spec, { image, action: 'deploy', namespace: 'payments-eu' })).toBe(true);
    expect(matchesSpec(spec, { image, action: 'deploy', namespace: 'billing' })).toBe(false);
    expect(matchesSpec(spec, { image, action: 'push', namespace: 'payments' })).toBe(false);
    expect(matchesSpec(spec, { image: factsOf('registry.example.com/acmecorp/billing'), action: 'deploy', namespace: 'payments' })).toBe(
      false,
    );
  });

  it('never matches a namespace list when the request has no namespace (registry gate)', () => {
    expect(matchesSpec(spec, { image, action: 'pull' })).toBe(false);
    expect(matchesSpec({ images: spec.images, actions: ['pull'] }, { image, action: 'pull' })).toBe(true);
  });

  it('an absent match, or an empty one, matches everything', () => {
    expect(matchesSpec(undefined, { image, action: 'push' })).toBe(true);
    expect(matchesSpec({}, { image, action: 'push' })).toBe(true);
  });
});

describe('findRule: first match wins', () => {
  const policy = parsePolicy(
    `${EXAMPLE_POLICY.split('\nexceptions:')[0]!}\n  - name: catch-all\n    require: { signatures: {} }\n`,
    'p.yaml',
  );

  it.each<[string, string, string | undefined, string | undefined]>([
    ['registry.example.com/acmecorp/payments-api:1.0', 'deploy', 'payments', 'payments'],
    ['registry.example.com/acmecorp/payments-api:1.0', 'push', undefined, 'catch-all'],
    ['registry.example.com/acmecorp/payments-api:1.0', 'deploy', 'default', 'catch-all'],
    ['registry.example.com/approved/nginx:1.25', 'deploy', 'web', 'approved-public-images'],
    ['nginx:1.25', 'deploy', 'web', 'no-direct-public-pulls'],
    ['ghcr.io/org/tool', 'pull', undefined, 'no-direct-public-pulls'],
    ['registry.example.com/internal/tool', 'push', undefined, 'catch-all'],
  ])('%s %s in %s → %s', (reference, action, namespace, expected) => {
    const rule = findRule(policy, { image: factsOf(reference), action: action as 'push', ...(namespace ? { namespace } : {}) });
    expect(rule?.name).toBe(expected);
  });

  it('takes the earlier of two matching rules, not the more specific one', () => {
    // (`second` also decides pulls and pushes: a rule that could never match is refused at load.)
    const p = parsePolicy(
      'rules:\n  - name: first\n    match: { images: ["ghcr.io/**"], actions: [deploy] }\n    deny: "a"\n  - name: second\n    match: { images: ["ghcr.io/org/*"] }\n    deny: "b"\n',
      'p',
    );
    expect(findRule(p, { image: factsOf('ghcr.io/org/app'), action: 'deploy' })?.name).toBe('first');
  });

  it('returns undefined when nothing matches', () => {
    const p = parsePolicy(EXAMPLE_POLICY, 'p');
    expect(findRule(p, { image: factsOf('registry.example.com/internal/tool'), action: 'push' })).toBeUndefined();
  });
});
