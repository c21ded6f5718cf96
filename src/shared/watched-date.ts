/**
 * A Date that records whether anything looked at it, and how. A decision made with one that was
 * never read does not depend on the time it was made, so it may be reused as it is. One whose only
 * readings were bounded (readTime: a judgement that says the first instant it may come out
 * otherwise, such as a scan's age against its maximum, or an exception's expiry) may be reused
 * until the earliest of those instants. Any other read (a key's validity window, a Notation
 * timestamp, anything written tomorrow) makes the decision one to make again at the next "now".
 *
 * Every method of Date.prototype (and conversion to a primitive) is wrapped, not only getTime():
 * a comparison written tomorrow with getFullYear() or `<` is a read too, and must not go unseen.
 */
export class WatchedDate extends Date {
  /** True once any method or conversion of this date was used (an unbounded read). */
  read = false;
  /** The first instant (ms since the epoch) at which a bounded reading of it may differ; Infinity: none. */
  until = Infinity;

  static of(date: Date): WatchedDate {
    return new WatchedDate(date.getTime());
  }
}

type DateMethod = (this: Date, ...args: unknown[]) => unknown;

for (const name of Object.getOwnPropertyNames(Date.prototype)) {
  const original = (Date.prototype as unknown as Record<string, unknown>)[name];
  if (name === 'constructor' || typeof original !== 'function') continue;
  Object.defineProperty(WatchedDate.prototype, name, {
    configurable: true,
    writable: true,
    value: function (this: WatchedDate, ...args: unknown[]): unknown {
      this.read = true;
      return (original as DateMethod).apply(this, args);
    },
  });
}

const toPrimitive = Date.prototype[Symbol.toPrimitive] as (this: Date, hint: string) => string | number;
Object.defineProperty(WatchedDate.prototype, Symbol.toPrimitive, {
  configurable: true,
  value: function (this: WatchedDate, hint: string): string | number {
    this.read = true;
    return toPrimitive.call(this, hint);
  },
});

// Date's own getTime, not the wrapper above: reading through it is not a read of the date.
const getTime = (date: Date): number => Date.prototype.getTime.call(date);

/**
 * The time of `date` (ms) given to `judge`, which returns what it concludes and the first instant
 * (ms) at which that conclusion may come out otherwise as the time moves forward (Infinity: never;
 * a clock that goes back is the reuser's to notice). On a WatchedDate this is not a read: only the
 * bound is kept, the earliest of all. A bound that is not after the time is a bug in `judge`, and
 * counts as a read, so it can only cost a reuse, never make a stale one.
 */
export function readTime<T>(date: Date, judge: (ms: number) => readonly [value: T, changesAt: number]): T {
  const ms = getTime(date);
  const [value, changesAt] = judge(ms);
  if (date instanceof WatchedDate) {
    if (!(changesAt > ms)) date.read = true;
    else if (changesAt < date.until) date.until = changesAt;
  }
  return value;
}

/**
 * The first whole millisecond after `from` at which `text(t)` differs from `text(from)`, for a
 * text that, once it has changed, never comes back (an age or a time left, rounded for display):
 * found by doubling, then bisecting, so it is right for any rounding without restating it.
 * Infinity when it does not change within 2^53 ms.
 */
export function firstChange(from: number, text: (t: number) => string): number {
  const now = text(from);
  let step = 1;
  while (text(from + step) === now) {
    if (step > Number.MAX_SAFE_INTEGER / 2) return Infinity;
    step *= 2;
  }
  // text(from + low) is still `now`, text(from + high) is not.
  let low = step / 2 >= 1 ? step / 2 : 0;
  let high = step;
  while (high - low > 1) {
    const mid = low + Math.floor((high - low) / 2);
    if (text(from + mid) === now) low = mid;
    else high = mid;
  }
  return from + high;
}
