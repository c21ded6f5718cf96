export { KeyDirTrustStore } from './key-dir-trust-store';
export { keyUsability } from './usability';
export type { KeyUsability, TrustedKey, TrustStore } from './types';
