/**
 * Red-team attacks on Notary envelopes (issue 10): everything a pusher writes (the envelope, its
 * protected header, payload and certificate chain) is hostile. Each case differs from an envelope
 * that verifies in one thing, and must end as a NotationEnvelopeError naming the problem (an
 * integrity failure in the evidence), never as another exception (which would become "internal
 * error") and never as an accepted signature.
 */
import { constants, createHash, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parsePolicy } from '../../../../src/policy';
import { judgeNotation } from '../../../../src/policy/notation-trust';
import { MEDIA_TYPE } from '../../../../src/registry/types';
import { verifyCoseEnvelope } from '../../../../src/verification/notation/cose';
import { NotationEnvelopeError, verifyJwsEnvelope } from '../../../../src/verification/notation/envelope';
import type { NotationFacts } from '../../../../src/policy/notation-trust';
import { cbor, tag, type CborIn } from '../../../support/cbor-writer';
import { certificate, extension, OIDS, seq, type BuiltCert, type CertOptions } from '../../../support/der-writer';

const IMAGE = 'sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9';
const TARGET = { digest: IMAGE, mediaType: MEDIA_TYPE.OCI_MANIFEST, size: 517 };
const d = (s: string) => new Date(s);
const ec = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

const rootKeys = ec();
const ROOT_NAME: Array<[string, string]> = [
  ['C', 'US'],
  ['O', 'Red Team'],
  ['CN', 'Red Team Root'],
];
const root = certificate({
  subject: ROOT_NAME,
  publicKey: rootKeys.publicKey,
  key: rootKeys.privateKey,
  notBefore: d('2025-01-01T00:00:00Z'),
  notAfter: d('2035-01-01T00:00:00Z'),
  ca: true,
});
const leafKeys = ec();
const LEAF_NAME: Array<[string, string]> = [
  ['C', 'US'],
  ['ST', 'WA'],
  ['O', 'Red Team'],
  ['CN', 'signer'],
];
const leafWith = (o: Partial<CertOptions> = {}): BuiltCert =>
  certificate({
    subject: LEAF_NAME,
    issuer: { name: ROOT_NAME, key: rootKeys.privateKey },
    publicKey: leafKeys.publicKey,
    notBefore: d('2025-06-01T00:00:00Z'),
    notAfter: d('2030-01-01T00:00:00Z'),
    eku: [OIDS.codeSigning],
    ...o,
  });
const leaf = leafWith();

const b64url = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const HEADER = {
  alg: 'ES256',
  crit: ['io.cncf.notary.signingScheme'],
  cty: 'application/vnd.cncf.notary.payload.v1+json',
  'io.cncf.notary.signingScheme': 'notary.x509',
  'io.cncf.notary.signingTime': '2026-11-30T10:00:00Z',
};

interface JwsOptions {
  /** The protected header as JSON text (duplicate keys can only be written as text). */
  protectedText?: string;
  header?: Record<string, unknown>;
  payloadText?: string;
  chain?: Buffer[];
  key?: KeyObject;
  unprotected?: Record<string, unknown>;
}

