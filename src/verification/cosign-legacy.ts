/**
 * Evidence from cosign's legacy, tag-based formats (FORMATS.md §3): simple-signing signatures
 * under `sha256-<hex>.sig` and DSSE attestations under `sha256-<hex>.att`. Each layer of those
 * manifests is one signature; each becomes one Evidence, verified only when a trusted key made the
 * signature over the exact bytes and the signed content names this very image digest (a signature
 * copied from another image must not count).
 *
 * Key validity, revocation and scope are NOT applied here, exactly as for bundles: this result is
 * cached, and key state depends on the time of the decision. The Evidence names the key that
 * verified it; VerificationService.withKeyState applies its state on every decision.
 *
 * Registry failures other than "no such tag" propagate as the CountersignError they are: the caller
 * decides (fail closed), and a transient failure must never be cached as "not signed". Problems
 * with one layer (bad base64, a payload that is not JSON, a missing or corrupt blob) only make that
 * layer's Evidence unverified; they never hide a valid layer next to it.
 */
import { misleadingKey, readFields } from '../formats/go-json-keys';
import { quoteUntrusted } from '../shared/untrusted-text';
import { X509Certificate } from 'node:crypto';
import { referrersTagFor } from '../registry/reference';
import { isDigest } from '../registry/digest';
import { MEDIA_TYPE, type Descriptor, type RepositoryRef } from '../registry/types';
import type { RegistryClient } from '../registry/client';
import { CountersignError, isContentError } from '../shared/errors';
import type { TrustedCaBundle, TrustedKey, TrustStore } from '../trust/types';
import type { CollectionBudget } from './collection-budget';
import { decodeBase64Strict, keysThatVerify, mayBeEd25519ph, preAuthEncoding } from './legacy/crypto';
import { pemCertificates } from '../formats/pem';
import { ANNOTATION_LEGACY_CHAIN, verifyLegacyKeyless } from './sigstore/legacy-keyless';
import { caSigner, verifyCaSignature } from './x509-chain';
import type { SigstoreTrustRoot } from './sigstore/trusted-root';
import type { Evidence, EvidenceFormat } from '../policy/input';
import { describeDepthViolation, JsonTooDeepError, parseJsonWithinDepth } from '../shared/json-depth';

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const DSSE_ENVELOPE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';
import { COSIGN_SIGN_PREDICATE_TYPE, IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_TYPES as STATEMENT_TYPES } from '../formats/in-toto';
import { ANNOTATION } from '../formats/sigstore-bundle';

export const SIMPLE_SIGNING_TYPE = 'cosign container image signature';
export const ANNOTATION_SIGNATURE = 'dev.cosignproject.cosign/signature';
export const ANNOTATION_CERTIFICATE = 'dev.sigstore.cosign/certificate';

const KEYLESS_REASON = 'keyless (certificate) signature: not supported, configure a key';
/** Blob reads in flight at once per tag. */
const FETCH_CONCURRENCY = 8;

export interface LegacyCosignArgs {
  client: RegistryClient;
  repo: RepositoryRef;
  /** The image manifest digest resolved by the caller (never a tag). */
  imageDigest: string;
  /** The keys to try (a TrustStore is read once, via list()). */
  trustedKeys: TrustedKey[] | TrustStore;
  /** Bytes and time this image's collection may still spend (shared with the referrers). */
  budget?: CollectionBudget;
  /** Aborts the registry reads (the Verify deadline). */
  signal?: AbortSignal | undefined;
  /** Sigstore trusted roots for keyless signatures (certificate + Rekor bundle annotations). */
  trustedRoots?: readonly SigstoreTrustRoot[];
  /** CA bundles for signatures by certificates of a private PKI; default: the TrustStore's, if one is given. */
  caBundles?: readonly TrustedCaBundle[];
  /** Defaults to now; the validity of certificates anchored at a CA bundle is checked then. */
  now?: Date;
}

/**
 * Reads the `.sig` and `.att` tags of `imageDigest` and returns one Evidence per signature layer
 * (or a single unverified Evidence when a tag holds something that is not an image manifest).
 * No tag → no evidence. Only sha256 image digests can have legacy tags; others yield [].
 */
