import type { LocalRegistry } from './local-registry';

export default async function globalTeardown(): Promise<void> {
  const registry = (globalThis as { __countersignRegistry?: LocalRegistry }).__countersignRegistry;
  if (registry) await registry.stop();
}
