/**
 * A verifier written against the specs only (OCI distribution + FORMATS.md §6.5), sharing no code
 * with the service: the end-to-end tests use it to show that what Countersign writes can be found
 * and verified by anyone with the registry and the public key.
 */
import crypto from 'node:crypto';
import { bundleFromJSON } from '@sigstore/bundle';
import type { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier, VerificationError } from '@sigstore/verify';

const INDEX = 'application/vnd.oci.image.index.v1+json';
const BUNDLE_MT = 'application/vnd.dev.sigstore.bundle.v0.3+json';

export interface IndexEntry {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** An image manifest as a registry serves it: every field optional until this verifier checked it. */
export interface ManifestJson {
  mediaType?: string;
  artifactType?: string;
  config?: { mediaType: string; digest: string; size: number };
  layers?: Array<{ mediaType: string; digest: string; size: number }>;
  subject?: { mediaType: string; digest: string; size: number };
  annotations?: Record<string, string>;
  manifests?: IndexEntry[];
}

/** An in-toto Statement whose `_type` and subject verifyBundle checked; the predicate is the signer's (each test reads its kind). */
export interface InTotoStatement {
  _type: string;
  subject: Array<{ name?: string; digest: Record<string, string>; annotations?: Record<string, string> }>;
  predicateType: string;
  predicate: unknown;
}

/** The parts of a bundle read before the Sigstore verifier has checked it (from anyone: unknown until checked). */
interface BundleJson {
  mediaType?: unknown;
  dsseEnvelope?: { signatures?: unknown; payloadType?: unknown; payload?: unknown };
}

/** A Statement as its bytes give it, before the checks of verifyBundle. */
interface StatementJson {
  _type?: unknown;
  subject?: Array<{ digest?: { sha256?: unknown } } | null>;
}

export interface VerifiedReferrer {
  entry: IndexEntry;
  manifest: ManifestJson;
  /** The bundle as parsed from its layer. */
  bundle: unknown;
  statement: InTotoStatement;
  predicateType: string;
}

function sha256(bytes: Buffer): string {
  return `sha256:${crypto.createHash('sha256').update(bytes).digest('hex')}`;
}

async function get(url: string, accept?: string): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const res = await fetch(url, accept ? { headers: { accept } } : {});
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

/** Referrers API if the registry has it, else the tag-schema index, exactly as the spec says. */
export async function listReferrers(
  host: string,
  repo: string,
  digest: string,
): Promise<{ source: 'api' | 'tag'; manifests: IndexEntry[] }> {
  const api = await get(`http://${host}/v2/${repo}/referrers/${digest}`, INDEX);
  if (api.status === 200) return { source: 'api', manifests: (JSON.parse(api.body.toString()) as ManifestJson).manifests ?? [] };
  const tag = digest.replace(':', '-');
  const fallback = await get(`http://${host}/v2/${repo}/manifests/${tag}`, INDEX);
  if (fallback.status === 404) return { source: 'tag', manifests: [] };
  if (fallback.status !== 200) throw new Error(`GET referrers tag ${tag}: HTTP ${fallback.status}`);
  const index = JSON.parse(fallback.body.toString()) as ManifestJson;
  if (index.mediaType !== INDEX || !Array.isArray(index.manifests)) throw new Error(`referrers tag ${tag} is not an image index`);
  return { source: 'tag', manifests: index.manifests };
}

export async function fetchManifest(host: string, repo: string, digest: string): Promise<{ bytes: Buffer; json: ManifestJson }> {
  const res = await get(`http://${host}/v2/${repo}/manifests/${digest}`, 'application/vnd.oci.image.manifest.v1+json, ' + INDEX);
  if (res.status !== 200) throw new Error(`GET manifest ${digest}: HTTP ${res.status}`);
  if (sha256(res.body) !== digest) throw new Error(`manifest ${digest} content does not hash to its digest`);
  return { bytes: res.body, json: JSON.parse(res.body.toString()) as ManifestJson };
}

/** The first layer of a manifest (a referrer's bundle); throws where there is none. */
export function firstLayer(manifest: ManifestJson): { mediaType: string; digest: string; size: number } {
  const layer = manifest.layers?.[0];
  if (!layer) throw new Error('the manifest has no layers');
  return layer;
}

export async function fetchBlob(host: string, repo: string, digest: string): Promise<Buffer> {
  const res = await get(`http://${host}/v2/${repo}/blobs/${digest}`);
  if (res.status !== 200) throw new Error(`GET blob ${digest}: HTTP ${res.status}`);
  if (sha256(res.body) !== digest) throw new Error(`blob ${digest} content does not hash to its digest`);
  return res.body;
}

const EMPTY_ROOT: TrustedRoot = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
};

