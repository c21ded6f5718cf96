/**
 * Adversarial review of Notation trust-policy evaluation (trustedIdentities, verification levels,
 * trust store types, distinct signers). The attacker pushes whatever they like: envelopes, chains
 * minted with their own CA, or certificates legitimately obtained from a CA the organization also
 * trusts for other identities ("Shared CA" below). Each test asserts what a demanding verifier
 * (notation-go / notation-core-go) answers. It found nine holes, closed since (identities matched
 * against the leaf subject read from its DER, TSA chains held to what they certify, distinct signers
 * by key, unauthenticated signers counted once).
 *
 * notation-go's identity rule (internal/pkix/pkix.go, verifier.go verifyX509TrustedIdentities):
 * the leaf's Subject.String() is parsed with go-ldap ParseDN (RFC 4514: escapes decoded, escaped
 * spaces kept), a DN with a multi-valued RDN or an attribute type twice is an error (the signature
 * fails authenticity), and every key/value of the identity must equal the leaf's (subset rule).
 */
import { createHash, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parsePolicy } from '../../../../src/policy';
import { evaluate, type Decision } from '../../../../src/policy/evaluate';
import type { Evidence } from '../../../../src/policy/input';
import { judgeNotation, type NotationFacts, type NotationTrust } from '../../../../src/policy/notation-trust';
import { MEDIA_TYPE } from '../../../../src/registry/types';
import { verifyJwsEnvelope } from '../../../../src/verification/notation/envelope';
import {
  bitString,
  certificate,
  explicit,
  extension,
  int,
  oid,
  OIDS,
  seq,
  set,
  timestampToken,
  tlv,
  x509Time,
  type BuiltCert,
} from '../../../support/der-writer';

const IMAGE = `sha256:${'3a'.repeat(32)}`;
const TARGET = { digest: IMAGE, mediaType: MEDIA_TYPE.OCI_MANIFEST, size: 321 };
const NOW = new Date('2026-12-01T00:00:00Z');
const d = (s: string) => new Date(s);
const ec = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-notation-trust-attacks-'));

// -------------------------------------------------------------------------------------------------
// Raw X.509 names (every RDN as written: order, multi-valued sets, string types, unknown OIDs)

const ATTR: Record<string, string> = { C: '2.5.4.6', ST: '2.5.4.8', L: '2.5.4.7', O: '2.5.4.10', OU: '2.5.4.11', CN: '2.5.4.3' };
const PRINTABLE = 0x13;
/** [type (short name or dotted OID), value, ASN.1 string tag (default UTF8String, PrintableString for C)]. */
type Atv = [string, string, number?];
const rdn = (...atvs: Atv[]): Atv[] => atvs;
function rawName(rdns: Atv[][]): Buffer {
  return seq(
    ...rdns.map((r) =>
      set(
        ...r.map(([k, v, t]) =>
          // BMPString (0x1e) is UTF-16BE; every other string type is written as the UTF-8 bytes of the value.
          seq(
            oid(ATTR[k] ?? k),
            tlv(t ?? (k === 'C' ? PRINTABLE : 0x0c), t === 0x1e ? Buffer.from(v, 'utf16le').swap16() : Buffer.from(v, 'utf8')),
          ),
        ),
      ),
    ),
  );
}
/** The usual one-attribute-per-RDN name. */
const simple = (...atvs: Atv[]): Atv[][] => atvs.map((a) => [a]);

// The Shared CA: trusted by the organization, and also issuing code-signing certificates to partners.
const caKeys = ec();
const CA_NAME: Array<[string, string]> = [
  ['C', 'US'],
  ['O', 'Shared CA'],
  ['CN', 'Shared Root'],
];
const ca = certificate({
  subject: CA_NAME,
  publicKey: caKeys.publicKey,
  key: caKeys.privateKey,
  notBefore: d('2025-01-01T00:00:00Z'),
  notAfter: d('2035-01-01T00:00:00Z'),
  ca: true,
});

