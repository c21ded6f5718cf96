/**
 * The gate's decision port: what the HTTP adapter needs from verification. The gate never decides
 * anything itself; it asks, and enforces the answer. Implemented by a gRPC client of
 * VerificationService (grpc-verifier.ts) for a gate that runs apart from Countersign, or directly
 * by VerificationService in-process (`serve --gate-listen`).
 */
export type GateAction = 'pull' | 'push';

export interface GateVerifyInput {
  /** `host/repo:tag@sha256:…` or `host/repo@sha256:…`: always pinned to the digest the gate serves or stores. */
  image: string;
  action: GateAction;
  context: { identity?: string; labels?: Record<string, string> };
  /** Absolute time (ms since epoch) by which the answer is needed. */
  deadline: number;
}

export interface GateVerifyResult {
  allowed: boolean;
  /** The digest Verify judged: the gate refuses an answer about any other digest. */
  digest: string;
  reasons: string[];
  warnings: string[];
  rule: string;
  mode: string;
  /** The policy and trust revisions the answer was made under; the gate reuses an allow only while both are still in force. */
  policyRevision?: string;
  trustRevision?: string;
}

export interface GateVerifier {
  verify(input: GateVerifyInput): Promise<GateVerifyResult>;
  /**
   * The policy and trust revisions in force now as one token (see decision-cache.ts revisionOf),
   * or undefined when unknown: then no decision is reused. A verifier over the network knows
   * what its latest answer said; the in-process one is told by the composition root instead
   * (GateServerOptions.currentRevision), which reads the stores themselves.
   */
  currentRevision?(): string | undefined;
}

/** Context labels the gate sets on the requests it sends: the policy's contract (docs/policy.md). */
export { PUSH_LABELS as GATE_LABELS } from '../policy/push-rules';
