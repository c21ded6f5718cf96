/**
 * Cancellation: how a deadline, a departed caller or shutdown stops the work under it.
 *
 * Work that may wait on something outside the process takes an optional AbortSignal. When the
 * signal fires, the work fails with the error the signal carries: whoever aborts passes a
 * CountersignError (DEADLINE_EXCEEDED for a deadline or a cancelled call, UNAVAILABLE for
 * shutdown), and a bare abort() becomes DEADLINE_EXCEEDED. Both codes are transient, so a
 * cancelled operation is never cached and never mistaken for a fact about what it was reading.
 */
import { CountersignError } from './errors';

/** The error work fails with once `signal` has fired. */
export function cancellation(signal: AbortSignal): CountersignError {
  const reason: unknown = signal.reason;
  if (reason instanceof CountersignError) return reason;
  return new CountersignError('DEADLINE_EXCEEDED', 'cancelled before it finished: its deadline passed or its caller went away', {
    cause: reason,
  });
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancellation(signal);
}

export interface LinkedSignal {
  signal: AbortSignal;
  /** Detaches from the sources and stops the timer; call it when the work is over. A plain function (no `this`): it may be passed as a listener. */
  release: () => void;
}

/**
 * A signal that fires when any of `sources` does, or, with `timeout`, after `timeout.ms` with the
 * reason `timeout.reason()` builds. Listeners are removed by release(), so that many short
 * operations under one long-lived signal (a client's lifetime) do not pile up listeners on it.
 */
export function linkedSignal(
  sources: ReadonlyArray<AbortSignal | undefined>,
  timeout?: { ms: number; reason: () => unknown },
): LinkedSignal {
  const controller = new AbortController();
  const detach: Array<() => void> = [];
  let timer: NodeJS.Timeout | undefined;
  const release = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    for (const d of detach.splice(0)) d();
  };
  for (const source of sources) {
    if (!source) continue;
    if (source.aborted) {
      controller.abort(cancellation(source));
      release();
      return { signal: controller.signal, release };
    }
    const onAbort = (): void => {
      controller.abort(cancellation(source));
      release();
    };
    source.addEventListener('abort', onAbort, { once: true });
    detach.push(() => source.removeEventListener('abort', onAbort));
  }
  if (timeout) {
    timer = setTimeout(
      () => {
        controller.abort(timeout.reason());
        release();
      },
      Math.max(0, timeout.ms),
    );
    // The work it bounds keeps the process alive if it must; the timer itself never should.
    timer.unref();
  }
  return { signal: controller.signal, release };
}

/**
 * Waits for `promise`, or rejects with cancellation(signal) as soon as the signal fires (the work
 * behind the promise is not stopped by this: it must take the signal itself).
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(cancellation(signal));
  }
  return new Promise<T>((resolve, reject) => {
    settleUnlessAborted(promise, signal, () => reject(cancellation(signal)), resolve, reject);
  });
}

/**
 * Runs `onAbort` if `signal` fires first; otherwise settles with `promise`'s outcome, the listener
 * removed first (a long-lived signal must not collect one listener per call).
 */
function settleUnlessAborted<T>(
  promise: Promise<T>,
  signal: AbortSignal,
  onAbort: () => void,
  resolve: (value: T) => void,
  reject: (err: unknown) => void,
): void {
  signal.addEventListener('abort', onAbort, { once: true });
  promise.then(
    (value) => {
      signal.removeEventListener('abort', onAbort);
      resolve(value);
    },
    (err: unknown) => {
      signal.removeEventListener('abort', onAbort);
      reject(err);
    },
  );
}

interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  /** Callers still waiting that could give up (callers without a signal never do). */
  waiters: number;
  /** A caller without a signal waits: the work is never cancelled. */
  pinned: boolean;
}

/**
 * One piece of work shared by concurrent callers with the same key (one token request, one blob
 * upload, one evidence collection). Each caller may give up on its own, when its signal fires;
 * the work itself is cancelled only once every caller has given up, so one impatient caller never
 * fails the others, and abandoned work does not run on for nobody.
 */
export class SharedWork<T> {
  private readonly flights = new Map<string, Flight<T>>();

  run(key: string, work: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    throwIfAborted(signal);
    let flight = this.flights.get(key);
    if (!flight) {
      const controller = new AbortController();
      const created: Flight<T> = { controller, waiters: 0, pinned: false, promise: Promise.resolve() as Promise<never> };
      created.promise = Promise.resolve()
        .then(() => work(controller.signal))
        .finally(() => {
          if (this.flights.get(key) === created) this.flights.delete(key);
        });
      // Each caller gets its own settlement below; the shared promise itself must not go unhandled.
      created.promise.catch(() => undefined);
      this.flights.set(key, created);
      flight = created;
    }
    if (!signal) {
      flight.pinned = true;
      return flight.promise;
    }
    const joined = flight;
    joined.waiters++;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        joined.waiters--;
        if (joined.waiters === 0 && !joined.pinned) {
          // Nobody is left to use the result: stop the work, and let the next caller start afresh.
          if (this.flights.get(key) === joined) this.flights.delete(key);
          joined.controller.abort(cancellation(signal));
        }
        reject(cancellation(signal));
      };
      settleUnlessAborted(joined.promise, signal, onAbort, resolve, reject);
    });
  }

  /** Whether work for `key` is in flight (tests, diagnostics). */
  has(key: string): boolean {
    return this.flights.has(key);
  }
}
