/**
 * Signatures by certificates of a private PKI, anchored at an imported CA bundle
 * (src/keys/crypto/ca-bundle.ts): the signing certificate, through intermediates the evidence
 * carries, must be issued by a certificate of the bundle, every certificate on that path valid
 * now, and the signature must verify with the signing certificate's key (the schemes cosign uses
 * for its kind: legacy/crypto.ts verifyWithKey).
 *
 * What the evidence carries is hostile: intermediates are used only to build a path (each one a CA
 * that signed the certificate below it), never trusted on their own; the signing certificate must
 * not be a CA itself (a CA certifies signers; an intermediate's own signature is not one). There
 * is no trusted signing time for these signatures, so validity is checked at the moment of
 * verification. Name and policy constraints are not enforced, and path lengths are bounded only
 * by MAX_PATH.
 */
import type { X509Certificate } from 'node:crypto';
import type { TrustedCaBundle } from '../trust/types';
import { verifyWithKey } from './legacy/crypto';

/** Intermediates between the signing certificate and the bundle's CA, at most. */
const MAX_PATH = 8;

export type CaSignature = { ok: true; bundle: TrustedCaBundle; leaf: X509Certificate } | { ok: false; reason: string };

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
  if (leaf.ca)
    return {
      ok: false,
      reason: `the signing certificate (${subject}) is a CA certificate; a CA certifies signers, it does not sign images`,
    };
  const invalidNow = notValidAt(leaf, now);
  if (invalidNow) return { ok: false, reason: `the signing certificate (${subject}) ${invalidNow}` };
  let verified: boolean;
  try {
    verified = verifyWithKey(leaf.publicKey, message, signature);
  } catch {
    verified = false;
  }
  if (!verified) return { ok: false, reason: `the signature does not verify with the key of its certificate (${subject})` };
  const problems: string[] = [];
  for (const bundle of bundles) {
    const path = pathTo(bundle, leaf, intermediates, now);
    if (path === true) return { ok: true, bundle, leaf };
    problems.push(`${bundle.name}: ${path}`);
  }
  return {
    ok: false,
    reason:
      bundles.length === 0
        ? 'the signature carries a certificate, but no CA bundle is trusted'
        : `the certificate (${subject}) does not chain to a trusted CA bundle (${problems.join('; ')})`,
  };
}

/** True when a CA of `bundle` issued the chain from `leaf` up, else why not. */
function pathTo(bundle: TrustedCaBundle, leaf: X509Certificate, pool: readonly X509Certificate[], now: Date): true | string {
  let current = leaf;
  const used: X509Certificate[] = [];
  for (let depth = 0; depth <= MAX_PATH; depth++) {
    const anchor = bundle.certificates.find((ca) => issued(ca, current));
    if (anchor) {
      const invalid = notValidAt(anchor, now);
      return invalid ? `its CA ${oneLine(anchor.subject)} ${invalid}` : true;
    }
    const next = pool.find((p) => !used.includes(p) && p.ca && issued(p, current));
    if (!next) {
      return depth === 0
        ? 'no CA of the bundle issued the certificate, and the signature carries no intermediate that did'
        : `no CA of the bundle issued ${oneLine(current.subject)}, the last certificate the signature's chain leads to`;
    }
    const invalid = notValidAt(next, now);
    if (invalid) return `the intermediate ${oneLine(next.subject)} ${invalid}`;
    used.push(next);
    current = next;
  }
  return `the chain is longer than ${MAX_PATH} intermediates`;
}

/** `issuer` is a CA whose name and key issued `cert` (checkIssued also demands keyCertSign when key usage is present). */
function issued(issuer: X509Certificate, cert: X509Certificate): boolean {
  try {
    return issuer.ca && cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
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