export async function legacyCosignEvidence(args: LegacyCosignArgs): Promise<Evidence[]> {
  // Checked as what a caller may really pass (the declared type is not a guarantee at run time).
  const given: unknown = args.imageDigest;
  if (typeof given !== 'string' || !isDigest(given)) {
    throw new CountersignError('INVALID_ARGUMENT', `"${String(given).slice(0, 140)}" is not an image digest (sha256:<64 lowercase hex>)`);
  }
  const imageDigest = given;
  // cosign names the tags after the digest with ':' → '-'; for sha512 that exceeds the tag length
  // limit, so cosign only ever wrote them for sha256.
  if (!imageDigest.startsWith('sha256:')) return [];
  const keys = Array.isArray(args.trustedKeys) ? [...args.trustedKeys] : args.trustedKeys.list();
  const caBundles = [...(args.caBundles ?? (Array.isArray(args.trustedKeys) ? [] : (args.trustedKeys.caBundles?.() ?? [])))];
  const ctx: Context = {
    client: args.client,
    repo: args.repo,
    imageDigest,
    keys,
    caBundles,
    now: args.now ?? new Date(),
    ...(args.budget ? { budget: args.budget } : {}),
    blobs: new Map(),
    signal: args.signal,
    trustedRoots: args.trustedRoots ?? [],
  };
  const base = referrersTagFor(imageDigest);
  const [signatures, attestations] = await Promise.all([
    readTag(ctx, `${base}.sig`, 'cosign-legacy-signature', SIMPLE_SIGNING_MEDIA_TYPE, evaluateSignatureLayer),
    readTag(ctx, `${base}.att`, 'cosign-legacy-attestation', DSSE_ENVELOPE_MEDIA_TYPE, evaluateAttestationLayer),
  ]);
  return [...signatures, ...attestations];
}

// ---- internals -------------------------------------------------------------------------------

interface Context {
  client: RegistryClient;
  repo: RepositoryRef;
  imageDigest: string;
  keys: TrustedKey[];
  caBundles: TrustedCaBundle[];
  now: Date;
  budget?: CollectionBudget;
  /** Blob reads shared by layers of one call (cosign's multi-signer tags repeat one payload). */
  blobs: Map<string, Promise<BlobRead>>;
  signal: AbortSignal | undefined;
  trustedRoots: readonly SigstoreTrustRoot[];
}

type BlobRead = { ok: true; bytes: Buffer } | { ok: false; reason: string };

interface Layer {
  descriptor: Descriptor;
  index: number;
  annotations: Record<string, string>;
}

/** A layer's evidence; `ed25519ph` when a second pass with Ed25519ph could still verify it. */
interface Judged {
  evidence: Evidence;
  ed25519ph?: true;
}

/** Judges a layer with the native schemes (first pass) or with Ed25519ph only (second pass). */
type LayerEvaluator = (ctx: Context, layer: Layer, base: Evidence, schemes: 'native' | 'ed25519ph') => Promise<Judged>;

