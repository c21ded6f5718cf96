/**
 * The Sigstore bundle verification core: one function that every path uses — Verify's referrers,
 * cosign's legacy keyless signatures (converted to a bundle), and `countersign verify-bundle`
 * (the sigstore-conformance client). The cryptography is @sigstore/verify's; this module adds
 * what it leaves to the caller or gets wrong:
 *
 * - only known bundle media types (v0.1, v0.2, v0.3 in both spellings);
 * - a DSSE envelope carries exactly one signature (the library silently uses the first);
 * - a certificate chain that ships a root CA is refused (the root must come from the trusted
 *   root, never from the bundle: sigstore-conformance `bundle-with-root-cert_fail`), except the
 *   trusted root's own CA at the end of the chain, as 2023 sigstore clients wrote (rootInChainProblem);
 * - a bundle signed with a key is never accepted as keyless and vice versa;
 * - several trusted roots: each is tried on its own (no mixing of one instance's CA with another
 *   instance's log), and the one that verified is named;
 * - the artifact binding of DSSE bundles (an in-toto subject digest must match the artifact);
 * - the verified facts the policy needs: signer identity, number of log entries and timestamps.
 *
 * Identity matching (issuer, subject) is NOT done here: @sigstore/verify treats an identity as a
 * regular expression, which makes "exact" matches unsafe. Callers compare the returned identity.
 */
import crypto, { type KeyObject, X509Certificate as NodeX509Certificate } from 'node:crypto';
import { bundleFromJSON, type Bundle } from '@sigstore/bundle';
import { dsse, X509Certificate } from '@sigstore/core';
import { toSignedEntity, Verifier, VerificationError, type SignedEntity, type TrustMaterial } from '@sigstore/verify';
import type { SignerIdentity } from '../../policy/identity';
import type { TrustedCaBundle } from '../../trust/types';
import { verifyWithKey } from '../legacy/crypto';
import { verifyCaSignature } from '../x509-chain';
import { keylessLeafProblem, rootInChainProblem, signerIdentity } from './identity';
import { tlogCertificateMismatch } from './tlog-binding';
import { quoteUntrusted } from '../../shared/untrusted-text';
import type { SigstoreTrustRoot } from './trusted-root';

import { IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_TYPES as STATEMENT_TYPES } from '../../formats/in-toto';
import { BUNDLE_MEDIA_TYPE_VERSIONS } from '../../formats/sigstore-bundle';

/** A key the caller trusts, as the key store has it (TrustedKey fits). */
export interface CandidateKey {
  id: string;
  name?: string;
  publicKey: KeyObject;
}

export interface BundleTrust<K extends CandidateKey> {
  /** Trusted roots (parsed once); empty = no keyless, and key bundles must carry no log entries. */
  roots: readonly SigstoreTrustRoot[];
  /** Keys for bundles signed with a key: the hinted one (when known), else each in turn. Absent = keyless only. */
  keys?: { byHint(hint: string): K | undefined; all(): readonly K[] };
  /** Accept certificate (keyless) bundles; default true when roots are given. */
  keyless?: boolean;
  /**
   * CA bundles (a private PKI): a certificate bundle whose chain is issued by one of their CAs is
   * verified against them first (src/verification/x509-chain.ts), at `now`; its log entries and
   * timestamps are then not verified and not counted.
   */
  caBundles?: readonly TrustedCaBundle[];
  now?: Date;
}

/** What the artifact is: its bytes, or only its digest (`sha256:<hex>`); absent = not checked here. */
export type BundleArtifact = { bytes: Buffer } | { digest: string };

export interface VerifiedBundle<K extends CandidateKey> {
  ok: true;
  mediaType: string;
  version: string;
  content: 'dsse' | 'message-signature';
  signer:
    | { kind: 'key'; key: K }
    | { kind: 'certificate'; identity: SignerIdentity }
    | { kind: 'ca-bundle'; bundle: TrustedCaBundle; subject: string; validUntil: Date };
  /** The trusted root that verified the certificate, log entries or timestamps (absent: none were needed). */
  root?: string;
  /** Verified transparency-log entries (Rekor v1 or v2). */
  tlogEntries: number;
  /** Verified timestamps: Rekor v1 SETs (integrated time) and RFC 3161 timestamps. */
  timestamps: number;
  /** The DSSE payload (signed), when the content is DSSE. */
  payloadType?: string;
  payload?: Buffer;
  /** The parsed in-toto statement of a DSSE payload, when it parses as JSON. */
  statement?: InTotoStatement;
  /** Message signatures: the signed digest, `sha256:<hex>`. */
  messageDigest?: string;
}

