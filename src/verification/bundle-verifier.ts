/**
 * Verifies one Sigstore bundle referrer against the trusted keys, plus the caller-side checks
 * @sigstore/verify leaves to us (FORMATS.md §6.5): one DSSE signature, in-toto payload type, the
 * statement's subject is the digest WE resolved (a bundle copied from another image's referrers
 * fails here), the manifest's subject is the image, and the unsigned annotation agrees with the
 * signed predicate type.
 *
 * Key validity, revocation and scope are NOT applied here: they depend on the time of the
 * decision, and this result is cached. See applyKeyState.
 */
import { bundleFromJSON } from '@sigstore/bundle';
import type { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier, VerificationError } from '@sigstore/verify';
import { COSIGN_SIGN_PREDICATE_TYPE, IN_TOTO_PAYLOAD_TYPE } from '../signing/statement';
import type { ImageManifest } from '../registry/types';
import type { TrustedKey } from '../trust/types';
import type { Evidence } from './types';
import { describeDepthViolation, JsonTooDeepError, parseJsonWithinDepth } from '../shared/json-depth';

export const BUNDLE_MEDIA_TYPES = ['application/vnd.dev.sigstore.bundle.v0.3+json', 'application/vnd.dev.sigstore.bundle+json;version=0.3'];
const STATEMENT_TYPES = new Set(['https://in-toto.io/Statement/v1', 'https://in-toto.io/Statement/v0.1']);
const PREDICATE_ANNOTATION = 'dev.sigstore.bundle.predicateType';

const EMPTY_ROOT: TrustedRoot = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
};

/** Untrusted input: anything a pusher wrote may arrive here, not only strings. */
export function isBundleArtifact(artifactType: unknown): boolean {
  return typeof artifactType === 'string' && artifactType.startsWith('application/vnd.dev.sigstore.bundle');
}

interface BundleInput {
  manifest: ImageManifest;
  manifestDigest: string;
  /** The layer blob, already fetched (its digest checked by the registry client). */
  bundleBytes: Buffer;
  imageDigest: string;
  trustedKeys: TrustedKey[];
  byId: (id: string) => TrustedKey | undefined;
  /**
   * Sigstore trusted root (Rekor / TSA keys) for bundles that carry transparency-log entries or
   * timestamps, as `cosign sign --key` writes by default. Without one such bundles cannot be
   * verified (the entries would be checked against nothing) and are refused with a reason.
   */
  trustedRoot?: TrustedRoot;
}

