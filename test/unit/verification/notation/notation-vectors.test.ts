/**
 * notation's own e2e OCI layouts (shared/vectors/notation, INDEX.md §4) through the code Verify
 * uses: the layout is stored in a fake registry, the EvidenceCollector reads the referrers, and
 * the policy (a rule naming a Notation trust policy) decides. Plus crafted attacks signed with
 * notation's published TEST key: a payload naming another digest, a tampered protected header.
 */
import { createHash, sign as cryptoSign, constants, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parsePolicy } from '../../../../src/policy';
import { evaluate, type Decision } from '../../../../src/policy/evaluate';
import { RegistryClient } from '../../../../src/registry/client';
import { EMPTY_DESCRIPTOR, MEDIA_TYPE } from '../../../../src/registry/types';
import { EvidenceCollector } from '../../../../src/verification/collector';
import type { Evidence } from '../../../../src/policy/input';
import { readOciLayout } from '../../../support/oci-layout';
import { FakeRegistry } from '../../registry/fake-registry';
import { staticTrust } from '../bundle-fixtures';

const DATA = path.resolve(__dirname, '../../../../../shared/vectors/notation/test/e2e/testdata');
const LAYOUTS = path.join(DATA, 'registry/oci_layout');
const KEYS = path.join(DATA, 'config/localkeys');
const IMAGE = 'sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9';
const NOW = new Date('2026-12-01T00:00:00Z');

let fake: FakeRegistry;
let client: RegistryClient;
const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-notation-'));

beforeAll(async () => {
  fake = await FakeRegistry.start({ referrersApi: true });
  client = new RegistryClient({ maxRetries: 0, retryBaseMs: 1 });
  for (const name of [
    'e2e',
    'e2e-valid-signature',
    'e2e-invalid-signature',
    'e2e-expired-signature',
    'e2e-with-expired-cert',
    'e2e-valid-multiple-signatures',
    'e2e-with-timestamped-signature',
    'e2e-with-invalid-timestamped-signature',
  ]) {
    const { blobs, manifests } = readOciLayout(path.join(LAYOUTS, name));
    for (const b of blobs) fake.storeBlob(name, b);
    for (const m of manifests) fake.storeManifest(name, m.bytes, m.mediaType, m.tag);
  }
});

afterAll(async () => {
  await client.close();
  await fake.close();
});

/** The certificate's public key, or undefined when Node cannot decode it (the getter throws). */
function publicKeyOf(c: X509Certificate): KeyObject | undefined {
  try {
    return c.publicKey;
  } catch {
    return undefined;
  }
}

function policy(notation: string, extra = ''): ReturnType<typeof parsePolicy> {
  const file = path.join(
    dir,
    `policy-${createHash('sha256')
      .update(notation + extra)
      .digest('hex')
      .slice(0, 8)}.yaml`,
  );
  const text = `rules:\n  - name: notation\n    require:\n      signatures: { notation: ${notation}${extra} }\n`;
  writeFileSync(file, text);
  return parsePolicy(text, file);
}

const store = (crt: string) => JSON.stringify(path.join(KEYS, crt));
const trust = (level: string, crt = 'e2e.crt', identity = '"*"') =>
  policy(`{ trustStore: [${store(crt)}], identities: [${identity}], level: ${level} }`);

async function collect(repository: string, digest = IMAGE): Promise<Evidence[]> {
  const collector = new EvidenceCollector({ client, trust: staticTrust([]), legacy: false });
  return collector.collect({ registry: fake.host, repository }, digest);
}

async function decide(repository: string, p: ReturnType<typeof parsePolicy>, digest = IMAGE, now = NOW): Promise<Decision> {
  const evidence = await collect(repository, digest);
  return evaluate(p, {
    image: {
      reference: `${fake.host}/${repository}@${digest}`,
      registry: fake.host,
      repository,
      digest,
      mediaType: MEDIA_TYPE.OCI_MANIFEST,
    },
    action: 'deploy',
    context: {},
    evidence,
    now,
  });
}

const message = (d: Decision) => d.requirements.map((r) => r.message).join(' | ');

test('e2e-valid-signature: collected as an intact notation signature by CN=e2e', async () => {
  const evidence = await collect('e2e-valid-signature');
  expect(evidence).toHaveLength(1);
  expect(evidence[0]).toMatchObject({
    format: 'notation',
    kind: 'signature',
    verified: false,
    notation: { signingScheme: 'notary.x509', alg: 'PS256', subject: 'C=US\nST=WA\nL=Seattle\nO=Notary\nCN=e2e' },
  });
});