export interface RejectedBundle {
  ok: false;
  reason: string;
  mediaType?: string;
  version?: string;
  content?: 'dsse' | 'message-signature';
  /** Set once the signature material is known, to say who claimed to sign. */
  claimedKeyHint?: string;
  statement?: InTotoStatement;
}

export type BundleResult<K extends CandidateKey> = VerifiedBundle<K> | RejectedBundle;

export interface InTotoStatement {
  _type?: unknown;
  subject?: unknown;
  predicateType?: unknown;
  predicate?: unknown;
}

/**
 * Verifies one bundle (JSON bytes or an already parsed object). Never throws for hostile input:
 * every problem is a RejectedBundle with a reason.
 */
export function verifySigstoreBundle<K extends CandidateKey>(
  /** The bundle's bytes (a Buffer) or its parsed JSON: anything, judged here. */
  input: unknown,
  trust: BundleTrust<K>,
  artifact?: BundleArtifact,
): BundleResult<K> {
  let json: unknown = input;
  if (Buffer.isBuffer(input)) {
    try {
      json = JSON.parse(input.toString('utf8'));
    } catch {
      return { ok: false, reason: 'bundle is not valid JSON' };
    }
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { ok: false, reason: 'bundle is not a JSON object' };
  const doc = json as Record<string, unknown>;
  const mediaType = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  const version = mediaType !== undefined ? BUNDLE_MEDIA_TYPE_VERSIONS[mediaType] : undefined;
  if (!mediaType || !version) {
    return { ok: false, reason: `bundle media type ${quoteUntrusted(doc.mediaType)} is not a Sigstore bundle v0.1, v0.2 or v0.3` };
  }
  const known = { mediaType, version };
  // Said precisely here: the bundle parser would only answer "invalid bundle".
  const rawEnvelope = doc.dsseEnvelope as { signatures?: unknown } | null | undefined;
  if (
    typeof rawEnvelope === 'object' &&
    rawEnvelope !== null &&
    (!Array.isArray(rawEnvelope.signatures) || rawEnvelope.signatures.length !== 1)
  ) {
    const n = Array.isArray(rawEnvelope.signatures) ? rawEnvelope.signatures.length : 0;
    return { ok: false, ...known, content: 'dsse', reason: `DSSE envelope must carry exactly one signature, found ${n}` };
  }
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(doc);
  } catch (err) {
    return { ok: false, ...known, reason: `malformed v${version} bundle: ${(err as Error).message}` };
  }
  const content = bundle.content.$case === 'dsseEnvelope' ? 'dsse' : 'message-signature';
  const shape = { ...known, content } as const;
  const reject = (reason: string, extra: Partial<RejectedBundle> = {}): RejectedBundle => ({ ok: false, ...shape, ...extra, reason });

  // --- content: what was signed
  let statement: InTotoStatement | undefined;
  if (bundle.content.$case === 'dsseEnvelope') {
    const env = bundle.content.dsseEnvelope;
    if (env.signatures.length !== 1) return reject(`DSSE envelope must carry exactly one signature, found ${env.signatures.length}`);
    if (env.payloadType === IN_TOTO_PAYLOAD_TYPE) statement = parseStatement(env.payload);
  }
  const withStatement = statement ? { statement } : {};

  // --- signing material: a key, or a certificate
  const material = bundle.verificationMaterial.content;
  let leaf: X509Certificate | undefined;
  let certificateDer: Buffer[] = [];
  let rootInChain: string | undefined;
  const caBundles = trust.caBundles ?? [];
  if (material.$case === 'x509CertificateChain' || material.$case === 'certificate') {
    let chain: X509Certificate[];
    let raw: Array<{ rawBytes: Buffer }>;
    try {
      raw = material.$case === 'certificate' ? [material.certificate] : material.x509CertificateChain.certificates;
      chain = raw.map((c) => X509Certificate.parse(Buffer.from(c.rawBytes)));
    } catch (err) {
      return reject(`keyless bundle: its certificate does not parse (${(err as Error).message})`, withStatement);
    }
    if (chain.length === 0) return reject('bundle certificate chain is empty', withStatement);
    certificateDer = raw.map((c) => Buffer.from(c.rawBytes));
    const trustedCerts = trust.roots.flatMap((r) => r.material.certificateAuthorities.flatMap((ca) => ca.certChain));
    let rootProblem: string | undefined;
    try {
      rootProblem = rootInChainProblem(chain, trustedCerts);
    } catch (err) {
      rootProblem = `bundle certificate chain does not parse (${(err as Error).message})`;
    }
    // A private PKI's chain may ship its root: judged against the CA bundles below, first.
    if (rootProblem) rootInChain = `${rootProblem}: the root must come from the trusted root, never from the bundle`;
    if (rootInChain && caBundles.length === 0) return reject(rootInChain, withStatement);
    leaf = chain[0];
  }
  const hint = material.$case === 'publicKey' ? material.publicKey.hint : undefined;

  // --- artifact binding (before the signature, so that reasons name the most specific problem)
  let entityArtifact: Buffer | undefined;
  if (bundle.content.$case === 'messageSignature') {
    if (!artifact) return reject('message-signature bundle: the artifact is needed to verify it', withStatement);
    if (!('bytes' in artifact)) {
      return reject('message-signature bundle: the signature is over the artifact bytes, so give the artifact file, not only its digest');
    }
    entityArtifact = artifact.bytes;
  } else if (artifact) {
    const problem = subjectMismatch(statement, artifact);
    if (problem) return reject(problem, withStatement);
  }

  // --- a certificate of a private PKI, anchored at a CA bundle
  if (certificateDer.length > 0 && caBundles.length > 0) {
    const byCa = caBundleSignature(bundle, certificateDer, caBundles, artifact, trust.now ?? new Date());
    if (byCa.ok) {
      const signer = { kind: 'ca-bundle' as const, bundle: byCa.bundle, subject: byCa.subject, validUntil: byCa.validUntil };
      return verified(shape, signer, undefined, { tlogEntries: 0, timestamps: 0 }, bundle, statement);
    }
    if (trust.roots.length === 0 || rootInChain) return reject(rootInChain ?? byCa.reason, withStatement);
  }

  // --- cryptography, through @sigstore/verify
  let entity;
  try {
    entity = toSignedEntity(bundle, entityArtifact);
  } catch (err) {
    return reject(`bundle could not be read: ${(err as Error).message}`, withStatement);
  }
  const counts = countWitnesses(bundle);
  const roots = trust.roots;
  const signedBytes =
    bundle.content.$case === 'dsseEnvelope'
      ? dsse.preAuthEncoding(bundle.content.dsseEnvelope.payloadType, bundle.content.dsseEnvelope.payload)
      : entityArtifact;

  if (material.$case === 'publicKey') {
    const claimed = { ...withStatement, ...(hint ? { claimedKeyHint: hint } : {}) };
    if (!trust.keys) return reject('bundle is signed with a key, but verification expects a keyless signer identity', claimed);
    const hinted = hint ? trust.keys.byHint(hint) : undefined;
    // The hint is unauthenticated; every candidate is trusted and the signature decides.
    const candidates = hinted ? [hinted] : trust.keys.all();
    if (candidates.length === 0) return reject('no trusted keys are configured', claimed);
    if (counts.witnessed && roots.length === 0) {
      return reject(
        'bundle carries transparency-log entries or timestamps, but no Sigstore trusted root is configured to verify them',
        claimed,
      );
    }
    const errors: string[] = [];
    for (const key of candidates) {
      const keyed = signedBytes ? withKeySchemes(entity, signedBytes, key.publicKey) : entity;
      const attempt = tryRoots(roots.length > 0 ? roots : [undefined], (material) =>
        new Verifier(withKey(material, key.publicKey), { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(keyed),
      );
      if (attempt.ok) {
        return verified(
          shape,
          { kind: 'key', key },
          attempt.root && counts.witnessed ? attempt.root : undefined,
          counts,
          bundle,
          statement,
        );
      }
      errors.push(attempt.error);
    }
    return reject(
      hinted
        ? `signature does not verify with key ${hinted.name ?? hinted.id} (${errors[0] ?? 'no attempt'})`
        : `not signed by any trusted key (key hint ${hint || 'none'}; ${errors[errors.length - 1] ?? 'no key tried'})`,
      claimed,
    );
  }

  if (trust.keyless === false || roots.length === 0) {
    return reject(
      roots.length === 0
        ? 'keyless (certificate) bundle, but no Sigstore trusted root is configured'
        : 'bundle is keyless, but verification expects a key',
      withStatement,
    );
  }
  // Keyless: the certificate must chain to a trusted Fulcio CA at a verified time (a log SET or an
  // RFC 3161 timestamp), carry an SCT, and be logged.
  const attempt = tryRoots(roots, (material) =>
    new Verifier(material, { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 }).verify(entity),
  );
  if (!attempt.ok) return reject(attempt.error, withStatement);
  const leafProblem =
    keylessLeafProblem(leaf!) ??
    tlogCertificateMismatch(
      bundle.verificationMaterial.tlogEntries.map((e) => Buffer.from(e.canonicalizedBody)),
      certificateDer[0]!,
    );
  if (leafProblem !== undefined) return reject(leafProblem, withStatement);
  return verified(shape, { kind: 'certificate', identity: signerIdentity(leaf!) }, attempt.root, counts, bundle, statement);
}

/**
 * A certificate bundle checked against CA bundles: the chain's first certificate signs, the rest
 * only offers intermediates. The artifact binding of DSSE bundles is checked by the caller first.
 */
function caBundleSignature(
  bundle: Bundle,
  chain: Buffer[],
  caBundles: readonly TrustedCaBundle[],
  artifact: BundleArtifact | undefined,
  now: Date,
): { ok: true; bundle: TrustedCaBundle; subject: string; validUntil: Date } | { ok: false; reason: string } {
  let signed: Buffer;
  let signature: Buffer;
  if (bundle.content.$case === 'dsseEnvelope') {
    const env = bundle.content.dsseEnvelope;
    signed = dsse.preAuthEncoding(env.payloadType, env.payload);
    signature = Buffer.from(env.signatures[0]!.sig);
  } else {
    if (!artifact || !('bytes' in artifact))
      return { ok: false, reason: 'message-signature bundle: the artifact bytes are needed to verify it' };
    signed = artifact.bytes;
    signature = Buffer.from(bundle.content.messageSignature.signature);
  }
  let certs: NodeX509Certificate[];
  try {
    certs = chain.map((der) => new NodeX509Certificate(der));
  } catch {
    return { ok: false, reason: 'a certificate of the bundle does not parse' };
  }
  const result = verifyCaSignature(certs[0]!, certs.slice(1), caBundles, signed, signature, now);
  return result.ok
    ? { ok: true, bundle: result.bundle, subject: certs[0]!.subject.split('\n').join(', '), validUntil: result.validUntil }
    : result;
}

function verified<K extends CandidateKey>(
  shape: { mediaType: string; version: string; content: 'dsse' | 'message-signature' },
  signer: VerifiedBundle<K>['signer'],
  root: string | undefined,
  counts: { tlogEntries: number; timestamps: number },
  bundle: Bundle,
  statement: InTotoStatement | undefined,
): VerifiedBundle<K> {
  const out: VerifiedBundle<K> = {
    ok: true,
    ...shape,
    signer,
    tlogEntries: counts.tlogEntries,
    timestamps: counts.timestamps,
    ...(root ? { root } : {}),
  };
  if (bundle.content.$case === 'dsseEnvelope') {
    out.payloadType = bundle.content.dsseEnvelope.payloadType;
    out.payload = bundle.content.dsseEnvelope.payload;
    if (statement) out.statement = statement;
  } else {
    // Present: bundleFromJSON refuses a message signature without a (non-empty) messageDigest.
    const d = bundle.content.messageSignature.messageDigest;
    out.messageDigest = `sha256:${Buffer.from(d.digest).toString('hex')}`;
  }
  return out;
}

/** Tries each root in turn; the first that verifies wins. Errors are reported per root. */
function tryRoots(
  roots: ReadonlyArray<SigstoreTrustRoot | undefined>,
  run: (material: TrustMaterial) => unknown,
): { ok: true; root?: string } | { ok: false; error: string } {
  const errors: string[] = [];
  for (const root of roots) {
    try {
      run(root ? root.material : EMPTY_MATERIAL);
      return root ? { ok: true, root: root.name } : { ok: true };
    } catch (err) {
      const text =
        err instanceof VerificationError || (err as { code?: unknown }).code
          ? `${(err as VerificationError).code}: ${(err as Error).message}`
          : (err as Error).message;
      errors.push(roots.length > 1 && root ? `under ${root.name}: ${text}` : text);
    }
  }
  return { ok: false, error: errors.join('; ') };
}

const EMPTY_MATERIAL: TrustMaterial = {
  certificateAuthorities: [],
  timestampAuthorities: [],
  tlogs: [],
  ctlogs: [],
  publicKey: (hint: string) => {
    throw new VerificationError({ code: 'PUBLIC_KEY_ERROR', message: `key not found: ${hint}` });
  },
};

/**
 * @sigstore/verify verifies signatures with Node's default scheme for the key type (FORMATS.md
 * §6.4): SHA-256 for every EC curve and pure Ed25519. A P-384 key signing with SHA-384 (cosign
 * --signing-algorithm ecdsa-sha2-384-nistp384), P-521 with SHA-512, or an Ed25519 key signing
 * with Ed25519ph (cosign's default for Ed25519 keys, §3.5) would never verify. For trusted keys the
 * signature is also checked with the schemes cosign uses for the key's kind (verifyWithKey, the
 * same check as legacy signatures); each is a sound signature scheme under the same key, so
 * accepting either admits nothing an attacker could forge.
 */
function withKeySchemes(entity: SignedEntity, data: Buffer, key: KeyObject): SignedEntity {
  if (key.asymmetricKeyType !== 'ec' && key.asymmetricKeyType !== 'ed25519') return entity;
  const original = entity.signature;
  const signature = Object.create(original) as SignedEntity['signature'];
  signature.verifySignature = (k: KeyObject) => original.verifySignature(k) || verifyWithKey(k, data, original.signature);
  return { ...entity, signature };
}

/** The root's material with one trusted key as the only key (key validity is applied at decision time). */
function withKey(material: TrustMaterial, publicKey: KeyObject): TrustMaterial {
  return { ...material, publicKey: () => ({ publicKey, validFor: () => true }) };
}

/**
 * What @sigstore/verify verified when it succeeded: it checks every tlog entry and every RFC 3161
 * timestamp present, and counts a tlog entry's integrated time only with a SET (inclusion promise).
 */
function countWitnesses(bundle: Bundle): { tlogEntries: number; timestamps: number; witnessed: boolean } {
  const entries = bundle.verificationMaterial.tlogEntries;
  const sets = entries.filter((e) => e.inclusionPromise && e.integratedTime && e.integratedTime !== '0').length;
  const tsa = bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps.length ?? 0;
  return { tlogEntries: entries.length, timestamps: sets + tsa, witnessed: entries.length + tsa > 0 };
}

function parseStatement(payload: Buffer): InTotoStatement | undefined {
  try {
    const s = JSON.parse(payload.toString('utf8')) as unknown;
    return typeof s === 'object' && s !== null && !Array.isArray(s) ? s : undefined;
  } catch {
    return undefined;
  }
}

/** The subject digests of a statement, by algorithm (only well-formed entries). */
export function statementDigests(statement: InTotoStatement | undefined): Array<{ alg: string; hex: string }> {
  const subjects = Array.isArray(statement?.subject) ? (statement.subject as unknown[]) : [];
  const out: Array<{ alg: string; hex: string }> = [];
  for (const s of subjects) {
    const digest = (s as { digest?: unknown } | null)?.digest;
    if (typeof digest !== 'object' || digest === null) continue;
    for (const [alg, hex] of Object.entries(digest as Record<string, unknown>))
      if (typeof hex === 'string') out.push({ alg, hex: hex.toLowerCase() });
  }
  return out;
}

export function isInTotoStatement(statement: InTotoStatement | undefined): boolean {
  return typeof statement?._type === 'string' && STATEMENT_TYPES.has(statement._type);
}

const HASHES: Record<string, string> = { sha256: 'sha256', sha384: 'sha384', sha512: 'sha512' };

/** Why a DSSE statement is not about the artifact (undefined when some subject digest matches). */
function subjectMismatch(statement: InTotoStatement | undefined, artifact: BundleArtifact): string | undefined {
  if (!statement || !isInTotoStatement(statement)) return 'DSSE payload is not an in-toto statement, so it cannot be bound to the artifact';
  const digests = statementDigests(statement);
  const matches =
    'digest' in artifact
      ? (() => {
          const [alg, hex] = artifact.digest.toLowerCase().split(':');
          return digests.some((d) => d.alg === alg && d.hex === hex);
        })()
      : digests.some(
          (d) => HASHES[d.alg] !== undefined && crypto.createHash(HASHES[d.alg]!).update(artifact.bytes).digest('hex') === d.hex,
        );
  return matches ? undefined : 'the artifact does not match any subject digest of the signed in-toto statement';
}
