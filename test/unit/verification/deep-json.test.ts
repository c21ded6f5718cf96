/**
 * A pusher's legacy cosign tags whose JSON nests 100,000 levels deep where the verifier reads and
 * quotes a field (issue 7 item 14). Distribution refuses such manifests itself, other registries
 * need not, hence the fake registry. The answer must be an unverified piece of evidence naming
 * the depth limit, never a stack overflow escaping as an internal error.
 */
import { RegistryClient } from '../../../src/registry/client';
import { MEDIA_TYPE } from '../../../src/registry/types';
import { MAX_JSON_DEPTH } from '../../../src/shared/json-depth';
import { legacyCosignEvidence } from '../../../src/verification/cosign-legacy';
import { FakeRegistry } from '../registry/fake-registry';
import { newP256, randomDigest, sigTag, trustedKey } from './legacy-fixtures';

const deepArray = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;

let fake: FakeRegistry;
let client: RegistryClient;

beforeEach(async () => {
  fake = await FakeRegistry.start();
  client = new RegistryClient({ maxRetries: 0, retryBaseMs: 1 });
});

afterEach(async () => {
  await client.close();
  await fake.close();
});

test.each([
  [
    'a layer digest',
    `{"schemaVersion":2,"mediaType":"${MEDIA_TYPE.OCI_MANIFEST}","config":{},"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":${deepArray}}]}`,
  ],
  ['the manifest mediaType', `{"schemaVersion":2,"mediaType":${deepArray},"config":{},"layers":[]}`],
])('a .sig manifest with a 100,000-deep %s is unverified evidence naming the limit', async (_what, manifest) => {
  const repository = 'team/deep';
  const image = randomDigest();
  fake.storeManifest(repository, Buffer.from(manifest), MEDIA_TYPE.OCI_MANIFEST, sigTag(image));
  const found = await legacyCosignEvidence({
    client,
    repo: { registry: fake.host, repository },
    imageDigest: image,
    trustedKeys: [trustedKey('ci', newP256().publicKey)],
  });
  expect(found).toHaveLength(1);
  expect(found[0]).toMatchObject({ format: 'cosign-legacy-signature', verified: false });
  expect(found[0]!.reason).toContain(`deeper than ${MAX_JSON_DEPTH} levels`);
});