async function readTag(
  ctx: Context,
  tag: string,
  format: EvidenceFormat,
  layerMediaType: string,
  evaluate: LayerEvaluator,
): Promise<Evidence[]> {
  const kind = format === 'cosign-legacy-signature' ? 'signature' : 'attestation';
  const where = `${ctx.repo.registry}/${ctx.repo.repository}:${tag}`;
  let found;
  try {
    found = await ctx.client.getManifest(ctx.repo, tag, { signal: ctx.signal });
  } catch (err) {
    if (isNotFound(err)) return [];
    // Oversized or corrupt content under the tag is evidence that does not verify, not an outage.
    if (isContentError(err)) {
      return [
        {
          referrerDigest: '',
          format,
          kind,
          subjectDigest: ctx.imageDigest,
          verified: false,
          reason: `${where} could not be read: ${(err as Error).message}`,
        },
      ];
    }
    throw err;
  }
  ctx.budget?.charge(found.bytes.length);
  const referrerDigest = found.descriptor.digest;
  const parsed = parseImageManifest(found.bytes, found.descriptor.mediaType);
  if (typeof parsed === 'string') {
    return [{ referrerDigest, format, kind, subjectDigest: ctx.imageDigest, verified: false, reason: `${where} ${parsed}` }];
  }

  const common: Pick<Evidence, 'artifactType' | 'created'> = {};
  const artifactType = typeof parsed.artifactType === 'string' ? parsed.artifactType : parsed.config.mediaType;
  if (typeof artifactType === 'string') common.artifactType = artifactType;
  const created = parsed.annotations?.[ANNOTATION.CREATED];
  if (typeof created === 'string') common.created = created;

  // Every signature layer is judged: no positional cap lets junk layers listed first crowd out a
  // valid one. Identical layers are judged once (see the key); the smallest payloads are read first; the shared
  // collection budget (bytes, time) bounds the work, and a layer it leaves unread says so.
  const results = new Map<number, Evidence>();
  const candidates: Array<{ layer: Layer; base: Evidence; key: string }> = [];
  parsed.layers.forEach((raw, index) => {
    if (!isObject(raw) || raw.mediaType !== layerMediaType) return; // other layer types are not signatures
    const base: Evidence = { referrerDigest, layerIndex: index, format, kind, subjectDigest: ctx.imageDigest, verified: false, ...common };
    const layer = toLayer(raw, index);
    if (typeof layer === 'string') {
      results.set(index, { ...base, reason: layer });
      return;
    }
    // Identical means identical in everything judged: the blob and every annotation (the Rekor
    // bundle and the chain decide keyless and CA verdicts as much as the signature does), or a
    // junk copy judged first would stand for the valid layer, or the valid one for the junk.
    const key = JSON.stringify([
      layer.descriptor.digest,
      Object.entries(layer.annotations).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    ]);
    candidates.push({ layer, base, key });
  });
  // One judgement per distinct layer, in size order, in two passes: every layer with the native
  // schemes first, then Ed25519ph (pure JS, ~20× the cost) only for layers the first pass left
  // unverified that could be one. Junk that costs an Ed25519ph try per trusted Ed25519 key thus
  // never delays a layer that verifies natively; the second pass stops at the budget and says so.
  const distinct = new Map<string, { layer: Layer; base: Evidence; judged?: Judged }>();
  for (const c of [...candidates].sort((a, b) => sizeRank(a.layer) - sizeRank(b.layer) || a.layer.index - b.layer.index)) {
    if (!distinct.has(c.key)) distinct.set(c.key, { layer: c.layer, base: c.base });
  }
  const firsts = [...distinct.values()];
  await runLimited(
    firsts.map((d) => async (): Promise<void> => {
      const exhausted = ctx.budget?.exhausted();
      d.judged =
        exhausted !== undefined
          ? { evidence: { ...d.base, reason: `layer ${d.layer.index}: not examined: ${exhausted}` } }
          : await evaluate(ctx, d.layer, d.base, 'native');
    }),
    FETCH_CONCURRENCY,
  );
  for (const d of firsts) {
    const first = d.judged!;
    if (!first.ed25519ph) continue;
    const exhausted = ctx.budget?.exhausted();
    if (exhausted !== undefined) {
      d.judged = { evidence: { ...first.evidence, reason: `${first.evidence.reason ?? ''}; not examined as Ed25519ph: ${exhausted}` } };
      continue;
    }
    const second = await evaluate(ctx, d.layer, d.base, 'ed25519ph');
    // A second pass that finds no signer keeps the first pass's reason (it tried more).
    if (second.evidence.verified) d.judged = second;
  }
  for (const c of candidates) {
    const e = distinct.get(c.key)!.judged!.evidence;
    const copy: Evidence = { ...e, layerIndex: c.layer.index };
    if (e.reason !== undefined) copy.reason = e.reason.replace(/^layer \d+: /, `layer ${c.layer.index}: `);
    results.set(c.layer.index, copy);
  }
  return [...results.entries()].sort(([a], [b]) => a - b).map(([, e]) => e);
}

/** Declared payload size, for reading small (plausible) signatures before large ones. */
function sizeRank(layer: Layer): number {
  return layer.descriptor.size >= 0 ? layer.descriptor.size : Number.MAX_SAFE_INTEGER;
}

