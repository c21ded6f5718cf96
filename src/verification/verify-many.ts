/**
 * Many images under one deadline: what `VerifyBatch` and the admission webhook both do with the
 * images of a workload. One cap on how many distinct images one request may make us verify (and,
 * for a caller that answers once per entry, on how many entries it may list), one verification per
 * distinct reference, one deadline race for all of them, and the outcomes in the order the images
 * were asked for (duplicates included, each with the outcome of its one call).
 *
 * Each caller decides what an outcome means to it: VerifyBatch fails the call on the first error
 * (in request order), the webhook denies that image and says why.
 */
import { cancellation } from '../shared/cancellation';
import { CountersignError } from '../shared/errors';

/**
 * Distinct images one request may make us verify. A workload has a handful; a Pod spec or a batch
 * naming more is a mistake or an attempt to make one request cost a thousand verifications.
 */
export const MAX_IMAGES_PER_REQUEST = 64;

/**
 * Entries (duplicates included) of a request whose answer has one part per entry, as VerifyBatch's
 * has one result each: duplicates cost no verification, but each costs its part of the answer and
 * of the call's log. 256 is four times the distinct cap (the containers, init containers and
 * sidecars of a workload name the same images again), and 256 results of a few KiB each stay well
 * inside the 4 MiB a gRPC client receives by default; 100,000 made an answer of 60 MB that no
 * client could receive.
 */
export const MAX_ENTRIES_PER_REQUEST = 256;

/** More distinct images than {@link MAX_IMAGES_PER_REQUEST}: refused before any verification starts. */
export class TooManyImagesError extends CountersignError {
  constructor(
    readonly count: number,
    readonly max: number,
  ) {
    super('INVALID_ARGUMENT', `at most ${max} distinct images are verified per request, got ${count}; split the workload or the batch`);
  }
}

/** More entries than the caller's `maxEntries`: refused before any verification starts. */
export class TooManyEntriesError extends CountersignError {
  constructor(
    readonly count: number,
    readonly max: number,
  ) {
    super(
      'INVALID_ARGUMENT',
      `at most ${max} entries are accepted per request (duplicates included), got ${count}; name each image once, or split the batch`,
    );
  }
}

/** The image's verification had not answered when the deadline passed. */
export class VerifyDeadlineError extends CountersignError {
  constructor(readonly budgetMs: number) {
    super('DEADLINE_EXCEEDED', `verification did not finish within the time budget of ${budgetMs} ms`);
  }
}

const STOPPED = Symbol('stopped');

export type VerifyOutcome<R> = { image: string; result: R; error?: undefined } | { image: string; result?: undefined; error: unknown };

export interface VerifyManyOptions {
  /** Absolute time (ms since epoch) by which every outcome must exist; none: no race. */
  deadline?: number;
  /** The caller went away: every image still running ends as cancelled. */
  signal?: AbortSignal;
  /** Default {@link MAX_IMAGES_PER_REQUEST}. */
  maxImages?: number;
  /**
   * Entries in all, duplicates included ({@link MAX_ENTRIES_PER_REQUEST} for an answer with one
   * part per entry). Default: no cap (the webhook answers once per distinct image).
   */
  maxEntries?: number;
}

/**
 * Verifies every distinct image of `images` with `verifyOne`, in parallel. Throws
 * {@link TooManyEntriesError} or {@link TooManyImagesError} (before calling `verifyOne`) when
 * there are more entries or distinct images than the caps; otherwise never rejects: an image whose call threw, or had not answered by the
 * deadline ({@link VerifyDeadlineError}), has an `error` outcome. A deadline already past gives
 * every image that outcome without calling `verifyOne`. The signal handed to `verifyOne` fires
 * when the deadline passes or the caller's signal does, so that abandoned work stops.
 */
export async function verifyMany<R>(
  images: readonly string[],
  verifyOne: (image: string, signal: AbortSignal) => Promise<R>,
  opts: VerifyManyOptions = {},
): Promise<Array<VerifyOutcome<R>>> {
  // Counted before the dedupe: a refused request costs no set of its entries either.
  if (opts.maxEntries !== undefined && images.length > opts.maxEntries) throw new TooManyEntriesError(images.length, opts.maxEntries);
  const distinct = [...new Set(images)];
  const max = opts.maxImages ?? MAX_IMAGES_PER_REQUEST;
  if (distinct.length > max) throw new TooManyImagesError(distinct.length, max);

  const budget = opts.deadline === undefined ? undefined : Math.max(0, opts.deadline - Date.now());
  const controller = new AbortController();
  // One race for the whole request: one timer and one "stopped" promise, shared by every image.
  const stopped = new Promise<typeof STOPPED>((resolve) =>
    controller.signal.addEventListener('abort', () => resolve(STOPPED), { once: true }),
  );
  let timer: NodeJS.Timeout | undefined;
  if (budget !== undefined) {
    const expire = (): void => controller.abort(new VerifyDeadlineError(budget));
    if (budget <= 0) expire();
    else timer = setTimeout(expire, budget);
  }
  const cancel = opts.signal;
  const onCancel = (): void => controller.abort(cancellation(cancel!));
  if (cancel?.aborted) onCancel();
  else cancel?.addEventListener('abort', onCancel, { once: true });

  const settle = async (image: string): Promise<VerifyOutcome<R>> => {
    if (controller.signal.aborted) return { image, error: controller.signal.reason };
    // Called inside an async function: a verifier that throws synchronously is an outcome too.
    const running = (async () => verifyOne(image, controller.signal))();
    // The losing side must not become an unhandled rejection.
    running.catch(() => undefined);
    try {
      const first = await Promise.race([running, stopped]);
      return first === STOPPED ? { image, error: controller.signal.reason } : { image, result: first };
    } catch (err) {
      return { image, error: err };
    }
  };

  try {
    const byImage = new Map(await Promise.all(distinct.map(async (image) => [image, await settle(image)] as const)));
    return images.map((image) => byImage.get(image)!);
  } finally {
    clearTimeout(timer);
    cancel?.removeEventListener('abort', onCancel);
  }
}
