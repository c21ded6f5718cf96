/**
 * Two `countersign serve` processes writing referrers of one image at the same time, against the
 * suite's real Distribution registry (which has no referrers API and ignores If-Match, so the
 * `sha256-<hex>` fallback index is a last-writer-wins tag that both processes rewrite). The
 * in-process mutex cannot serialize them: what is checked here is the cross-process protocol of
 * src/registry/referrer-store.ts. Separate processes on purpose (not two createApp instances in
 * this worker): that is how replicas run, with nothing shared but the registry.
 * Needs dist/ (npm test builds it first).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { call } from '../../src/cli/client';
import { pushSampleImage } from '../../src/dev/sample-image';
import { RegistryClient } from '../../src/registry';
import { testRegistryHost, uniqueRepo } from '../support/harness';
import { startServeProcess, type ServeProcess } from '../support/serve-process';
import { fetchBlob, fetchManifest, firstLayer, listReferrers, verifyBundle } from '../support/independent-verify';

const ROOT = path.resolve(__dirname, '../..');

type Instance = ServeProcess;

let dir: string;
let host: string;
let pusher: RegistryClient;
const instances: Instance[] = [];

async function startInstance(name: string): Promise<Instance> {
  const instance = await startServeProcess(dir, name);
  instances.push(instance);
  return instance;
}

beforeAll(async () => {
  if (!existsSync(path.join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does)');
  host = testRegistryHost();
  pusher = new RegistryClient({});
  dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-two-'));
  await Promise.all([startInstance('a'), startInstance('b')]);
});

afterAll(async () => {
  for (const i of instances) {
    i.signer.close();
    if (i.process.exitCode === null) {
      i.process.kill('SIGTERM');
      await new Promise((r) => i.process.once('exit', r));
    }
  }
  await pusher.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The `n` annotation each listed referrer's signed statement carries (read and verified independently). */
async function listedSigns(repository: string, digest: string): Promise<{ entries: number; digests: string[]; n: string[] }> {
  const { source, manifests } = await listReferrers(host, repository, digest);
  expect(source).toBe('tag');
  const n: string[] = [];
  for (const entry of manifests) {
    const { json: manifest } = await fetchManifest(host, repository, entry.digest);
    const bundle: unknown = JSON.parse((await fetchBlob(host, repository, firstLayer(manifest).digest)).toString('utf8'));
    // Signed by one of the two instances' keys, and by nobody else.
    const statement = (() => {
      try {
        return verifyBundle(bundle, instances[0]!.publicKeyPem, digest);
      } catch {
        return verifyBundle(bundle, instances[1]!.publicKeyPem, digest);
      }
    })();
    n.push(String(statement.subject[0]?.annotations?.n));
  }
  return { entries: manifests.length, digests: manifests.map((m) => m.digest), n };
}

test('50 concurrent Signs of one digest through two service processes: every success is listed, no failure is', async () => {
  const repository = uniqueRepo('two-instances');
  const image = await pushSampleImage(pusher, { registry: host, repository }, 'v1');
  const ref = `${host}/${repository}:v1`;

  const outcomes = await Promise.allSettled(
    Array.from({ length: 50 }, (_, i) =>
      call<{ result: { referrerDigest: string; referrersIndex: string } }>(
        instances[i % 2]!.signer,
        'Sign',
        { image: ref, key: 'ci', annotations: { n: String(i) } },
        60_000,
      ),
    ),
  );
  const succeeded = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [String(i)] : []));
  const failed = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [`${i}: ${(o.reason as grpc.ServiceError).details}`] : []));

  const listed = await listedSigns(repository, image.digest);
  // No duplicates, nothing foreign.
  expect(new Set(listed.n).size).toBe(listed.entries);
  // Every Sign that reported success is listed, and every listed one reported success (a Sign
  // that failed left no entry behind).
  expect(listed.n.sort()).toEqual([...succeeded].sort());
  // And with two writers, none has to give up.
  expect(failed).toEqual([]);
  const reported = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value.result] : []));
  expect(reported.map((r) => r.referrerDigest).sort()).toEqual([...listed.digests].sort());
  expect(reported.every((r) => r.referrersIndex === 'tag')).toBe(true);
});
