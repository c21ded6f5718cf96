/**
 * Notary Project signatures in the real registry: notation's own e2e OCI layouts
 * (shared/vectors/notation, INDEX.md §4) pushed as they are (image, signature manifests with a
 * subject, the referrers tag-schema index) and verified by the running service. Admitted under a
 * rule whose Notation trust policy names the e2e CA and identity, denied under one naming another
 * CA or identity, and denied, saying why, for the invalid and expired cases.
 */
import { constants, createHash, createPrivateKey, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ReferrerStore, RegistryClient } from '../../src/registry';
import { EMPTY_DESCRIPTOR, MEDIA_TYPE, type ImageManifest } from '../../src/registry/types';
import { cbor, tag } from '../support/cbor-writer';
import { certificate, OIDS, timestampToken } from '../support/der-writer';
import { readOciLayout } from '../support/oci-layout';
import { startService, testRegistryHost, uniqueRepo, type RunningService } from '../support/harness';

const DATA = path.resolve(__dirname, '../../../shared/vectors/notation/test/e2e/testdata');
const KEYS = path.join(DATA, 'config/localkeys');
const IMAGE = 'sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9';
const IMAGE_SIZE = readFileSync(path.join(DATA, 'registry/oci_layout/e2e/blobs/sha256', IMAGE.slice(7))).length;

interface VerifyResponse {
  allowed: boolean;
  reasons: string[];
  warnings: string[];
  requirements: Array<{ requirement: string; satisfied: boolean; message: string }>;
  evidence: Array<{
    referrerDigest: string;
    format: string;
    kind: string;
    verified: boolean;
    reason: string;
    identity?: { issuer: string; subject: string };
  }>;
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
  cose: uniqueRepo('n-cose'),
  timestamped: uniqueRepo('n-timestamped'),
  timestampedNoTsa: uniqueRepo('n-timestamped-no-tsa'),
};
const layoutOf: Record<keyof typeof repos, string> = {
  valid: 'e2e-valid-signature',
  otherCa: 'e2e-valid-signature',
  otherIdentity: 'e2e-valid-signature',
  invalid: 'e2e-invalid-signature',
  expiredStrict: 'e2e-with-expired-cert',
  expiredPermissive: 'e2e-with-expired-cert',
  noTrust: 'e2e-valid-signature',
  // The unsigned image; the signatures are made below (COSE with notation's TEST key, and a JWS by
  // an expired certificate with an RFC 3161 timestamp from a TSA made for the test).
  cose: 'e2e',
  timestamped: 'e2e',
  timestampedNoTsa: 'e2e',
};

