/**
 * One real registry for the whole suite (tests use distinct repository names so they do not
 * interfere). Its address reaches the test workers through COUNTERSIGN_TEST_REGISTRY.
 */
import { startRegistry } from './local-registry';

export default async function globalSetup(): Promise<void> {
  if (process.env.COUNTERSIGN_TEST_REGISTRY) return; // an already running registry was given
  const registry = await startRegistry();
  process.env.COUNTERSIGN_TEST_REGISTRY = registry.host;
  (globalThis as { __countersignRegistry?: typeof registry }).__countersignRegistry = registry;
}
