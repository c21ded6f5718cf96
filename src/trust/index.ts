export { keyUsability } from './usability';
export type { KeyUsability, TrustedKey, TrustStore } from './types';