test.each(['strict', 'permissive', 'audit'])(
  'e2e-valid-signature is admitted at level %s by trust store e2e.crt, naming the signer',
  async (level) => {
    const d = await decide('e2e-valid-signature', trust(level));
    expect(d.allowed).toBe(true);
    expect(message(d)).toContain('Notation signer C=US, ST=WA, L=Seattle, O=Notary, CN=e2e');
  },
);

test('trusted identity: the x509.subject of the signer admits, one attribute off denies', async () => {
  expect(
    (await decide('e2e-valid-signature', trust('strict', 'e2e.crt', '"x509.subject: CN=e2e,O=Notary,L=Seattle,ST=WA,C=US"'))).allowed,
  ).toBe(true);
  expect((await decide('e2e-valid-signature', trust('strict', 'e2e.crt', '"x509.subject: C=US, ST=WA, O=Notary"'))).allowed).toBe(true);
  const d = await decide('e2e-valid-signature', trust('strict', 'e2e.crt', '"x509.subject: CN=e2e,O=Notary,L=Seattle,ST=WA,C=USB"'));
  expect(d.allowed).toBe(false);
  expect(message(d)).toMatch(
    /a Notary Project signature is present but is not verified: .*authenticity validation failed: signer C=US, ST=WA, L=Seattle, O=Notary, CN=e2e is not a trusted identity/,
  );
});

test('a chain to an untrusted CA (trust store new_e2e.crt) fails authenticity at strict and permissive; audit only logs it', async () => {
  for (const level of ['strict', 'permissive']) {
    const d = await decide('e2e-valid-signature', trust(level, 'new_e2e.crt'));
    expect(d.allowed).toBe(false);
    expect(message(d)).toMatch(
      /authenticity validation failed: the certificate chain of .*CN=e2e does not lead to a certificate of Notation trust store/,
    );
  }
  const audit = await decide('e2e-valid-signature', trust('audit', 'new_e2e.crt'));
  expect(audit.allowed).toBe(true);
  expect(audit.warnings.join('\n')).toMatch(/authenticity validation failed.*logged only: level audit/);
});

test('e2e-invalid-signature: integrity fails at strict, permissive and audit', async () => {
  for (const level of ['strict', 'permissive', 'audit']) {
    const d = await decide('e2e-invalid-signature', trust(level));
    expect(d.allowed).toBe(false);
    expect(message(d)).toMatch(/Notary Project signature is present but is not verified: .*integrity validation failed/);
  }
});

test('level skip: a skipped Notation signature is not evidence of a signer and never counts toward minimum; a listed key still does', async () => {
  const p = policy('{ level: skip }', ', keys: [alice], minimum: 1');
  for (const layout of ['e2e-invalid-signature', 'e2e-valid-signature']) {
    const d = await decide(layout, p);
    expect({ layout, allowed: d.allowed }).toEqual({ layout, allowed: false });
    expect(message(d)).toMatch(
      /a Notary Project signature is present but is not verified: sha256:\w+: Notation verification skipped \(level skip\): not evidence of a signer, so it does not count/,
    );
  }
  const byAlice: Evidence = {
    referrerDigest: `sha256:${'cd'.repeat(32)}`,
    format: 'sigstore-bundle',
    kind: 'signature',
    subjectDigest: IMAGE,
    verified: true,
    keyId: 'alice-id',
    keyName: 'alice',
  };
  const withAlice = evaluate(p, {
    image: { reference: 'r', registry: fake.host, repository: 'x', digest: IMAGE, mediaType: MEDIA_TYPE.OCI_MANIFEST },
    action: 'deploy',
    context: {},
    evidence: [...(await collect('e2e-invalid-signature')), byAlice],
    now: NOW,
  });
  expect(withAlice.allowed).toBe(true);
  expect(message(withAlice)).toBe(`${IMAGE.slice(0, 19)} is signed by alice (sha256:cdcdcdcdcdcd)`);
});

test('e2e-expired-signature: strict denies (expiry); permissive and audit admit with a warning', async () => {
  const strict = await decide('e2e-expired-signature', trust('strict'));
  expect(strict.allowed).toBe(false);
  expect(message(strict)).toContain('expiry validation failed: the signature expired at 2023-06-27T05:21:21.000Z');
  for (const level of ['permissive', 'audit']) {
    const d = await decide('e2e-expired-signature', trust(level));
    expect(d.allowed).toBe(true);
    expect(d.warnings.join('\n')).toContain('expiry validation failed');
  }
});