function isNotFound(err: unknown): boolean {
  if (!(err instanceof CountersignError)) return false;
  if (err.code === 'NOT_FOUND') return true;
  // Some registries answer a missing tag with 400 MANIFEST_UNKNOWN instead of 404.
  return err.code === 'INVALID_ARGUMENT' && err.details?.status === 400 && /\bMANIFEST_UNKNOWN\b/.test(err.message);
}

type ParsedManifest = {
  artifactType?: unknown;
  config: { mediaType?: unknown };
  layers: unknown[];
  annotations?: Record<string, unknown>;
};

/** What this reader takes from a `.sig`/`.att` manifest and its layers. */
const LEGACY_READ_FIELDS = readFields([
  'schemaVersion',
  'mediaType',
  'artifactType',
  'config',
  'layers',
  'annotations',
  'digest',
  'size',
  'manifests',
]);

/** The manifest, or a sentence (completing "<tag> …") saying why it is not a usable image manifest. */
function parseImageManifest(bytes: Buffer, mediaType: string): ParsedManifest | string {
  if (mediaType !== MEDIA_TYPE.OCI_MANIFEST && mediaType !== MEDIA_TYPE.DOCKER_MANIFEST) {
    return `is a ${shown(mediaType)}, not an OCI or Docker image manifest; legacy cosign signatures are layers of an image manifest`;
  }
  let json: unknown;
  try {
    // Bounded: a pusher's fields are quoted in reasons, and JSON.stringify overflows on deep nesting.
    json = parseJsonWithinDepth(bytes.toString('utf8'));
  } catch (err) {
    return err instanceof JsonTooDeepError ? describeDepthViolation(err.violation) : 'is not valid JSON';
  }
  if (!isObject(json)) return 'is not a JSON object';
  // cosign reads this manifest with Go's case-insensitive keys: `Layers` beside `layers` would be
  // a different list of signatures to cosign than to us (see formats/go-json-keys.ts).
  const misleading = misleadingKey(json, LEGACY_READ_FIELDS);
  if (misleading !== undefined) {
    return `has the key ${shown(misleading)}, which a Go client (cosign, the registry) reads as another spelling of a manifest field`;
  }
  if (json.mediaType !== undefined && json.mediaType !== mediaType) {
    return `says its mediaType is ${shown(json.mediaType)} but was served as ${mediaType}`;
  }
  if (json.schemaVersion !== 2 || !isObject(json.config) || !Array.isArray(json.layers)) {
    return 'is not a valid image manifest (needs schemaVersion 2, a config descriptor and a layers array)';
  }
  const manifest: ParsedManifest = { config: json.config, layers: json.layers };
  if (json.artifactType !== undefined) manifest.artifactType = json.artifactType;
  if (isObject(json.annotations)) manifest.annotations = json.annotations;
  return manifest;
}

function toLayer(raw: Record<string, unknown>, index: number): Layer | string {
  if (typeof raw.digest !== 'string' || !isDigest(raw.digest)) {
    return `layer ${index} has an invalid digest ${shown(raw.digest)}`;
  }
  const annotations: Record<string, string> = {};
  if (raw.annotations !== undefined) {
    if (!isObject(raw.annotations)) return `layer ${index} has malformed annotations (not an object)`;
    for (const [k, v] of Object.entries(raw.annotations)) {
      if (typeof v !== 'string') return `layer ${index} has a non-string annotation ${shown(k)}`;
      annotations[k] = v;
    }
  }
  const size = typeof raw.size === 'number' ? raw.size : -1;
  return { descriptor: { mediaType: String(raw.mediaType), digest: raw.digest, size }, index, annotations };
}

function readBlob(ctx: Context, digest: string): Promise<BlobRead> {
  let pending = ctx.blobs.get(digest);
  if (!pending) {
    pending = ctx.client.getBlob(ctx.repo, digest, ctx.signal ? { signal: ctx.signal } : {}).then(
      (bytes): BlobRead => {
        ctx.budget?.charge(bytes.length);
        return { ok: true, bytes };
      },
      (err: unknown): BlobRead => {
        // Missing, corrupt (digest mismatch) or oversized payloads are this layer's problem. Anything
        // else (unavailable, denied, timed out) is not a fact about the signature: propagate.
        if (err instanceof CountersignError && (err.code === 'NOT_FOUND' || isContentError(err))) {
          return { ok: false, reason: `cannot read the signed payload: ${err.message}` };
        }
        throw err;
      },
    );
    ctx.blobs.set(digest, pending);
  }
  return pending;
}

