/**
 * Adversarial review of keyless verification (Sigstore bundles, cosign legacy keyless `.sig`).
 *
 * A miniature Sigstore instance is built in the test: a Fulcio-like CA (root → intermediate), a CT
 * log that embeds real SCTs, a Rekor key that signs SETs, and the trusted_root.json naming them.
 * Certificates are minted with every field the attacker might hope to bend (SANs, issuer
 * extensions, EKU, CA bit, validity). The attacker can push anything to the registry and can get
 * certificates for THEIR OWN identity from the trusted Fulcio; they want an image of their choice
 * accepted as signed by the organization's identity.
 *
 * Every test states what a demanding verifier (cosign, sigstore-go, policy-controller) answers.
 * The review found four holes, closed since: SAN bytes that are not ASCII, no EKU check, log
 * entries about another certificate, and `.sig` layers deduplicated without their annotations.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { json as sigstoreJson } from '@sigstore/core';
import { RegistryClient } from '../../../../src/registry/client';
import { MEDIA_TYPE, type Descriptor, type RepositoryRef } from '../../../../src/registry/types';
import { COSIGN_SIGN_PREDICATE_TYPE, IN_TOTO_PAYLOAD_TYPE } from '../../../../src/formats/in-toto';
import { verifyBundleReferrer } from '../../../../src/verification/bundle-verifier';
import { legacyCosignEvidence } from '../../../../src/verification/cosign-legacy';
import { checkReferrerManifest, type ReferrerManifest } from '../../../../src/verification/referrer-manifest';
import { verifyLegacyKeyless } from '../../../../src/verification/sigstore/legacy-keyless';
import { parseTrustedRoot, type SigstoreTrustRoot } from '../../../../src/verification/sigstore/trusted-root';
import { verifySigstoreBundle } from '../../../../src/verification/sigstore/verify-bundle';
import { identityMatches, type SignerIdentity } from '../../../../src/policy/identity';
import { evaluate, parsePolicy } from '../../../../src/policy';
import type { Evidence } from '../../../../src/policy/input';
import type { TrustedKey } from '../../../../src/trust/types';
import { certificate, extension, octet, oid, seq, tlv, utf8, OIDS, type BuiltCert } from '../../../support/der-writer';
import { testPki, selfSignedCa, type TestPki } from '../../../support/test-pki';
import { FakeRegistry } from '../../registry/fake-registry';
import { referrerFor } from '../bundle-fixtures';
import { randomDigest, sigTag, simpleSigningPayload, storeLegacyTag, trustedKey, type TestLayer } from '../legacy-fixtures';
import { image as imageFacts } from '../../policy/fixtures';

// ---- a miniature Sigstore instance ------------------------------------------------------------

const FULCIO = '1.3.6.1.4.1.57264.1';
const SCT_OID = '1.3.6.1.4.1.11129.2.4.2';
const ORG = {
  issuer: 'https://token.actions.githubusercontent.com',
  subject: 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main',
};
const MALLORY = {
  issuer: 'https://token.actions.githubusercontent.com',
  subject: 'https://github.com/mallory/evil/.github/workflows/x.yml@refs/heads/main',
};
const T = new Date('2026-01-15T10:00:00Z');
const SECONDS = (d: Date) => Math.floor(d.getTime() / 1000);

const ec = () => crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const spki = (k: KeyObject): Buffer => k.export({ type: 'spki', format: 'der' });
const sha256 = (b: Buffer): Buffer => crypto.createHash('sha256').update(b).digest();
const sha256Hex = (b: Buffer | string): string => crypto.createHash('sha256').update(b).digest('hex');

interface Instance {
  pki: TestPki;
  ct: { privateKey: KeyObject; publicKey: KeyObject };
  rekor: { privateKey: KeyObject; publicKey: KeyObject };
  root: SigstoreTrustRoot;
}

function instance(name: string, org = 'sigstore.mock'): Instance {
  const pki = testPki({ org });
  const ct = ec();
  const rekor = ec();
  const validFor = { start: '2020-01-01T00:00:00.000Z' };
  const log = (k: KeyObject) => ({
    baseUrl: 'https://log.example',
    hashAlgorithm: 'SHA2_256',
    publicKey: { rawBytes: spki(k).toString('base64'), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor },
    logId: { keyId: sha256(spki(k)).toString('base64') },
  });
  const json = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [log(rekor.publicKey)],
    ctlogs: [log(ct.publicKey)],
    certificateAuthorities: [
      {
        subject: { organization: org, commonName: 'fulcio' },
        uri: 'https://fulcio.example',
        certChain: { certificates: [{ rawBytes: pki.intermediate.der.toString('base64') }, { rawBytes: pki.root.der.toString('base64') }] },
        validFor,
      },
    ],
    timestampAuthorities: [],
  };
  return { pki, ct, rekor, root: parseTrustedRoot(json, name, name) };
}

/** The TBSCertificate (first element) of a DER certificate. */
function tbsOf(der: Buffer): Buffer {
  const header = (at: number): { start: number; end: number } => {
    let len = der[at + 1]!;
    let start = at + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + der[at + 2 + i]!;
      start = at + 2 + n;
    }
    return { start, end: start + len };
  };
  const outer = header(0);
  const tbs = header(outer.start);
  return der.subarray(outer.start, tbs.end);
}

