/**
 * What the service's layers report for metrics. They call through this interface only (passed in
 * from the composition root), so no layer depends on the metrics library; the default does nothing.
 */
export interface Observer {
  /** One finished gRPC call: its method (`Sign`, `Verify`, …), its status name and how long it took. */
  rpc(method: string, status: string, seconds: number): void;
  /** One Verify decision. `result` is `allow` or `deny` (a warn/audit mode allow is an allow). */
  decision(d: { action: string; rule: string; mode: string; result: 'allow' | 'deny' }): void;
  /** One registry HTTP exchange: its method, the response status (or `error` without one) and duration. */
  registryRequest(method: string, status: string, seconds: number): void;
  /** One admission review answered: `allowed`, `denied` or `malformed` / `error`. */
  webhook(outcome: string): void;
  /**
   * One registry gate decision (`pull_allowed`, `pull_denied`, `push_allowed`, `push_denied`), one
   * request forwarded as it is (`passthrough`: blobs, uploads, tag lists, referrers, the ping) or
   * one refused for its route (`rejected`).
   */
  gate(outcome: string): void;
  /**
   * One store operation (`query`, or a whole write `transaction`) and how long it took, waits for
   * the connection and the write lock included. Optional, so that existing observers need not change.
   */
  storeOperation?(operation: 'query' | 'transaction', backend: 'sqlite' | 'postgres', seconds: number): void;
}

export const noopObserver: Observer = {
  rpc() {},
  decision() {},
  registryRequest() {},
  webhook() {},
  gate() {},
};
