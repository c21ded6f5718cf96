export { KeyDirTrustStore } from './key-dir-trust-store';
export { keyUsability, repositoryMatches } from './usability';
export type { KeyUsability, TrustedKey, TrustStore } from './types';