/** A COSE_Sign1 Notary signature of IMAGE with notation's published TEST key e2e.key. */
function coseSignature(): Buffer {
  const protectedBytes = cbor(
    new Map<string | number, Parameters<typeof cbor>[0]>([
      [1, -37],
      [2, ['io.cncf.notary.signingScheme']],
      [3, 'application/vnd.cncf.notary.payload.v1+json'],
      ['io.cncf.notary.signingScheme', 'notary.x509'],
      ['io.cncf.notary.signingTime', tag(1, Math.floor(Date.now() / 1000))],
    ]),
  );
  const payload = Buffer.from(JSON.stringify({ targetArtifact: { digest: IMAGE, mediaType: MEDIA_TYPE.OCI_MANIFEST, size: IMAGE_SIZE } }));
  const key = createPrivateKey(readFileSync(path.join(KEYS, 'e2e.key')));
  const signature = cryptoSign('sha256', cbor(['Signature1', protectedBytes, Buffer.alloc(0), payload]), {
    key,
    padding: constants.RSA_PKCS1_PSS_PADDING,
    saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
  });
  const cert = Buffer.from(readFileSync(path.join(KEYS, 'e2e.crt'), 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64');
  return cbor(tag(18, [protectedBytes, new Map<number, Parameters<typeof cbor>[0]>([[33, [cert]]]), payload, signature]));
}

/**
 * A JWS by a certificate that expired a month ago (issued by a CA made here), timestamped while it
 * was valid by a TSA made here; the CA and TSA root are written to `dir` for the trust policy.
 */
function timestampedSignature(dir: string): Buffer {
  const ec = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const day = 86_400_000;
  const signedAt = new Date(Date.now() - 40 * day);
  const caKeys = ec();
  const caName: Array<[string, string]> = [
    ['C', 'US'],
    ['ST', 'WA'],
    ['O', 'Countersign Test'],
    ['CN', 'E2E Signing CA'],
  ];
  const ca = certificate({
    subject: caName,
    publicKey: caKeys.publicKey,
    key: caKeys.privateKey,
    notBefore: new Date(Date.now() - 400 * day),
    notAfter: new Date(Date.now() + 400 * day),
    ca: true,
  });
  const leafKeys = ec();
  const leaf = certificate({
    subject: [
      ['C', 'US'],
      ['ST', 'WA'],
      ['O', 'Countersign Test'],
      ['CN', 'expired release'],
    ],
    issuer: { name: caName, key: caKeys.privateKey },
    publicKey: leafKeys.publicKey,
    notBefore: new Date(Date.now() - 60 * day),
    notAfter: new Date(Date.now() - 30 * day),
    eku: [OIDS.codeSigning],
  });
  const tsaRootKeys = ec();
  const tsaRootName: Array<[string, string]> = [
    ['C', 'US'],
    ['O', 'Countersign Test'],
    ['CN', 'E2E TSA Root'],
  ];
  const tsaRoot = certificate({
    subject: tsaRootName,
    publicKey: tsaRootKeys.publicKey,
    key: tsaRootKeys.privateKey,
    notBefore: new Date(Date.now() - 400 * day),
    notAfter: new Date(Date.now() + 400 * day),
    ca: true,
  });
  const tsaKeys = ec();
  const tsa = certificate({
    subject: [
      ['C', 'US'],
      ['O', 'Countersign Test'],
      ['CN', 'E2E TSA'],
    ],
    issuer: { name: tsaRootName, key: tsaRootKeys.privateKey },
    publicKey: tsaKeys.publicKey,
    notBefore: new Date(Date.now() - 400 * day),
    notAfter: new Date(Date.now() + 400 * day),
    eku: [OIDS.timeStamping],
  });
  writeFileSync(path.join(dir, 'e2e-signing-ca.pem'), ca.pem);
  writeFileSync(path.join(dir, 'e2e-tsa-root.pem'), tsaRoot.pem);
  const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const protectedB64 = b64url({
    alg: 'ES256',
    crit: ['io.cncf.notary.signingScheme'],
    cty: 'application/vnd.cncf.notary.payload.v1+json',
    'io.cncf.notary.signingScheme': 'notary.x509',
    'io.cncf.notary.signingTime': signedAt.toISOString().replace(/\.\d+Z$/, 'Z'),
  });
  const payloadB64 = b64url({ targetArtifact: { digest: IMAGE, mediaType: MEDIA_TYPE.OCI_MANIFEST, size: IMAGE_SIZE } });
  const signature = cryptoSign('sha256', Buffer.from(`${protectedB64}.${payloadB64}`), {
    key: leafKeys.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  const token = timestampToken({
    imprinted: signature,
    tsaKey: tsaKeys.privateKey,
    tsaCert: tsa,
    tsaIssuerName: tsaRoot.subjectName,
    genTime: new Date(signedAt.getTime() + 2000),
  });
  return Buffer.from(
    JSON.stringify({
      payload: payloadB64,
      protected: protectedB64,
      header: {
        x5c: [leaf.der.toString('base64'), ca.der.toString('base64')],
        'io.cncf.notary.timestampSignature': token.toString('base64'),
      },
      signature: signature.toString('base64url'),
    }),
  );
}

async function attachNotation(repository: string, envelope: Buffer, envelopeMediaType: string): Promise<void> {
  const layer = {
    mediaType: envelopeMediaType,
    digest: `sha256:${createHash('sha256').update(envelope).digest('hex')}`,
    size: envelope.length,
  };
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.OCI_MANIFEST,
    artifactType: 'application/vnd.cncf.notary.signature',
    config: EMPTY_DESCRIPTOR,
    layers: [layer],
    subject: { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest: IMAGE, size: IMAGE_SIZE },
  } as ImageManifest;
  await new ReferrerStore(pusher).attach(
    { registry: host, repository },
    { manifest, manifestBytes: Buffer.from(JSON.stringify(manifest)), blobs: [envelope] },
  );
}

function rule(name: string, repo: string, signatures: string): string {
  return `  - name: ${name}\n    match: { images: ["${host}/${repo}"] }\n    require:\n      signatures: ${signatures}\n`;
}

beforeAll(async () => {
  host = testRegistryHost();
  pusher = new RegistryClient({});
  const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-notation-'));
  const ca = (crt: string) => JSON.stringify(path.join(KEYS, crt));
  const notation = (crt: string, identity: string, level = 'strict') =>
    `{ notation: { trustStore: [${ca(crt)}], identities: [${JSON.stringify(identity)}], level: ${level} } }`;
  const policyFile = path.join(dir, 'policy.yaml');
  const timestamped = timestampedSignature(dir);
  writeFileSync(
    policyFile,
    'rules:\n' +
      rule('valid', repos.valid, notation('e2e.crt', 'x509.subject: C=US, ST=WA, L=Seattle, O=Notary, CN=e2e')) +
      rule('other-ca', repos.otherCa, notation('new_e2e.crt', '*')) +
      rule('other-identity', repos.otherIdentity, notation('e2e.crt', 'x509.subject: C=US, ST=WA, O=Acme')) +
      rule('invalid', repos.invalid, notation('e2e.crt', '*')) +
      rule('expired-strict', repos.expiredStrict, notation('expired_e2e.crt', '*')) +
      rule('expired-permissive', repos.expiredPermissive, notation('expired_e2e.crt', '*', 'permissive')) +
      rule('no-trust', repos.noTrust, '{ minimum: 1 }') +
      rule('cose', repos.cose, notation('e2e.crt', 'x509.subject: C=US, ST=WA, O=Notary, CN=e2e')) +
      rule(
        'timestamped',
        repos.timestamped,
        `{ notation: { trustStore: [${JSON.stringify(path.join(dir, 'e2e-signing-ca.pem'))}], tsaTrustStore: [${JSON.stringify(path.join(dir, 'e2e-tsa-root.pem'))}], identities: ["*"] } }`,
      ) +
      rule(
        'timestamped-no-tsa',
        repos.timestampedNoTsa,
        `{ notation: { trustStore: [${JSON.stringify(path.join(dir, 'e2e-signing-ca.pem'))}], identities: ["*"] } }`,
      ),
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
  await attachNotation(repos.cose, coseSignature(), 'application/cose');
  await attachNotation(repos.timestamped, timestamped, 'application/jose+json');
  await attachNotation(repos.timestampedNoTsa, timestamped, 'application/jose+json');
});

afterAll(async () => {
  await svc.stop();
  await pusher.close();
});

const verify = (repository: string) =>
  svc.call<VerifyResponse>('Verify', { image: `${host}/${repository}@${IMAGE}`, action: 'ACTION_DEPLOY', context: {} });

test('admitted under a trust policy naming its CA and identity; the decision names the Notation signer', async () => {
  const r = await verify(repos.valid);
  expect(r.allowed).toBe(true);
  expect(r.requirements[0]!.message).toContain('Notation signer C=US, ST=WA, L=Seattle, O=Notary, CN=e2e');
  const notation = r.evidence.filter((e) => e.format === 'notation');
  expect(notation).toHaveLength(1);
  expect(notation[0]!.identity).toEqual({
    issuer: 'C=US, ST=WA, L=Seattle, O=Notary, CN=e2e',
    subject: 'C=US, ST=WA, L=Seattle, O=Notary, CN=e2e',
    extensions: {},
  });
});

test('denied under a trust policy whose trust store holds another CA', async () => {
  const r = await verify(repos.otherCa);
  expect(r.allowed).toBe(false);
  expect(r.reasons.join(' ')).toMatch(
    /a Notary Project signature is present but is not verified: .*authenticity validation failed: the certificate chain of .*CN=e2e does not lead to a certificate of/,
  );
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
  expect(r.reasons.join(' ')).toMatch(
    /a Notary Project signature is present but is not verified: sha256:\w+: signed by C=US, ST=WA, L=Seattle, O=Notary, CN=e2e \(JWS envelope, integrity verified\)/,
  );
});

test('a COSE envelope signed with the e2e TEST key is admitted; the evidence names the format and the signer', async () => {
  const r = await verify(repos.cose);
  expect(r.allowed).toBe(true);
  expect(r.requirements[0]!.message).toContain('Notation signer C=US, ST=WA, L=Seattle, O=Notary, CN=e2e');
  expect(r.evidence).toHaveLength(1);
  expect(r.evidence[0]).toMatchObject({
    format: 'notation',
    verified: false,
    identity: { subject: 'C=US, ST=WA, L=Seattle, O=Notary, CN=e2e' },
  });
  expect(r.evidence[0]!.reason).toContain('COSE envelope, integrity verified');
});

test('a certificate expired since signing, with a trusted RFC 3161 timestamp: admitted at strict under the TSA trust store, denied without it', async () => {
  const r = await verify(repos.timestamped);
  expect(r.allowed).toBe(true);
  expect(r.requirements[0]!.message).toContain('Notation signer C=US, ST=WA, O=Countersign Test, CN=expired release');
  expect(r.evidence[0]).toMatchObject({
    format: 'notation',
    identity: {
      subject: 'C=US, ST=WA, O=Countersign Test, CN=expired release',
      issuer: 'C=US, ST=WA, O=Countersign Test, CN=E2E Signing CA',
    },
  });
  const without = await verify(repos.timestampedNoTsa);
  expect(without.allowed).toBe(false);
  expect(without.reasons.join(' ')).toMatch(
    /authenticTimestamp validation failed: certificate .*CN=expired release is not valid now .*its RFC 3161 timestamp is not used/,
  );
});