/**
 * Verifies one bundle with the public key alone plus the caller-side checks of FORMATS.md §6.5.
 * Throws with a reason on any failure.
 */
export function verifyBundle(bundleJson: unknown, publicKeyPem: string, imageDigest: string): InTotoStatement {
  const bundle = bundleJson as BundleJson;
  if (bundle.mediaType !== BUNDLE_MT) throw new Error(`bundle media type ${String(bundle.mediaType)}`);
  const env = bundle.dsseEnvelope;
  if (!env) throw new Error('bundle has no DSSE envelope');
  if (!Array.isArray(env.signatures) || env.signatures.length !== 1) throw new Error('DSSE envelope must carry exactly one signature');
  if (env.payloadType !== 'application/vnd.in-toto+json') throw new Error(`payload type ${String(env.payloadType)}`);
  if (typeof env.payload !== 'string') throw new Error('DSSE payload is not a string');
  const publicKey = crypto.createPublicKey(publicKeyPem);
  const hint = crypto
    .createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');
  const trust = toTrustMaterial(EMPTY_ROOT, (h: string) => {
    if (h !== hint) throw new VerificationError({ code: 'PUBLIC_KEY_ERROR', message: `unknown key hint ${h}` });
    return { publicKey, validFor: () => true };
  });
  const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
  verifier.verify(toSignedEntity(bundleFromJSON(bundleJson)));
  const statement = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8')) as StatementJson;
  if (
    typeof statement._type !== 'string' ||
    !['https://in-toto.io/Statement/v1', 'https://in-toto.io/Statement/v0.1'].includes(statement._type)
  ) {
    throw new Error(`statement type ${String(statement._type)}`);
  }
  const hex = imageDigest.slice('sha256:'.length);
  if (!statement.subject?.some((s) => s?.digest?.sha256 === hex)) throw new Error('statement subject does not name the image digest');
  return statement as InTotoStatement;
}

/** Every Sigstore bundle referrer of `digest`, verified with `publicKeyPem`. */
export async function verifiedReferrers(host: string, repo: string, digest: string, publicKeyPem: string): Promise<VerifiedReferrer[]> {
  const { manifests } = await listReferrers(host, repo, digest);
  const out: VerifiedReferrer[] = [];
  for (const entry of manifests) {
    const { json: manifest } = await fetchManifest(host, repo, entry.digest);
    // Decide from the manifest itself, not from the index entry (FORMATS.md §1.4).
    if (manifest.artifactType !== BUNDLE_MT) continue;
    if (manifest.subject?.digest !== digest) throw new Error(`referrer ${entry.digest} has subject ${String(manifest.subject?.digest)}`);
    const layer = manifest.layers?.length === 1 ? manifest.layers[0] : undefined;
    if (layer?.mediaType !== BUNDLE_MT) throw new Error(`referrer ${entry.digest} must have one bundle layer`);
    const blob = await fetchBlob(host, repo, layer.digest);
    const bundle: unknown = JSON.parse(blob.toString('utf8'));
    const statement = verifyBundle(bundle, publicKeyPem, digest);
    const annotated = manifest.annotations?.['dev.sigstore.bundle.predicateType'];
    if (annotated !== statement.predicateType)
      throw new Error(`annotation predicate type ${String(annotated)} != signed ${statement.predicateType}`);
    out.push({ entry, manifest, bundle, statement, predicateType: statement.predicateType });
  }
  return out;
}
