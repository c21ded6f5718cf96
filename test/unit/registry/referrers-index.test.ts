import { CountersignError } from '../../../src/shared/errors';
import {
  filterByArtifactType,
  parseImageIndex,
  readReferrersIndex,
  referrerDescriptor,
  withReferrers,
} from '../../../src/registry/referrers-index';
import { EMPTY_DESCRIPTOR, MEDIA_TYPE, type Descriptor, type ImageIndex, type ImageManifest } from '../../../src/registry/types';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

const manifest: ImageManifest = {
  schemaVersion: 2,
  mediaType: MEDIA_TYPE.OCI_MANIFEST,
  artifactType: 'application/vnd.example+json',
  config: { ...EMPTY_DESCRIPTOR },
  layers: [],
  subject: { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest: D1, size: 1 },
  annotations: { a: '1', b: '2' },
};

describe('parseImageIndex', () => {
  const ok = (o: unknown, ct: string | undefined = MEDIA_TYPE.OCI_INDEX) => parseImageIndex(Buffer.from(JSON.stringify(o)), ct, 'x');
  test('accepts an index (with or without mediaType, with a charset parameter)', () => {
    expect(ok({ schemaVersion: 2, manifests: [] }).manifests).toEqual([]);
    expect(
      ok(
        { schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_INDEX, manifests: [{ mediaType: 'm', digest: D1, size: 3 }] },
        `${MEDIA_TYPE.OCI_INDEX}; charset=utf-8`,
      ).manifests,
    ).toHaveLength(1);
  });
  test.each<[string, unknown, string | undefined, RegExp]>([
    ['a manifest content type', { schemaVersion: 2, manifests: [] }, MEDIA_TYPE.OCI_MANIFEST, /Content-Type/],
    ['a manifest mediaType', { schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_MANIFEST, manifests: [] }, undefined, /mediaType/],
    ['no manifests', { schemaVersion: 2 }, undefined, /manifests/],
    ['wrong schemaVersion', { schemaVersion: 1, manifests: [] }, undefined, /schemaVersion/],
    ['a bad descriptor', { schemaVersion: 2, manifests: [{ digest: D1 }] }, undefined, /manifests\[0\]/],
    ['an array', [], undefined, /object/],
  ])('rejects %s as DATA_LOSS', (_name, body, ct, why) => {
    let err: unknown;
    try {
      parseImageIndex(Buffer.from(JSON.stringify(body)), ct, 'the thing');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CountersignError);
    expect((err as CountersignError).code).toBe('DATA_LOSS');
    expect((err as CountersignError).message).toMatch(why);
  });
  test('rejects non-JSON', () => {
    expect(() => parseImageIndex(Buffer.from('<html>'), undefined, 'x')).toThrow(/not JSON/);
  });
});

describe('a pusher-written mediaType that is not a string', () => {
  // String() of a 100,000-deep array overflows the stack: a RangeError is not a content error,
  // so it would have reached the policy's onError (possibly allow) instead of being evidence.
  const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
  const body = Buffer.from(`{"schemaVersion":2,"mediaType":${deep},"manifests":[]}`);

  it.each([
    ['parseImageIndex', () => parseImageIndex(body, MEDIA_TYPE.OCI_INDEX, 'referrers tag')],
    ['readReferrersIndex', () => readReferrersIndex(body, MEDIA_TYPE.OCI_INDEX, 'referrers tag')],
  ])('%s refuses it as DATA_LOSS, naming its type', (_name, read) => {
    let thrown: unknown;
    try {
      read();
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(CountersignError);
    expect((thrown as CountersignError).code).toBe('DATA_LOSS');
    expect((thrown as CountersignError).message).toContain('its mediaType is not a string (array)');
  });
});

describe('referrerDescriptor', () => {
  test('mediaType, digest, size, artifactType and all annotations', () => {
    expect(referrerDescriptor(manifest, D2, 42)).toEqual({
      mediaType: MEDIA_TYPE.OCI_MANIFEST,
      digest: D2,
      size: 42,
      artifactType: 'application/vnd.example+json',
      annotations: { a: '1', b: '2' },
    });
  });
  test('artifactType falls back to config.mediaType; no annotations key when there are none', () => {
    const { artifactType: _omit, annotations: _none, ...rest } = manifest;
    expect(referrerDescriptor(rest as ImageManifest, D2, 1)).toEqual({
      mediaType: MEDIA_TYPE.OCI_MANIFEST,
      digest: D2,
      size: 1,
      artifactType: EMPTY_DESCRIPTOR.mediaType,
    });
  });
});

describe('withReferrers, one entry', () => {
  const entry = referrerDescriptor(manifest, D2, 42);
  test('creates an index from nothing', () => {
    expect(withReferrers(undefined, [entry])).toEqual({
      index: { schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_INDEX, manifests: [entry] },
      changed: true,
    });
  });
  test('appends, keeps existing entries and fields, skips duplicates by digest', () => {
    const existing = {
      schemaVersion: 2 as const,
      mediaType: MEDIA_TYPE.OCI_INDEX,
      annotations: { k: 'v' },
      manifests: [{ mediaType: 'm', digest: D1, size: 1 }],
    };
    const { index, changed } = withReferrers(existing, [entry]);
    expect(changed).toBe(true);
    expect(index).toEqual({ ...existing, manifests: [existing.manifests[0], entry] });
    expect(existing.manifests).toHaveLength(1); // input not mutated
    expect(withReferrers(index, [{ ...entry, size: 1 }]).changed).toBe(false);
  });
  test('filterByArtifactType', () => {
    const list = [entry, { mediaType: 'm', digest: D1, size: 1, artifactType: 'other' }];
    expect(filterByArtifactType(list, undefined)).toBe(list);
    expect(filterByArtifactType(list, 'other').map((d) => d.digest)).toEqual([D1]);
  });
});

describe('withReferrers: one pass over what a pusher left', () => {
  const d = (i: number): Descriptor => ({
    mediaType: MEDIA_TYPE.OCI_MANIFEST,
    digest: `sha256:${i.toString(16).padStart(64, '0')}`,
    size: 1,
  });

  test('appends in order what is not listed yet (nor appended before it); the base is not changed', () => {
    const base: ImageIndex = { schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_INDEX, manifests: [d(1), d(2)] };
    const { index, changed } = withReferrers(base, [d(2), d(3), d(1), d(4), d(3)]);
    expect(changed).toBe(true);
    expect(index.manifests.map((m) => m.digest)).toEqual([d(1), d(2), d(3), d(4)].map((m) => m.digest));
    expect(base.manifests).toHaveLength(2);
    expect(withReferrers(base, [d(1), d(2)])).toEqual({ index: base, changed: false });
  });

  test('reads each listed entry a bounded number of times, however many are merged (a count, not a timing)', () => {
    const n = 2_000;
    let reads = 0;
    const listed = new Proxy(
      Array.from({ length: n }, (_, i) => d(i)),
      {
        get(target, key, receiver) {
          if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
          return Reflect.get(target, key, receiver) as unknown;
        },
      },
    );
    const { index } = withReferrers(
      { schemaVersion: 2, manifests: listed },
      Array.from({ length: n }, (_, i) => d(n + i)),
    );
    expect(index.manifests).toHaveLength(2 * n);
    // One pass to learn the digests, one to copy: merging entry by entry read them n times each.
    expect(reads).toBeLessThanOrEqual(3 * n);
  });
});
