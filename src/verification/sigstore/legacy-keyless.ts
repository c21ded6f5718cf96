/**
 * cosign's legacy keyless signature (a `.sig` layer with `dev.sigstore.cosign/certificate`,
 * `dev.sigstore.cosign/chain` and `dev.sigstore.cosign/bundle` annotations) expressed as the
 * Sigstore bundle it is equivalent to — a v0.1 message-signature bundle over the payload blob,
 * with the Rekor entry and its signed entry timestamp — so that it is verified by the same core
 * (verifySigstoreBundle) as every other bundle: Fulcio chain at the SET's integrated time, SCT,
 * SET signature, and the Rekor body against this signature and certificate.
 *
 * Everything here is attacker-written; the conversion only rearranges bytes (it vouches for
 * nothing) and returns a sentence when the annotations are unusable.
 */
import crypto from 'node:crypto';
import type { SignerIdentity } from '../../policy/identity';
import type { SigstoreTrustRoot } from './trusted-root';
import { verifySigstoreBundle } from './verify-bundle';
import { pemCertificates } from '../../formats/pem';

export const ANNOTATION_LEGACY_CERTIFICATE = 'dev.sigstore.cosign/certificate';
export const ANNOTATION_LEGACY_CHAIN = 'dev.sigstore.cosign/chain';
export const ANNOTATION_LEGACY_BUNDLE = 'dev.sigstore.cosign/bundle';

const V01 = 'application/vnd.dev.sigstore.bundle+json;version=0.1';

/** The bundle JSON for one legacy keyless layer, or why the annotations cannot form one. */
export function legacyKeylessBundle(
  annotations: Record<string, string>,
  signature: Buffer,
  payload: Buffer,
): Record<string, unknown> | string {
  const certPem = annotations[ANNOTATION_LEGACY_CERTIFICATE];
  if (!certPem) return `no ${ANNOTATION_LEGACY_CERTIFICATE} annotation`;
  const leaf = pemCertificates(certPem);
  if (leaf.length !== 1) return `the ${ANNOTATION_LEGACY_CERTIFICATE} annotation must hold exactly one PEM certificate`;
  const rekor = annotations[ANNOTATION_LEGACY_BUNDLE];
  if (!rekor)
    return `keyless signature without a ${ANNOTATION_LEGACY_BUNDLE} annotation (Rekor entry): its signing time cannot be verified`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(rekor);
  } catch {
    return `the ${ANNOTATION_LEGACY_BUNDLE} annotation is not JSON`;
  }
  // Any JSON value, null included.
  const bundle = parsed as { SignedEntryTimestamp?: unknown; Payload?: unknown } | null;
  const set = bundle?.SignedEntryTimestamp;
  const p = bundle?.Payload;
  if (typeof set !== 'string' || typeof p !== 'object' || p === null)
    return `the ${ANNOTATION_LEGACY_BUNDLE} annotation lacks SignedEntryTimestamp or Payload`;
  const { body, integratedTime, logIndex, logID } = p as { body?: unknown; integratedTime?: unknown; logIndex?: unknown; logID?: unknown };
  if (
    typeof body !== 'string' ||
    !Number.isSafeInteger(integratedTime) ||
    !Number.isSafeInteger(logIndex) ||
    typeof logID !== 'string' ||
    !/^[0-9a-f]{64}$/.test(logID)
  ) {
    return `the ${ANNOTATION_LEGACY_BUNDLE} annotation's Payload needs body, integratedTime, logIndex and a hex logID`;
  }
  let entryBody: unknown;
  try {
    entryBody = JSON.parse(Buffer.from(body, 'base64').toString('utf8'));
  } catch {
    return `the Rekor entry body in ${ANNOTATION_LEGACY_BUNDLE} is not base64 JSON`;
  }
  const kind = entryBody as { kind?: unknown; apiVersion?: unknown } | null;
  if (typeof kind?.kind !== 'string' || typeof kind.apiVersion !== 'string') return 'the Rekor entry body names no kind and apiVersion';
  return {
    mediaType: V01,
    verificationMaterial: {
      // Only the leaf: the trusted root supplies the CA chain (the annotation's chain is unsigned).
      x509CertificateChain: { certificates: [{ rawBytes: leaf[0]!.toString('base64') }] },
      tlogEntries: [
        {
          logIndex: String(logIndex),
          logId: { keyId: Buffer.from(logID, 'hex').toString('base64') },
          kindVersion: { kind: kind.kind, version: kind.apiVersion },
          integratedTime: String(integratedTime),
          inclusionPromise: { signedEntryTimestamp: set },
          canonicalizedBody: body,
        },
      ],
    },
    messageSignature: {
      messageDigest: { algorithm: 'SHA2_256', digest: crypto.createHash('sha256').update(payload).digest('base64') },
      signature: signature.toString('base64'),
    },
  };
}

/** What a legacy keyless signature layer adds to its Evidence once verified. */
export type LegacyKeylessResult =
  | { ok: true; identity: SignerIdentity; trustRoot?: string; transparencyLogEntries: number; timestamps: number }
  | { ok: false; reason: string };

/** Verifies one legacy keyless layer through the bundle core (keyless only: no key is tried). */
export function verifyLegacyKeyless(
  annotations: Record<string, string>,
  signature: Buffer,
  payload: Buffer,
  roots: readonly SigstoreTrustRoot[],
): LegacyKeylessResult {
  const bundle = legacyKeylessBundle(annotations, signature, payload);
  if (typeof bundle === 'string') return { ok: false, reason: `keyless signature: ${bundle}` };
  const result = verifySigstoreBundle(bundle, { roots }, { bytes: payload });
  if (!result.ok) return { ok: false, reason: `keyless signature does not verify: ${result.reason}` };
  if (result.signer.kind !== 'certificate') return { ok: false, reason: 'keyless signature: no certificate' };
  return {
    ok: true,
    identity: result.signer.identity,
    ...(result.root ? { trustRoot: result.root } : {}),
    transparencyLogEntries: result.tlogEntries,
    timestamps: result.timestamps,
  };
}