export function verifyBundleReferrer(input: BundleInput): Evidence {
  const { manifest, manifestDigest, imageDigest } = input;
  const base: Evidence = {
    referrerDigest: manifestDigest,
    format: 'sigstore-bundle',
    artifactType: manifest.artifactType ?? manifest.config?.mediaType,
    kind: 'other',
    subjectDigest: imageDigest,
    verified: false,
    ...(manifest.annotations?.['org.opencontainers.image.created'] ? { created: manifest.annotations['org.opencontainers.image.created'] } : {}),
  };
  const fail = (reason: string, extra: Partial<Evidence> = {}): Evidence => ({ ...base, ...extra, verified: false, reason });

  if (manifest.subject?.digest !== imageDigest) {
    return fail(`referrer's subject is ${manifest.subject?.digest ?? 'missing'}, not ${imageDigest}`);
  }
  let json: Record<string, unknown>;
  try {
    // Bounded: a pusher's fields are quoted in reasons, and JSON.stringify overflows on deep nesting.
    json = parseJsonWithinDepth(input.bundleBytes.toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    return fail(err instanceof JsonTooDeepError ? `bundle ${describeDepthViolation(err.violation)}` : 'bundle is not valid JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return fail('bundle is not a JSON object');
  if (typeof json.mediaType !== 'string' || !BUNDLE_MEDIA_TYPES.includes(json.mediaType)) {
    return fail(`bundle media type ${JSON.stringify(json.mediaType)} is not Sigstore bundle v0.3`);
  }
  const env = json.dsseEnvelope as { payload?: unknown; payloadType?: unknown; signatures?: unknown } | undefined;
  if (!env || typeof env !== 'object') return fail('bundle carries no DSSE envelope (message signatures are not accepted for images)');
  if (!Array.isArray(env.signatures) || env.signatures.length !== 1) {
    return fail(`DSSE envelope must carry exactly one signature, found ${Array.isArray(env.signatures) ? env.signatures.length : 0}`);
  }
  if (env.payloadType !== IN_TOTO_PAYLOAD_TYPE) return fail(`DSSE payload type ${JSON.stringify(env.payloadType)} is not ${IN_TOTO_PAYLOAD_TYPE}`);
  let statement: { _type?: unknown; subject?: unknown; predicateType?: unknown; predicate?: unknown };
  try {
    statement = JSON.parse(Buffer.from(String(env.payload), 'base64').toString('utf8'));
  } catch {
    return fail('DSSE payload is not a JSON in-toto statement');
  }
  if (typeof statement !== 'object' || statement === null) return fail('DSSE payload is not a JSON in-toto statement');
  const predicateType = typeof statement.predicateType === 'string' ? statement.predicateType : undefined;
  const kind: Evidence['kind'] = predicateType === COSIGN_SIGN_PREDICATE_TYPE ? 'signature' : 'attestation';
  const claimed = { kind, ...(predicateType ? { predicateType } : {}) };

  const material = (json.verificationMaterial ?? {}) as {
    publicKey?: { hint?: unknown };
    certificate?: unknown;
    x509CertificateChain?: unknown;
    tlogEntries?: unknown;
    timestampVerificationData?: { rfc3161Timestamps?: unknown };
  };
  if (!material.publicKey) {
    return fail('certificate-based (keyless) bundle: Countersign verifies against trusted keys only', claimed);
  }
  const witnessed =
    (Array.isArray(material.tlogEntries) && material.tlogEntries.length > 0) ||
    (Array.isArray(material.timestampVerificationData?.rfc3161Timestamps) && material.timestampVerificationData.rfc3161Timestamps.length > 0);
  if (witnessed && !input.trustedRoot) {
    return fail(
      'bundle carries transparency-log entries or timestamps (cosign uploads to Rekor by default); ' +
        "configure verification.sigstoreTrustedRoot (Sigstore's trusted_root.json) to verify them",
      claimed,
    );
  }
  let bundle;
  try {
    bundle = bundleFromJSON(json);
  } catch (err) {
    return fail(`malformed bundle: ${(err as Error).message}`, claimed);
  }
  const hint = typeof material.publicKey.hint === 'string' ? material.publicKey.hint : '';
  // The hint is only a lookup aid (attacker-controlled); every candidate is a trusted key, and the
  // signature decides. Bundles from other tools may carry hints we do not know, so fall back to
  // trying each trusted key.
  const hinted = hint ? input.byId(hint) : undefined;
  const candidates = hinted ? [hinted] : input.trustedKeys;
  if (candidates.length === 0) return fail('no trusted keys are configured', claimed);
  let signer: TrustedKey | undefined;
  let lastError = '';
  const entity = toSignedEntity(bundle);
  for (const key of candidates) {
    try {
      // Entries present in the bundle are always verified against the root; none are required.
      const trust = toTrustMaterial(input.trustedRoot ?? EMPTY_ROOT, () => ({ publicKey: key.publicKey, validFor: () => true }));
      new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(entity);
      signer = key;
      break;
    } catch (err) {
      lastError = err instanceof VerificationError ? `${err.code}: ${err.message}` : (err as Error).message;
    }
  }
  if (!signer) {
    return fail(
      hinted
        ? `signature does not verify with key ${hinted.name} (${lastError})`
        : `not signed by any trusted key (key hint ${hint || 'none'}${lastError ? `; ${lastError}` : ''})`,
      claimed,
    );
  }
  const signed = { ...claimed, keyId: signer.id, keyName: signer.name };
  if (typeof statement._type !== 'string' || !STATEMENT_TYPES.has(statement._type)) {
    return fail(`statement type ${JSON.stringify(statement._type)} is not an in-toto statement`, signed);
  }
  const hex = imageDigest.split(':')[1];
  const alg = imageDigest.split(':')[0] as string;
  const subjects = Array.isArray(statement.subject) ? (statement.subject as Array<{ digest?: Record<string, unknown> }>) : [];
  if (!subjects.some((s) => s?.digest?.[alg] === hex)) {
    const other = subjects.map((s) => s?.digest?.[alg]).find((d) => typeof d === 'string');
    return fail(`signed statement is about ${other ? `${alg}:${other}` : 'another subject'}, not ${imageDigest} (copied from another image?)`, signed);
  }
  if (!predicateType) return fail('signed statement has no predicateType', signed);
  const annotated = manifest.annotations?.[PREDICATE_ANNOTATION];
  if (annotated !== undefined && annotated !== predicateType) {
    return fail(`referrer annotation says predicate type ${annotated} but the signed statement says ${predicateType}`, signed);
  }
  return { ...base, ...signed, verified: true, ...(kind === 'attestation' ? { predicate: statement.predicate } : {}) };
}