async function evaluateSignatureLayer(ctx: Context, layer: Layer, base: Evidence, schemes: 'native' | 'ed25519ph'): Promise<Judged> {
  const fail = (reason: string): Judged => ({ evidence: { ...base, reason: `layer ${layer.index}: ${reason}` } });
  const sigText = layer.annotations[ANNOTATION_SIGNATURE];
  if (sigText === undefined || sigText === '') return fail(`no ${ANNOTATION_SIGNATURE} annotation`);
  const signature = decodeBase64Strict(sigText);
  if (!signature) return fail(`the ${ANNOTATION_SIGNATURE} annotation is not valid base64`);

  const blob = await readBlob(ctx, layer.descriptor.digest);
  if (!blob.ok) return fail(blob.reason);
  // A failure of the native pass, marked for an Ed25519ph try only when one could make it count:
  // the signature is shaped like one and the payload is for this image (else it is refused anyway).
  const notSigned = (reason: string): Judged => {
    if (schemes === 'ed25519ph' || !ctx.keys.some(isEd25519) || !mayBeEd25519ph(signature)) return fail(reason);
    const problem = simpleSigningProblem(blob.bytes, ctx.imageDigest);
    return problem === undefined ? { ...fail(reason), ed25519ph: true } : fail(`${reason}; not tried as Ed25519ph: ${problem}`);
  };

  // Over the exact payload bytes: nothing is re-serialized before verifying.
  const signers = keysThatVerify(ctx.keys, blob.bytes, signature, schemes);
  if (schemes === 'ed25519ph' && signers.length === 0) return fail(noSignerReason(ctx, layer));
  let caProblem: string | undefined;
  if (signers.length === 0 && layer.annotations[ANNOTATION_CERTIFICATE] !== undefined && ctx.caBundles.length > 0) {
    // A certificate of a private PKI: counts as the CA bundle's it chains to.
    const byCa = caSignedLayer(ctx, layer, signature, blob.bytes);
    if (byCa.ok) {
      const problem = simpleSigningProblem(blob.bytes, ctx.imageDigest);
      if (problem !== undefined) return fail(problem);
      return { evidence: { ...base, verified: true, ...caSigner(byCa) } };
    }
    if (ctx.trustedRoots.length === 0) return notSigned(byCa.reason);
    caProblem = byCa.reason;
  }
  if (signers.length === 0 && layer.annotations[ANNOTATION_CERTIFICATE] !== undefined && ctx.trustedRoots.length > 0) {
    // Keyless: verified by the Sigstore bundle core; which identities count is the policy's call.
    const keyless = verifyLegacyKeyless(layer.annotations, signature, blob.bytes, ctx.trustedRoots);
    if (!keyless.ok) return notSigned(caProblem ? `${keyless.reason}; as a CA-bundle signature: ${caProblem}` : keyless.reason);
    const problem = simpleSigningProblem(blob.bytes, ctx.imageDigest);
    if (problem !== undefined) return fail(problem);
    const { ok: _ok, ...facts } = keyless;
    return { evidence: { ...base, verified: true, ...facts } };
  }
  if (signers.length === 0) return notSigned(noSignerReason(ctx, layer));

  const problem = simpleSigningProblem(blob.bytes, ctx.imageDigest);
  if (problem !== undefined) return fail(problem);
  return { evidence: { ...base, ...signedBy(signers) } };
}

