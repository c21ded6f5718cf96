/**
 * Adversarial review of "who may sign what", from the point of view of a CI job holding a signer
 * token scoped to team A's repositories (`<registry>/team-a/*`) that wants a valid organization
 * signature on an image of team B, on a path it does not own, or with a key scoped to another
 * team. The whole chain: the real service (createApp, access control enforced, bearer tokens,
 * real gRPC) over the in-process fake registry, so that every registry write a call makes is seen;
 * the matcher, the access check and SigningService directly where a registry we cannot run
 * (Docker Hub) or a client certificate is needed.
 *
 * The review's three findings are fixed (host wildcards, mTLS scopes, Docker Hub aliases); their
 * tests state the behaviour now. Tests titled "documented: …" pin a property that is by design (cosign's formats bind a
 * signature to a digest, not to a repository) so that a change to it is a decision, not an
 * accident. The others are guards for behaviour checked and found correct.
 */
import { createHash } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { AccessControl } from '../../../src/auth';
import { authorize } from '../../../src/auth/policy';
import { registryEndpointHost } from '../../../src/registry/reference';
import { EndpointResolver } from '../../../src/registry/endpoint';
import type { CallOptions, RegistryClient, ReferrerStore } from '../../../src/registry';
import type { Descriptor, RepositoryRef } from '../../../src/registry/types';
import { CountersignError } from '../../../src/shared/errors';
import { canonicalName, scopeMatches } from '../../../src/shared/image-pattern';
import { SigningService } from '../../../src/signing/signing-service';
import { grpcFailure, startService, type RunningService } from '../../support/harness';
import { tempKeyStore, type TempKeyStore } from '../../support/managed-keys';
import { fakeCall } from '../auth/helpers';
import { FakeRegistry } from '../registry/fake-registry';
import { storeImage } from '../verification/bundle-fixtures';

const SIGN = 'countersign.v1.SigningService/Sign';

let fake: FakeRegistry;
let svc: RunningService;
let REG: string;
/** The fake registry's port. */
const port = (): string => REG.slice(REG.lastIndexOf(':') + 1);
const tokens: Record<string, string> = {};

beforeAll(async () => {
  fake = await FakeRegistry.start({ referrersApi: true });
  REG = fake.host;
  svc = await startService({ auth: { mode: 'enforce', mtlsBindings: [] } });
  const token = async (name: string, roles: Array<'signer' | 'verifier'>, scopes: string[] = []) =>
    (tokens[name] = (await svc.app.tokens.create({ name, roles, scopes, createdBy: 'test' })).token);
  await token('ci-team-a', ['signer'], [`${REG}/team-a/*`]);
  await token('ci-team-a-deep', ['signer'], [`${REG}/team-a/**`]);
  await token('ci-any', ['signer'], ['**']);
  await token('ci-wild-host', ['signer'], ['**.example.com/team-a/*']);
  await token('gate', ['verifier']);
  const key = (name: string, scopes?: string[]) => svc.app.keys.createKey({ name, ...(scopes ? { scopes } : {}) }, 'test');
  await key('org'); // no scopes: any repository
  await key('team-a-key', [`${REG}/team-a/*`]);
  await key('team-b-key', [`${REG}/team-b/*`]);
  await key('wild-host-key', ['**.example.com/team-a/*']);
  await key('rotating-a', [`${REG}/team-a/*`]);
});

afterAll(async () => {
  await svc.stop();
  await fake.close();
});

// ---- helpers --------------------------------------------------------------------------------------

let counter = 0;
interface Img {
  repo: string;
  digest: string;
  tagRef: string;
  digestRef: string;
}
/** A fresh image (unique content) in `repo`, tagged v1. */
function newImage(repo: string, content = `content-${++counter}-${Math.random()}`): Img {
  const { digest } = storeImage(fake, repo, content, 'v1');
  return { repo, digest, tagRef: `${REG}/${repo}:v1`, digestRef: `${REG}/${repo}@${digest}` };
}

interface Signed {
  image: string;
  digest: string;
  referrerDigest: string;
  bundle: string;
  keyName: string;
}
interface VerifyAnswer {
  allowed: boolean;
  evidence: Array<{ verified: boolean; reason: string; keyName: string; kind: string; predicateType: string; referrerDigest: string }>;
}

