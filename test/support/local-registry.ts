export { startRegistry, freePort, REGISTRY_BINARY } from '../../src/dev/local-registry';
export type { LocalRegistry, StartRegistryOptions } from '../../src/dev/local-registry';