const u16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
const u24 = (n: number) => Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
const u64 = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
};

/** An RFC 6962 embedded-SCT extension for the precertificate `tbs`, signed by `ctKey`. */
function sctExtension(tbs: Buffer, issuerSpki: Buffer, ct: { privateKey: KeyObject; publicKey: KeyObject }, at: Date): Buffer {
  const ts = u64(at.getTime());
  const signed = Buffer.concat([Buffer.from([0, 0]), ts, u16(1), sha256(issuerSpki), u24(tbs.length), tbs, u16(0)]);
  const sig = crypto.sign('sha256', signed, ct.privateKey);
  const sct = Buffer.concat([Buffer.from([0]), sha256(spki(ct.publicKey)), ts, u16(0), Buffer.from([4, 3]), u16(sig.length), sig]);
  const list = Buffer.concat([u16(sct.length + 2), u16(sct.length), sct]);
  return extension(SCT_OID, false, octet(list));
}

/** GeneralName helpers (SAN entries). */
const SAN = {
  uri: (s: string | Buffer) => tlv(0x86, Buffer.isBuffer(s) ? s : Buffer.from(s, 'latin1')),
  email: (s: string) => tlv(0x81, Buffer.from(s, 'latin1')),
  otherNameUsername: (s: string) => tlv(0xa0, oid(`${FULCIO}.7`), tlv(0xa0, utf8(s))),
};

interface LeafOptions {
  /** The SAN GeneralNames (default: one URI SAN, the org's workflow); null = no SAN extension. */
  san?: Buffer[] | null;
  /** Subject DN (Fulcio leaves have an empty subject). */
  subject?: Array<[string, string]>;
  issuerV1?: string | null;
  issuerV2?: string | null;
  /** Extended key usages (default codeSigning); null = no EKU extension. */
  eku?: string[] | null;
  ca?: boolean;
  keyUsage?: number | null;
  notBefore?: Date;
  notAfter?: Date;
  /** Issue under another CA (an impostor) instead of the instance's intermediate. */
  issuer?: { name: Array<[string, string]>; key: KeyObject; publicKey: KeyObject };
  noSct?: boolean;
  keys?: { privateKey: KeyObject; publicKey: KeyObject };
}

interface Leaf {
  cert: BuiltCert;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

let serial = 70_000;

/** A Fulcio-style leaf: SAN, issuer extensions (v1 raw, v2 DER UTF8String), EKU codeSigning, embedded SCT. */
function fulcioLeaf(inst: Instance, o: LeafOptions = {}): Leaf {
  const keys = o.keys ?? ec();
  const san = o.san === undefined ? [SAN.uri(ORG.subject)] : o.san;
  const exts: Buffer[] = [];
  if (san !== null) exts.push(extension('2.5.29.17', true, seq(...san)));
  const v1 = o.issuerV1 === undefined ? ORG.issuer : o.issuerV1;
  const v2 = o.issuerV2 === undefined ? ORG.issuer : o.issuerV2;
  if (v1 !== null) exts.push(extension(`${FULCIO}.1`, false, Buffer.from(v1, 'utf8')));
  if (v2 !== null) exts.push(extension(`${FULCIO}.8`, false, utf8(v2)));
  const issuer = o.issuer ?? {
    name: inst.pki.name('Intermediate CA'),
    key: inst.pki.intermediateKey,
    publicKey: crypto.createPublicKey(inst.pki.intermediate.pem),
  };
  const base = {
    subject: o.subject ?? [],
    issuer: { name: issuer.name, key: issuer.key },
    publicKey: keys.publicKey,
    notBefore: o.notBefore ?? new Date(T.getTime() - 60_000),
    notAfter: o.notAfter ?? new Date(T.getTime() + 600_000),
    ...(o.ca ? { ca: true } : {}),
    ...(o.keyUsage !== undefined ? { keyUsage: o.keyUsage } : {}),
    ...(o.eku === null ? {} : { eku: o.eku ?? [OIDS.codeSigning], ekuCritical: false }),
    serial: serial++,
  };
  if (o.noSct) return { cert: certificate({ ...base, extensions: exts }), ...keys };
  const pre = certificate({ ...base, extensions: exts });
  const sct = sctExtension(tbsOf(pre.der), spki(issuer.publicKey), inst.ct, T);
  return { cert: certificate({ ...base, extensions: [...exts, sct] }), ...keys };
}

interface TlogOptions {
  integratedTime?: Date;
  /** Sign the SET with this key instead of the instance's Rekor key. */
  rekorKey?: { privateKey: KeyObject; publicKey: KeyObject };
  logIndex?: number;
}

/** A Rekor v1 entry with a SET over `body`. */
function tlogEntry(inst: Instance, body: object, o: TlogOptions = {}) {
  const rekor = o.rekorKey ?? inst.rekor;
  const canonicalizedBody = Buffer.from(JSON.stringify(body)).toString('base64');
  const integratedTime = SECONDS(o.integratedTime ?? new Date(T.getTime() + 5_000));
  const logIndex = o.logIndex ?? 1234;
  const logID = sha256(spki(rekor.publicKey)).toString('hex');
  const payload = { body: canonicalizedBody, integratedTime, logIndex, logID };
  const set = crypto.sign('sha256', Buffer.from(sigstoreJson.canonicalize(payload)), rekor.privateKey).toString('base64');
  const b = body as { kind: string; apiVersion: string };
  return {
    bundleEntry: {
      logIndex: String(logIndex),
      logId: { keyId: Buffer.from(logID, 'hex').toString('base64') },
      kindVersion: { kind: b.kind, version: b.apiVersion },
      integratedTime: String(integratedTime),
      inclusionPromise: { signedEntryTimestamp: set },
      canonicalizedBody,
    },
    legacyAnnotation: JSON.stringify({ SignedEntryTimestamp: set, Payload: { body: canonicalizedBody, integratedTime, logIndex, logID } }),
  };
}

const b64pem = (cert: BuiltCert) => Buffer.from(cert.pem).toString('base64');

function hashedrekord(sig: Buffer, digestHex: string, cert: BuiltCert) {
  return {
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      data: { hash: { algorithm: 'sha256', value: digestHex } },
      signature: { content: sig.toString('base64'), publicKey: { content: b64pem(cert) } },
    },
  };
}