const sign = (token: string, image: string, key: string) =>
  svc.call<{ result: Signed }>('Sign', { image, key }, 30_000, tokens[token]).then((r) => r.result);
const attest = (token: string, image: string, key: string, predicateType: string, predicate: unknown) =>
  svc
    .call<{ result: Signed }>(
      'Attest',
      { image, key, predicateType, predicate: Buffer.from(JSON.stringify(predicate)) },
      30_000,
      tokens[token],
    )
    .then((r) => r.result);
const verify = (image: string) => svc.call<VerifyAnswer>('Verify', { image, action: 'ACTION_DEPLOY' }, 30_000, tokens.gate);

/** 'OK', or the gRPC status name the call failed with. */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch {
    return (await grpcFailure(p)).code;
  }
}

/** Registry writes (anything but GET/HEAD) seen since `from`, as "METHOD /v2/<repo>/…". */
const writesSince = (from: number): string[] =>
  fake.requests
    .slice(from)
    .filter((r) => r.method !== 'GET' && r.method !== 'HEAD')
    .map((r) => `${r.method} ${r.path}`);

/** The in-toto statement a bundle's DSSE envelope carries. */
function statementOf(bundle: string): { subject: Array<{ name?: string; digest: Record<string, string> }>; predicateType: string } {
  const json = JSON.parse(bundle) as { dsseEnvelope: { payload: string } };
  return JSON.parse(Buffer.from(json.dsseEnvelope.payload, 'base64').toString('utf8')) as ReturnType<typeof statementOf>;
}

/**
 * What an attacker with push access to `to` does: copies a referrer manifest (and its blobs) byte
 * for byte from one repository into another holding the same image digest. With the referrers
 * API, the copy is then listed as a referrer of that digest in `to`.
 */
function copyReferrer(from: string, to: string, referrerDigest: string): void {
  const source = fake.repo(from);
  const m = source.manifests.get(referrerDigest)!;
  const parsed = JSON.parse(m.bytes.toString('utf8')) as { config: { digest: string }; layers: Array<{ digest: string }> };
  for (const d of [parsed.config, ...parsed.layers]) fake.storeBlob(to, source.blobs.get(d.digest)!);
  fake.storeManifest(to, m.bytes, m.mediaType);
}

