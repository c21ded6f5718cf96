/** Public API of the registry layer. Everything else in this directory is an implementation detail. */
export * from './types';
export { parseReference, formatReference, referrersTagFor, registryEndpointHost, DOCKER_HUB, DOCKER_HUB_ENDPOINT } from './reference';
export { isDigest, sha256Digest, digestMatches } from './digest';
export {
  DockerConfigCredentialStore,
  StaticCredentialStore,
  defaultDockerConfigPath,
  normalizeRegistryKey,
  type CredentialStore,
  type RegistryCredential,
} from './credentials';
export { RegistryClient, type RegistryClientOptions } from './client';
export type { ReferrersResult } from './referrers';
export { ReferrerStore, type ArtifactToAttach, type AttachResult, type ReferrerStoreOptions } from './referrer-store';
export { KeyedMutex } from './keyed-mutex';
export { InProcessWriteLock, type HeldLock, type WriteLock } from './write-lock';
export { isLoopbackHost } from './endpoint';
export { referrerDescriptor } from './referrers-index';