let serial = 50_000;
/** A code-signing leaf with exactly this subject Name, issued by `issuer` (default the Shared CA). */
function leafCert(
  subject: Atv[][],
  o: { key?: { publicKey: KeyObject }; issuerName?: Buffer; issuerKey?: KeyObject; notBefore?: Date; notAfter?: Date } = {},
): BuiltCert {
  const publicKey = o.key?.publicKey ?? leafKeys.publicKey;
  const alg = seq(oid(OIDS.ecdsaSha256));
  const s = serial++;
  const tbs = seq(
    explicit(0, int(2)),
    int(s),
    alg,
    o.issuerName ?? ca.subjectName,
    seq(x509Time(o.notBefore ?? d('2026-01-01T00:00:00Z')), x509Time(o.notAfter ?? d('2028-01-01T00:00:00Z'))),
    rawName(subject),
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(
      3,
      seq(
        extension('2.5.29.19', true, seq()),
        extension('2.5.29.15', true, bitString(Buffer.from([0x80]))),
        extension('2.5.29.37', true, seq(oid(OIDS.codeSigning))),
      ),
    ),
  );
  const der = seq(tbs, alg, bitString(cryptoSign('sha256', tbs, o.issuerKey ?? caKeys.privateKey)));
  return { der, pem: '', subjectName: rawName(subject), serial: s };
}
const leafKeys = ec();

// -------------------------------------------------------------------------------------------------
// JWS envelopes and trust policies

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const HEADER = {
  alg: 'ES256',
  crit: ['io.cncf.notary.signingScheme'],
  cty: 'application/vnd.cncf.notary.payload.v1+json',
  'io.cncf.notary.signingScheme': 'notary.x509',
  'io.cncf.notary.signingTime': '2026-11-01T00:00:00Z',
};

