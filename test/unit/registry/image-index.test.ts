/**
 * An index whose children a Go client (containerd, Distribution, skopeo: encoding/json matches keys
 * case-insensitively, with Unicode folding, the last match winning) reads otherwise than
 * JSON.parse does. Verify would judge one set of children while the runtime picks from another:
 * under `multiArch: platforms` an index listing a signed child under "manifests" and an unsigned
 * one under "Manifests" would be admitted and the unsigned one run. Such an index is refused.
 */
import { MalformedIndexError, parseImageIndexChildren } from '../../../src/registry/image-index';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const D = (c: string) => `sha256:${c.repeat(64)}`;
const child = (d: string) => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: D(d),
  size: 10,
  platform: { os: 'linux', architecture: 'amd64' },
});
const j = (o: unknown) => Buffer.from(JSON.stringify(o));

test('a plain index lists its children', () => {
  expect(parseImageIndexChildren(j({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [child('a')] }), OCI_INDEX)).toEqual([child('a')]);
});

test('annotation keys are a map to Go, matched exactly: any spelling is fine', () => {
  const withAnnotations = { ...child('a'), annotations: { Digest: 'x', 'org.example/ſ': 'y' } };
  expect(parseImageIndexChildren(j({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [withAnnotations] }), OCI_INDEX)).toEqual([
    withAnnotations,
  ]);
});

test.each([
  ['a second list under "Manifests"', { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [child('a')], Manifests: [child('b')] }],
  [
    'the list under "manifeſts" (U+017F folds to s)',
    { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [child('a')], manifeſts: [child('b')] },
  ],
  ['a child whose "Digest" a Go client reads', { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...child('a'), Digest: D('b') }] }],
  [
    'a platform whose "Architecture" a Go client reads',
    {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ ...child('a'), platform: { os: 'linux', architecture: 'amd64', Architecture: 'arm64' } }],
    },
  ],
  [
    'a "MediaType" beside "mediaType"',
    { schemaVersion: 2, mediaType: OCI_INDEX, MediaType: 'application/vnd.oci.image.manifest.v1+json', manifests: [child('a')] },
  ],
])('%s is refused, naming the key', (_what, doc) => {
  expect(() => parseImageIndexChildren(j(doc), OCI_INDEX)).toThrow(MalformedIndexError);
  expect(() => parseImageIndexChildren(j(doc), OCI_INDEX)).toThrow(/case-insensitive|Go clients/);
});
