import type { Observer } from './observer';

/**
 * How many requests a serving process has answered: gRPC calls of its own handlers, admission
 * reviews and registry gate requests, counted from the reports its front doors already make to
 * the Observer (no hook of its own on any request path). Health probes and metrics scrapes make
 * no such report, so a process that only answers those serves nothing here.
 *
 * Why: the idle memory return (idle-memory.ts) reads idleness from CPU time, and on a small VM
 * the timers of a process with nothing to do can cost it more CPU than a quiet window allows. A
 * window in which no request was served is idle, whatever those timers cost.
 */
export class ServedRequests {
  private served = 0;

  get count(): number {
    return this.served;
  }

  /** `inner` (the metrics, or the no-op observer) with every answered request also counted here. */
  observing(inner: Observer): Observer {
    return {
      rpc: (method, status, seconds) => {
        this.served++;
        inner.rpc(method, status, seconds);
      },
      webhook: (outcome) => {
        this.served++;
        inner.webhook(outcome);
      },
      gate: (outcome) => {
        this.served++;
        inner.gate(outcome);
      },
      decision: (d) => inner.decision(d),
      registryRequest: (method, status, seconds) => inner.registryRequest(method, status, seconds),
      ...(inner.storeOperation ? { storeOperation: inner.storeOperation.bind(inner) } : {}),
    };
  }
}
