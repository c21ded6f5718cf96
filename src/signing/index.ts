export { signStatement, BUNDLE_V03_MEDIA_TYPE } from './bundle';
export type { SignedBundle } from './bundle';
export { bundleReferrer, sha256Digest, ANNOTATION } from './referrer-layout';
export type { ReferrerArtifact } from './referrer-layout';
export { imageStatement, COSIGN_SIGN_PREDICATE_TYPE, IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_V1 } from './statement';
export type { InTotoStatement, InTotoSubject } from './statement';
export { SigningService } from './signing-service';
export type { AttestInput, SignInput, SignedArtifact, SigningServiceOptions } from './signing-service';
