/**
 * Signatures by certificates of a private PKI, anchored at an imported CA bundle
 * (src/keys/crypto/ca-bundle.ts): the signing certificate, through intermediates the evidence
 * carries, must be issued by a certificate of the bundle, and the signature must verify with the
 * signing certificate's key (the schemes cosign uses for its kind: legacy/crypto.ts verifyWithKey).
 *
 * What the evidence carries is hostile: intermediates are used only to build a path, never
 * trusted on their own. The rules, closed by default (cosign checks such chains with Go's
 * x509.Verify for id-kp-codeSigning; these are that and the key usages RFC 5280 asks for):
 *
 *   leaf      not a CA; key usage present with digitalSignature and without keyCertSign;
 *             extended key usage, when present, with id-kp-codeSigning
 *   CAs       every intermediate and the bundle's CA: basicConstraints CA:TRUE, key usage present
 *             with keyCertSign, within its path length constraint, extended key usage (when
 *             present) allowing code signing; no name constraints, policy constraints or
 *             inhibitAnyPolicy — they are not evaluated, so a chain through such a CA is refused
 *             rather than trusted beyond them
 *   all       no critical extension Countersign does not understand; valid now
 *
 * Validity is checked at the moment of verification: these signatures carry no trusted signing
 * time (no log entry or timestamp is verified for them), so a certificate counts only while it is
 * valid. The result says until when (the earliest notAfter on the path): cached evidence stops
 * counting then (VerificationService.withKeyState), whatever the cache's TTL.
 */
import type { X509Certificate } from 'node:crypto';
import type { Evidence } from '../policy/input';
import type { TrustedCaBundle } from '../trust/types';
import { verifyWithKey } from './legacy/crypto';
import {
  certificateFields,
  EKU,
  extendedKeyUsage,
  KU,
  keyUsage,
  pathLength,
  unknownCriticalExtension,
  type CertificateFields,
} from '../formats/x509';

/** Intermediates between the signing certificate and the bundle's CA, at most. */
const MAX_PATH = 8;

/** CA extensions whose constraints are not evaluated: a path through a CA carrying one is refused. */
const UNEVALUATED_CONSTRAINTS: ReadonlyArray<[string, string]> = [
  ['2.5.29.30', 'name constraints'],
  ['2.5.29.36', 'policy constraints'],
  ['2.5.29.54', 'inhibitAnyPolicy'],
];

export type CaSignature = { ok: true; bundle: TrustedCaBundle; leaf: X509Certificate; validUntil: Date } | { ok: false; reason: string };

/**
 * Which CA bundle anchors `leaf` (through `intermediates`) and whether the leaf's key made
 * `signature` over `message`. Bundles are tried in order; never throws for hostile input.
 */
export function verifyCaSignature(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  bundles: readonly TrustedCaBundle[],
  message: Buffer,
  signature: Buffer,
  now: Date,
): CaSignature {
  const subject = oneLine(leaf.subject);
  const leafInvalid = leafProblem(leaf) ?? notValidAt(leaf, now);
  if (leafInvalid) return { ok: false, reason: `the signing certificate (${subject}) ${leafInvalid}` };
  if (bundles.length === 0) return { ok: false, reason: 'the signature carries a certificate, but no CA bundle is trusted' };
  // The path first: it is cheap next to an Ed25519ph try of a certificate no bundle anchors.
  const problems: string[] = [];
  let anchored: { bundle: TrustedCaBundle; validUntil: Date } | undefined;
  for (const bundle of bundles) {
    const path = pathTo(bundle, leaf, intermediates, now);
    if (typeof path !== 'string') {
      anchored = { bundle, validUntil: path.validUntil };
      break;
    }
    problems.push(`${bundle.name}: ${path}`);
  }
  if (!anchored)
    return { ok: false, reason: `the certificate (${subject}) does not chain to a trusted CA bundle (${problems.join('; ')})` };
  let verified: boolean;
  try {
    verified = verifyWithKey(leaf.publicKey, message, signature);
  } catch {
    verified = false;
  }
  if (!verified) return { ok: false, reason: `the signature does not verify with the key of its certificate (${subject})` };
  return { ok: true, bundle: anchored.bundle, leaf, validUntil: anchored.validUntil };
}

/** The evidence fields of a signature by a certificate a CA bundle anchors. */
export function caSigner(byCa: {
  bundle: TrustedCaBundle;
  subject: string;
  validUntil: Date;
}): Pick<Evidence, 'keyId' | 'keyName' | 'certificateSubject' | 'certificateValidUntil'> {
  return {
    keyId: byCa.bundle.id,
    keyName: byCa.bundle.name,
    certificateSubject: byCa.subject,
    certificateValidUntil: byCa.validUntil.toISOString(),
  };
}

/**
 * A path from `leaf` up to a CA of `bundle` through certificates of `pool`, every CA on it
 * qualified for its place, with the earliest notAfter on it; else why there is none.
 */
