import { bundleToJSON } from '@sigstore/bundle';
import { DSSEBundleBuilder, type Signer } from '@sigstore/sign';
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
 */
export async function signStatement(key: SigningKey, statement: InTotoStatement): Promise<SignedBundle> {
  const signer: Signer = {
    async sign(data: Buffer) {
      return { signature: key.sign(data), key: { $case: 'publicKey', publicKey: key.publicKeyPem, hint: key.id } };
    },
  };
  const builder = new DSSEBundleBuilder({ signer, witnesses: [] });
  const bundle = await builder.create({ data: Buffer.from(JSON.stringify(statement)), type: IN_TOTO_PAYLOAD_TYPE });
  const json = bundleToJSON(bundle) as unknown as Record<string, unknown>;
  if (json.mediaType !== BUNDLE_V03_MEDIA_TYPE) {
    // A library upgrade that changed the default would silently break cosign interop; fail loudly.
    throw new Error(`bundle builder produced ${String(json.mediaType)}, expected ${BUNDLE_V03_MEDIA_TYPE}`);
  }
  return { bytes: Buffer.from(JSON.stringify(json)), json };
}