test('e2e-with-expired-cert: strict denies (authenticTimestamp), permissive admits with a warning; trust store e2e.crt denies', async () => {
  const strict = await decide('e2e-with-expired-cert', trust('strict', 'expired_e2e.crt'));
  expect(strict.allowed).toBe(false);
  expect(message(strict)).toMatch(
    /authenticTimestamp validation failed: certificate .* is not valid now .* and the signature has no timestamp/,
  );
  const permissive = await decide('e2e-with-expired-cert', trust('permissive', 'expired_e2e.crt'));
  expect(permissive.allowed).toBe(true);
  expect(permissive.warnings.join('\n')).toContain('authenticTimestamp validation failed');
  expect((await decide('e2e-with-expired-cert', trust('strict'))).allowed).toBe(false);
});

test('e2e-valid-multiple-signatures: one trusted signature among an untrusted one admits (any signature meeting the policy)', async () => {
  const d = await decide('e2e-valid-multiple-signatures', trust('strict'));
  expect(d.allowed).toBe(true);
  expect(message(d)).toContain('CN=e2e');
});

test('timestamped layouts: the evidence names the Microsoft TSA timestamp, and reports the malformed token', async () => {
  const read = async (name: string) => {
    const { manifests } = readOciLayout(path.join(LAYOUTS, name));
    const subject = manifests.map((m) => JSON.parse(m.bytes.toString()) as { subject?: { digest: string } }).find((m) => m.subject)!
      .subject!.digest;
    return collect(name, subject);
  };
  const [good] = await read('e2e-with-timestamped-signature');
  expect(good!.reason).toMatch(
    /signed by C=US, ST=WA, L=Seattle, O=Notary, CN=testcert7 \(JWS envelope, integrity verified; RFC 3161 timestamp 2025-01-21T09:17:46\.641Z by .*CN=Microsoft Public RSA Time Stamping Authority\)/,
  );
  const [bad] = await read('e2e-with-invalid-timestamped-signature');
  expect(bad!.reason).toMatch(
    /\(JWS envelope, integrity verified; its RFC 3161 timestamp does not verify: the timestamp token is malformed: .*\)/,
  );
});

test('timestamped layouts: testcert7 is not trusted by e2e.crt, so both are denied; the malformed one is still read', async () => {
  for (const name of ['e2e-with-timestamped-signature', 'e2e-with-invalid-timestamped-signature']) {
    const { manifests } = readOciLayout(path.join(LAYOUTS, name));
    const signature = manifests.map((m) => JSON.parse(m.bytes.toString()) as { subject?: { digest: string } }).find((m) => m.subject)!;
    const subject = signature.subject!.digest;
    const d = await decide(name, trust('strict'), subject);
    expect(d.allowed).toBe(false);
    expect(message(d)).toMatch(/authenticity validation failed.*testcert7/);
  }
});

test('an unsigned image (e2e) is denied, and so is a Notation signature under a rule that names no Notation trust', async () => {
  expect((await decide('e2e', trust('strict'))).allowed).toBe(false);
  const noTrust = parsePolicy('rules:\n  - name: keys\n    require: { signatures: { minimum: 1 } }\n', path.join(dir, 'k.yaml'));
  const d = await decide('e2e-valid-signature', noTrust);
  expect(d.allowed).toBe(false);
  expect(message(d)).toMatch(
    /a Notary Project signature is present but is not verified: sha256:\w+: signed by C=US, ST=WA, L=Seattle, O=Notary, CN=e2e \(JWS envelope, integrity verified\); it counts only for a rule/,
  );
});

// -------------------------------------------------------------------------------------------------
// Crafted signatures (notation's TEST key e2e.key)

const KEY = createPrivateKey(readFileSync(path.join(KEYS, 'e2e.key')));
const CERT_B64 = readFileSync(path.join(KEYS, 'e2e.crt'), 'utf8').replace(/-----[^-]+-----|\s/g, '');
const b64url = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

function jws(payload: unknown, header: Record<string, unknown>): Record<string, unknown> {
  const protectedB64 = b64url(header);
  const payloadB64 = b64url(payload);
  const signature = cryptoSign('sha256', Buffer.from(`${protectedB64}.${payloadB64}`), {
    key: KEY,
    padding: constants.RSA_PKCS1_PSS_PADDING,
    saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
  });
  return {
    payload: payloadB64,
    protected: protectedB64,
    header: { x5c: [CERT_B64], 'io.cncf.notary.signingAgent': 'countersign-test' },
    signature: signature.toString('base64url'),
  };
}

