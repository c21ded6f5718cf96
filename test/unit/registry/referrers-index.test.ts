import { CountersignError } from '../../../src/shared/errors';
import { filterByArtifactType, readReferrersIndex, referrerDescriptor, withReferrers } from '../../../src/registry/referrers-index';
import { EMPTY_DESCRIPTOR, MEDIA_TYPE, type Descriptor, type ImageManifest } from '../../../src/registry/types';

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

describe('readReferrersIndex: the index as a whole', () => {
  const read = (o: unknown, ct: string | undefined = MEDIA_TYPE.OCI_INDEX) => readReferrersIndex(Buffer.from(JSON.stringify(o)), ct, 'x');
  test('accepts an index (with or without mediaType, with a charset parameter)', () => {
    expect(read({ schemaVersion: 2, manifests: [] }).manifests).toEqual([]);
    expect(
      read(
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
    ['an array', [], undefined, /object/],
  ])('rejects %s as DATA_LOSS', (_name, body, ct, why) => {
    let err: unknown;
    try {
      readReferrersIndex(Buffer.from(JSON.stringify(body)), ct, 'the thing');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CountersignError);
    expect((err as CountersignError).code).toBe('DATA_LOSS');
    expect((err as CountersignError).message).toMatch(why);
  });
  test('rejects non-JSON', () => {
    expect(() => readReferrersIndex(Buffer.from('<html>'), undefined, 'x')).toThrow(/not JSON/);
  });
  test('a bad descriptor is skipped and reported, next to the valid one', () => {
    const { manifests, skipped } = read({ schemaVersion: 2, manifests: [{ digest: D1 }, { mediaType: 'm', digest: D2, size: 3 }] });
    expect(manifests.map((d) => d.digest)).toEqual([D2]);
    expect(skipped).toEqual([{ position: 0, digest: D1, reason: expect.stringMatching(/mediaType/) as unknown }]);
  });
});

describe('a pusher-written mediaType that is not a string', () => {
  // String() of a 100,000-deep array overflows the stack: a RangeError is not a content error,
  // so it would have reached the policy's onError (possibly allow) instead of being evidence.
  const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
  const body = Buffer.from(`{"schemaVersion":2,"mediaType":${deep},"manifests":[]}`);

  it('is refused as DATA_LOSS, naming its type', () => {
    let thrown: unknown;
    try {
      readReferrersIndex(body, MEDIA_TYPE.OCI_INDEX, 'referrers tag');
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

/** withReferrers applied to `index` (serialized as JSON.stringify does), as its caller does: what a reader lists there. */
const added = (index: unknown, entries: Descriptor[]) => {
  const bytes = index === undefined ? undefined : Buffer.from(JSON.stringify(index));
  const listed = bytes === undefined ? [] : readReferrersIndex(bytes, undefined, 'x').manifests;
  const result = withReferrers(bytes, listed, entries);
  return { ...result, index: JSON.parse(result.bytes.toString('utf8')) as Record<string, unknown> & { manifests: unknown[] } };
};

describe('withReferrers, one entry', () => {
  const entry = referrerDescriptor(manifest, D2, 42);
  test('creates an index from nothing', () => {
    expect(added(undefined, [entry])).toMatchObject({
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
    const { index, changed } = added(existing, [entry]);
    expect(changed).toBe(true);
    expect(index).toEqual({ ...existing, manifests: [existing.manifests[0], entry] });
    expect(added(index, [{ ...entry, size: 1 }]).changed).toBe(false);
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

  test('appends in order what is not listed yet (nor appended before it)', () => {
    const base = { schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_INDEX, manifests: [d(1), d(2)] };
    const { index, changed } = added(base, [d(2), d(3), d(1), d(4), d(3)]);
    expect(changed).toBe(true);
    expect(index.manifests).toEqual([d(1), d(2), d(3), d(4)]);
    expect(added(base, [d(1), d(2)]).changed).toBe(false);
  });

  test('the bytes other writers left are kept byte for byte: ours go before the closing bracket of manifests', () => {
    // Whitespace, key order, an integer beyond 2^53, 1e400, escapes, non-ASCII text: a parse and
    // re-serialization would change every one of them.
    const text =
      '{ "schemaVersion" : 2,\n  "x": [1e400, 9007199254740993, "a]\\"b", {"manifests": [7]}],\n  "manifests" : [ ' +
      `{"mediaType":"m","digest":"${D1}","size":12, "n": 18446744073709551615, "é": "ü"} ` +
      '] ,"z":{}}';
    const bytes = Buffer.from(text);
    const listed = readReferrersIndex(bytes, undefined, 'x').manifests;
    const { bytes: out } = withReferrers(bytes, listed, [d(9)]);
    const end = text.lastIndexOf(']');
    expect(out.toString('utf8')).toBe(`${text.slice(0, end)},${JSON.stringify(d(9))}${text.slice(end)}`);
    expect(readReferrersIndex(out, undefined, 'x').manifests.map((m) => m.digest)).toEqual([D1, d(9).digest]);
  });

  test.each<[string, string]>([
    ['an empty array', '{"schemaVersion":2,"manifests":[ ]}'],
    ['an array of junk only', '{"schemaVersion":2,"manifests":[null, 5, "s", [], {"size": -1}]}'],
    ['duplicate manifests keys (the last counts, as JSON.parse reads it)', '{"schemaVersion":2,"manifests":[{"a":1}],"manifests":[]}'],
    ['an escaped key', '{"schemaVersion":2,"manifest\\u0073":[]}'],
  ])('%s: ours is listed after the append', (_name, text) => {
    const bytes = Buffer.from(text);
    const before = readReferrersIndex(bytes, undefined, 'x');
    const { bytes: out } = withReferrers(bytes, before.manifests, [d(9)]);
    const after = readReferrersIndex(out, undefined, 'x');
    expect(after.manifests.map((m) => m.digest)).toEqual([d(9).digest]);
    expect(after.skipped).toEqual(before.skipped);
  });

  test('an entry with our digest that is no valid descriptor does not count as listed: a valid one is added', () => {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ digest: d(9).digest }] }));
    const { bytes: out, changed } = withReferrers(bytes, readReferrersIndex(bytes, undefined, 'x').manifests, [d(9)]);
    expect(changed).toBe(true);
    expect(readReferrersIndex(out, undefined, 'x').manifests).toEqual([d(9)]);
  });
});
