/**
 * The policy's input types, which verification produces (they live with their consumer, the
 * policy: src/policy/input.ts).
 */
export type { Action, CollectionError, Evidence, EvidenceFormat, ImageFacts, RequestContext, SignerIdentity } from '../policy/input';
