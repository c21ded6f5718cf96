/**
 * Kubernetes validating admission: turns an AdmissionReview (admission.k8s.io/v1 or v1beta1) into
 * one Verify call per distinct image and answers allow or deny, in the version it was asked in.
 *
 * Fail closed, always:
 * - a review we cannot read is a typed error (the HTTP layer answers 400), never an allow;
 * - a verifier that throws, returns nonsense or misses the deadline denies that image;
 * - a workload whose pod spec cannot be read is denied.
 * Only requests that cannot start or change containers are allowed without verification: DELETE
 * and CONNECT, status updates, kinds that run no containers, and updates of an object that is
 * already being deleted (finalizer removal must go through, or the object hangs in Terminating).
 * Every other UPDATE is verified in full, unchanged images included: a key may have been revoked
 * since the object was admitted.
 *
 * Mutating variant (`mutate: true`, served on /mutate): an ALLOWED review also carries a JSON
 * Patch (`patchType: JSONPatch`) that pins each image to the digest it was verified at
 * (`replace <path>` with `<image>@<digest>`, tag kept for readability, using the JSON pointers
 * from images.ts), closing the window between verification and the kubelet's pull of a moved tag.
 * A denied or skipped review never carries a patch; an image already pinned is left as written.
 */
import { CountersignError } from '../shared/errors';
import { TooManyImagesError, verifyMany, VerifyDeadlineError, type VerifyOutcome } from '../verification/verify-many';
import { groupImages, imagesOf, MalformedObjectError, type ImageGroup, type ImageRef } from './images';
import { cutAtCodePoint } from '../shared/untrusted-text';

export const ADMISSION_API_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;
export type AdmissionApiVersion = (typeof ADMISSION_API_VERSIONS)[number];

/** Default time budget for one review when the caller gives no deadline (the API server's default timeout is 10 s). */
export const DEFAULT_REVIEW_TIMEOUT_MS = 9000;
/** Upper bound on `status.message` (Kubernetes shows it to kubectl users). */
export const MAX_MESSAGE_CHARS = 1000;
/** Kubernetes recommends warnings of at most 120 characters. */
export const MAX_WARNING_CHARS = 120;
export const MAX_WARNINGS = 20;

export interface AdmissionVerifyInput {
  image: string;
  action: 'deploy';
  context: { namespace?: string; identity?: string; labels?: Record<string, string> };
  /** Absolute time (ms since epoch) by which the answer is needed. */
  deadline?: number;
}

export interface AdmissionVerifyResult {
  allowed: boolean;
  reasons: string[];
  warnings: string[];
  digest: string;
  image: string;
  rule: string;
  mode: string;
}

/** What the adapter needs from verification; `VerificationService` satisfies it. */
export interface AdmissionVerifier {
  verify(input: AdmissionVerifyInput): Promise<AdmissionVerifyResult>;
}

/** The subset of a pino logger used here. */
export interface AdmissionLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface HandleAdmissionOptions {
  /** Absolute time (ms since epoch) by which the review must be answered; default now + 9 s. */
  deadline?: number;
  logger?: AdmissionLogger;
  /** Answer with a JSON Patch pinning every image to its verified digest (the mutating webhook). */
  mutate?: boolean;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string };
  warnings?: string[];
  /** base64 of a JSON Patch (RFC 6902) document; only on allowed answers of the mutating webhook. */
  patch?: string;
  patchType?: 'JSONPatch';
}