function jws(o: JwsOptions = {}): Buffer {
  const protectedB64 = b64url(o.protectedText ?? JSON.stringify(o.header ?? HEADER));
  const payloadB64 = b64url(o.payloadText ?? JSON.stringify({ targetArtifact: TARGET }));
  const signature = cryptoSign('sha256', Buffer.from(`${protectedB64}.${payloadB64}`), {
    key: o.key ?? leafKeys.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return Buffer.from(
    JSON.stringify({
      payload: payloadB64,
      protected: protectedB64,
      header: { x5c: (o.chain ?? [leaf.der, root.der]).map((c) => c.toString('base64')), ...o.unprotected },
      signature: signature.toString('base64url'),
    }),
  );
}

/** What verification says: the facts, or the NotationEnvelopeError's message. Any other exception fails the test. */
function outcome(run: () => NotationFacts): NotationFacts | string {
  try {
    return run();
  } catch (err) {
    if (err instanceof NotationEnvelopeError) return err.message;
    throw err;
  }
}
const verdictJws = (b: Buffer) => outcome(() => verifyJwsEnvelope(b, TARGET));

test('the base JWS verifies (every attack below differs from it in one thing)', () => {
  expect(verdictJws(jws())).toMatchObject({ alg: 'ES256', subject: expect.stringContaining('CN=signer') as unknown });
});

describe('JWS protected header', () => {
  test.each([
    ['none', /unsupported alg "none"/],
    ['HS256', /unsupported alg "HS256"/],
    ['constructor', /unsupported alg "constructor"/],
    ['__proto__', /unsupported alg "__proto__"/],
  ])('alg %s is refused by name', (alg, why) => {
    expect(verdictJws(jws({ header: { ...HEADER, alg } }))).toMatch(why);
  });

  test('crit naming an inherited property (toString) is not "present": refused', () => {
    expect(verdictJws(jws({ header: { ...HEADER, crit: ['io.cncf.notary.signingScheme', 'toString'] } }))).toMatch(/crit names toString/);
  });

  test('a verification plugin header (critical or not) is refused: Countersign runs no plugins, and ignoring one skips checks the signer required', () => {
    const plugin = { 'io.cncf.notary.verificationPlugin': 'com.example.revocation' };
    expect(verdictJws(jws({ header: { ...HEADER, ...plugin, crit: [...HEADER.crit, 'io.cncf.notary.verificationPlugin'] } }))).toMatch(
      /verification plugin com\.example\.revocation/,
    );
    expect(verdictJws(jws({ header: { ...HEADER, ...plugin } }))).toMatch(/verification plugin com\.example\.revocation/);
  });

  test('duplicate keys in the protected header are refused (one reader must not see one alg and another reader another)', () => {
    const text = JSON.stringify(HEADER).replace('"alg":"ES256"', '"alg":"PS256","alg":"ES256"');
    expect(verdictJws(jws({ protectedText: text }))).toMatch(/the protected header has the key "alg" twice/);
    const scheme = JSON.stringify(HEADER).replace(
      '"io.cncf.notary.signingScheme":"notary.x509"',
      '"io.cncf.notary.signingScheme":"notary.x509.signingAuthority","io.cncf.notary.signingScheme":"notary.x509"',
    );
    expect(verdictJws(jws({ protectedText: scheme }))).toMatch(/twice/);
  });

  test('duplicate keys in the payload (two targetArtifact digests) and in the envelope are refused', () => {
    const payloadText = `{"targetArtifact":{"digest":"sha256:${'ab'.repeat(32)}","digest":"${IMAGE}","mediaType":"${TARGET.mediaType}","size":517}}`;
    expect(verdictJws(jws({ payloadText }))).toMatch(/the payload has the key "digest" twice/);
    const env = jws().toString('utf8').replace('{"payload":', '{"payload":"eyJ9","payload":');
    expect(verdictJws(Buffer.from(env))).toMatch(/the envelope has the key "payload" twice/);
  });

  test('signingAuthority without an authentic signing time, notary.x509 with one: refused', () => {
    expect(verdictJws(jws({ header: { ...HEADER, 'io.cncf.notary.signingScheme': 'notary.x509.signingAuthority' } }))).toMatch(
      /requires io\.cncf\.notary\.authenticSigningTime/,
    );
    const withAuthentic = {
      ...HEADER,
      'io.cncf.notary.authenticSigningTime': '2026-11-30T10:00:00Z',
      crit: [...HEADER.crit, 'io.cncf.notary.authenticSigningTime'],
    };
    expect(verdictJws(jws({ header: withAuthentic }))).toMatch(/must not carry io\.cncf\.notary\.authenticSigningTime/);
  });
});

test('a header parameter in both the protected and the unprotected header is refused (JWS RFC 7515 §7.2.1, COSE RFC 9052 §3)', () => {
  expect(verdictJws(jws({ unprotected: { alg: 'ES384' } }))).toMatch(/the header parameter alg is both protected and unprotected/);
  expect(verdictJws(jws({ unprotected: { 'io.cncf.notary.signingTime': '2020-01-01T00:00:00Z' } }))).toMatch(
    /io\.cncf\.notary\.signingTime is both protected and unprotected/,
  );
  expect(verdictCose(cose({ unprotected: [[1, -35]] }))).toMatch(/the header label 1 is both protected and unprotected/);
  expect(verdictCose(cose({ unprotected: [[SCHEME, 'notary.x509.signingAuthority']] }))).toMatch(/both protected and unprotected/);
});

describe('JWS payload and size', () => {
  test('targetArtifact digest, size and mediaType must be the subject; extra descriptor fields (annotations) are fine', () => {
    const with_ = (t: Record<string, unknown>) => verdictJws(jws({ payloadText: JSON.stringify({ targetArtifact: { ...TARGET, ...t } }) }));
    expect(with_({ size: 518 })).toMatch(/size 518 is not the image's 517/);
    expect(with_({ size: '517' })).toMatch(/lacks mediaType or size/);
    expect(with_({ mediaType: MEDIA_TYPE.OCI_INDEX })).toMatch(/mediaType .* is not the image's/);
    expect(with_({ digest: IMAGE.toUpperCase() })).toMatch(/not this image/);
    expect(with_({ annotations: { 'io.example': 'x' } })).toMatchObject({ alg: 'ES256' });
  });

  test('a size beyond Number.MAX_SAFE_INTEGER or negative is not a size (two such numbers parse to the same double)', () => {
    const payloadText = `{"targetArtifact":{"digest":"${IMAGE}","mediaType":"${TARGET.mediaType}","size":9007199254740993}}`;
    expect(outcome(() => verifyJwsEnvelope(jws({ payloadText }), { ...TARGET, size: 9007199254740992 }))).toMatch(
      /size is not a non-negative integer/,
    );
    expect(verdictJws(jws({ payloadText: JSON.stringify({ targetArtifact: { ...TARGET, size: -517 } }) }))).toMatch(
      /size is not a non-negative integer/,
    );
  });

  test.each([
    ['February 30', '2026-02-30T10:00:00Z'],
    ['hour 24', '2026-11-30T24:00:00Z'],
  ])('a signing time on %s is not a time (Date.parse rolls it over into another one)', (_name, t) => {
    expect(verdictJws(jws({ header: { ...HEADER, 'io.cncf.notary.signingTime': t } }))).toMatch(/signingTime is not an RFC 3339 time/);
  });

  test('an envelope much larger than a sane bound (300 KiB) is refused by size, before parsing', () => {
    expect(verdictJws(jws({ unprotected: { 'io.example.padding': 'x'.repeat(300 * 1024) } }))).toMatch(/larger than 262144 bytes/);
  });

  test('100,000 levels of nesting inside the envelope, the header or the payload: a named failure, never a stack overflow', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const env = jws().toString('utf8').replace('{"payload":', `{"io.example.deep":${deep},"payload":`);
    expect(verdictJws(Buffer.from(env))).toMatch(/the envelope nests deeper than 32 levels/);
    // Base64 makes the header and the payload a third larger: 80,000 levels keep them under the size bound.
    const deeper = `${'['.repeat(80_000)}${']'.repeat(80_000)}`;
    expect(verdictJws(jws({ payloadText: `{"targetArtifact":${JSON.stringify(TARGET)},"x":${deeper}}` }))).toMatch(
      /the payload nests deeper/,
    );
    expect(verdictJws(jws({ protectedText: JSON.stringify(HEADER).replace('{', `{"x":${deeper},`) }))).toMatch(
      /the protected header nests deeper/,
    );
  });
});

describe('certificate chain (Notary Project certificate requirements)', () => {
  test('a leaf that is a CA (basicConstraints CA:TRUE) cannot sign', () => {
    const caLeaf = leafWith({ ca: true, keyUsage: 0x86 });
    expect(verdictJws(jws({ chain: [caLeaf.der, root.der] }))).toMatch(/leaf certificate .* is a CA/);
  });

  test('a leaf whose key usage lacks digitalSignature, or that has no key usage, or that may sign certificates: refused', () => {
    expect(verdictJws(jws({ chain: [leafWith({ keyUsage: 0x40 }).der, root.der] }))).toMatch(/key usage .* digitalSignature/);
    expect(verdictJws(jws({ chain: [leafWith({ keyUsage: null }).der, root.der] }))).toMatch(/has no key usage/);
    expect(verdictJws(jws({ chain: [leafWith({ keyUsage: 0x84 }).der, root.der] }))).toMatch(/keyCertSign/);
  });

  test('extended key usage: codeSigning is required when present, and serverAuth, timeStamping or anyExtendedKeyUsage disqualify', () => {
    expect(verdictJws(jws({ chain: [leafWith({ eku: [SERVER_AUTH] }).der, root.der] }))).toMatch(/extended key usage .* id-kp-codeSigning/);
    expect(verdictJws(jws({ chain: [leafWith({ eku: [OIDS.codeSigning, OIDS.timeStamping] }).der, root.der] }))).toMatch(
      /extended key usage .* 1\.3\.6\.1\.5\.5\.7\.3\.8/,
    );
    expect(verdictJws(jws({ chain: [leafWith({ eku: [OIDS.codeSigning, '2.5.29.37.0'] }).der, root.der] }))).toMatch(/2\.5\.29\.37\.0/);
    // No EKU at all is allowed by the Notary specification.
    expect(verdictJws(jws({ chain: [leafWith({ eku: undefined }).der, root.der] }))).toMatchObject({ alg: 'ES256' });
  });

  test('an unknown critical extension in any certificate of the chain is refused (it must not be ignored)', () => {
    const odd = extension('1.2.3.4.5.6', true, seq());
    expect(verdictJws(jws({ chain: [leafWith({ extensions: [odd] }).der, root.der] }))).toMatch(/critical extension 1\.2\.3\.4\.5\.6/);
    // Name constraints are not enforced here: a CA restricted by them is refused rather than trusted beyond its names.
    const nc = extension('2.5.29.30', true, seq());
    const rootNc = certificate({
      subject: ROOT_NAME,
      publicKey: rootKeys.publicKey,
      key: rootKeys.privateKey,
      notBefore: d('2025-01-01T00:00:00Z'),
      notAfter: d('2035-01-01T00:00:00Z'),
      ca: true,
      extensions: [nc],
    });
    expect(verdictJws(jws({ chain: [leaf.der, rootNc.der] }))).toMatch(/critical extension 2\.5\.29\.30/);
    // A non-critical unknown extension is fine.
    expect(verdictJws(jws({ chain: [leafWith({ extensions: [extension('1.2.3.4.5.6', false, seq())] }).der, root.der] }))).toMatchObject({
      alg: 'ES256',
    });
  });

  test('an issuing certificate that is a CA without keyCertSign in its key usage cannot issue', () => {
    const weakRoot = certificate({
      subject: ROOT_NAME,
      publicKey: rootKeys.publicKey,
      key: rootKeys.privateKey,
      notBefore: d('2025-01-01T00:00:00Z'),
      notAfter: d('2035-01-01T00:00:00Z'),
      ca: true,
      keyUsage: 0x80,
    });
    expect(verdictJws(jws({ chain: [leaf.der, weakRoot.der] }))).toMatch(/keyCertSign|is not a CA certificate but issues/);
  });

  test('a chain with a loop (a certificate twice) and a chain of 1,000 certificates are refused by name', () => {
    expect(verdictJws(jws({ chain: [leaf.der, root.der, root.der] }))).toMatch(/appears twice in the chain|is not signed by/);
    expect(verdictJws(jws({ chain: Array.from({ length: 1000 }, () => Buffer.from([0x30, 0x00])) }))).toMatch(
      /has 1000 certificates; at most 10/,
    );
    // Ten certificates that name each other in a circle (A issues B issues A…) are bounded the same way.
    expect(verdictJws(jws({ chain: [leaf.der, ...Array.from({ length: 9 }, () => root.der)] }))).toMatch(/appears twice in the chain/);
  });

  test('an RSA signing key shorter than 2048 bits is refused (Notary requires 2048 or more)', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const smallLeaf = certificate({
      subject: LEAF_NAME,
      issuer: { name: ROOT_NAME, key: rootKeys.privateKey },
      publicKey: small.publicKey,
      notBefore: d('2025-06-01T00:00:00Z'),
      notAfter: d('2030-01-01T00:00:00Z'),
      eku: [OIDS.codeSigning],
    });
    const protectedB64 = b64url({ ...HEADER, alg: 'PS256' });
    const payloadB64 = b64url({ targetArtifact: TARGET });
    const sig = cryptoSign('sha256', Buffer.from(`${protectedB64}.${payloadB64}`), {
      key: small.privateKey,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
    });
    const env = Buffer.from(
      JSON.stringify({
        payload: payloadB64,
        protected: protectedB64,
        header: { x5c: [smallLeaf.der.toString('base64'), root.der.toString('base64')] },
        signature: sig.toString('base64url'),
      }),
    );
    expect(verdictJws(env)).toMatch(/1024-bit RSA key/);
  });
});

// -------------------------------------------------------------------------------------------------
// COSE and its CBOR reader

const SCHEME = 'io.cncf.notary.signingScheme';
const coseProtected = (extra: Array<[string | number, CborIn]> = [], crit: CborIn[] = [SCHEME]) =>
  new Map<string | number, CborIn>([
    [1, -7],
    [2, crit],
    [3, 'application/vnd.cncf.notary.payload.v1+json'],
    [SCHEME, 'notary.x509'],
    ['io.cncf.notary.signingTime', tag(1, Math.floor(Date.parse('2026-11-30T10:00:00Z') / 1000))],
    ...extra,
  ]);

function cose(o: { protectedBytes?: Buffer; unprotected?: Array<[string | number, CborIn]> } = {}): Buffer {
  const protectedBytes = o.protectedBytes ?? cbor(coseProtected());
  const payload = Buffer.from(JSON.stringify({ targetArtifact: TARGET }));
  const signature = cryptoSign('sha256', cbor(['Signature1', protectedBytes, Buffer.alloc(0), payload]), {
    key: leafKeys.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return cbor(
    tag(18, [protectedBytes, new Map<string | number, CborIn>([[33, [leaf.der, root.der]], ...(o.unprotected ?? [])]), payload, signature]),
  );
}
const verdictCose = (b: Buffer) => outcome(() => verifyCoseEnvelope(b, TARGET));

describe('COSE', () => {
  test('the base COSE envelope verifies', () => {
    expect(verdictCose(cose())).toMatchObject({ envelope: 'cose', alg: 'ES256' });
  });

  test('a non-minimal integer encoding in the (signed) protected header is refused: COSE requires deterministic encoding', () => {
    // alg -7 written as 0x38 0x06 (one extra byte) instead of 0x26.
    const good = cbor(coseProtected());
    const at = good.indexOf(Buffer.from([0x01, 0x26]));
    expect(at).toBeGreaterThanOrEqual(0);
    const loose = Buffer.concat([good.subarray(0, at + 1), Buffer.from([0x38, 0x06]), good.subarray(at + 2)]);
    expect(verdictCose(cose({ protectedBytes: loose }))).toMatch(/not deterministic|non-minimal/);
  });

  test('a verification plugin header is refused in COSE too', () => {
    expect(verdictCose(cose({ protectedBytes: cbor(coseProtected([['io.cncf.notary.verificationPlugin', 'com.example.x']])) }))).toMatch(
      /verification plugin com\.example\.x/,
    );
  });

  test('duplicate protected header labels are refused (which alg would win?)', () => {
    // A map of 6 entries written by hand: alg twice.
    const good = cbor(coseProtected());
    const dup = Buffer.concat([Buffer.from([good[0]! + 1, 0x01, 0x38, 0x24]), good.subarray(1)]);
    expect(verdictCose(cose({ protectedBytes: dup }))).toMatch(/appears twice/);
  });

  test('CBOR bounds: 100,000 levels of nesting, lengths beyond the input, 64-bit lengths, integers beyond 2^53, indefinite lengths, trailing bytes: named failures', () => {
    const deep = Buffer.concat([Buffer.alloc(100_000, 0x81), Buffer.from([0x00])]);
    const cases: Buffer[] = [
      Buffer.concat([Buffer.from([0xd2, 0x84, 0x40, 0xa1, 0x01]), deep]),
      Buffer.from([0xd2, 0x84, 0x5a, 0xff, 0xff, 0xff, 0xff]),
      Buffer.from([0xd2, 0x84, 0x5b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00]),
      Buffer.from([0xd2, 0x84, 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
      Buffer.from([0xd2, 0x84, 0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
      Buffer.from([0xd2, 0x9f, 0x40, 0xff]),
      Buffer.from([0xd2, 0x84, 0x5f, 0x41, 0x00, 0xff]),
      Buffer.concat([cose(), Buffer.from([0x00])]),
      Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00]),
    ];
    for (const c of cases) expect(verdictCose(c)).toMatch(/not valid CBOR|larger than/);
  });

  test('a huge COSE envelope is refused by size', () => {
    expect(verdictCose(cose({ unprotected: [['io.example.padding', Buffer.alloc(300 * 1024)]] }))).toMatch(/larger than 262144 bytes/);
  });
});

test('a leaf that is a CA is refused in COSE as in JWS (one chain check for both envelopes)', () => {
  const caLeaf = leafWith({ ca: true, keyUsage: 0x86 });
  const protectedBytes = cbor(coseProtected());
  const payload = Buffer.from(JSON.stringify({ targetArtifact: TARGET }));
  const signature = cryptoSign('sha256', cbor(['Signature1', protectedBytes, Buffer.alloc(0), payload]), {
    key: leafKeys.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  const env = cbor(tag(18, [protectedBytes, new Map<string | number, CborIn>([[33, [caLeaf.der, root.der]]]), payload, signature]));
  expect(verdictCose(env)).toMatch(/leaf certificate .* is a CA/);
});

// -------------------------------------------------------------------------------------------------
// Signing scheme confusion: notary.x509.signingAuthority vs notary.x509

describe('signing scheme confusion', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-scheme-'));
  const rootFile = path.join(dir, 'root.pem');
  writeFileSync(rootFile, root.pem);
  const otherKeys = ec();
  const other = certificate({
    subject: [
      ['C', 'US'],
      ['O', 'Elsewhere'],
      ['CN', 'Other Root'],
    ],
    publicKey: otherKeys.publicKey,
    key: otherKeys.privateKey,
    notBefore: d('2025-01-01T00:00:00Z'),
    notAfter: d('2035-01-01T00:00:00Z'),
    ca: true,
  });
  const otherFile = path.join(dir, 'other.pem');
  writeFileSync(otherFile, other.pem);
  const trust = (fields: string) => {
    const text = `rules:\n  - name: n\n    require:\n      signatures: { notation: { ${fields}, identities: ["*"], level: strict } }\n`;
    const file = path.join(dir, `policy-${createHash('sha256').update(text).digest('hex').slice(0, 8)}.yaml`);
    writeFileSync(file, text);
    return parsePolicy(text, file).rules[0]!.require!.signatures!.notation!;
  };
  // A signing certificate that expired long ago (its key may have leaked since).
  const expired = leafWith({ notBefore: d('2025-06-01T00:00:00Z'), notAfter: d('2025-09-01T00:00:00Z') });
  const NOW = d('2026-12-01T00:00:00Z');
  const authority = {
    ...HEADER,
    'io.cncf.notary.signingScheme': 'notary.x509.signingAuthority',
    'io.cncf.notary.authenticSigningTime': '2025-07-01T00:00:00Z',
    crit: ['io.cncf.notary.signingScheme', 'io.cncf.notary.authenticSigningTime'],
  };
  const facts = (header: Record<string, unknown>) => verifyJwsEnvelope(jws({ header, chain: [expired.der, root.der] }), TARGET);

  test('a signer of a CA trust store cannot claim an "authentic" signing time by choosing scheme signingAuthority (backdating an expired certificate)', () => {
    const j = judgeNotation(trust(`trustStore: [${JSON.stringify(rootFile)}]`), facts(authority), undefined, NOW);
    expect(j.accepted).toBe(false);
    expect(j.reason).toMatch(
      /^authenticity validation failed: the signature uses signing scheme notary\.x509\.signingAuthority, but the trust policy names no signing authority \(signingAuthorityTrustStore\)/,
    );
    // The same certificate with notary.x509 fails as expired (its claimed signing time is only a claim).
    const x509 = judgeNotation(
      trust(`trustStore: [${JSON.stringify(rootFile)}]`),
      facts({ ...HEADER, 'io.cncf.notary.signingTime': '2025-07-01T00:00:00Z' }),
      undefined,
      NOW,
    );
    expect(x509.reason).toMatch(/^authenticTimestamp validation failed: certificate .* is not valid now/);
  });

  test('a chain that leaves its root out of x5c is refused whatever the trust store holds; an expired root in the chain fails its validity', () => {
    const expiredRoot = certificate({
      subject: ROOT_NAME,
      publicKey: rootKeys.publicKey,
      key: rootKeys.privateKey,
      notBefore: d('2025-01-01T00:00:00Z'),
      notAfter: d('2026-06-01T00:00:00Z'),
      ca: true,
    });
    const file = path.join(dir, 'expired-root.pem');
    writeFileSync(file, expiredRoot.pem);
    // The Notary Project requires the complete chain in the envelope: the store's root does not complete it.
    const short = verifyJwsEnvelope(jws({ chain: [leaf.der] }), TARGET);
    for (const store of [file, rootFile]) {
      const j = judgeNotation(trust(`trustStore: [${JSON.stringify(store)}]`), short, undefined, NOW);
      expect(j.accepted).toBe(false);
      expect(j.reason).toMatch(/^authenticity validation failed: .* which is not a root certificate \(self-signed\)/);
    }
    // With the expired root in the chain (and the store), the root's validity is judged like the chain's.
    const f = verifyJwsEnvelope(jws({ chain: [leaf.der, expiredRoot.der] }), TARGET);
    const j = judgeNotation(trust(`trustStore: [${JSON.stringify(file)}]`), f, undefined, NOW);
    expect(j.accepted).toBe(false);
    expect(j.reason).toMatch(
      /^authenticTimestamp validation failed: certificate C=US, O=Red Team, CN=Red Team Root .*was not valid at signing time|^authenticTimestamp validation failed: certificate C=US, O=Red Team, CN=Red Team Root is not valid now/,
    );
    // The complete chain under the root that is still valid is accepted.
    const complete = verifyJwsEnvelope(jws({ chain: [leaf.der, root.der] }), TARGET);
    expect(judgeNotation(trust(`trustStore: [${JSON.stringify(rootFile)}]`), complete, undefined, NOW)).toEqual({
      accepted: true,
      logged: [],
    });
  });

  test('a signing authority named in signingAuthorityTrustStore vouches for the authentic signing time; it does not authenticate notary.x509 signatures', () => {
    const t = trust(`trustStore: [${JSON.stringify(otherFile)}], signingAuthorityTrustStore: [${JSON.stringify(rootFile)}]`);
    expect(judgeNotation(t, facts(authority), undefined, NOW)).toEqual({ accepted: true, logged: [] });
    const x509 = judgeNotation(t, facts({ ...HEADER, 'io.cncf.notary.signingTime': '2025-07-01T00:00:00Z' }), undefined, NOW);
    expect(x509.reason).toMatch(/^authenticity validation failed: the certificate chain of .* does not lead to a certificate of/);
  });
});

// -------------------------------------------------------------------------------------------------
// Type confusion: every field of every part, replaced by a value of every JSON type

test('every field of the protected header, the unprotected header, the payload and the envelope, given a value of each other JSON type: a named failure or a verified signature, never another exception', () => {
  const odd: unknown[] = [null, 0, -1, 1e308, true, '', 'x'.repeat(1000), [], [null], {}, { a: 1 }, ['ES256'], [[]]];
  const base = JSON.parse(jws().toString('utf8')) as Record<string, unknown>;
  const results: string[] = [];
  const check = (bytes: Buffer) => {
    const r = verdictJws(bytes);
    results.push(typeof r === 'string' ? r : 'verified');
  };
  for (const key of [...Object.keys(HEADER), 'io.cncf.notary.expiry', 'io.cncf.notary.authenticSigningTime']) {
    for (const v of odd) check(jws({ header: { ...HEADER, [key]: v } }));
  }
  for (const key of ['x5c', 'io.cncf.notary.timestampSignature', 'io.cncf.notary.signingAgent']) {
    for (const v of odd) check(jws({ unprotected: { [key]: v } }));
  }
  for (const key of ['digest', 'mediaType', 'size', 'annotations']) {
    for (const v of odd) check(jws({ payloadText: JSON.stringify({ targetArtifact: { ...TARGET, [key]: v } }) }));
  }
  for (const v of odd) check(jws({ payloadText: JSON.stringify({ targetArtifact: v }) }));
  for (const v of odd) check(jws({ payloadText: JSON.stringify(v) }));
  for (const key of ['payload', 'protected', 'header', 'signature']) {
    for (const v of odd) check(Buffer.from(JSON.stringify({ ...base, [key]: v })));
  }
  for (const v of odd) check(Buffer.from(JSON.stringify(v)));
  expect(results).toHaveLength(273);
  // Only the harmless ones verify: an unprotected signing agent of another type is ignored; annotations are not checked.
  expect(results.filter((r) => r === 'verified').length).toBeLessThan(40);
});

test('every label of the COSE protected and unprotected headers, given a value of each CBOR type: a named failure or a verified signature, never another exception', () => {
  const odd: CborIn[] = [
    null,
    0,
    -1,
    2 ** 40,
    true,
    '',
    'x'.repeat(1000),
    Buffer.alloc(0),
    Buffer.alloc(3),
    [],
    [null],
    new Map(),
    tag(1, 'x'),
    tag(99, 0),
    tag(1, -(2 ** 40)),
  ];
  for (const label of [1, 2, 3, SCHEME, 'io.cncf.notary.signingTime', 'io.cncf.notary.expiry', 'io.cncf.notary.authenticSigningTime']) {
    for (const v of odd) {
      const m = coseProtected();
      m.set(label, v);
      expect(typeof verdictCose(cose({ protectedBytes: cbor(m) }))).toMatch(/string|object/);
    }
  }
  for (const label of [33, 'io.cncf.notary.timestampSignature', 'io.cncf.notary.signingAgent']) {
    for (const v of odd) expect(typeof verdictCose(cose({ unprotected: [[label, v]] }))).toMatch(/string|object/);
  }
});
