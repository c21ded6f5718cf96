export { signStatement } from './bundle';
export type { SignedBundle } from './bundle';
export { bundleReferrer, sha256Digest } from './referrer-layout';
export type { ReferrerArtifact } from './referrer-layout';
export { imageStatement } from './statement';
export type { InTotoStatement, InTotoSubject } from './statement';
export { SigningService } from './signing-service';
export type { AttestInput, SignInput, SignedArtifact, SigningServiceOptions } from './signing-service';