const HEADER = {
  alg: 'PS256',
  crit: ['io.cncf.notary.signingScheme'],
  cty: 'application/vnd.cncf.notary.payload.v1+json',
  'io.cncf.notary.signingScheme': 'notary.x509',
  'io.cncf.notary.signingTime': '2026-11-30T10:00:00Z',
};

function attach(repository: string, envelope: Record<string, unknown>): string {
  const image = readOciLayout(path.join(LAYOUTS, 'e2e'));
  for (const b of image.blobs) fake.storeBlob(repository, b);
  for (const m of image.manifests) fake.storeManifest(repository, m.bytes, m.mediaType, m.tag);
  const bytes = Buffer.from(JSON.stringify(envelope));
  fake.storeBlob(repository, bytes);
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.OCI_MANIFEST,
    artifactType: 'application/vnd.cncf.notary.signature',
    config: EMPTY_DESCRIPTOR,
    layers: [
      { mediaType: 'application/jose+json', digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length },
    ],
    subject: { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest: IMAGE, size: 517 },
  };
  return fake.storeManifest(repository, Buffer.from(JSON.stringify(manifest)), MEDIA_TYPE.OCI_MANIFEST);
}

const target = (digest = IMAGE) => ({ targetArtifact: { digest, mediaType: MEDIA_TYPE.OCI_MANIFEST, size: 517 } });

test('a freshly signed envelope (our own JWS writer) is admitted: the crafted attacks below differ in one thing each', async () => {
  attach('crafted-good', jws(target(), HEADER));
  expect((await decide('crafted-good', trust('strict'))).allowed).toBe(true);
});

test('a signature whose payload names another digest is denied at every level but skip', async () => {
  attach('crafted-other-digest', jws(target(`sha256:${'ab'.repeat(32)}`), HEADER));
  for (const level of ['strict', 'permissive', 'audit']) {
    const d = await decide('crafted-other-digest', trust(level));
    expect(d.allowed).toBe(false);
    expect(message(d)).toMatch(/integrity validation failed: the payload signs sha256:abab\w+, not this image/);
  }
});

test('a tampered protected header (signing time moved, signature kept) is denied', async () => {
  const good = jws(target(), HEADER);
  const tampered = { ...good, protected: b64url({ ...HEADER, 'io.cncf.notary.signingTime': '2026-11-30T11:00:00Z' }) };
  attach('crafted-tampered', tampered);
  const d = await decide('crafted-tampered', trust('strict'));
  expect(d.allowed).toBe(false);
  expect(message(d)).toContain('integrity validation failed: the signature does not verify with the leaf certificate of x5c');
});

test('protected-header rules: unknown crit member, missing expiry in crit, wrong cty are integrity failures', async () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      'crafted-crit-missing',
      { ...HEADER, crit: ['io.cncf.notary.signingScheme', 'io.cncf.notary.made-up'] },
      /crit names io\.cncf\.notary\.made-up/,
    ],
    [
      'crafted-expiry-not-crit',
      { ...HEADER, 'io.cncf.notary.expiry': '2099-01-01T00:00:00Z' },
      /io\.cncf\.notary\.expiry must be listed in crit/,
    ],
    ['crafted-cty', { ...HEADER, cty: 'application/json' }, /cty is "application\/json"/],
    [
      'crafted-no-signing-time',
      { alg: 'PS256', crit: ['io.cncf.notary.signingScheme'], cty: HEADER.cty, 'io.cncf.notary.signingScheme': 'notary.x509' },
      /requires io\.cncf\.notary\.signingTime/,
    ],
  ];
  for (const [repo, header, why] of cases) {
    attach(repo, jws(target(), header));
    const d = await decide(repo, trust('audit'));
    expect({ repo, allowed: d.allowed }).toEqual({ repo, allowed: false });
    expect(message(d)).toMatch(why);
  }
});

// -------------------------------------------------------------------------------------------------
// Thresholds of distinct signers across formats (issue 10 item 6)