// -------------------------------------------------------------------------------------------------
describe('reference spellings under a token scoped to REG/team-a/*', () => {
  const D = `sha256:${'a'.repeat(64)}`;
  const refused: Array<[string, () => string]> = [
    ["team-b's repository", () => `${REG}/team-b/app:v1`],
    ['a .. segment', () => `${REG}/team-a/../team-b/app:v1`],
    ['a . segment', () => `${REG}/team-a/./app:v1`],
    ['an empty segment', () => `${REG}/team-a//app:v1`],
    ['a trailing slash', () => `${REG}/team-a/app/`],
    ['percent-encoded ..', () => `${REG}/team-a/%2e%2e/team-b/app`],
    ['a percent-encoded slash', () => `${REG}/team-a%2fapp`],
    ['capitals in the path', () => `${REG}/Team-A/app`],
    ['a Cyrillic а (U+0430) look-alike', () => `${REG}/team-\u0430/app`],
    ['a zero-width space', () => `${REG}/team-a/app\u200b`],
    ['a no-break space', () => `${REG}/team-a/app\u00a0:v1`],
    ['a leading blank', () => ` ${REG}/team-a/app`],
    ['the host spelled localhost (another name for the same socket)', () => `localhost:${port()}/team-a/app`],
    ['the host as IPv6 loopback', () => `[::1]:${port()}/team-a/app`],
    ['the host with a trailing dot', () => `127.0.0.1.:${port()}/team-a/app`],
    ['the team-a namespace itself', () => `${REG}/team-a`],
    ['a nested repository (`*` is one segment)', () => `${REG}/team-a/x/y`],
    ['a sibling prefix', () => `${REG}/team-ab/app`],
    ['Docker Hub team-a (the scope pins the registry)', () => `team-a/app`],
    ['docker.io/team-a', () => `docker.io/team-a/app`],
    ['another registry holding REG as a path', () => `evil.example/${REG.replace(':', '-')}/team-a/app`],
    ["team-b's repository with a digest", () => `${REG}/team-b/app:v1@${D}`],
    ['a repository path longer than 255 characters', () => `${REG}/team-a/${'a'.repeat(300)}`],
    ['a digest of an unsupported algorithm', () => `${REG}/team-a/app@sha384:${'a'.repeat(96)}`],
  ];
  test.each(refused)('%s: refused before any registry request, for Sign and for Attest', async (_what, ref) => {
    const before = fake.requests.length;
    expect(await outcome(sign('ci-team-a', ref(), 'org'))).not.toBe('OK');
    expect(await outcome(attest('ci-team-a', ref(), 'org', 'https://example.com/predicate/v1', { a: 1 }))).not.toBe('OK');
    expect(fake.requests.length).toBe(before);
  });

  test('in-scope spellings (tag, digest, tag@digest) sign the digest in REG/team-a/app and write nowhere else', async () => {
    const img = newImage('team-a/app-spell');
    const other = newImage('team-a/app-spell'); // v1 now points at `other`
    for (const ref of [img.digestRef, `${REG}/${img.repo}:v1@${img.digest}`]) {
      const from = fake.requests.length;
      const r = await sign('ci-team-a', ref, 'org');
      expect(r.digest).toBe(img.digest); // the digest wins over the tag, as with cosign
      const writes = writesSince(from);
      expect(writes.length).toBeGreaterThan(0);
      for (const w of writes) expect(w).toMatch(new RegExp(`^(PUT|POST|PATCH) /v2/team-a/app-spell/`));
    }
    const byTag = await sign('ci-team-a', `${REG}/${img.repo}:v1`, 'org');
    expect(byTag.digest).toBe(other.digest);
  });

  test('`**` covers nested repositories of team-a only: not team-a itself, not a sibling prefix, not team-b', async () => {
    const nested = newImage('team-a/group/app');
    expect(await outcome(sign('ci-team-a-deep', nested.digestRef, 'org'))).toBe('OK');
    expect(await outcome(sign('ci-team-a', nested.digestRef, 'org'))).toBe('PERMISSION_DENIED');
    for (const repo of ['team-a', 'team-ab/app', 'team-b/team-a/app']) {
      const img = newImage(repo);
      expect([repo, await outcome(sign('ci-team-a-deep', img.digestRef, 'org'))]).toEqual([repo, 'PERMISSION_DENIED']);
    }
  });

  test("naming team-b's digest under team-a's repository signs nothing: the digest must be in team-a's repository", async () => {
    const b = newImage('team-b/app-digest');
    const a = newImage('team-a/app-digest');
    const from = fake.requests.length;
    expect(await outcome(sign('ci-team-a', `${REG}/team-a/app-digest@${b.digest}`, 'org'))).toBe('NOT_FOUND');
    expect(await outcome(sign('ci-team-a', `${REG}/team-a/app-digest:v1@${b.digest}`, 'org'))).toBe('NOT_FOUND');
    expect(writesSince(from)).toEqual([]);
    expect((await verify(`${REG}/team-b/app-digest@${b.digest}`)).allowed).toBe(false);
    expect(a.digest).not.toBe(b.digest);
  });

  test('a digest of another algorithm (sha512) the registry does not hold: nothing signed, nothing written', async () => {
    newImage('team-a/app-sha512');
    const from = fake.requests.length;
    expect(await outcome(sign('ci-team-a', `${REG}/team-a/app-sha512@sha512:${'b'.repeat(128)}`, 'org'))).not.toBe('OK');
    expect(writesSince(from)).toEqual([]);
  });

  test('a Sign whose referrer write fails, then its retry: every write of both goes to team-a, one referrer results', async () => {
    const img = newImage('team-a/app-retry');
    fake.inject({ method: 'PUT', path: /^\/v2\/team-a\/app-retry\/manifests\/sha256:/, status: 403, times: 1 });
    const from = fake.requests.length;
    expect(await outcome(sign('ci-team-a', img.digestRef, 'org'))).toBe('PERMISSION_DENIED');
    const signed = await sign('ci-team-a', img.digestRef, 'org');
    const writes = writesSince(from);
    for (const w of writes) expect(w).toMatch(/^(PUT|POST|PATCH) \/v2\/team-a\/app-retry\//);
    const v = await verify(img.digestRef);
    expect(v.allowed).toBe(true);
    expect(v.evidence.filter((e) => e.verified).map((e) => e.referrerDigest)).toEqual([signed.referrerDigest]);
  });

  test('ports: :443 and :0443 are the default HTTPS port for the scope and for the connection alike', () => {
    const id = { subject: 'token:t', roles: ['signer' as const], scopes: ['registry.example.com/team-a/*'], via: 'token' as const };
    for (const image of ['registry.example.com:443/team-a/app', 'registry.example.com:0443/team-a/app']) {
      expect(() => authorize(id, SIGN, { image })).not.toThrow();
      expect(new EndpointResolver().origin(image.split('/')[0]!)).toBe('https://registry.example.com');
    }
    expect(() => authorize(id, SIGN, { image: 'registry.example.com:4443/team-a/app' })).toThrow(CountersignError);
    expect(() => authorize(id, SIGN, { image: 'registry.example.com:0/team-a/app' })).toThrow(CountersignError);
  });
});

// -------------------------------------------------------------------------------------------------
describe('token scope and key scope: both must hold', () => {
  test("team-b's key under team-a's token: refused for team-a (key scope) and for team-b (token scope), nothing written", async () => {
    const a = newImage('team-a/app-keys');
    const b = newImage('team-b/app-keys');
    const from = fake.requests.length;
    const onA = await grpcFailure(sign('ci-team-a', a.digestRef, 'team-b-key'));
    expect(onA.code).toBe('PERMISSION_DENIED');
    expect(onA.details).toContain('key team-b-key may only sign');
    const onB = await grpcFailure(sign('ci-team-a', b.digestRef, 'team-b-key'));
    expect(onB.code).toBe('PERMISSION_DENIED');
    expect(onB.details).toContain('token:ci-team-a');
    const att = await grpcFailure(attest('ci-team-a', a.digestRef, 'team-b-key', 'https://example.com/p/v1', { x: 1 }));
    expect(att.code).toBe('PERMISSION_DENIED');
    expect(writesSince(from)).toEqual([]);
  });

  test("team-a's key under a `**` token: team-b refused by the key's scope, team-a signed", async () => {
    const a = newImage('team-a/app-keys2');
    const b = newImage('team-b/app-keys2');
    const from = fake.requests.length;
    expect(await outcome(sign('ci-any', b.digestRef, 'team-a-key'))).toBe('PERMISSION_DENIED');
    expect(writesSince(from)).toEqual([]);
    expect((await sign('ci-any', a.digestRef, 'team-a-key')).keyName).toBe('team-a-key');
  });

  test('a rotated key keeps its scopes: its successor still refuses team-b and still signs team-a', async () => {
    await svc.app.keys.rotate('rotating-a', { overlapSeconds: 0 }, 'test');
    const a = newImage('team-a/app-rot');
    const b = newImage('team-b/app-rot');
    expect(await outcome(sign('ci-any', b.digestRef, 'rotating-a'))).toBe('PERMISSION_DENIED');
    expect(await outcome(sign('ci-any', a.digestRef, 'rotating-a'))).toBe('OK');
  });

  test('documented: a key without scopes (the organization key) signs whatever the token may sign; its owner team restricts nothing', async () => {
    const a = newImage('team-a/app-org');
    const b = newImage('team-b/app-org');
    expect((await sign('ci-team-a', a.digestRef, 'org')).keyName).toBe('org');
    expect(await outcome(sign('ci-team-a', b.digestRef, 'org'))).toBe('PERMISSION_DENIED');
  });
});

// -------------------------------------------------------------------------------------------------
describe('what is signed, and whether it can be replayed in another repository', () => {
  test("Sign's statement names the digest only (cosign's sign/v1), Attest's names the scope-checked repository and the image digest", async () => {
    const img = newImage('team-a/app-stmt');
    const s = statementOf((await sign('ci-team-a', img.tagRef, 'org')).bundle);
    expect(s.subject).toEqual([{ digest: { sha256: img.digest.slice(7) } }]);
    expect(s.predicateType).toBe('https://sigstore.dev/cosign/sign/v1');
    const a = statementOf((await attest('ci-team-a', img.tagRef, 'org', 'https://example.com/predicate/v1', { ok: true })).bundle);
    expect(a.subject).toEqual([{ name: `${REG}/team-a/app-stmt`, digest: { sha256: img.digest.slice(7) } }]);
  });

  test("a copy of a signature by team-a's scoped key into team-b's repository (same digest) does not count for team-b", async () => {
    const content = `shared-${Math.random()}`;
    const a = newImage('team-a/app-copy', content);
    const b = newImage('team-b/app-copy', content);
    expect(b.digest).toBe(a.digest);
    const signed = await sign('ci-team-a', a.digestRef, 'team-a-key');
    copyReferrer(a.repo, b.repo, signed.referrerDigest);
    expect((await verify(a.digestRef)).allowed).toBe(true);
    const onB = await verify(b.digestRef);
    expect(onB.allowed).toBe(false);
    const copied = onB.evidence.find((e) => e.referrerDigest === signed.referrerDigest);
    expect(copied?.verified).toBe(false);
    expect(copied?.reason).toContain('may only vouch for');
  });

  test(
    'documented: a signature by an unscoped key is bound to the digest, not the repository (cosign sign/v1 has no subject name), ' +
      "so a copy in team-b's repository counts for team-b: key scopes (or per-repository keys in the policy) are what bind signatures to repositories",
    async () => {
      const content = `shared-org-${Math.random()}`;
      const a = newImage('team-a/app-copy-org', content);
      const b = newImage('team-b/app-copy-org', content);
      const signed = await sign('ci-team-a', a.digestRef, 'org');
      // (Not asked before the copy: a deny is cached for verification.negativeCacheTtlMs.)
      copyReferrer(a.repo, b.repo, signed.referrerDigest);
      const v = await verify(b.digestRef);
      expect(v.allowed).toBe(true);
      expect(v.evidence.find((e) => e.referrerDigest === signed.referrerDigest)).toMatchObject({ verified: true, keyName: 'org' });
    },
  );

  test("documented: an attestation whose signed subject name is team-a's repository, copied into team-b, is verified evidence for team-b (the name is informative, as for cosign)", async () => {
    const content = `shared-att-${Math.random()}`;
    const a = newImage('team-a/app-copy-att', content);
    const b = newImage('team-b/app-copy-att', content);
    const made = await attest('ci-team-a', a.digestRef, 'org', 'https://example.com/predicate/v1', { ok: true });
    expect(statementOf(made.bundle).subject[0]!.name).toBe(`${REG}/team-a/app-copy-att`);
    copyReferrer(a.repo, b.repo, made.referrerDigest);
    const onB = await verify(b.digestRef);
    const copied = onB.evidence.find((e) => e.referrerDigest === made.referrerDigest);
    expect(copied).toMatchObject({ verified: true, kind: 'attestation', predicateType: 'https://example.com/predicate/v1' });
  });

  test(
    "documented: Attest signs a raw Trivy report that says it scanned team-b's image (ArtifactName, RepoDigests) onto team-a's " +
      'digest; what is signed is about the attested digest only',
    async () => {
      const a = newImage('team-a/app-trivy');
      const b = newImage('team-b/app-trivy');
      const report = {
        SchemaVersion: 2,
        CreatedAt: new Date(Date.now() - 60_000).toISOString(),
        ArtifactName: `${REG}/team-b/app-trivy@${b.digest}`,
        ArtifactType: 'container_image',
        Metadata: { RepoDigests: [`${REG}/team-b/app-trivy@${b.digest}`] },
        Results: [],
      };
      const made = await attest('ci-team-a', a.digestRef, 'org', 'vuln', report);
      const s = statementOf(made.bundle);
      expect(s.subject[0]!.digest).toEqual({ sha256: a.digest.slice(7) });
      expect(s.predicateType).toBe('https://cosign.sigstore.dev/attestation/vuln/v1');
      // And team-b's image gets nothing from it (the attestation lives in team-a's repository).
      expect((await verify(b.digestRef)).evidence.some((e) => e.referrerDigest === made.referrerDigest)).toBe(false);
    },
  );

  test('Attest with the cosign sign predicate type is still a signer call under the same scopes', async () => {
    const b = newImage('team-b/app-att-sign');
    const from = fake.requests.length;
    expect(await outcome(attest('ci-team-a', b.digestRef, 'org', 'https://sigstore.dev/cosign/sign/v1', {}))).toBe('PERMISSION_DENIED');
    expect(writesSince(from)).toEqual([]);
  });
});

// -------------------------------------------------------------------------------------------------
describe('host wildcards in scopes', () => {
  test('a single `*` in a host stays within the host', () => {
    expect(scopeMatches('*.example.com/team-a/*', 'registry.example.com/team-a/app')).toBe(true);
    expect(scopeMatches('*.example.com/team-a/*', 'evil.com/x.example.com/team-a/app')).toBe(false);
    expect(scopeMatches('*.example.com/team-a/*', 'example.com.evil.com/team-a/app')).toBe(false);
    expect(scopeMatches('registry.example.com:*/team-a/*', 'registry.example.com:5000/team-a/app')).toBe(true);
    expect(scopeMatches('registry.example.com:*/team-a/*', 'registry.example.com.evil.com/team-a/app')).toBe(false);
  });

  test('a scope whose host is `**.example.com` covers hosts under example.com only, never a path on another registry (evil.com/x.example.com/team-a/app)', async () => {
    // In a host `*` and `**` alike stand for characters other than `/` (src/shared/image-pattern.ts):
    // `**` used to become `.*` there and cross into the path. The fake registry stands for one
    // the attacker runs, its path merely containing "x.example.com".
    const img = newImage('x.example.com/team-a/app');
    const from = fake.requests.length;
    const found = {
      matcher: scopeMatches('**.example.com/team-a/*', 'evil.com/x.example.com/team-a/app'),
      tokenScope: await outcome(sign('ci-wild-host', img.digestRef, 'org')),
      keyScope: await outcome(sign('ci-any', img.digestRef, 'wild-host-key')),
    };
    expect(found).toEqual({ matcher: false, tokenScope: 'PERMISSION_DENIED', keyScope: 'PERMISSION_DENIED' });
    expect(writesSince(from)).toEqual([]);
  });
});

// -------------------------------------------------------------------------------------------------
describe('mTLS bindings', () => {
  function cert(cn: string, san: string): PeerCertificate {
    return {
      subject: { CN: cn },
      subjectaltname: san,
      fingerprint256: 'AA:BB',
      raw: Buffer.from('cert'),
      ext_key_usage: ['1.3.6.1.5.5.7.3.2'],
    } as unknown as PeerCertificate;
  }

  test('two signer bindings matching one certificate: the union of their scopes, as documented', async () => {
    const ac = new AccessControl({
      mode: 'enforce',
      mtlsBindings: [
        { subject: 'CN=ci-team-a', roles: ['signer'], scopes: ['registry.example.com/team-a/*'] },
        { subject: 'URI:spiffe://acme.example/ci/*', roles: ['signer'], scopes: ['registry.example.com/shared/*'] },
      ],
    });
    const call = fakeCall([], { cert: cert('ci-team-a', 'URI:spiffe://acme.example/ci/team-a') });
    await expect(Promise.resolve(ac.check(call, SIGN, { image: 'registry.example.com/shared/app' }))).resolves.toBeDefined();
    await expect(Promise.resolve().then(() => ac.check(call, SIGN, { image: 'registry.example.com/team-b/app' }))).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
    });
    await ac.close();
  });

  test('the scopes of a binding that grants no signer role do not widen the signer scopes of a certificate matching another binding', async () => {
    // Scopes bound signers: only a binding granting `signer` adds them (src/auth/mtls.ts), as a
    // token's scopes are ignored by its other roles.
    const ac = new AccessControl({
      mode: 'enforce',
      mtlsBindings: [
        { subject: 'URI:spiffe://acme.example/ci/*', roles: ['verifier'], scopes: ['**'] },
        { subject: 'CN=ci-team-a', roles: ['signer'], scopes: ['registry.example.com/team-a/*'] },
      ],
    });
    const call = fakeCall([], { cert: cert('ci-team-a', 'URI:spiffe://acme.example/ci/team-a') });
    await expect(Promise.resolve(ac.check(call, SIGN, { image: 'registry.example.com/team-a/app' }))).resolves.toBeDefined();
    let result = 'OK';
    try {
      await ac.check(call, SIGN, { image: 'registry.example.com/team-b/app' });
    } catch (err) {
      result = err instanceof CountersignError ? err.code : String(err);
    }
    await ac.close();
    expect(result).toBe('PERMISSION_DENIED');
  });
});

