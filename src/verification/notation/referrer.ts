/**
 * One Notary Project signature referrer (`application/vnd.cncf.notary.signature`, as artifactType or,
 * in the OCI 1.0 form, as config.mediaType; a JWS or a COSE envelope) turned into evidence. The envelope's integrity is
 * checked here; whether its signer is trusted is the rule's Notation trust policy, judged per call
 * (src/policy/notation-trust.ts), so the evidence is never `verified` by itself: it carries the verified facts
 * (`notation`) that the signature requirement judges.
 */
import type { ReferrerManifest } from '../referrer-manifest';
import type { Evidence } from '../../policy/input';
import { COSE_MEDIA_TYPE, JWS_MEDIA_TYPE, MAX_NOTATION_ENVELOPE_BYTES } from '../../formats/notation';
import { verifyCoseEnvelope } from './cose';
import { oneLine } from '../../policy/notation-trust';
import { NotationEnvelopeError, verifyJwsEnvelope, type TargetDescriptor } from './envelope';

/** The one envelope layer of a Notary signature manifest, or why there is none to read. */
export function notationEnvelopeLayer(manifest: ReferrerManifest): { digest: string; mediaType: string; size: number } | string {
  if (manifest.layers.length !== 1) return `a Notary signature manifest must have exactly one layer, has ${manifest.layers.length}`;
  const layer = manifest.layers[0]!;
  // checkReferrerManifest has made every layer a descriptor: its media type is a media type string.
  if (layer.mediaType !== JWS_MEDIA_TYPE && layer.mediaType !== COSE_MEDIA_TYPE) {
    return `integrity validation failed: the envelope media type ${layer.mediaType.slice(0, 80)} is neither ${JWS_MEDIA_TYPE} nor ${COSE_MEDIA_TYPE}`;
  }
  // Refused unread: a pusher's junk must not spend the collection's byte budget.
  if (layer.size > MAX_NOTATION_ENVELOPE_BYTES) {
    return `integrity validation failed: the envelope layer declares ${layer.size} bytes, larger than the ${MAX_NOTATION_ENVELOPE_BYTES} bytes a Notary envelope may have`;
  }
  return layer;
}

export function notationEvidence(opts: {
  manifest: ReferrerManifest;
  manifestDigest: string;
  envelopeBytes: Buffer;
  /** The image as the registry resolves it (its digest, media type and size), never the referrer's subject. */
  target: Required<TargetDescriptor>;
  artifactType: string;
}): Evidence {
  const base: Evidence = {
    referrerDigest: opts.manifestDigest,
    format: 'notation',
    kind: 'signature',
    subjectDigest: opts.target.digest,
    verified: false,
    artifactType: opts.artifactType,
  };
  const { target } = opts;
  try {
    // notationEnvelopeLayer has already refused any other envelope media type.
    const cose = opts.manifest.layers[0]?.mediaType === COSE_MEDIA_TYPE;
    const facts = cose ? verifyCoseEnvelope(opts.envelopeBytes, target) : verifyJwsEnvelope(opts.envelopeBytes, target);
    // The timestamp is named in the evidence (malformed ones too): whether it is needed is the trust policy's call.
    const ts = facts.timestamp;
    const timestamp =
      ts === undefined
        ? ''
        : ts.verified
          ? `; RFC 3161 timestamp ${ts.genTime} by ${oneLine(ts.tsaSubject)}`
          : `; its RFC 3161 timestamp does not verify: ${ts.reason}`;
    return {
      ...base,
      notation: facts,
      reason: `signed by ${oneLine(facts.subject)} (${cose ? 'COSE' : 'JWS'} envelope, integrity verified${timestamp}); it counts only for a rule whose signatures name a Notation trust policy that trusts it`,
    };
  } catch (err) {
    if (err instanceof NotationEnvelopeError) return { ...base, reason: `integrity validation failed: ${err.message}` };
    throw err;
  }
}
