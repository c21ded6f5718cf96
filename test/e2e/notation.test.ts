/**
 * Notary Project signatures in the real registry: notation's own e2e OCI layouts
 * (shared/vectors/notation, INDEX.md §4) pushed as they are (image, signature manifests with a
 * subject, the referrers tag-schema index) and verified by the running service. Admitted under a
 * rule whose Notation trust policy names the e2e CA and identity, denied under one naming another
 * CA or identity, and denied, saying why, for the invalid and expired cases.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RegistryClient } from '../../src/registry';
import { readOciLayout } from '../support/oci-layout';
import { startService, testRegistryHost, uniqueRepo, type RunningService } from '../support/harness';

const DATA = path.resolve(__dirname, '../../../shared/vectors/notation/test/e2e/testdata');
const KEYS = path.join(DATA, 'config/localkeys');
const IMAGE = 'sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9';

interface VerifyResponse {
  allowed: boolean;
  reasons: string[];
  warnings: string[];
  requirements: Array<{ requirement: string; satisfied: boolean; message: string }>;
  evidence: Array<{ referrerDigest: string; format: string; kind: string; verified: boolean; reason: string; identity?: { issuer: string; subject: string } }>;
}

let host: string;
let pusher: RegistryClient;
let svc: RunningService;
const repos = {
  valid: uniqueRepo('n-valid'),
  otherCa: uniqueRepo('n-other-ca'),
  otherIdentity: uniqueRepo('n-other-identity'),
  invalid: uniqueRepo('n-invalid'),
  expiredStrict: uniqueRepo('n-expired-strict'),
  expiredPermissive: uniqueRepo('n-expired-permissive'),
  noTrust: uniqueRepo('n-no-trust'),
};
const layoutOf: Record<keyof typeof repos, string> = {
  valid: 'e2e-valid-signature',
  otherCa: 'e2e-valid-signature',
  otherIdentity: 'e2e-valid-signature',
  invalid: 'e2e-invalid-signature',
  expiredStrict: 'e2e-with-expired-cert',
  expiredPermissive: 'e2e-with-expired-cert',
  noTrust: 'e2e-valid-signature',
};

function rule(name: string, repo: string, signatures: string): string {
  return `  - name: ${name}\n    match: { images: ["${host}/${repo}"] }\n    require:\n      signatures: ${signatures}\n`;
}

beforeAll(async () => {
  host = testRegistryHost();
  pusher = new RegistryClient({});
  const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-notation-'));
  const ca = (crt: string) => JSON.stringify(path.join(KEYS, crt));
  const notation = (crt: string, identity: string, level = 'strict') => `{ notation: { trustStore: [${ca(crt)}], identities: [${JSON.stringify(identity)}], level: ${level} } }`;
  const policyFile = path.join(dir, 'policy.yaml');
  writeFileSync(
    policyFile,
    'rules:\n' +
      rule('valid', repos.valid, notation('e2e.crt', 'x509.subject: C=US, ST=WA, L=Seattle, O=Notary, CN=e2e')) +
      rule('other-ca', repos.otherCa, notation('new_e2e.crt', '*')) +
      rule('other-identity', repos.otherIdentity, notation('e2e.crt', 'x509.subject: C=US, ST=WA, O=Acme')) +
      rule('invalid', repos.invalid, notation('e2e.crt', '*')) +
      rule('expired-strict', repos.expiredStrict, notation('expired_e2e.crt', '*')) +
      rule('expired-permissive', repos.expiredPermissive, notation('expired_e2e.crt', '*', 'permissive')) +
      rule('no-trust', repos.noTrust, '{ minimum: 1 }'),
  );
  svc = await startService({ policyFile, verification: { cacheTtlMs: 300_000, negativeCacheTtlMs: 0, maxDurationMs: 8000 } });
  for (const [key, repository] of Object.entries(repos)) {
    const repo = { registry: host, repository };
    const { blobs, manifests } = readOciLayout(path.join(DATA, 'registry/oci_layout', layoutOf[key as keyof typeof repos]));
    for (const b of blobs) await pusher.pushBlob(repo, b);
    for (const m of manifests) {
      await pusher.putManifest(repo, m.digest, m.bytes, m.mediaType);
      if (m.tag) await pusher.putManifest(repo, m.tag, m.bytes, m.mediaType);
    }
  }
});

afterAll(async () => {
  await svc?.stop();
  await pusher?.close();
});

const verify = (repository: string) => svc.call<VerifyResponse>('Verify', { image: `${host}/${repository}@${IMAGE}`, action: 'ACTION_DEPLOY', context: {} });

test('admitted under a trust policy naming its CA and identity; the decision names the Notation signer', async () => {
  const r = await verify(repos.valid);
  expect(r.allowed).toBe(true);
  expect(r.requirements[0]!.message).toContain('Notation signer C=US, ST=WA, L=Seattle, O=Notary, CN=e2e');
  const notation = r.evidence.filter((e) => e.format === 'notation');
  expect(notation).toHaveLength(1);
  expect(notation[0]!.identity).toEqual({ issuer: 'C=US, ST=WA, L=Seattle, O=Notary, CN=e2e', subject: 'C=US, ST=WA, L=Seattle, O=Notary, CN=e2e', extensions: {} });
});

test('denied under a trust policy whose trust store holds another CA', async () => {
  const r = await verify(repos.otherCa);
  expect(r.allowed).toBe(false);
  expect(r.reasons.join(' ')).toMatch(/a Notary Project signature is present but is not verified: .*authenticity validation failed: the certificate chain of .*CN=e2e does not lead to a certificate of/);
});

test('denied under a trust policy naming another identity', async () => {
  const r = await verify(repos.otherIdentity);
  expect(r.allowed).toBe(false);
  expect(r.reasons.join(' ')).toMatch(/is not a trusted identity .*x509\.subject: C=US, ST=WA, O=Acme/);
});

test('a signature that is not a JWS envelope is an integrity failure, named in the deny', async () => {
  const r = await verify(repos.invalid);
  expect(r.allowed).toBe(false);
  expect(r.reasons.join(' ')).toMatch(/Notary Project signature is present but is not verified: .*integrity validation failed/);
});

test('a certificate expired since signing (no timestamp): strict denies, permissive admits with a warning', async () => {
  const strict = await verify(repos.expiredStrict);
  expect(strict.allowed).toBe(false);
  expect(strict.reasons.join(' ')).toMatch(/authenticTimestamp validation failed: certificate .* is not valid now/);
  const permissive = await verify(repos.expiredPermissive);
  expect(permissive.allowed).toBe(true);
  expect(permissive.warnings.join(' ')).toMatch(/authenticTimestamp validation failed.*logged only: level permissive/);
});

test('a rule naming no Notation trust denies and says a Notary Project signature is present', async () => {
  const r = await verify(repos.noTrust);
  expect(r.allowed).toBe(false);
  expect(r.reasons.join(' ')).toMatch(/a Notary Project signature is present but is not verified: sha256:\w+: signed by C=US, ST=WA, L=Seattle, O=Notary, CN=e2e \(JWS envelope, integrity verified\)/);
});