async function evaluateAttestationLayer(ctx: Context, layer: Layer, base: Evidence, schemes: 'native' | 'ed25519ph'): Promise<Judged> {
  let evidence = base;
  const fail = (reason: string): Judged => ({ evidence: { ...evidence, reason: `layer ${layer.index}: ${reason}` } });

  const blob = await readBlob(ctx, layer.descriptor.digest);
  if (!blob.ok) return fail(blob.reason);

  const envelope = parseJson(blob.bytes);
  if (!isObject(envelope)) return fail('the DSSE envelope is not a JSON object');
  if (typeof envelope.payloadType !== 'string' || typeof envelope.payload !== 'string' || !Array.isArray(envelope.signatures)) {
    return fail('the DSSE envelope lacks payloadType, payload or signatures');
  }
  if (envelope.signatures.length !== 1) {
    return fail(`the DSSE envelope has ${envelope.signatures.length} signatures; exactly one is required`);
  }
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    return fail(`DSSE payloadType is ${shown(envelope.payloadType)}, expected ${IN_TOTO_PAYLOAD_TYPE}`);
  }
  const payload = decodeBase64Strict(envelope.payload, { urlSafe: true });
  if (!payload) return fail('the DSSE payload is not valid base64');
  const entry: unknown = envelope.signatures[0];
  const signature = isObject(entry) ? decodeBase64Strict(entry.sig, { urlSafe: true }) : undefined;
  if (!signature) return fail('the DSSE signature is missing or not valid base64');

  const pae = preAuthEncoding(envelope.payloadType, payload);
  const signers = keysThatVerify(ctx.keys, pae, signature, schemes);
  let caSigned: ReturnType<typeof caSigner> | undefined;
  if (signers.length === 0) {
    let reason = noSignerReason(ctx, layer);
    if (schemes === 'native' && ctx.caBundles.length > 0 && layer.annotations[ANNOTATION_CERTIFICATE] !== undefined) {
      // A certificate of a private PKI (cosign attest --certificate): the bundle it chains to signed.
      const byCa = caSignedLayer(ctx, layer, signature, pae);
      if (byCa.ok) caSigned = caSigner(byCa);
      else reason = byCa.reason;
    }
    if (caSigned === undefined) {
      const worthEd25519ph =
        schemes === 'native' && ctx.keys.some(isEd25519) && mayBeEd25519ph(signature) && statementFacts(payload, ctx.imageDigest).ok;
      return worthEd25519ph ? { ...fail(reason), ed25519ph: true } : fail(reason);
    }
  }

  // From here on the statement is signed by a trusted key: its predicate type may be reported.
  const facts = statementFacts(payload, ctx.imageDigest);
  if (!facts.ok) {
    if (facts.predicateType !== undefined) evidence = { ...base, kind: kindOf(facts.predicateType), predicateType: facts.predicateType };
    return fail(facts.reason);
  }
  evidence = { ...base, kind: kindOf(facts.predicateType), predicateType: facts.predicateType };
  const signer = caSigned !== undefined ? { verified: true, ...caSigned } : signedBy(signers);
  return { evidence: { ...evidence, ...signer, predicate: facts.predicate } };
}

function kindOf(predicateType: string): Evidence['kind'] {
  return predicateType === COSIGN_SIGN_PREDICATE_TYPE ? 'signature' : 'attestation';
}

type StatementFacts = { ok: true; predicateType: string; predicate: unknown } | { ok: false; reason: string; predicateType?: string };

/** The in-toto statement of a DSSE payload, checked to be one for `imageDigest`. */
function statementFacts(payload: Buffer, imageDigest: string): StatementFacts {
  const statement = parseJson(payload);
  if (!isObject(statement)) return { ok: false, reason: 'the signed payload is not a JSON object (in-toto statement)' };
  if (typeof statement._type !== 'string' || !STATEMENT_TYPES.has(statement._type)) {
    return { ok: false, reason: `the statement _type is ${shown(statement._type)}, expected in-toto Statement v1 or v0.1` };
  }
  if (typeof statement.predicateType !== 'string' || statement.predicateType === '') {
    return { ok: false, reason: 'the statement has no predicateType' };
  }
  const hex = imageDigest.slice('sha256:'.length);
  const subjects = Array.isArray(statement.subject) ? statement.subject : [];
  const matches = subjects.some(
    (s) => isObject(s) && isObject(s.digest) && typeof s.digest.sha256 === 'string' && s.digest.sha256.toLowerCase() === hex,
  );
  if (!matches) {
    return {
      ok: false,
      predicateType: statement.predicateType,
      reason: `the statement's subjects do not include this image (${imageDigest}); it was made for another artifact`,
    };
  }
  return { ok: true, predicateType: statement.predicateType, predicate: statement.predicate ?? {} };
}