function pathTo(
  bundle: TrustedCaBundle,
  leaf: X509Certificate,
  pool: readonly X509Certificate[],
  now: Date,
): { validUntil: Date } | string {
  let current = leaf;
  const used: X509Certificate[] = [];
  let validUntil = new Date(leaf.validTo);
  const earliest = (cert: X509Certificate): Date => {
    const to = new Date(cert.validTo);
    return to.getTime() < validUntil.getTime() ? to : validUntil;
  };
  for (let depth = 0; depth <= MAX_PATH; depth++) {
    // `depth` intermediates lie below the issuer of `current`: its path length must allow them.
    const anchors = bundle.certificates.filter((ca) => issued(ca, current));
    const anchorProblems = anchors.map((ca) => caProblem(ca, depth) ?? notValidAt(ca, now));
    const anchorAt = anchorProblems.indexOf(undefined);
    if (anchorAt >= 0) return { validUntil: earliest(anchors[anchorAt]!) };
    const candidates = pool.filter((p) => !used.includes(p) && issued(p, current));
    const candidateProblems = candidates.map((p) => caProblem(p, depth) ?? notValidAt(p, now));
    const nextAt = candidateProblems.indexOf(undefined);
    if (nextAt < 0) {
      if (anchors.length > 0) return `its CA ${oneLine(anchors[0]!.subject)} ${anchorProblems[0]!}`;
      if (candidates.length > 0) return `the intermediate ${oneLine(candidates[0]!.subject)} ${candidateProblems[0]!}`;
      return depth === 0
        ? 'no CA of the bundle issued the certificate, and the signature carries no intermediate that did'
        : `no CA of the bundle issued ${oneLine(current.subject)}, the last certificate the signature's chain leads to`;
    }
    const next = candidates[nextAt]!;
    used.push(next);
    validUntil = earliest(next);
    current = next;
  }
  return `the chain is longer than ${MAX_PATH} intermediates`;
}

/** `issuer`'s name and key issued `cert` (whether it may is caProblem's question). */
function issued(issuer: X509Certificate, cert: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function fieldsOf(cert: X509Certificate): CertificateFields | string {
  try {
    return certificateFields(cert);
  } catch (err) {
    return `cannot be read (${err instanceof Error ? err.message : 'malformed extensions'})`;
  }
}

/** Why `leaf` may not sign images, or undefined. */
function leafProblem(leaf: X509Certificate): string | undefined {
  if (leaf.ca) return 'is a CA certificate; a CA certifies signers, it does not sign images';
  const f = fieldsOf(leaf);
  if (typeof f === 'string') return f;
  const critical = unknownCriticalExtension(f);
  if (critical !== undefined) return `has the critical extension ${critical}, which Countersign does not understand`;
  const ku = readKeyUsage(f);
  if (typeof ku === 'string') return ku;
  if (ku === undefined) return 'has no key usage; digitalSignature is required';
  if (!(ku & KU.DIGITAL_SIGNATURE)) return 'key usage lacks digitalSignature';
  if (ku & KU.KEY_CERT_SIGN) return 'key usage allows keyCertSign; a signing certificate must not';
  const eku = readExtendedKeyUsage(f);
  if (typeof eku === 'string') return eku;
  if (eku !== undefined && !eku.includes(EKU.CODE_SIGNING))
    return `extended key usage (${eku.join(', ') || 'empty'}) lacks id-kp-codeSigning (${EKU.CODE_SIGNING})`;
  return undefined;
}

/**
 * Why `ca` may not issue a certificate with `below` intermediates under it, or undefined (its
 * validity aside). Also asked of every CA of a bundle when it is imported (`below` 0).
 */
export function caProblem(ca: X509Certificate, below: number): string | undefined {
  if (!ca.ca) return 'is not a CA certificate (basicConstraints CA:TRUE)';
  const f = fieldsOf(ca);
  if (typeof f === 'string') return f;
  const critical = unknownCriticalExtension(f);
  if (critical !== undefined) return `has the critical extension ${critical}, which Countersign does not understand`;
  for (const [id, what] of UNEVALUATED_CONSTRAINTS) {
    if (f.extensions.has(id)) return `carries ${what}, which Countersign does not evaluate; a chain through it is refused`;
  }
  const ku = readKeyUsage(f);
  if (typeof ku === 'string') return ku;
  if (ku === undefined) return 'has no key usage; a CA needs keyCertSign';
  if (!(ku & KU.KEY_CERT_SIGN)) return 'key usage lacks keyCertSign';
  let max: number | undefined;
  try {
    max = pathLength(f);
  } catch {
    return 'has a path length constraint that is not a small non-negative integer';
  }
  if (max !== undefined && below > max) return `allows ${max} intermediate certificate(s) below it, the chain has ${below}`;
  const eku = readExtendedKeyUsage(f);
  if (typeof eku === 'string') return eku;
  if (eku !== undefined && !eku.includes(EKU.CODE_SIGNING) && !eku.includes(EKU.ANY))
    return `extended key usage (${eku.join(', ') || 'empty'}) does not allow code signing`;
  return undefined;
}

function readKeyUsage(f: CertificateFields): number | undefined | string {
  try {
    return keyUsage(f);
  } catch {
    return 'has a malformed key usage extension';
  }
}

function readExtendedKeyUsage(f: CertificateFields): string[] | undefined | string {
  try {
    return extendedKeyUsage(f);
  } catch {
    return 'has a malformed extended key usage extension';
  }
}

function notValidAt(cert: X509Certificate, now: Date): string | undefined {
  const from = new Date(cert.validFrom);
  const to = new Date(cert.validTo);
  if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime())) return 'has an unreadable validity period';
  if (now.getTime() < from.getTime()) return `is not valid before ${from.toISOString()}`;
  if (now.getTime() > to.getTime()) return `expired at ${to.toISOString()}`;
  return undefined;
}

function oneLine(dn: string): string {
  return dn.split('\n').join(', ').slice(0, 200);
}
