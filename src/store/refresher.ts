/**
 * Coalesced re-reads of an in-memory copy: `request()` resolves once a run of `refresh` that
 * STARTED after the call has finished (so it saw every commit made before the call), while
 * however many requests arrive during a run share the one run queued behind it. A burst of
 * change announcements costs at most two reads, never one per announcement.
 */
export class Refresher {
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  private readonly refresh: () => Promise<void>;

  constructor(refresh: () => Promise<void>) {
    this.refresh = refresh;
  }

  request(): Promise<void> {
    if (this.queued) return this.queued;
    const before = this.running;
    const run: Promise<void> = Promise.resolve().then(async () => {
      if (before) await before.catch(() => undefined);
      this.queued = undefined;
      this.running = run;
      try {
        await this.refresh();
      } finally {
        if (this.running === run) this.running = undefined;
      }
    });
    this.queued = run;
    return run;
  }
}
