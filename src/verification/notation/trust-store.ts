/**
 * Notation trust store files are read when the policy is loaded: src/policy/notation-trust-store.ts.
 * Re-exported here for verification's callers.
 */
export { parseCertificates, readTrustStoreFile, type TrustStoreFile } from '../../policy/notation-trust-store';