function isEd25519(key: TrustedKey): boolean {
  return key.publicKey.asymmetricKeyType === 'ed25519';
}

/**
 * A `.sig` or `.att` layer signed by an X.509 certificate (`dev.sigstore.cosign/certificate`,
 * intermediates in `dev.sigstore.cosign/chain`: cosign sign/attest --certificate
 * --certificate-chain) against the CA bundles; `signed` is what the signature covers (the payload,
 * or the DSSE PAE). The chain annotation is unsigned: it only offers intermediates to build a path from.
 */
function caSignedLayer(
  ctx: Context,
  layer: Layer,
  signature: Buffer,
  signed: Buffer,
): { ok: true; bundle: TrustedCaBundle; subject: string; validUntil: Date } | { ok: false; reason: string } {
  const leafDer = pemCertificates(layer.annotations[ANNOTATION_CERTIFICATE] ?? '');
  if (leafDer.length !== 1) return { ok: false, reason: `the ${ANNOTATION_CERTIFICATE} annotation must hold exactly one PEM certificate` };
  let leaf: X509Certificate;
  let intermediates: X509Certificate[];
  try {
    leaf = new X509Certificate(leafDer[0]!);
    intermediates = pemCertificates(layer.annotations[ANNOTATION_LEGACY_CHAIN] ?? '')
      .slice(0, 16)
      .map((der) => new X509Certificate(der));
  } catch {
    return { ok: false, reason: `a certificate in the ${ANNOTATION_CERTIFICATE} or ${ANNOTATION_LEGACY_CHAIN} annotation does not parse` };
  }
  const result = verifyCaSignature(leaf, intermediates, ctx.caBundles, signed, signature, ctx.now);
  return result.ok
    ? { ok: true, bundle: result.bundle, subject: leaf.subject.split('\n').join(', '), validUntil: result.validUntil }
    : result;
}

/** Why a signature no trusted key verifies is not accepted. */
function noSignerReason(ctx: Context, layer: Layer): string {
  if (layer.annotations[ANNOTATION_CERTIFICATE] !== undefined) return KEYLESS_REASON;
  if (ctx.keys.length === 0) return 'no trusted keys are configured';
  return `the signature does not verify with any of the ${ctx.keys.length} trusted key(s)`;
}

/**
 * The key that verified the signature. Key ids are derived from the public key, so every trusted
 * entry that verifies one signature has the same id: which entry is usable is the decision's
 * question (withKeyState), asked with the key's state at that time.
 */
function signedBy(signers: TrustedKey[]): Pick<Evidence, 'verified' | 'keyId' | 'keyName'> {
  const key = signers[0]!;
  return { verified: true, keyId: key.id, keyName: key.name };
}

/** What is wrong with a simple-signing payload for `imageDigest` (FORMATS.md §3.3), or undefined. */
function simpleSigningProblem(bytes: Buffer, imageDigest: string): string | undefined {
  const payload = parseJson(bytes);
  if (payload === undefined) return 'the signed payload is not valid JSON';
  if (!isObject(payload) || !isObject(payload.critical))
    return 'the signed payload has no "critical" object (not a simple-signing payload)';
  const { critical } = payload;
  if (critical.type !== SIMPLE_SIGNING_TYPE)
    return `the signed payload's critical.type is ${shown(critical.type)}, expected "${SIMPLE_SIGNING_TYPE}"`;
  const signed = isObject(critical.image) ? critical.image['docker-manifest-digest'] : undefined;
  if (typeof signed !== 'string') return 'the signed payload has no critical.image["docker-manifest-digest"]';
  if (signed !== imageDigest) return `signature is for ${isDigest(signed) ? signed : shown(signed)}, not this image (${imageDigest})`;
  return undefined;
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Untrusted text for a message: quoted, bounded, on one visible line. */
function shown(value: unknown): string {
  return quoteUntrusted(value, 100);
}

/** Runs tasks with at most `limit` in flight; results in task order; the first failure rejects. */
async function runLimited<T>(tasks: Array<() => Promise<T>>, limit: number): Promise<T[]> {
  const results = new Array<T>(tasks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}