function dsseBody(payload: Buffer, payloadType: string, sig: Buffer, cert: BuiltCert) {
  return {
    apiVersion: '0.0.1',
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: sha256Hex(JSON.stringify({ payload: payload.toString('base64'), payloadType })) },
      payloadHash: { algorithm: 'sha256', value: sha256Hex(payload) },
      signatures: [{ signature: sig.toString('base64'), verifier: b64pem(cert) }],
    },
  };
}

const pae = (type: string, payload: Buffer) =>
  Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${payload.length} `), payload]);

function statementFor(digests: Array<Record<string, string>>, predicateType = COSIGN_SIGN_PREDICATE_TYPE): Buffer {
  return Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: digests.map((digest, i) => ({ name: `registry.example/team/app-${i}`, digest })),
      predicateType,
      predicate: {},
    }),
  );
}

interface DsseBundleOptions {
  payloadType?: string;
  tlog?: TlogOptions;
  /** The certificate the Rekor body names (default: the signing certificate). */
  rekorCert?: BuiltCert;
  /** Extra certificates after the leaf in x509CertificateChain. */
  chainExtra?: BuiltCert[];
  instanceForLog?: Instance;
  /** Leave out the tlog entry. */
  noTlog?: boolean;
}

/** A v0.1 keyless DSSE bundle over `payload`, signed by `leaf`, logged in the instance's Rekor. */
function dsseBundle(inst: Instance, leaf: Leaf, payload: Buffer, o: DsseBundleOptions = {}): Buffer {
  const payloadType = o.payloadType ?? IN_TOTO_PAYLOAD_TYPE;
  const sig = crypto.sign('sha256', pae(payloadType, payload), leaf.privateKey);
  const entry = tlogEntry(o.instanceForLog ?? inst, dsseBody(payload, payloadType, sig, o.rekorCert ?? leaf.cert), o.tlog);
  return Buffer.from(
    JSON.stringify({
      mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
      verificationMaterial: {
        x509CertificateChain: { certificates: [leaf.cert, ...(o.chainExtra ?? [])].map((c) => ({ rawBytes: c.der.toString('base64') })) },
        tlogEntries: o.noTlog ? [] : [entry.bundleEntry],
      },
      dsseEnvelope: { payload: payload.toString('base64'), payloadType, signatures: [{ sig: sig.toString('base64'), keyid: '' }] },
    }),
  );
}

/** A cosign legacy keyless `.sig` layer: simple-signing payload, signature, certificate and Rekor bundle annotations. */
function legacyLayer(
  inst: Instance,
  leaf: Leaf,
  imageDigest: string,
  o: { tlog?: TlogOptions; rekorCert?: BuiltCert; chain?: string; payload?: Buffer } = {},
): TestLayer & { annotations: Record<string, string> } {
  const payload = o.payload ?? simpleSigningPayload(imageDigest);
  const sig = crypto.sign('sha256', payload, leaf.privateKey);
  const entry = tlogEntry(inst, hashedrekord(sig, sha256Hex(payload), o.rekorCert ?? leaf.cert), o.tlog);
  return {
    payload,
    annotations: {
      'dev.cosignproject.cosign/signature': sig.toString('base64'),
      'dev.sigstore.cosign/certificate': leaf.cert.pem,
      'dev.sigstore.cosign/chain': o.chain ?? `${inst.pki.intermediate.pem}${inst.pki.root.pem}`,
      'dev.sigstore.cosign/bundle': entry.legacyAnnotation,
    },
  };
}

// ---- harness ----------------------------------------------------------------------------------

const digestOf = (s: string): string => `sha256:${sha256Hex(s)}`;
const IMAGE: Descriptor = { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest: digestOf('target image'), size: 321 };
const HEX = IMAGE.digest.slice('sha256:'.length);

let sig: Instance;
let other: Instance;

beforeAll(() => {
  sig = instance('mini');
  other = instance('other', 'other.mock');
});

function asReferrer(bundleBytes: Buffer, opts: { roots?: SigstoreTrustRoot[]; keys?: TrustedKey[]; imageDigest?: string } = {}): Evidence {
  const written = referrerFor(bundleBytes, IMAGE, COSIGN_SIGN_PREDICATE_TYPE).manifest;
  const checked = checkReferrerManifest(written, IMAGE.digest);
  if ('problem' in checked) throw new Error(checked.problem);
  const manifest: ReferrerManifest = checked.manifest;
  const keys = opts.keys ?? [];
  return verifyBundleReferrer({
    manifest,
    manifestDigest: digestOf(JSON.stringify(written)),
    bundleBytes,
    imageDigest: opts.imageDigest ?? IMAGE.digest,
    trustedKeys: keys,
    byId: (id) => keys.find((k) => k.id === id),
    trustedRoots: opts.roots ?? [sig.root],
  });
}

const orgOnly = [{ issuer: ORG.issuer, subject: ORG.subject }];
/** What the policy's identity check answers for a piece of evidence (as checkSignatures asks it). */
const acceptedAsOrg = (e: Evidence): boolean =>
  e.verified && e.keyId === undefined && e.identity !== undefined && orgOnly.some((m) => identityMatches(m, e.identity!));

// ---- baseline ---------------------------------------------------------------------------------

describe('baseline: the miniature instance works', () => {
  test("the org's keyless DSSE bundle for the image verifies and names the org identity", () => {
    const e = asReferrer(dsseBundle(sig, fulcioLeaf(sig), statementFor([{ sha256: HEX }])));
    expect(e).toMatchObject({
      verified: true,
      kind: 'signature',
      identity: { issuer: ORG.issuer, subject: ORG.subject },
      trustRoot: 'mini',
    });
    expect(e.transparencyLogEntries).toBe(1);
    expect(acceptedAsOrg(e)).toBe(true);
  });

  test("the org's legacy keyless .sig layer verifies (through verifyLegacyKeyless)", () => {
    const layer = legacyLayer(sig, fulcioLeaf(sig), IMAGE.digest);
    const r = verifyLegacyKeyless(
      layer.annotations,
      Buffer.from(layer.annotations['dev.cosignproject.cosign/signature']!, 'base64'),
      layer.payload,
      [sig.root],
    );
    expect(r).toMatchObject({ ok: true, identity: { issuer: ORG.issuer, subject: ORG.subject }, transparencyLogEntries: 1, timestamps: 1 });
  });
});

// ---- identity ---------------------------------------------------------------------------------

describe('identity: a certificate for the attacker’s own identity', () => {
  test("mallory's legitimate Fulcio certificate verifies, but as mallory: the org's identity requirement refuses it", () => {
    const leaf = fulcioLeaf(sig, { san: [SAN.uri(MALLORY.subject)] });
    const e = asReferrer(dsseBundle(sig, leaf, statementFor([{ sha256: HEX }])));
    expect(e.verified).toBe(true);
    expect(e.identity).toMatchObject(MALLORY);
    expect(acceptedAsOrg(e)).toBe(false);
  });

  test('the org subject only in the subject CN (no SAN): the identity subject is empty and matches nothing', () => {
    const leaf = fulcioLeaf(sig, { san: null, subject: [['CN', ORG.subject]] });
    const e = asReferrer(dsseBundle(sig, leaf, statementFor([{ sha256: HEX }])));
    expect(e.verified).toBe(true);
    expect(e.identity!.subject).toBe('');
    expect(acceptedAsOrg(e)).toBe(false);
  });

  test("an e-mail SAN under the org's issuer is the e-mail, not the org's workflow URI identity", () => {
    const leaf = fulcioLeaf(sig, { san: [SAN.email('release@acme.example')] });
    const e = asReferrer(dsseBundle(sig, leaf, statementFor([{ sha256: HEX }])));
    expect(acceptedAsOrg(e)).toBe(false);
  });

  test("exact subject matching is a whole-string comparison: the org's subject with a suffix does not match", () => {
    const id: SignerIdentity = { issuer: ORG.issuer, subject: `${ORG.subject}.evil`, extensions: {} };
    expect(identityMatches({ issuer: ORG.issuer, subject: ORG.subject }, id)).toBe(false);
    expect(identityMatches({ issuer: ORG.issuer, subject: ORG.subject.slice(0, -4) }, { ...id, subject: ORG.subject })).toBe(false);
    // An exact value is not a regular expression.
    expect(identityMatches({ issuer: ORG.issuer, subject: 'https://github.com/acme/.*' }, { ...id, subject: ORG.subject })).toBe(false);
  });

  test('issuer: the v2 extension (.1.8) wins over the deprecated v1 (.1.1), and a certificate with no issuer has none', () => {
    const both = asReferrer(dsseBundle(sig, fulcioLeaf(sig, { issuerV1: 'https://accounts.google.com' }), statementFor([{ sha256: HEX }])));
    expect(both.identity?.issuer).toBe(ORG.issuer);
    const none = asReferrer(dsseBundle(sig, fulcioLeaf(sig, { issuerV1: null, issuerV2: null }), statementFor([{ sha256: HEX }])));
    expect(none.identity?.issuer).toBeUndefined();
    expect(acceptedAsOrg(none)).toBe(false);
  });

  test('a SAN URI with non-ASCII (non-IA5String) bytes is not read as the ASCII identity it folds to: the certificate is malformed', () => {
    // Each byte of the org's URI with the high bit set: Go's x509 (cosign, sigstore-go, Fulcio)
    // refuses such a SAN ("SAN uri is malformed"); Buffer#toString('ascii') clears the high bit
    // and reads the org's URI. Anyone whose certificate a trusted CA issues with such bytes
    // (a private Fulcio, a CA that does not validate IA5String) becomes the org.
    const folded = Buffer.from(ORG.subject, 'latin1').map((b, i) => (i >= 19 ? b | 0x80 : b));
    const leaf = fulcioLeaf(sig, { san: [SAN.uri(Buffer.from(folded))] });
    const e = asReferrer(dsseBundle(sig, leaf, statementFor([{ sha256: HEX }])));
    expect(acceptedAsOrg(e)).toBe(false);
    expect(e).toMatchObject({ verified: false, reason: expect.stringMatching(/URI that is not ASCII/) as unknown });
  });

  test("two URI SANs, the attacker's first and the org's second: the identity is the first (as sigstore-go), never the org", () => {
    // Fulcio issues exactly one SAN. cosign matches ANY SAN (so it would call this the org);
    // here the first URI is the identity, which can only make such a certificate less trusted.
    const leaf = fulcioLeaf(sig, { san: [SAN.uri(MALLORY.subject), SAN.uri(ORG.subject)] });
    const e = asReferrer(dsseBundle(sig, leaf, statementFor([{ sha256: HEX }])));
    expect(e.identity?.subject).toBe(MALLORY.subject);
    expect(acceptedAsOrg(e)).toBe(false);
  });
});

// ---- certificate chain ------------------------------------------------------------------------

describe('certificate chain', () => {
  test("a leaf from the attacker's own CA, named exactly like the trusted Fulcio intermediate, is refused", () => {
    const impostor = selfSignedCa(sig.pki.name('Intermediate CA'), new Date('2025-01-01Z'), new Date('2039-01-01Z'));
    const leaf = fulcioLeaf(sig, {
      issuer: { name: sig.pki.name('Intermediate CA'), key: impostor.key, publicKey: crypto.createPublicKey(impostor.cert.pem) },
    });
    const e = asReferrer(dsseBundle(sig, leaf, statementFor([{ sha256: HEX }]), { chainExtra: [impostor.cert] }));
    expect(e.verified).toBe(false);
    expect(e.reason).toMatch(/CERTIFICATE_ERROR|root CA/);
  });

  test("the attacker's legitimate (non-CA) Fulcio leaf used as the issuer of a forged org certificate is refused", () => {
    const mallory = fulcioLeaf(sig, { san: [SAN.uri(MALLORY.subject)] });
    const forged = fulcioLeaf(sig, { issuer: { name: [], key: mallory.privateKey, publicKey: mallory.publicKey }, noSct: true });
    const e = asReferrer(dsseBundle(sig, forged, statementFor([{ sha256: HEX }]), { chainExtra: [mallory.cert] }));
    expect(e).toMatchObject({
      verified: false,
      reason: expect.stringMatching(/CERTIFICATE_ERROR: Failed to verify certificate chain/) as unknown,
    });
  });

  test('a certificate that chains to a root not in the trusted root (another instance) is refused', () => {
    const e = asReferrer(dsseBundle(other, fulcioLeaf(other), statementFor([{ sha256: HEX }])), { roots: [sig.root] });
    expect(e).toMatchObject({ verified: false, reason: expect.stringMatching(/CERTIFICATE_ERROR/) as unknown });
  });

  test('a leaf without an embedded SCT is refused', () => {
    const e = asReferrer(dsseBundle(sig, fulcioLeaf(sig, { noSct: true }), statementFor([{ sha256: HEX }])));
    expect(e).toMatchObject({ verified: false, reason: expect.stringMatching(/SCT/) as unknown });
  });

  test('a leaf whose extended key usage lacks id-kp-codeSigning is refused', () => {
    // cosign (TrustedCert: x509.VerifyOptions{KeyUsages: [CodeSigning]}) and sigstore-go refuse
    // a signing certificate that is not for code signing; @sigstore/verify checks no EKU, and
    // verify-bundle.ts adds no check. A TLS/client-auth certificate from a CA in the trusted
    // root signs images here.
    const leaf = fulcioLeaf(sig, { eku: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'] });
    const e = asReferrer(dsseBundle(sig, leaf, statementFor([{ sha256: HEX }])));
    expect(e).toMatchObject({ verified: false, reason: expect.stringMatching(/does not allow code signing/) as unknown });
    // With code signing among its usages, the same certificate signs.
    const signing = fulcioLeaf(sig, { eku: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.3'] });
    expect(asReferrer(dsseBundle(sig, signing, statementFor([{ sha256: HEX }]))).verified).toBe(true);
  });

  test('a leaf that is a CA, or whose key usage lacks digitalSignature or allows keyCertSign, is refused (as a CA-bundle leaf is)', () => {
    // A CA certificate of the trusted root's chain (a Fulcio intermediate's key in a leaf's
    // shape) certifies signers; it does not sign images. Fulcio never issues such a leaf.
    const verdict = (o: LeafOptions) => asReferrer(dsseBundle(sig, fulcioLeaf(sig, o), statementFor([{ sha256: HEX }])));
    expect(verdict({ ca: true, keyUsage: 0x80 })).toMatchObject({
      verified: false,
      reason: expect.stringMatching(/is a CA certificate/) as unknown,
    });
    expect(verdict({ ca: true })).toMatchObject({ verified: false });
    expect(verdict({ keyUsage: 0x20 })).toMatchObject({
      verified: false,
      reason: expect.stringMatching(/lacks digitalSignature/) as unknown,
    });
    expect(verdict({ keyUsage: 0x84 })).toMatchObject({ verified: false, reason: expect.stringMatching(/keyCertSign/) as unknown });
    // digitalSignature alone, or no key usage extension at all (Go's verification reads none): signs.
    expect(verdict({ keyUsage: 0x80 }).verified).toBe(true);
    expect(verdict({ keyUsage: null }).verified).toBe(true);
  });
});

// ---- signing time -----------------------------------------------------------------------------

describe('signing time: where it comes from', () => {
  test('an integrated time after the certificate expired is refused (the SET is valid)', () => {
    const e = asReferrer(
      dsseBundle(sig, fulcioLeaf(sig), statementFor([{ sha256: HEX }]), { tlog: { integratedTime: new Date(T.getTime() + 3_600_000) } }),
    );
    expect(e).toMatchObject({ verified: false, reason: expect.stringMatching(/CERTIFICATE_ERROR/) as unknown });
  });

  test('an integrated time inside the validity, vouched for by a SET of a Rekor key the attacker holds, is refused', () => {
    const leaf = fulcioLeaf(sig, { notBefore: new Date('2025-06-01Z'), notAfter: new Date('2025-06-01T00:10:00Z') });
    const e = asReferrer(
      dsseBundle(sig, leaf, statementFor([{ sha256: HEX }]), {
        tlog: { integratedTime: new Date('2025-06-01T00:05:00Z'), rekorKey: ec() },
      }),
    );
    expect(e.verified).toBe(false);
    expect(e.reason).toMatch(/TLOG|inclusion promise/);
  });

  test('no transparency-log entry (so no signing time): refused', () => {
    const e = asReferrer(dsseBundle(sig, fulcioLeaf(sig), statementFor([{ sha256: HEX }]), { noTlog: true }));
    expect(e.verified).toBe(false);
  });

  test('a certificate of one trusted instance with a log entry of another trusted instance: refused (roots are not mixed)', () => {
    const e = asReferrer(dsseBundle(sig, fulcioLeaf(sig), statementFor([{ sha256: HEX }]), { instanceForLog: other }), {
      roots: [sig.root, other.root],
    });
    expect(e.verified).toBe(false);
  });
});

// ---- tlog binding -----------------------------------------------------------------------------

describe('transparency-log entry binding', () => {
  test('a Rekor entry for another payload (same signature field) is refused', () => {
    const leaf = fulcioLeaf(sig);
    const payload = statementFor([{ sha256: HEX }]);
    const good = JSON.parse(dsseBundle(sig, leaf, payload).toString()) as { verificationMaterial: { tlogEntries: unknown[] } };
    const sigB = crypto.sign('sha256', pae(IN_TOTO_PAYLOAD_TYPE, payload), leaf.privateKey);
    const otherEntry = tlogEntry(sig, dsseBody(statementFor([{ sha256: sha256Hex('x') }]), IN_TOTO_PAYLOAD_TYPE, sigB, leaf.cert));
    good.verificationMaterial.tlogEntries = [otherEntry.bundleEntry];
    const e = asReferrer(Buffer.from(JSON.stringify(good)));
    expect(e.verified).toBe(false);
  });

  test("a legacy .sig whose Rekor entry names another certificate (the attacker's) than the one that signed is refused", () => {
    // cosign's VerifyBundle (comparePublicKey) and sigstore-go (tlog entry public key vs the
    // verification content) refuse a log entry that is not about THIS certificate. The
    // hashedrekord check of @sigstore/verify compares only the signature and digest, and
    // legacy-keyless.ts / verify-bundle.ts add nothing: the log entry need not be about the
    // certificate whose validity window it dates.
    const leaf = fulcioLeaf(sig);
    const mallory = fulcioLeaf(sig, { san: [SAN.uri(MALLORY.subject)] });
    const layer = legacyLayer(sig, leaf, IMAGE.digest, { rekorCert: mallory.cert });
    const r = verifyLegacyKeyless(
      layer.annotations,
      Buffer.from(layer.annotations['dev.cosignproject.cosign/signature']!, 'base64'),
      layer.payload,
      [sig.root],
    );
    expect(r).toMatchObject({ ok: false, reason: expect.stringMatching(/about another certificate/) as unknown });
  });

  test('a DSSE bundle whose Rekor dsse entry names another verifier certificate is refused', () => {
    const leaf = fulcioLeaf(sig);
    const mallory = fulcioLeaf(sig, { san: [SAN.uri(MALLORY.subject)] });
    const e = asReferrer(dsseBundle(sig, leaf, statementFor([{ sha256: HEX }]), { rekorCert: mallory.cert }));
    expect(e).toMatchObject({ verified: false, reason: expect.stringMatching(/about another certificate/) as unknown });
  });
});

describe('transparency-log counts cannot be inflated', () => {
  test('the same log entry twice is refused (one entry is not two)', () => {
    const doc = JSON.parse(dsseBundle(sig, fulcioLeaf(sig), statementFor([{ sha256: HEX }])).toString()) as {
      verificationMaterial: { tlogEntries: unknown[] };
    };
    doc.verificationMaterial.tlogEntries = [doc.verificationMaterial.tlogEntries[0], doc.verificationMaterial.tlogEntries[0]];
    const e = asReferrer(Buffer.from(JSON.stringify(doc)));
    expect(e).toMatchObject({ verified: false, reason: expect.stringMatching(/duplicate/) as unknown });
  });
});

// ---- payload binding --------------------------------------------------------------------------

describe('signed payload binding (bundles)', () => {
  test("the org's bundle for ANOTHER image, pushed as a referrer of the target: refused", () => {
    const e = asReferrer(dsseBundle(sig, fulcioLeaf(sig), statementFor([{ sha256: sha256Hex('another image') }])));
    expect(e).toMatchObject({ verified: false, reason: expect.stringMatching(/copied from another image/) as unknown });
  });

  test('a statement with several subjects, one of them the target: accepted (in-toto: any subject)', () => {
    const e = asReferrer(
      dsseBundle(sig, fulcioLeaf(sig), statementFor([{ sha256: sha256Hex('a') }, { sha256: HEX }, { sha256: sha256Hex('b') }])),
    );
    expect(e.verified).toBe(true);
  });

  test('a subject with the target hex under another algorithm name (sha512, SHA256) is not the target', () => {
    const spoofs: Array<Record<string, string>> = [
      { sha512: HEX },
      { SHA256: HEX },
      { 'sha256 ': HEX },
      { sha256: `${HEX}00` },
      { sha256: HEX.slice(0, 63) },
    ];
    for (const digest of spoofs) {
      const e = asReferrer(dsseBundle(sig, fulcioLeaf(sig), statementFor([digest])));
      expect([JSON.stringify(digest), e.verified]).toEqual([JSON.stringify(digest), false]);
    }
  });

  test('a signed DSSE payload that is not an in-toto statement type, or a payloadType confusion, is refused', () => {
    const spoofType = asReferrer(
      dsseBundle(sig, fulcioLeaf(sig), statementFor([{ sha256: HEX }]), { payloadType: 'application/vnd.in-toto+json; x=1' }),
    );
    expect(spoofType.verified).toBe(false);
    const simple = asReferrer(
      dsseBundle(sig, fulcioLeaf(sig), simpleSigningPayload(IMAGE.digest), {
        payloadType: 'application/vnd.dev.cosign.simplesigning.v1+json',
      }),
    );
    expect(simple.verified).toBe(false);
  });
});

// ---- keyed vs keyless -------------------------------------------------------------------------

describe('keyed vs keyless confusion', () => {
  test('a certificate bundle whose leaf key IS a trusted key: evidence is keyless (no keyId), so a key requirement refuses it', () => {
    const keys = ec();
    const trusted = trustedKey('release', keys.publicKey);
    const leaf = fulcioLeaf(sig, { keys, san: [SAN.uri(MALLORY.subject)] });
    const e = asReferrer(dsseBundle(sig, leaf, statementFor([{ sha256: HEX }])), { keys: [trusted] });
    expect(e.keyId).toBeUndefined();
  });

  test('a keyless bundle with keyless disabled, or with no trusted root, is refused', () => {
    const bytes = dsseBundle(sig, fulcioLeaf(sig), statementFor([{ sha256: HEX }]));
    expect(verifySigstoreBundle(bytes, { roots: [sig.root], keyless: false }).ok).toBe(false);
    expect(verifySigstoreBundle(bytes, { roots: [] }).ok).toBe(false);
  });

  test('policy: keyless evidence of the org identity does not satisfy a keys-only rule, nor a rule naming no identity', async () => {
    const e = asReferrer(dsseBundle(sig, fulcioLeaf(sig), statementFor([{ sha256: HEX }])));
    expect(e.verified).toBe(true);
    const decide = (require: string) =>
      evaluate(parsePolicy(`rules:\n  - name: r\n    require:\n      signatures: ${require}\n`, 'p.yaml'), {
        image: imageFacts(`registry.example.com/team/app@${IMAGE.digest}`),
        action: 'deploy',
        context: {},
        evidence: [e],
        now: T,
      }).allowed;
    expect(decide(`{ identities: [{ issuer: "${ORG.issuer}", subject: "${ORG.subject}" }] }`)).toBe(true);
    expect(decide('{ minimum: 1 }')).toBe(false);
    expect(decide(`{ identities: [{ issuer: "${ORG.issuer}", subject: "${MALLORY.subject}" }] }`)).toBe(false);
  });
});

// ---- legacy .sig keyless ----------------------------------------------------------------------

describe('cosign legacy keyless .sig layers', () => {
  let fake: FakeRegistry;
  let client: RegistryClient;
  let repo: RepositoryRef;
  let image: string;

  beforeEach(async () => {
    fake = await FakeRegistry.start();
    client = new RegistryClient({ maxRetries: 0, retryBaseMs: 1 });
    repo = { registry: fake.host, repository: 'team/app' };
    image = randomDigest();
  });
  afterEach(async () => {
    await client.close();
    await fake.close();
  });

  const collect = (keys: TrustedKey[] = []) =>
    legacyCosignEvidence({ client, repo, imageDigest: image, trustedKeys: keys, trustedRoots: [sig.root], now: T });

  test("the org's keyless .sig verifies with the org identity; a payload for another image does not", async () => {
    const good = legacyLayer(sig, fulcioLeaf(sig), image);
    const copied = legacyLayer(sig, fulcioLeaf(sig), image, { payload: simpleSigningPayload(randomDigest()) });
    storeLegacyTag(fake, repo.repository, sigTag(image), [good, copied], 'application/vnd.dev.cosign.simplesigning.v1+json');
    const [a, b] = await collect();
    expect(a).toMatchObject({ verified: true, identity: { issuer: ORG.issuer, subject: ORG.subject } });
    expect(b).toMatchObject({ verified: false, reason: expect.stringMatching(/not this image/) as unknown });
  });

  test("a chain annotation naming the attacker's CA does not make an attacker-CA leaf trusted", async () => {
    const impostor = selfSignedCa(sig.pki.name('Intermediate CA'), new Date('2025-01-01Z'), new Date('2039-01-01Z'));
    const leaf = fulcioLeaf(sig, {
      issuer: { name: sig.pki.name('Intermediate CA'), key: impostor.key, publicKey: crypto.createPublicKey(impostor.cert.pem) },
    });
    storeLegacyTag(
      fake,
      repo.repository,
      sigTag(image),
      [legacyLayer(sig, leaf, image, { chain: impostor.cert.pem })],
      'application/vnd.dev.cosign.simplesigning.v1+json',
    );
    const [e] = await collect();
    expect(e!.verified).toBe(false);
  });

  test("the org's legitimate signature re-signed by mallory's key under the org's certificate annotation: refused", async () => {
    const org = fulcioLeaf(sig);
    const mallory = fulcioLeaf(sig, { san: [SAN.uri(MALLORY.subject)] });
    const layer = legacyLayer(sig, mallory, image);
    layer.annotations['dev.sigstore.cosign/certificate'] = org.cert.pem;
    storeLegacyTag(fake, repo.repository, sigTag(image), [layer], 'application/vnd.dev.cosign.simplesigning.v1+json');
    const [e] = await collect();
    expect(e!.verified).toBe(false);
  });

  test('a junk copy of a valid keyless layer (same blob, signature, certificate; broken Rekor bundle) does not crowd out the valid one', async () => {
    // readTag judges identical layers once, keyed on digest + signature + certificate only, and
    // in (pusher-declared) size order. The Rekor bundle and chain annotations — which decide a
    // keyless or CA-bundle verdict — are not in the key: whichever copy is judged first gives
    // its verdict to the other. A junk copy declared smaller is judged first.
    const valid = legacyLayer(sig, fulcioLeaf(sig), image);
    const junk = {
      ...valid,
      annotations: { ...valid.annotations, 'dev.sigstore.cosign/bundle': '{"SignedEntryTimestamp":"AAAA","Payload":{}}' },
    };
    const digest = storeLegacyTag(fake, repo.repository, sigTag(image), [valid, junk], 'application/vnd.dev.cosign.simplesigning.v1+json');
    // Make the junk copy's declared size smaller (the descriptor size is the pusher's).
    const manifest = JSON.parse(fake.taggedManifest(repo.repository, sigTag(image))!.bytes.toString()) as {
      layers: Array<{ size: number }>;
    };
    expect(digest).toMatch(/^sha256:/);
    manifest.layers[1]!.size = 1;
    fake.storeManifest(repo.repository, Buffer.from(JSON.stringify(manifest)), MEDIA_TYPE.OCI_MANIFEST, sigTag(image));
    const list = await collect();
    expect(list.map((e) => e.verified)).toEqual([true, false]);
  });

  test('a valid keyless layer does not lend its verdict to a junk copy with a broken Rekor bundle', async () => {
    const valid = legacyLayer(sig, fulcioLeaf(sig), image);
    const junk = { ...valid, annotations: { ...valid.annotations, 'dev.sigstore.cosign/bundle': 'not json' } };
    storeLegacyTag(fake, repo.repository, sigTag(image), [valid, junk], 'application/vnd.dev.cosign.simplesigning.v1+json');
    const list = await collect();
    expect(list.map((e) => e.verified)).toEqual([true, false]);
  });

  test('a keyless layer whose signature a trusted key also verifies is keyed evidence (the certificate is not consulted)', async () => {
    const keys = ec();
    const leaf = fulcioLeaf(sig, { keys, san: [SAN.uri(MALLORY.subject)] });
    storeLegacyTag(
      fake,
      repo.repository,
      sigTag(image),
      [legacyLayer(sig, leaf, image)],
      'application/vnd.dev.cosign.simplesigning.v1+json',
    );
    const [e] = await collect([trustedKey('release', keys.publicKey)]);
    expect(e).toMatchObject({ verified: true, keyName: 'release' });
    expect(e!.identity).toBeUndefined();
  });
});
