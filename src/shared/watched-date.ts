/**
 * A Date that records whether anything looked at it. A decision made with one that was never read
 * does not depend on the time it was made, so it may be reused as it is; one that was read (a key's
 * validity window, a scan's age, an exception's expiry) must be made again at the next "now".
 *
 * Every method of Date.prototype (and conversion to a primitive) is wrapped, not only getTime():
 * a comparison written tomorrow with getFullYear() or `<` is a read too, and must not go unseen.
 */
export class WatchedDate extends Date {
  /** True once any method or conversion of this date was used. */
  read = false;

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
