/**
 * One real registry and one real PostgreSQL for the whole suite (tests use distinct repository
 * names and lock keys so they do not interfere). Their addresses reach the test workers through
 * COUNTERSIGN_TEST_REGISTRY and COUNTERSIGN_TEST_POSTGRES.
 */
import { startRegistry } from './local-registry';
import { startPostgres } from './postgres';

export default async function globalSetup(): Promise<void> {
  const state = globalThis as { __countersignRegistry?: unknown; __countersignPostgres?: unknown };
  const [registry, postgres] = await Promise.all([
    process.env.COUNTERSIGN_TEST_REGISTRY ? undefined : startRegistry(), // an already running registry was given
    process.env.COUNTERSIGN_TEST_POSTGRES ? undefined : startPostgres(),
  ]);
  if (registry) {
    process.env.COUNTERSIGN_TEST_REGISTRY = registry.host;
    state.__countersignRegistry = registry;
  }
  if (postgres) {
    process.env.COUNTERSIGN_TEST_POSTGRES = postgres.url;
    state.__countersignPostgres = postgres;
  }
}