export interface AdmissionReviewResponse {
  apiVersion: AdmissionApiVersion;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

/** The body is not an AdmissionReview we can answer; the HTTP layer turns it into a 400. */
export class AdmissionReviewError extends CountersignError {
  readonly httpStatus = 400;
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

/** The fields of `request` this adapter reads (everything else is ignored). */
export interface AdmissionRequest {
  uid: string;
  operation: string;
  kind?: { group?: string; version?: string; kind?: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  userInfo?: { username?: string };
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks the envelope; throws {@link AdmissionReviewError} with a message saying what is wrong. */
export function parseAdmissionReview(body: unknown): { apiVersion: AdmissionApiVersion; request: AdmissionRequest } {
  if (!isRecord(body)) throw new AdmissionReviewError('the body is not an AdmissionReview: expected a JSON object');
  const { apiVersion, kind, request } = body;
  if (typeof apiVersion !== 'string' || !(ADMISSION_API_VERSIONS as readonly string[]).includes(apiVersion)) {
    throw new AdmissionReviewError(
      `unsupported apiVersion ${JSON.stringify(apiVersion ?? null)}: expected ${ADMISSION_API_VERSIONS.join(' or ')}`,
    );
  }
  if (kind !== 'AdmissionReview')
    throw new AdmissionReviewError(`unsupported kind ${JSON.stringify(kind ?? null)}: expected AdmissionReview`);
  if (!isRecord(request)) throw new AdmissionReviewError('the AdmissionReview has no request object');
  if (typeof request.uid !== 'string' || request.uid === '') throw new AdmissionReviewError('request.uid is missing or empty');
  if (request.uid.length > 256) throw new AdmissionReviewError('request.uid is longer than 256 characters');
  if (typeof request.operation !== 'string' || request.operation === '') {
    throw new AdmissionReviewError('request.operation is missing (expected CREATE, UPDATE, DELETE or CONNECT)');
  }
  return { apiVersion: apiVersion as AdmissionApiVersion, request: request as unknown as AdmissionRequest };
}

/** What happened to one distinct image. */
export interface ImageVerdict {
  image: string;
  refs: ImageRef[];
  allowed: boolean;
  reasons: string[];
  warnings: string[];
  digest?: string;
  rule?: string;
  mode?: string;
  /** Set when the verifier failed or ran out of time (the image is then denied). */
  error?: string;
}

/**
 * Answers one AdmissionReview. Never rejects except with {@link AdmissionReviewError} (malformed
 * envelope): every later failure becomes a deny carrying the reason.
 */
export async function handleAdmissionReview(
  body: unknown,
  verifier: AdmissionVerifier,
  opts: HandleAdmissionOptions = {},
): Promise<AdmissionReviewResponse> {
  const started = Date.now();
  const { apiVersion, request } = parseAdmissionReview(body);
  const deadline = opts.deadline ?? started + DEFAULT_REVIEW_TIMEOUT_MS;
  const uid = request.uid;
  const object = isRecord(request.object) ? request.object : undefined;
  const metadata = object && isRecord(object.metadata) ? object.metadata : undefined;
  const log: Record<string, unknown> = {
    uid,
    kind: isRecord(request.kind) && typeof request.kind.kind === 'string' ? request.kind.kind : undefined,
    namespace: str(request.namespace) ?? str(metadata?.namespace),
    name: str(request.name) ?? str(metadata?.name) ?? str(metadata?.generateName),
    operation: request.operation,
    ...(str(request.subResource) ? { subResource: request.subResource } : {}),
    ...(request.dryRun === true ? { dryRun: true } : {}),
  };

  let response: AdmissionResponse;
  let verdicts: ImageVerdict[] = [];
  try {
    const skip = skipReason(request);
    if (skip !== undefined) {
      log.skipped = skip;
      log.images = [];
      response = { uid, allowed: true };
    } else {
      let refs: ImageRef[];
      try {
        refs = imagesOf(request);
      } catch (err) {
        if (!(err instanceof MalformedObjectError)) throw err;
        log.images = [];
        log.malformed = err.message;
        response = deny(uid, `cannot check the images of this object: ${err.message}`);
        return finish();
      }
      const groups = groupImages(refs);
      log.images = groups.map((g) => g.image);
      if (groups.length === 0) {
        log.skipped = 'no images';
        response = { uid, allowed: true };
      } else {
        const namespace = str(request.namespace);
        const identity = isRecord(request.userInfo) ? str(request.userInfo.username) : undefined;
        const labels = labelsOf(metadata);
        const context: AdmissionVerifyInput['context'] = {
          ...(namespace ? { namespace } : {}),
          ...(identity ? { identity } : {}),
          ...(labels ? { labels } : {}),
        };
        try {
          verdicts = await verifyAll(verifier, groups, context, deadline, uid, opts.logger);
        } catch (err) {
          if (!(err instanceof TooManyImagesError)) throw err;
          log.tooManyImages = err.count;
          response = deny(
            uid,
            `this object names ${err.count} distinct images and the admission webhook verifies at most ${err.max} per object; none was verified`,
          );
          return finish();
        }
        response = respond(uid, verdicts);
        if (opts.mutate && response.allowed) {
          const ops = pinningPatch(verdicts, unchangedInRunningPod(request));
          if (ops.length > 0) {
            response.patchType = 'JSONPatch';
            response.patch = Buffer.from(JSON.stringify(ops)).toString('base64');
            log.pinned = ops.map((o) => o.value);
          }
        }
      }
    }
  } catch (err) {
    // A bug here must not become a 500 (the API server would apply failurePolicy, maybe Ignore).
    opts.logger?.error({ uid, err: errorSummary(err) }, 'admission review failed; denying');
    response = deny(uid, `internal error in the Countersign admission webhook (uid ${uid}); the request was denied`);
  }
  return finish();

  function finish(): AdmissionReviewResponse {
    log.allowed = response.allowed;
    const denied = verdicts.filter((v) => !v.allowed);
    if (denied.length > 0) log.denied = denied.map((v) => ({ image: v.image, reasons: v.reasons, ...(v.error ? { error: v.error } : {}) }));
    const digests = verdicts.filter((v) => v.digest).map((v) => ({ image: v.image, digest: v.digest }));
    if (digests.length > 0) log.digests = digests;
    log.durationMs = Date.now() - started;
    opts.logger?.info(log, 'admission review');
    return { apiVersion, kind: 'AdmissionReview', response };
  }
}

/** Why a request needs no verification, or undefined when it does. */
function skipReason(request: AdmissionRequest): string | undefined {
  const op = request.operation.toUpperCase();
  if (op === 'DELETE' || op === 'CONNECT') return `operation ${op}`;
  // Status (and in-place resize) updates cannot change images; kubelets send them constantly.
  const sub = str(request.subResource);
  if (sub === 'status' || sub === 'resize') return `subresource ${sub}`;
  if (op === 'UPDATE' && isRecord(request.oldObject)) {
    const old = request.oldObject.metadata;
    if (isRecord(old) && old.deletionTimestamp !== undefined && old.deletionTimestamp !== null) {
      // Controllers stop acting on an object once it is being deleted; what remains is finalizer
      // bookkeeping, and denying it would leave the object stuck in Terminating.
      return 'object is being deleted (oldObject has deletionTimestamp)';
    }
  }
  return undefined;
}

/**
 * One verdict per group, in order, from {@link verifyMany}: one cap on distinct images, one
 * deadline race for all of them. The verifier is the consumer-owned seam, so what it returns is
 * checked here: anything but a decision denies that image.
 */
async function verifyAll(
  verifier: AdmissionVerifier,
  groups: readonly ImageGroup[],
  context: AdmissionVerifyInput['context'],
  deadline: number,
  uid: string,
  logger: AdmissionLogger | undefined,
): Promise<ImageVerdict[]> {
  // The verifier bounds its own work by `deadline`; the race below answers for it if it does not.
  const outcomes = await verifyMany(
    groups.map((g) => g.image),
    (image) => verifier.verify({ image, action: 'deploy', context, deadline }),
    { deadline },
  );
  return groups.map((group, i) => verdictOf(group, outcomes[i]!, uid, logger));
}

function verdictOf(
  group: ImageGroup,
  outcome: VerifyOutcome<AdmissionVerifyResult>,
  uid: string,
  logger: AdmissionLogger | undefined,
): ImageVerdict {
  const base = { image: group.image, refs: group.refs };
  const result: unknown = outcome.result;
  let err = outcome.error;
  if (err === undefined) {
    if (isRecord(result) && typeof result.allowed === 'boolean') {
      const reasons = strings(result.reasons);
      const verdict: ImageVerdict = { ...base, allowed: result.allowed, reasons, warnings: strings(result.warnings) };
      if (typeof result.digest === 'string' && result.digest !== '') verdict.digest = result.digest;
      if (typeof result.rule === 'string') verdict.rule = result.rule;
      if (typeof result.mode === 'string') verdict.mode = result.mode;
      if (!verdict.allowed && reasons.length === 0) verdict.reasons = [`denied by policy rule ${verdict.rule ?? '(unknown)'}`];
      return verdict;
    }
    err = new CountersignError('INTERNAL', 'the verifier returned no decision');
  }
  let message: string;
  if (err instanceof VerifyDeadlineError) {
    message = `verification did not finish within the webhook's time budget of ${err.budgetMs} ms`;
  } else if (err instanceof CountersignError) {
    message = err.message;
  } else {
    // Untyped errors may carry internals; the details go to the log, not to kubectl users.
    message = `internal error while verifying the image (see the Countersign log for admission uid ${uid})`;
    logger?.error({ uid, image: group.image, err: errorSummary(err) }, 'verifier failed');
  }
  return { ...base, allowed: false, reasons: [message], warnings: [], error: err instanceof CountersignError ? err.code : 'INTERNAL' };
}

export interface PatchOperation {
  op: 'replace';
  path: string;
  value: string;
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/**
 * For an UPDATE of a Pod: the images the update leaves as they were (same value at the same place
 * in oldObject). They are verified like the rest, but not pinned: a running Pod's volumes and
 * existing ephemeral containers cannot change (the API server would refuse the whole update), and
 * a container whose image changes is restarted. Only what the update itself writes is pinned.
 */
function unchangedInRunningPod(request: AdmissionRequest): (ref: ImageRef) => boolean {
  const kind = isRecord(request.kind) ? request.kind.kind : undefined;
  if (request.operation.toUpperCase() !== 'UPDATE' || kind !== 'Pod' || !isRecord(request.oldObject)) return () => false;
  const old = request.oldObject;
  return (ref) => valueAt(old, ref.path) === ref.image;
}

/** The value at a JSON pointer made of plain field names and indices (as images.ts builds them). */
function valueAt(root: unknown, pointer: string): unknown {
  let at: unknown = root;
  for (const part of pointer.split('/').slice(1)) {
    if (Array.isArray(at) && /^\d+$/.test(part)) at = at[Number(part)];
    else if (isRecord(at) && Object.hasOwn(at, part)) at = at[part];
    else return undefined;
  }
  return at;
}

/**
 * `replace` operations pinning every occurrence of every allowed image to its verified digest.
 * An allowed image without a well-formed sha256 digest in its verdict is not pinned, and an image
 * already written with a digest stays as written (Verify resolved exactly that digest).
 */
export function pinningPatch(verdicts: readonly ImageVerdict[], leave: (ref: ImageRef) => boolean = () => false): PatchOperation[] {
  const ops: PatchOperation[] = [];
  for (const v of verdicts) {
    if (!v.allowed || !v.digest || !DIGEST_RE.test(v.digest)) continue;
    for (const ref of v.refs) {
      if (ref.image.includes('@') || leave(ref)) continue;
      ops.push({ op: 'replace', path: ref.path, value: `${ref.image}@${v.digest}` });
    }
  }
  return ops;
}

function respond(uid: string, verdicts: ImageVerdict[]): AdmissionResponse {
  const warnings = formatWarnings(verdicts.flatMap((v) => v.warnings));
  const denied = verdicts.filter((v) => !v.allowed);
  const response: AdmissionResponse = denied.length === 0 ? { uid, allowed: true } : deny(uid, denyMessage(denied, verdicts.length));
  if (warnings.length > 0) response.warnings = warnings;
  return response;
}

function deny(uid: string, message: string): AdmissionResponse {
  return { uid, allowed: false, status: { code: 403, message: truncate(clean(message), MAX_MESSAGE_CHARS) } };
}

/**
 * `image "busybox:1.32" (container "app" at /spec/template/spec/containers/0/image) was denied:
 * <reasons>.` once per denied image. When that is too long each image gets an equal share, so that
 * every denied image stays named.
 */
export function denyMessage(denied: ImageVerdict[], total: number): string {
  const head = denied.length === 1 && total === 1 ? '' : `${denied.length} of ${total} images denied. `;
  const parts = denied.map((v) => {
    const where = v.refs.map((r) => `${r.kind}${r.container ? ` "${r.container}"` : ''} at ${r.path}`).join(', ');
    const reasons = v.reasons.map((r) => clean(r).replace(/\.$/, '')).join('; ');
    return `image "${v.image}" (${where}) was denied: ${reasons}.`;
  });
  const full = head + parts.join(' ');
  if (full.length <= MAX_MESSAGE_CHARS) return full;
  const share = Math.max(120, Math.floor((MAX_MESSAGE_CHARS - head.length) / parts.length) - 1);
  return truncate(head + parts.map((p) => truncate(p, share)).join(' '), MAX_MESSAGE_CHARS);
}

function formatWarnings(all: string[]): string[] {
  const unique = [...new Set(all.map(clean).filter((w) => w !== ''))];
  const out = unique.slice(0, MAX_WARNINGS).map((w) => truncate(w, MAX_WARNING_CHARS));
  if (unique.length > MAX_WARNINGS)
    out[MAX_WARNINGS - 1] = `… and ${unique.length - MAX_WARNINGS + 1} more warnings (see the Countersign log)`;
  return out;
}

/** One line of printable text (messages end up in terminals and HTTP headers). */
function clean(s: string): string {
  return (
    s
      // eslint-disable-next-line no-control-regex -- control characters are exactly what is removed
      .replace(/[\u0000-\u001f\u007f]+/g, ' ')
      .replace(/ {2,}/g, ' ')
      .trim()
  );
}

export function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  return `${s.slice(0, cutAtCodePoint(s, max - 1))}…`;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function labelsOf(metadata: Record<string, unknown> | undefined): Record<string, string> | undefined {
  if (!metadata || !isRecord(metadata.labels)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata.labels)) if (typeof v === 'string') out[k] = v;
  return out;
}

function errorSummary(err: unknown): Record<string, unknown> {
  if (err instanceof Error) return { name: err.name, message: err.message, ...(err instanceof CountersignError ? { code: err.code } : {}) };
  return { value: String(err) };
}