test('two of {key alice, Notation signer CN=e2e}: both admit, either alone does not; one Notation signer twice is one signer', async () => {
  const p = policy(`{ trustStore: [${store('e2e.crt')}], identities: ["*"] }`, ', keys: [alice], minimum: 2');
  const notation = await collect('e2e-valid-signature');
  const byAlice: Evidence = {
    referrerDigest: `sha256:${'cd'.repeat(32)}`,
    format: 'sigstore-bundle',
    kind: 'signature',
    subjectDigest: IMAGE,
    verified: true,
    keyId: 'alice-id',
    keyName: 'alice',
  };
  const run = (evidence: Evidence[]) =>
    evaluate(p, {
      image: { reference: 'r', registry: fake.host, repository: 'x', digest: IMAGE, mediaType: MEDIA_TYPE.OCI_MANIFEST },
      action: 'deploy',
      context: {},
      evidence,
      now: NOW,
    });
  const both = run([...notation, byAlice]);
  expect(both.allowed).toBe(true);
  expect(message(both)).toMatch(/signed by .*Notation signer .*CN=e2e.*alice|signed by alice.*Notation signer .*CN=e2e/);
  expect(message(both)).toContain('2 distinct signers, 2 required');
  expect(run([byAlice]).allowed).toBe(false);
  const twice = run([...notation, { ...notation[0]!, referrerDigest: `sha256:${'ef'.repeat(32)}` }]);
  expect(twice.allowed).toBe(false);
  expect(message(twice)).toContain('signed by 1 distinct signer');
});

// -------------------------------------------------------------------------------------------------
// A CA-issued ES256 signer that names a CRL distribution point (test/fixtures/notation, TEST keys)

const LATER = new Date('2027-01-01T00:00:00Z');
const FIX = path.resolve(__dirname, '../../../fixtures/notation');
const pemBody = (f: string) => readFileSync(path.join(FIX, f), 'utf8').replace(/-----[^-]+-----|\s/g, '');

function es256Envelope(): Record<string, unknown> {
  // The fixture certificates were made on 2026-12-01 at 22:20Z: sign after that, judge later still.
  const header = { ...HEADER, alg: 'ES256', 'io.cncf.notary.signingTime': '2026-12-15T00:00:00Z' };
  const protectedB64 = b64url(header);
  const payloadB64 = b64url(target());
  const signature = cryptoSign('sha256', Buffer.from(`${protectedB64}.${payloadB64}`), {
    key: createPrivateKey(readFileSync(path.join(FIX, 'leaf.key'))),
    dsaEncoding: 'ieee-p1363',
  });
  return {
    payload: payloadB64,
    protected: protectedB64,
    header: { x5c: [pemBody('leaf-crl.crt'), pemBody('ca.crt')] },
    signature: signature.toString('base64url'),
  };
}

test('ES256 by a leaf issued by the trust store CA: revocation status unknown offline denies at strict, is a warning at permissive', async () => {
  attach('crafted-es256-crl', es256Envelope());
  const ca = JSON.stringify(path.join(FIX, 'ca.crt'));
  const strict = await decide(
    'crafted-es256-crl',
    policy(`{ trustStore: [${ca}], identities: ["x509.subject: C=US, ST=WA, O=Countersign Test, CN=release"] }`),
    IMAGE,
    LATER,
  );
  expect(strict.allowed).toBe(false);
  expect(message(strict)).toContain(
    'revocation validation failed: certificate C=US, ST=WA, O=Countersign Test, CN=release names a CRL distribution point and its revocation status cannot be checked offline',
  );
  const permissive = await decide(
    'crafted-es256-crl',
    policy(`{ trustStore: [${ca}], identities: ["*"], level: permissive }`),
    IMAGE,
    LATER,
  );
  expect(permissive.allowed).toBe(true);
  expect(permissive.warnings.join('\n')).toContain('revocation validation failed');
  // The same envelope claiming PS256 (an RSA algorithm for an EC key) is refused.
  const lying = { ...es256Envelope(), protected: b64url(HEADER) };
  attach('crafted-alg-mismatch', lying);
  expect(
    message(await decide('crafted-alg-mismatch', policy(`{ trustStore: [${ca}], identities: ["*"], level: audit }`), IMAGE, LATER)),
  ).toContain('alg PS256 does not match');
});

test('a leaf certificate whose public key does not decode is an integrity failure naming x5c[0] (it was "could not be processed (internal error)")', async () => {
  const der = Buffer.from(CERT_B64, 'base64');
  // The first single-bit change that still parses as a certificate but whose key Node cannot decode.
  let broken: Buffer | undefined;
  for (let i = 0; i < der.length && !broken; i++) {
    const b = Buffer.from(der);
    b[i] = b[i]! ^ 0x01;
    try {
      if (publicKeyOf(new X509Certificate(b)) === undefined) broken = b;
    } catch {
      // does not parse at all: another case
    }
  }
  expect(broken).toBeDefined();
  const env = jws(target(), HEADER);
  attach('crafted-bad-spki', { ...env, header: { x5c: [broken!.toString('base64')] } });
  const d = await decide('crafted-bad-spki', trust('audit'));
  expect(d.allowed).toBe(false);
  expect(message(d)).toContain('integrity validation failed: x5c[0] has a public key that does not decode');
});
