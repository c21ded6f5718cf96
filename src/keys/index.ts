export { FileKeyStore, validateKeyName } from './file-key-store';
export { keyIdOf } from './key-id';
export type { KeyInfo, KeyStore, SigningKey } from './types';
