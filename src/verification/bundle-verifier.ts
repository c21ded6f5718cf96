/**
 * Verifies one Sigstore bundle referrer of an image: the bundle itself through the shared core
 * (sigstore/verify-bundle.ts: every bundle version, keys and keyless, Rekor v1/v2, timestamps,
 * several trusted roots), plus the checks that bind it to THIS image (FORMATS.md §6.5): the
 * referrer's subject is the image, the DSSE payload is an in-toto statement whose subject is the
 * digest WE resolved (a bundle copied from another image's referrers fails here), and the
 * unsigned annotation agrees with the signed predicate type.
 *
 * Key validity, revocation and scope are NOT applied here: they depend on the time of the
 * decision, and this result is cached. See VerificationService.withKeyState. Keyless evidence
 * carries the verified signer identity; which identities count is the policy's decision.
 */
import { COSIGN_SIGN_PREDICATE_TYPE, IN_TOTO_PAYLOAD_TYPE } from '../formats/in-toto';
import { declaredArtifactType, type ReferrerManifest } from './referrer-manifest';
import type { TrustedCaBundle, TrustedKey } from '../trust/types';
import type { SigstoreTrustRoot } from './sigstore/trusted-root';
import { isInTotoStatement, statementDigests, verifySigstoreBundle, type InTotoStatement } from './sigstore/verify-bundle';
import type { Evidence } from '../policy/input';
import { caSigner } from './x509-chain';
import { ANNOTATION, BUNDLE_MEDIA_TYPE_VERSIONS } from '../formats/sigstore-bundle';
import { plainUntrusted, quoteUntrusted } from '../shared/untrusted-text';
import { describeDepthViolation, JsonTooDeepError, parseJsonWithinDepth } from '../shared/json-depth';

/** Bundle media types accepted as referrer layers (every Sigstore bundle version). */
export const BUNDLE_MEDIA_TYPES = Object.keys(BUNDLE_MEDIA_TYPE_VERSIONS);
const PREDICATE_ANNOTATION = ANNOTATION.BUNDLE_PREDICATE_TYPE;

/**
 * One of the Sigstore bundle media types, exactly. A prefix match would take
 * `application/vnd.dev.sigstore.bundle-anything` for a bundle, a type no Sigstore client writes
 * or reads. Untrusted input: anything a pusher wrote may arrive here, not only strings.
 */
export function isBundleArtifact(artifactType: unknown): boolean {
  return typeof artifactType === 'string' && Object.hasOwn(BUNDLE_MEDIA_TYPE_VERSIONS, artifactType);
}

interface BundleInput {
  manifest: ReferrerManifest;
  manifestDigest: string;
  /** The layer blob, already fetched (its digest checked by the registry client). */
  bundleBytes: Buffer;
  imageDigest: string;
  trustedKeys: TrustedKey[];
  byId: (id: string) => TrustedKey | undefined;
  /** CA bundles for bundles signed by a certificate of a private PKI (absent = none). */
  caBundles?: readonly TrustedCaBundle[];
  /**
   * Sigstore trusted roots (parsed once, at startup): Fulcio CAs for keyless bundles, and the Rekor
   * / TSA keys for bundles that carry transparency-log entries or timestamps, as `cosign sign --key`
   * writes by default. Without one such bundles cannot be verified and are refused with a reason.
   */
  trustedRoots?: readonly SigstoreTrustRoot[];
}

