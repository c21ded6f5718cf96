/**
 * A VerificationService over the managed key store (a temporary one) and a fake registry, fresh
 * for each test: for tests of trust anchors imported into the store, verified end to end.
 */
import { PolicyStore } from '../../../src/policy-store';
import { RegistryClient } from '../../../src/registry/client';
import { EvidenceCollector } from '../../../src/verification/collector';
import { EvidenceCache } from '../../../src/verification/evidence-cache';
import { VerificationService } from '../../../src/verification/verification-service';
import { tempKeyStore, type TempKeyStore } from '../../support/managed-keys';
import { FakeRegistry } from '../registry/fake-registry';

export interface KeyStoreVerification {
  fake: FakeRegistry;
  client: RegistryClient;
  keys: TempKeyStore;
  /** A service trusting the store's keys and CA bundles, with a fresh evidence cache unless one is given. */
  service(o?: { cache?: EvidenceCache; now?: () => Date }): VerificationService;
}

/** Registers the beforeEach/afterEach that build and close the fixture; its fields are set per test. */
export function useKeyStoreVerification(): KeyStoreVerification {
  let policies: PolicyStore;
  const env = {
    service(o: { cache?: EvidenceCache; now?: () => Date } = {}): VerificationService {
      const trust = env.keys.store.trust;
      return new VerificationService({
        registry: env.client,
        collector: new EvidenceCollector({ client: env.client, trust }),
        cache: o.cache ?? new EvidenceCache(),
        trust,
        policies,
        ...(o.now ? { now: o.now } : {}),
      });
    },
  } as KeyStoreVerification;
  beforeEach(async () => {
    env.fake = await FakeRegistry.start({ referrersApi: true });
    env.client = new RegistryClient({ maxRetries: 0, retryBaseMs: 1 });
    env.keys = await tempKeyStore();
    policies = await PolicyStore.open();
  });
  afterEach(async () => {
    await env.keys.close();
    policies.close();
    await env.fake.close();
    await env.client.close();
  });
  return env;
}
