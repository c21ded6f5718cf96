import type { LocalRegistry } from './local-registry';
import type { LocalPostgres } from './postgres';

export default async function globalTeardown(): Promise<void> {
  const state = globalThis as { __countersignRegistry?: LocalRegistry; __countersignPostgres?: LocalPostgres };
  await Promise.all([state.__countersignRegistry?.stop(), state.__countersignPostgres?.destroy()]);
}