function jws(chain: BuiltCert[], o: { key?: KeyObject; header?: Record<string, unknown>; ts?: (sig: Buffer) => string } = {}): Buffer {
  const protectedB64 = b64url(o.header ?? HEADER);
  const payloadB64 = b64url({ targetArtifact: TARGET });
  const signature = cryptoSign('sha256', Buffer.from(`${protectedB64}.${payloadB64}`), {
    key: o.key ?? leafKeys.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  const header: Record<string, unknown> = { x5c: chain.map((c) => c.der.toString('base64')) };
  if (o.ts) header['io.cncf.notary.timestampSignature'] = o.ts(signature);
  return Buffer.from(JSON.stringify({ payload: payloadB64, protected: protectedB64, header, signature: signature.toString('base64url') }));
}

function file(name: string, ...certs: BuiltCert[]): string {
  const pem = certs
    .map((c) => `-----BEGIN CERTIFICATE-----\n${c.der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`)
    .join('');
  writeFileSync(path.join(dir, name), pem);
  return JSON.stringify(path.join(dir, name));
}
const STORE = file('shared-ca.pem', ca);

function policyText(notation: string, rest = ''): string {
  return `rules:\n  - name: n\n    require:\n      signatures: { notation: { ${notation} }${rest} }\n`;
}
function load(text: string) {
  const f = path.join(dir, `policy-${createHash('sha256').update(text).digest('hex').slice(0, 12)}.yaml`);
  writeFileSync(f, text);
  return parsePolicy(text, f);
}
const RELEASE = 'x509.subject: C=US, ST=WA, O=acme, CN=release';
function trust(o: { identity?: string; level?: string; extra?: string } = {}): NotationTrust {
  const text = policyText(
    `trustStore: [${STORE}]${o.extra ?? ''}, identities: [${JSON.stringify(o.identity ?? RELEASE)}], level: ${o.level ?? 'strict'}`,
  );
  return load(text).rules[0]!.require!.signatures!.notation!;
}

const facts = (bytes: Buffer): NotationFacts => verifyJwsEnvelope(bytes, TARGET);
/** The judgement of a signature by a Shared-CA leaf with this subject. */
function judgeSubject(subject: Atv[][], t: NotationTrust = trust()) {
  return judgeNotation(t, facts(jws([leafCert(subject), ca])), undefined, NOW);
}

const ACME_RELEASE = simple(['C', 'US'], ['ST', 'WA'], ['O', 'acme'], ['CN', 'release']);

test('the base case: a Shared-CA leaf C=US, ST=WA, O=acme, CN=release is the trusted identity', () => {
  expect(judgeSubject(ACME_RELEASE)).toEqual({ accepted: true, logged: [] });
  // And a partner of the Shared CA is not.
  const partner = judgeSubject(simple(['C', 'US'], ['ST', 'WA'], ['O', 'partner'], ['CN', 'release']));
  expect(partner.accepted).toBe(false);
  expect(partner.reason).toMatch(/^authenticity validation failed: signer .* is not a trusted identity/);
});

// -------------------------------------------------------------------------------------------------
// trustedIdentities: x509.subject against the leaf's DN

describe('x509.subject identities: what the leaf DN must be', () => {
  test('the same attributes in another order match (notation compares attribute sets)', () => {
    expect(judgeSubject(simple(['CN', 'release'], ['O', 'acme'], ['ST', 'WA'], ['C', 'US'])).accepted).toBe(true);
  });

  test('extra attributes in the leaf match (subset rule); a missing one does not', () => {
    expect(
      judgeSubject(simple(['C', 'US'], ['ST', 'WA'], ['L', 'Seattle'], ['O', 'acme'], ['OU', 'Build'], ['CN', 'release'])).accepted,
    ).toBe(true);
    expect(judgeSubject(simple(['C', 'US'], ['ST', 'WA'], ['O', 'acme'])).accepted).toBe(false);
  });

  test('values compare case-sensitively and exactly: O=ACME, O=acme inc, CN=releases do not match', () => {
    for (const [k, v] of [
      ['O', 'ACME'],
      ['O', 'acme inc'],
      ['CN', 'releases'],
      ['CN', 'Release'],
    ] as const) {
      const subject = ACME_RELEASE.map(([a]) => [a![0] === k ? ([k, v] as Atv) : a!]);
      expect(judgeSubject(subject).accepted).toBe(false);
    }
  });

  test('the same value in another string type (PrintableString, T61String, BMPString of "acme") is the same value', () => {
    expect(judgeSubject(simple(['C', 'US'], ['ST', 'WA', PRINTABLE], ['O', 'acme', PRINTABLE], ['CN', 'release'])).accepted).toBe(true);
    expect(judgeSubject(simple(['C', 'US'], ['ST', 'WA'], ['O', 'acme', 0x14], ['CN', 'release'])).accepted).toBe(true);
    expect(judgeSubject(simple(['C', 'US'], ['ST', 'WA'], ['O', 'acme', 0x1e], ['CN', 'release'])).accepted).toBe(true);
  });

  test.each<[string, Atv[][]]>([
    ['an escaped comma: O="partner, O=acme"', simple(['C', 'US'], ['ST', 'WA'], ['O', 'partner, O=acme'], ['CN', 'release'])],
    ['an escaped plus: O="partner+O=acme"', simple(['C', 'US'], ['ST', 'WA'], ['O', 'partner+O=acme'], ['CN', 'release'])],
    ['a newline: O="partner\\nO=acme"', simple(['C', 'US'], ['ST', 'WA'], ['O', 'partner\nO=acme'], ['CN', 'release'])],
    ['CR LF: O="partner\\r\\nO=acme"', simple(['C', 'US'], ['ST', 'WA'], ['O', 'partner\r\nO=acme'], ['CN', 'release'])],
    ['a semicolon: O="partner;O=acme"', simple(['C', 'US'], ['ST', 'WA'], ['O', 'partner;O=acme'], ['CN', 'release'])],
    ['a backslash: O="partner\\\\,O=acme"', simple(['C', 'US'], ['ST', 'WA'], ['O', 'partner\\,O=acme'], ['CN', 'release'])],
    [
      'an unknown attribute type whose value is "O=acme"',
      simple(['C', 'US'], ['ST', 'WA'], ['O', 'partner'], ['1.2.3.4', 'O=acme'], ['CN', 'release']),
    ],
    ['O=acme only in OU', simple(['C', 'US'], ['ST', 'WA'], ['O', 'partner'], ['OU', 'acme'], ['CN', 'release'])],
  ])('injection through a value: %s does not make the leaf O=acme', (_what, subject) => {
    const j = judgeSubject(subject);
    expect(j.accepted).toBe(false);
    expect(j.reason).toMatch(/^authenticity validation failed: signer .* is not a trusted identity/);
  });

  test('a leaf DN with an attribute type twice (O=partner, O=acme) is refused, as notation refuses duplicate RDN attributes', () => {
    // A CA that stamps its customer's O but copies the rest of the CSR subject issues exactly this.
    const j = judgeSubject(simple(['C', 'US'], ['ST', 'WA'], ['O', 'partner'], ['O', 'acme'], ['CN', 'release']));
    expect(j.accepted).toBe(false);
    expect(j.reason).toMatch(/^authenticity validation failed: /);
  });

  test('a leaf DN with a multi-valued RDN (O=acme + CN=release) is refused, as notation refuses multi-valued RDNs', () => {
    const j = judgeSubject([rdn(['C', 'US']), rdn(['ST', 'WA']), rdn(['O', 'acme'], ['CN', 'release'])]);
    expect(j.accepted).toBe(false);
    expect(j.reason).toMatch(/^authenticity validation failed: /);
    // The duplicate hidden inside one multi-valued RDN: O=partner + O=acme.
    const hidden = judgeSubject([rdn(['C', 'US']), rdn(['ST', 'WA']), rdn(['O', 'partner'], ['O', 'acme']), rdn(['CN', 'release'])]);
    expect(hidden.accepted).toBe(false);
  });

  test('escaped leading/trailing spaces are part of the value: O="acme " and O=" acme" are not O=acme', () => {
    // Node prints them as `O=acme\ ` and `O=\ acme`; RFC 4514 (and go-ldap) keep an escaped space.
    for (const value of ['acme ', ' acme', ' acme ']) {
      const j = judgeSubject(simple(['C', 'US'], ['ST', 'WA'], ['O', value], ['CN', 'release']));
      expect(j.accepted).toBe(false);
    }
  });

  test('an RFC 4514 hex escape is a byte, not two characters: a leaf O="acme\\n" is not O=acme0A', () => {
    // Node prints the control character as `\0A`; read as the two letters "0A" it collides with another organization.
    const t = trust({ identity: 'x509.subject: C=US, ST=WA, O=acme0A, CN=release' });
    const j = judgeSubject(simple(['C', 'US'], ['ST', 'WA'], ['O', 'acme\n'], ['CN', 'release']), t);
    expect(j.accepted).toBe(false);
  });

  test('a wildcard "*" trusts any signer the trust store vouches for, but never one it does not', () => {
    const any = trust({ identity: '*' });
    expect(judgeSubject(simple(['C', 'US'], ['ST', 'WA'], ['O', 'partner'], ['CN', 'x']), any).accepted).toBe(true);
    const mineKeys = ec();
    const mine = certificate({
      subject: CA_NAME,
      publicKey: mineKeys.publicKey,
      key: mineKeys.privateKey,
      notBefore: d('2025-01-01T00:00:00Z'),
      notAfter: d('2035-01-01T00:00:00Z'),
      ca: true,
    });
    const forged = leafCert(ACME_RELEASE, { issuerName: mine.subjectName, issuerKey: mineKeys.privateKey });
    const j = judgeNotation(any, facts(jws([forged, mine])), undefined, NOW);
    expect(j.accepted).toBe(false);
    expect(j.reason).toMatch(/^authenticity validation failed: the certificate chain of .* does not lead to a certificate of/);
  });
});

// -------------------------------------------------------------------------------------------------
// Verification levels: what each lets through

describe('verification levels', () => {
  const partnerSubject = simple(['C', 'US'], ['ST', 'WA'], ['O', 'partner'], ['CN', 'release']);

  test('permissive enforces authenticity: a trusted-CA signer that is not a trusted identity is denied, not logged', () => {
    const j = judgeSubject(partnerSubject, trust({ level: 'permissive' }));
    expect(j.accepted).toBe(false);
    expect(j.reason).toMatch(/^authenticity validation failed: signer .* is not a trusted identity/);
  });

  test('permissive: an expired signing certificate (no timestamp) is admitted with a logged authenticTimestamp failure, strict denies it', () => {
    const expired = leafCert(ACME_RELEASE, { notBefore: d('2026-01-01T00:00:00Z'), notAfter: d('2026-06-01T00:00:00Z') });
    const f = facts(jws([expired, ca], { header: { ...HEADER, 'io.cncf.notary.signingTime': '2026-02-01T00:00:00Z' } }));
    expect(judgeNotation(trust(), f, undefined, NOW).reason).toMatch(/^authenticTimestamp validation failed: .* is not valid now/);
    const p = judgeNotation(trust({ level: 'permissive' }), f, undefined, NOW);
    expect(p.accepted).toBe(true);
    expect(p.logged.join('\n')).toMatch(/authenticTimestamp validation failed/);
  });

  test('no level lets an integrity failure through: a signature by another key than the leaf is denied at audit', () => {
    const other = ec();
    const bytes = jws([leafCert(ACME_RELEASE), ca], { key: other.privateKey });
    expect(() => facts(bytes)).toThrow(/does not verify with the leaf/);
    const j = judgeNotation(trust({ level: 'audit' }), undefined, 'the signature does not verify with the leaf certificate of x5c', NOW);
    expect(j.accepted).toBe(false);
    expect(j.reason).toMatch(/^integrity validation failed/);
  });
});

// -------------------------------------------------------------------------------------------------
// Trust store types: ca vs tsa

describe('trust store types', () => {
  const tsaRootKeys = ec();
  const TSA_ROOT: Array<[string, string]> = [
    ['C', 'US'],
    ['O', 'Shared TSA'],
    ['CN', 'TSA Root'],
  ];
  const tsaRoot = certificate({
    subject: TSA_ROOT,
    publicKey: tsaRootKeys.publicKey,
    key: tsaRootKeys.privateKey,
    notBefore: d('2025-01-01T00:00:00Z'),
    notAfter: d('2035-01-01T00:00:00Z'),
    ca: true,
  });
  const TSA_STORE = file('tsa-root.pem', tsaRoot);
  const tsaKeys = ec();
  const withTsa = (level = 'strict') => trust({ level, extra: `, tsaTrustStore: [${TSA_STORE}]` });
  // A leaf that expired before NOW, signed (and timestamped) while it was valid.
  const expiredLeaf = leafCert(ACME_RELEASE, { notBefore: d('2026-01-01T00:00:00Z'), notAfter: d('2026-06-01T00:00:00Z') });
  const signedAt = { ...HEADER, 'io.cncf.notary.signingTime': '2026-02-01T00:00:00Z' };
  const token = (sig: Buffer, tsaCert: BuiltCert, issuerName: Buffer, extraCerts: Buffer[] = []) =>
    timestampToken({
      imprinted: sig,
      tsaKey: tsaKeys.privateKey,
      tsaCert,
      tsaIssuerName: issuerName,
      extraCerts,
      genTime: d('2026-02-01T00:00:05Z'),
    }).toString('base64');
  const tsaLeaf = (o: { ca?: boolean; issuer?: { name: Array<[string, string]>; key: KeyObject }; extensions?: Buffer[] } = {}) =>
    certificate({
      subject: [
        ['C', 'US'],
        ['O', 'Shared TSA'],
        ['CN', o.ca ? 'TSA that is a CA' : 'TSA'],
      ],
      issuer: o.issuer ?? { name: TSA_ROOT, key: tsaRootKeys.privateKey },
      publicKey: tsaKeys.publicKey,
      notBefore: d('2025-06-01T00:00:00Z'),
      notAfter: d('2028-01-01T00:00:00Z'),
      eku: [OIDS.timeStamping],
      ...(o.ca ? { ca: true, keyUsage: 0x86 } : {}),
      ...(o.extensions ? { extensions: o.extensions } : {}),
    });

  test('the base case: a trusted timestamp admits the expired leaf at strict', () => {
    const bytes = jws([expiredLeaf, ca], { header: signedAt, ts: (sig) => token(sig, tsaLeaf(), tsaRoot.subjectName) });
    expect(judgeNotation(withTsa(), facts(bytes), undefined, NOW)).toEqual({ accepted: true, logged: [] });
  });

  test('a code-signing leaf issued by the TSA root is not authenticated by the TSA trust store', () => {
    const underTsa = leafCert(ACME_RELEASE, {
      issuerName: tsaRoot.subjectName,
      issuerKey: tsaRootKeys.privateKey,
    });
    const j = judgeNotation(withTsa(), facts(jws([underTsa, tsaRoot])), undefined, NOW);
    expect(j.accepted).toBe(false);
    expect(j.reason).toMatch(/^authenticity validation failed: the certificate chain of .* does not lead to a certificate of/);
  });

  test('a TSA signing certificate that is a CA (basicConstraints CA:TRUE) does not make a trusted timestamp, as in notation-core-go', () => {
    // notation-core-go ValidateTimestampingCertChain → validateLeafBasicConstraints: the TSA certificate must not be a CA.
    const bytes = jws([expiredLeaf, ca], { header: signedAt, ts: (sig) => token(sig, tsaLeaf({ ca: true }), tsaRoot.subjectName) });
    const f = facts(bytes);
    const j = judgeNotation(withTsa(), f, undefined, NOW);
    expect(j.accepted).toBe(false);
    expect(j.reason).toMatch(/^authenticTimestamp validation failed: /);
  });

  const tsaIntermediate = (cn: string, o: { extensions?: Buffer[]; eku?: string[] }) => {
    const midKeys = ec();
    const MID: Array<[string, string]> = [
      ['C', 'US'],
      ['O', 'Shared TSA'],
      ['CN', cn],
    ];
    const mid = certificate({
      subject: MID,
      issuer: { name: TSA_ROOT, key: tsaRootKeys.privateKey },
      publicKey: midKeys.publicKey,
      notBefore: d('2025-06-01T00:00:00Z'),
      notAfter: d('2030-01-01T00:00:00Z'),
      ca: true,
      ...o,
    });
    return { mid, under: tsaLeaf({ issuer: { name: MID, key: midKeys.privateKey } }) };
  };

  test('a TSA chain through a well-formed intermediate of the TSA root is trusted (base case for the two below)', () => {
    const { mid, under } = tsaIntermediate('TSA CA', {});
    const bytes = jws([expiredLeaf, ca], { header: signedAt, ts: (sig) => token(sig, under, mid.subjectName, [mid.der]) });
    expect(judgeNotation(withTsa(), facts(bytes), undefined, NOW)).toEqual({ accepted: true, logged: [] });
  });

  test('a TSA intermediate whose extended key usage excludes timeStamping (a code-signing CA) cannot issue a TSA certificate', () => {
    // tspclient-go verifies the TSA chain with x509.VerifyOptions{KeyUsages: [timeStamping]}: EKU nests down the chain.
    // An organization with one root for both stores (trustStore and tsaTrustStore) must not have its code-signing CA mint TSAs.
    const { mid, under } = tsaIntermediate('Code Signing CA', { eku: [OIDS.codeSigning] });
    const bytes = jws([expiredLeaf, ca], { header: signedAt, ts: (sig) => token(sig, under, mid.subjectName, [mid.der]) });
    const j = judgeNotation(withTsa(), facts(bytes), undefined, NOW);
    expect(j.accepted).toBe(false);
    expect(j.reason).toMatch(/^authenticTimestamp validation failed: /);
  });

  test('a TSA intermediate with an unknown critical extension is not a path to the TSA root', () => {
    // x509.ts refuses such a certificate in the signing chain; Go's x509.Verify (notation's TSA path) refuses it too.
    const midKeys = ec();
    const MID: Array<[string, string]> = [
      ['C', 'US'],
      ['O', 'Shared TSA'],
      ['CN', 'Constrained TSA CA'],
    ];
    const mid = certificate({
      subject: MID,
      issuer: { name: TSA_ROOT, key: tsaRootKeys.privateKey },
      publicKey: midKeys.publicKey,
      notBefore: d('2025-06-01T00:00:00Z'),
      notAfter: d('2030-01-01T00:00:00Z'),
      ca: true,
      extensions: [extension('1.2.3.4.99', true, seq())],
    });
    const under = tsaLeaf({ issuer: { name: MID, key: midKeys.privateKey } });
    const bytes = jws([expiredLeaf, ca], { header: signedAt, ts: (sig) => token(sig, under, mid.subjectName, [mid.der]) });
    const j = judgeNotation(withTsa(), facts(bytes), undefined, NOW);
    expect(j.accepted).toBe(false);
    expect(j.reason).toMatch(/^authenticTimestamp validation failed: /);
  });
});

// -------------------------------------------------------------------------------------------------
// Distinct signers (signatures.minimum) counted from Notation signatures

describe('distinct Notation signers toward minimum', () => {
  const evidence = (bytes: Buffer, i: number): Evidence => ({
    referrerDigest: `sha256:${i.toString(16).padStart(2, '0').repeat(32)}`,
    format: 'notation',
    kind: 'signature',
    subjectDigest: IMAGE,
    verified: false,
    notation: facts(bytes),
  });
  const run = (policy: ReturnType<typeof load>, ev: Evidence[]): Decision =>
    evaluate(policy, {
      image: {
        reference: 'registry.example.com/app',
        registry: 'registry.example.com',
        repository: 'app',
        digest: IMAGE,
        mediaType: MEDIA_TYPE.OCI_MANIFEST,
      },
      action: 'deploy',
      context: {},
      evidence: ev,
      now: NOW,
    });
  const message = (x: Decision) => x.requirements.map((r) => r.message).join(' | ');

  test('two signatures by one certificate are one signer', () => {
    const p = load(policyText(`trustStore: [${STORE}], identities: ["*"]`, ', minimum: 2'));
    const one = jws([leafCert(ACME_RELEASE), ca]);
    const x = run(p, [evidence(one, 1), evidence(one, 2)]);
    expect(x.allowed).toBe(false);
  });

  test('one signing key certified twice under the same DN attributes in another order is one signer, not two', () => {
    // notation's identity of a signer is the attribute set; the same key and the same attributes are the same signer.
    const p = load(policyText(`trustStore: [${STORE}], identities: [${JSON.stringify(RELEASE)}]`, ', minimum: 2'));
    const a = jws([leafCert(ACME_RELEASE), ca]);
    const b = jws([leafCert(simple(['CN', 'release'], ['O', 'acme'], ['ST', 'WA'], ['C', 'US'])), ca]);
    const x = run(p, [evidence(a, 1), evidence(b, 2)]);
    expect(message(x)).not.toContain('2 distinct signers');
    expect(x.allowed).toBe(false);
  });

  test('at level audit, self-minted certificates are not distinct signers: two of them do not stand in for the ci-release key', () => {
    // The documented pattern "a Notation signer and the ci-release key" (minimum 2) at audit: authenticity
    // is only logged, so the subject DNs are whatever the attacker minted — they prove nothing distinct.
    const p = load(
      policyText(`trustStore: [${STORE}], identities: [${JSON.stringify(RELEASE)}], level: audit`, ', keys: [ci-release], minimum: 2'),
    );
    const minted = (cn: string) => {
      const k = ec();
      const root = certificate({
        subject: [
          ['C', 'US'],
          ['O', 'Attacker'],
          ['CN', `${cn} Root`],
        ],
        publicKey: k.publicKey,
        key: k.privateKey,
        notBefore: d('2025-01-01T00:00:00Z'),
        notAfter: d('2035-01-01T00:00:00Z'),
        ca: true,
      });
      const leafKey = ec();
      const leaf = leafCert(simple(['C', 'US'], ['ST', 'WA'], ['O', 'Attacker'], ['CN', cn]), {
        key: leafKey,
        issuerName: root.subjectName,
        issuerKey: k.privateKey,
      });
      return jws([leaf, root], { key: leafKey.privateKey });
    };
    const x = run(p, [evidence(minted('one'), 1), evidence(minted('two'), 2)]);
    // Today: "signed by Notation signer …CN=one, Notation signer …CN=two: 2 distinct signers, 2 required", no ci-release signature.
    expect(message(x)).not.toMatch(/2 distinct signers, 2 required/);
    expect(x.allowed).toBe(false);
  });
});
