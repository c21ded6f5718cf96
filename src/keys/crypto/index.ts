export { SECRETBOX_KEY_BYTES, SECRETBOX_NONCE_BYTES, SECRETBOX_TAG_BYTES, secretboxOpen, secretboxSeal } from './secretbox';
export { COSIGN_PEM_TYPE, LEGACY_COSIGN_PEM_TYPE, decryptCosignPrivateKey, encryptCosignPrivateKey, parsePublicKeyPem } from './cosign-key';
export { KEK_BYTES, generateKek, kekFingerprint, loadKek, openPrivateKey, sealPrivateKey } from './kek';
export type { KekSource } from './kek';
export {
  certificateFactsOf,
  keyKindOf,
  parseTrustAnchorPem,
  type CertificateFacts,
  type KeyKind,
  type KeySource,
  type TrustAnchor,
} from './trust-anchor';
