/**
 * The mutating webhook: allowed reviews carry a JSON Patch pinning every image to the digest that
 * was verified; the patch is applied here (RFC 6902 `replace`, RFC 6901 pointers) to the request's
 * object, to check it is valid and yields exactly the verified digests.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { handleAdmissionReview, imagesOf, type AdmissionVerifier, type AdmissionVerifyInput } from '../../../src/admission';
import { CONNAISSEUR_DIR, FakeVerifier, connaisseur } from './fixtures';

/** A deterministic "verified digest" per image, so the test can predict every pinned value. */
const digestFor = (image: string) => `sha256:${createHash('sha256').update(image).digest('hex')}`;

class DigestVerifier implements AdmissionVerifier {
  readonly calls: AdmissionVerifyInput[] = [];
  constructor(private readonly deny: (image: string) => boolean = () => false) {}
  async verify(input: AdmissionVerifyInput) {
    this.calls.push(input);
    const allowed = !this.deny(input.image);
    return {
      allowed,
      reasons: [allowed ? 'signed' : 'unsigned'],
      warnings: [],
      digest: digestFor(input.image),
      image: input.image,
      rule: 'r',
      mode: 'enforce',
    };
  }
}

function decodePointer(pointer: string): string[] {
  if (!pointer.startsWith('/')) throw new Error(`bad pointer ${pointer}`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** A JSON Patch operation as the answer's bytes give it: checked here, not trusted. */
interface PatchOperationJson {
  op: string;
  path: string;
  value: unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** RFC 6902 `replace`: the target must exist. Throws otherwise. */
function applyPatch<T>(doc: T, ops: PatchOperationJson[]): T {
  const out = structuredClone(doc);
  for (const o of ops) {
    if (o.op !== 'replace') throw new Error(`unexpected op ${o.op}`);
    const tokens = decodePointer(o.path);
    let node: unknown = out;
    for (const t of tokens.slice(0, -1)) {
      node = Array.isArray(node) ? node[Number(t)] : isObject(node) ? node[t] : undefined;
      if (node === undefined) throw new Error(`path ${o.path} does not exist`);
    }
    const last = tokens[tokens.length - 1]!;
    if (!isObject(node) || !(Array.isArray(node) ? Number(last) < node.length : Object.prototype.hasOwnProperty.call(node, last)))
      throw new Error(`path ${o.path} does not exist`);
    node[last] = o.value;
  }
  return out;
}

const files = fs
  .readdirSync(CONNAISSEUR_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

let patchedReviews = 0;
afterAll(() => {
  // The vectors include several workloads with tag-only images: the loop above must have patched them.
  expect(patchedReviews).toBeGreaterThanOrEqual(10);
});

describe('POST /mutate on the Connaisseur AdmissionReviews', () => {
  test.each(files)('%s', async (file) => {
    const review = connaisseur(file);
    const verifier = new DigestVerifier();
    let answer;
    try {
      answer = await handleAdmissionReview(review, verifier, { mutate: true });
    } catch {
      // Malformed envelopes are a 400 at the HTTP layer, with or without mutation.
      await expect(handleAdmissionReview(review, new FakeVerifier(), {})).rejects.toThrow();
      return;
    }
    const r = answer.response;
    if (!r.allowed || verifier.calls.length === 0) {
      expect(r.patch).toBeUndefined();
      expect(r.patchType).toBeUndefined();
      return;
    }
    const refs = imagesOf(review.request);
    const toPin = refs.filter((ref) => !ref.image.includes('@'));
    if (toPin.length === 0) {
      expect(r.patch).toBeUndefined();
      return;
    }
    expect(r.patchType).toBe('JSONPatch');
    patchedReviews++;
    const ops = JSON.parse(Buffer.from(r.patch!, 'base64').toString('utf8')) as PatchOperationJson[];
    expect(ops).toHaveLength(toPin.length);
    const patched = applyPatch(review.request.object, ops);
    // Every image is now pinned to exactly the digest its verification returned; nothing else changed.
    const after = imagesOf({ ...review.request, object: patched });
    expect(after.map((a) => a.path)).toEqual(refs.map((a) => a.path));
    for (const [i, ref] of refs.entries()) {
      const verifiedAs = verifier.calls.find((c) => c.image === ref.image)?.image ?? ref.image;
      expect(after[i]!.image).toBe(ref.image.includes('@') ? ref.image : `${ref.image}@${digestFor(verifiedAs)}`);
    }
    const withoutImages = (o: unknown) => JSON.stringify(o, (k, v: unknown) => (k === 'image' ? undefined : v));
    expect(withoutImages(patched)).toBe(withoutImages(review.request.object));
    // The pinned object passes the validating webhook as it is (pinned images are verified by digest).
    const again = await handleAdmissionReview({ ...review, request: { ...review.request, object: patched } }, new DigestVerifier(), {});
    expect(again.response.allowed).toBe(true);
  });

  test('a denied review carries no patch, even for the images that were allowed', async () => {
    const review = connaisseur('09_dply_multi_image.json');
    const first = imagesOf(review.request)[0]!.image;
    const answer = await handleAdmissionReview(review, new DigestVerifier((img) => img !== first), { mutate: true });
    expect(answer.response.allowed).toBe(false);
    expect(answer.response.patch).toBeUndefined();
  });

  test('a verdict without a well-formed digest is not pinned; /validate never patches', async () => {
    const review = connaisseur('02_pod.json');
    const bad = new FakeVerifier({}, { fallback: { allowed: true, digest: 'sha256:short' } });
    expect((await handleAdmissionReview(review, bad, { mutate: true })).response.patch).toBeUndefined();
    expect((await handleAdmissionReview(review, new DigestVerifier(), {})).response.patch).toBeUndefined();
  });
});
