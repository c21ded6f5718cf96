export { validateKeyName } from './key-name';
export { keyIdOf } from './key-id';
export type { KeyInfo, KeyPurpose, KeyState, KeyStore, SigningKey } from './types';
export { ManagedKeyStore, DEFAULT_ROTATION_OVERLAP_SECONDS } from './managed-key-store';
export { KeyTrustView } from './key-trust-view';
export { legacyKeyFiles, type LegacyKeyFile } from './legacy-import';
export type { KeyAttributes } from './managed-key-store';
export { checkSigningScope } from './scope';