// -------------------------------------------------------------------------------------------------
describe('Docker Hub spellings: the scope check, the push target and the signed name', () => {
  let keys: TempKeyStore;
  const seen: Array<{ op: string; repo: RepositoryRef }> = [];
  let service: SigningService;
  const MANIFEST = Buffer.from('{"schemaVersion":2}');
  const subject: Descriptor = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: `sha256:${createHash('sha256').update(MANIFEST).digest('hex')}`,
    size: MANIFEST.length,
  };

  beforeAll(async () => {
    keys = await tempKeyStore();
    await keys.store.createKey({ name: 'hub-nginx', scopes: ['docker.io/library/nginx'] }, 'test');
    // A registry client and referrer store that only record which repository they were asked for.
    const registry = {
      headManifest: async (repo: RepositoryRef, _ref: string, _opts?: CallOptions) => {
        seen.push({ op: 'head', repo });
        return subject;
      },
    } as unknown as RegistryClient;
    const referrers = {
      attach: async (repo: RepositoryRef) => {
        seen.push({ op: 'attach', repo });
        return { digest: `sha256:${'c'.repeat(64)}`, referrersUpdate: 'api' };
      },
    } as unknown as ReferrerStore;
    service = new SigningService({ keys: keys.store, registry, referrers, maxPredicateBytes: 1 << 20 });
  });
  afterAll(async () => {
    await keys.close();
  });

  test('nginx, docker.io/nginx and index.docker.io/nginx: one repository everywhere (index.docker.io/library/nginx, served by registry-1.docker.io)', async () => {
    for (const image of ['nginx', 'docker.io/nginx', 'index.docker.io/nginx', 'index.docker.io/library/nginx']) {
      seen.length = 0;
      const r = await service.attest({
        image,
        key: 'hub-nginx',
        predicateType: 'https://example.com/p/v1',
        predicate: Buffer.from('{"a":1}'),
      });
      expect(seen.map((s) => `${s.op} ${s.repo.registry}/${s.repo.repository}`)).toEqual([
        'head index.docker.io/library/nginx',
        'attach index.docker.io/library/nginx',
      ]);
      expect(registryEndpointHost(seen[0]!.repo.registry)).toBe('registry-1.docker.io');
      expect(statementOf(r.bundle).subject[0]!.name).toBe('index.docker.io/library/nginx');
    }
    await expect(service.sign({ image: 'docker.io/acme/nginx', key: 'hub-nginx' })).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
  });

  test('registry-1.docker.io/nginx is docker.io/library/nginx for the scope check, the registry writes and the signed name alike', async () => {
    // Every Docker Hub spelling is one registry with its library/ rule (src/registry/reference.ts
    // through canonicalHost), so what is checked is what is written and signed.
    expect(canonicalName('registry-1.docker.io', 'nginx')).toBe('docker.io/library/nginx');
    for (const image of ['registry-1.docker.io/nginx', 'registry.hub.docker.com/nginx']) {
      seen.length = 0;
      let name: string | undefined;
      try {
        const r = await service.attest({
          image,
          key: 'hub-nginx',
          predicateType: 'https://example.com/p/v1',
          predicate: Buffer.from('{"a":1}'),
        });
        name = statementOf(r.bundle).subject[0]!.name;
      } catch (err) {
        // Refusing the spelling would also make the three agree.
        expect(err).toBeInstanceOf(CountersignError);
        expect(seen).toEqual([]);
        continue;
      }
      const written = seen.find((s) => s.op === 'attach')!.repo;
      expect([image, written.repository]).toEqual([image, 'library/nginx']);
      expect([image, name]).toEqual([image, expect.stringMatching(/\/library\/nginx$/)]);
    }
  });
});
