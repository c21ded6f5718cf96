/**
 * Registry requests per Sign (issue 11 item 3): a deterministic count on the fake registry.
 * Tag-schema fallback, steady state (the empty config blob already present): HEAD the image,
 * POST + PUT the bundle (a new signature cannot be there yet: no HEAD), HEAD the empty config,
 * PUT the manifest, GET + PUT the fallback index, and the settled GET that confirms the entry
 * across processes (see referrer-store.ts) = 8. With the referrers API: HEAD, POST, PUT, HEAD,
 * PUT = 5 (the API ping is remembered per registry after the first Sign). Under
 * `registry.exclusiveReferrerWrites` (this service the only writer, its lock held) the accepted
 * index write is not read back: 7.
 */
import path from 'node:path';
import { AuditLog } from '../../../src/audit';
import { generateKek } from '../../../src/keys/crypto';
import { ManagedKeyStore } from '../../../src/keys/managed-key-store';
import { RegistryClient } from '../../../src/registry/client';
import { ReferrerStore, type ReferrerStoreOptions } from '../../../src/registry/referrer-store';
import { InProcessWriteLock } from '../../../src/registry/write-lock';
import { SigningService } from '../../../src/signing/signing-service';
import { openDatabase, SqliteStore } from '../../../src/store';
import { FakeRegistry } from '../registry/fake-registry';
import { storeImage, tempDir } from '../verification/bundle-fixtures';

const REPO = 'team/app';

async function requestsPerSign(referrersApi: boolean, storeOptions: ReferrerStoreOptions = {}): Promise<string[][]> {
  const tmp = tempDir('sign-requests');
  const db = await SqliteStore.open(openDatabase(path.join(tmp.dir, 'countersign.db')), { changeCheckMs: 0 });
  const keys = await ManagedKeyStore.open(db, generateKek(), await AuditLog.open(db));
  const fake = await FakeRegistry.start({ referrersApi });
  const registry = new RegistryClient({ maxRetries: 0, retryBaseMs: 1 });
  try {
    await keys.createKey({ name: 'ci' }, 'test');
    storeImage(fake, REPO, 'image', 'v1');
    const signing = new SigningService({
      keys,
      registry,
      referrers: new ReferrerStore(registry, { settleMs: { minMs: 0, maxMs: 0 }, ...storeOptions }),
      maxPredicateBytes: 1 << 20,
    });
    const perSign: string[][] = [];
    for (let i = 0; i < 3; i++) {
      fake.requests.length = 0;
      await signing.sign({ image: `${fake.host}/${REPO}:v1`, key: 'ci' });
      perSign.push(
        fake.requests.map(
          (r) =>
            `${r.method} ${r.path
              .replace(/\/v2\/team\/app\//, '')
              .replace(/[?].*$/, '')
              .replace(/(uploads\/)[^/]+$/, '$1<id>')
              .replace(/sha256[:-][0-9a-f]{64}/g, '<d>')}`,
        ),
      );
    }
    return perSign;
  } finally {
    await fake.close();
    await registry.close();
    keys.close();
    await db.close();
    tmp.cleanup();
  }
}

test('Sign with the tag-schema fallback: 8 requests (7 + the cross-process settle read), no HEAD before the bundle upload', async () => {
  const [, second, third] = await requestsPerSign(false);
  for (const requests of [second, third]) {
    expect(requests).toHaveLength(8);
    expect(requests!.filter((r) => r.startsWith('HEAD blobs/'))).toHaveLength(1); // the shared empty config only
    expect(requests!.filter((r) => r.startsWith('GET manifests/'))).toHaveLength(2); // index read + settled read
  }
});

test('Sign with the referrers API: 5 requests', async () => {
  const [, second] = await requestsPerSign(true);
  expect(second).toHaveLength(5);
});

test('Sign under registry.exclusiveReferrerWrites: the 7 requests (no read-back of the accepted index write)', async () => {
  const [, second, third] = await requestsPerSign(false, { writeLock: new InProcessWriteLock({ soleWriter: true }), onlyWriter: true });
  for (const requests of [second, third]) {
    expect(requests).toHaveLength(7);
    expect(requests!.filter((r) => r.startsWith('GET manifests/'))).toHaveLength(1); // the index read only
    expect(requests!.filter((r) => r.startsWith('PUT manifests/'))).toHaveLength(2); // the manifest, the index
  }
});

test('onlyWriter with a lock that does not exclude other processes: the read-back stays (8)', async () => {
  const [, second] = await requestsPerSign(false, { onlyWriter: true });
  expect(second).toHaveLength(8);
});
