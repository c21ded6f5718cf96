import { bundleToJSON, toDSSEBundle } from '@sigstore/bundle';
import { dsse } from '@sigstore/core';
import type { SigningKey } from '../keys';
import type { InTotoStatement } from './statement';
import { IN_TOTO_PAYLOAD_TYPE } from '../formats/in-toto';

/** The canonical v0.3 media type (cosign v3 writes and requires ≥ v0.3). */
import { BUNDLE_V03_MEDIA_TYPE } from '../formats/sigstore-bundle';

export interface SignedBundle {
  /** The exact bytes stored as the referrer layer. */
  bytes: Buffer;
  json: Record<string, unknown>;
}

/**
 * Signs a statement as a DSSE envelope inside a Sigstore bundle v0.3 with public-key
 * verification material (hint = key id). No witnesses: nothing leaves the process (no Rekor,
 * no TSA); verifiers use the organization's public key, as `cosign verify --key` does.
 *
 * Built from @sigstore/core's pre-authentication encoding and @sigstore/bundle's layout, the two
 * parts of @sigstore/sign's DSSEBundleBuilder this needs: that package also loads Fulcio, Rekor
 * and TSA clients (make-fetch-happen, cacache, proxy agents: ~10 MB of RSS per process) that a
 * service signing with its own keys never calls. test/unit/signing/bundle.test.ts compares the
 * result with DSSEBundleBuilder's.
 */
export async function signStatement(key: SigningKey, statement: InTotoStatement): Promise<SignedBundle> {
  const payload = Buffer.from(JSON.stringify(statement));
  const signature = key.sign(dsse.preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload));
  const bundle = toDSSEBundle({ artifact: payload, artifactType: IN_TOTO_PAYLOAD_TYPE, signature, keyHint: key.id });
  const json = bundleToJSON(bundle) as unknown as Record<string, unknown>;
  if (json.mediaType !== BUNDLE_V03_MEDIA_TYPE) {
    // A library upgrade that changed the default would silently break cosign interop; fail loudly.
    throw new Error(`bundle builder produced ${String(json.mediaType)}, expected ${BUNDLE_V03_MEDIA_TYPE}`);
  }
  return { bytes: Buffer.from(JSON.stringify(json)), json };
}