export function verifyBundleReferrer(input: BundleInput): Evidence {
  const { manifest, manifestDigest, imageDigest } = input;
  const base: Evidence = {
    referrerDigest: manifestDigest,
    format: 'sigstore-bundle',
    artifactType: declaredArtifactType(manifest),
    kind: 'other',
    subjectDigest: imageDigest,
    verified: false,
    ...(manifest.annotations?.[ANNOTATION.CREATED] ? { created: manifest.annotations[ANNOTATION.CREATED] } : {}),
  };
  const fail = (reason: string, extra: Partial<Evidence> = {}): Evidence => ({ ...base, ...extra, verified: false, reason });

  // checkReferrerManifest has bound the manifest to this image (its subject) and typed its annotations.
  try {
    // Bounded: a pusher's fields are quoted in reasons, and JSON.stringify overflows on deep nesting.
    parseJsonWithinDepth(input.bundleBytes.toString('utf8'));
  } catch (err) {
    return fail(err instanceof JsonTooDeepError ? `bundle ${describeDepthViolation(err.violation)}` : 'bundle is not valid JSON');
  }
  const roots = input.trustedRoots ?? [];
  const result = verifySigstoreBundle(input.bundleBytes, {
    roots,
    keys: { byHint: (hint) => input.byId(hint), all: () => input.trustedKeys },
    ...(input.caBundles?.length ? { caBundles: input.caBundles } : {}),
  });
  const shape = result.version ? { bundleVersion: result.version, ...(result.content ? { content: result.content } : {}) } : {};
  const statement: InTotoStatement | undefined = result.statement;
  const predicateType = typeof statement?.predicateType === 'string' ? statement.predicateType : undefined;
  const kind: Evidence['kind'] = !statement ? base.kind : predicateType === COSIGN_SIGN_PREDICATE_TYPE ? 'signature' : 'attestation';
  // Until the signature verifies, the predicate type is the pusher's text: reported only if short and plain.
  const reported = result.ok ? predicateType : plainUntrusted(predicateType);
  const claimed = { ...shape, kind, ...(reported ? { predicateType: reported } : {}) };
  if (result.content === 'message-signature') {
    // A message signature signs bytes; for an image they would have to be the manifest's, which
    // cosign never signs this way. Only DSSE statements name the image they are about.
    return fail(
      'message-signature bundle (no DSSE envelope): image signatures must be DSSE in-toto statements that name the image digest',
      claimed,
    );
  }
  if (!result.ok) {
    const reason =
      roots.length === 0 && /no Sigstore trusted root/.test(result.reason)
        ? `${result.reason}: configure verification.sigstoreTrustedRoot (Sigstore's trusted_root.json)`
        : result.reason;
    return fail(reason, claimed);
  }
  const signer =
    result.signer.kind === 'key'
      ? { keyId: result.signer.key.id, keyName: result.signer.key.name }
      : result.signer.kind === 'ca-bundle'
        ? caSigner(result.signer)
        : { identity: result.signer.identity };
  const signed = {
    ...claimed,
    ...signer,
    ...(result.root ? { trustRoot: result.root } : {}),
    transparencyLogEntries: result.tlogEntries,
    timestamps: result.timestamps,
  };
  if (result.payloadType !== IN_TOTO_PAYLOAD_TYPE)
    return fail(`DSSE payload type ${quoteUntrusted(result.payloadType)} is not ${IN_TOTO_PAYLOAD_TYPE}`, signed);
  if (!statement) return fail('DSSE payload is not a JSON in-toto statement', signed);
  if (!isInTotoStatement(statement)) {
    return fail(`statement type ${quoteUntrusted(statement._type)} is not an in-toto statement`, signed);
  }
  const [alg, hex] = imageDigest.split(':') as [string, string];
  const digests = statementDigests(statement);
  if (!digests.some((d) => d.alg === alg && d.hex === hex)) {
    const other = digests.find((d) => d.alg === alg);
    return fail(
      `signed statement is about ${other ? `${alg}:${other.hex}` : 'another subject'}, not ${imageDigest} (copied from another image?)`,
      signed,
    );
  }
  if (!predicateType) return fail('signed statement has no predicateType', signed);
  const annotated = manifest.annotations?.[PREDICATE_ANNOTATION];
  if (annotated !== undefined && annotated !== predicateType) {
    return fail(
      `referrer annotation says predicate type ${quoteUntrusted(annotated, 256)} but the signed statement says ${predicateType}`,
      signed,
    );
  }
  return { ...base, ...signed, verified: true, ...(kind === 'attestation' ? { predicate: statement.predicate } : {}) };
}
