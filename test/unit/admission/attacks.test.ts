/**
 * Attacks on the admission webhook by someone who controls the object being admitted (a Pod or a
 * workload): can an image that was NOT verified get to run, or can /mutate pin something other
 * than what was verified? The image-volume tests reproduced a hole found in a review (fixed in
 * src/admission/images.ts); the rest guard attacks the webhook already handled.
 */
import { createHash } from 'node:crypto';
import {
  handleAdmissionReview,
  type AdmissionReviewResponse,
  type AdmissionVerifier,
  type AdmissionVerifyInput,
} from '../../../src/admission';
import { FakeVerifier } from './fixtures';

const SIGNED = 'registry.example.com/team/app:1.4';
const EVIL = 'evil.example.com/payload:1';
const digestFor = (image: string) => `sha256:${createHash('sha256').update(image).digest('hex')}`;
const D_GOOD = `sha256:${'a'.repeat(64)}`;
const D_EVIL = `sha256:${'e'.repeat(64)}`;

/** Only SIGNED-ish images verify; anything else is "unsigned". Digest per image, predictable. */
class StrictVerifier implements AdmissionVerifier {
  readonly calls: AdmissionVerifyInput[] = [];
  constructor(private readonly allowed: (image: string) => boolean = (i) => i.startsWith('registry.example.com/')) {}
  async verify(input: AdmissionVerifyInput) {
    this.calls.push(input);
    const ok = this.allowed(input.image);
    return {
      allowed: ok,
      reasons: [ok ? 'signed by key k1' : `no signature by a trusted key was found for ${input.image}`],
      warnings: [],
      digest: digestFor(input.image),
      image: input.image,
      rule: 'r',
      mode: 'enforce',
    };
  }
  images(): string[] {
    return this.calls.map((c) => c.image);
  }
}

interface Review {
  apiVersion: string;
  kind: string;
  request: Record<string, unknown> & { object?: unknown };
}

function review(opts: {
  kind?: { group: string; version: string; kind: string };
  object: unknown;
  operation?: string;
  subResource?: string;
  oldObject?: unknown;
  resource?: string;
}): Review {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'u-1',
      kind: opts.kind ?? { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: opts.resource ?? 'pods' },
      ...(opts.subResource ? { subResource: opts.subResource } : {}),
      namespace: 'team',
      operation: opts.operation ?? 'CREATE',
      userInfo: { username: 'mallory' },
      object: opts.object,
      oldObject: opts.oldObject ?? null,
      dryRun: false,
    },
  };
}

const pod = (spec: Record<string, unknown>, metadata: Record<string, unknown> = { name: 'p' }) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata,
  spec,
});

/** The container images of a patched Pod (typed for the tests). */
const containerImages = (o: { spec: Record<string, unknown> }) => (o.spec.containers as Array<{ image: string }>).map((c) => c.image);

function patchOf(out: AdmissionReviewResponse): Array<{ op: string; path: string; value: string }> {
  if (!out.response.patch) return [];
  return JSON.parse(Buffer.from(out.response.patch, 'base64').toString('utf8')) as Array<{ op: string; path: string; value: string }>;
}

/** RFC 6902 replace + RFC 6901 pointers (only what pinningPatch emits). */
function applyPatch<T>(doc: T, ops: Array<{ op: string; path: string; value: string }>): T {
  const out = structuredClone(doc) as unknown;
  for (const o of ops) {
    expect(o.op).toBe('replace');
    const tokens = o.path
      .slice(1)
      .split('/')
      .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
    let node = out as Record<string, unknown>;
    for (const t of tokens.slice(0, -1)) node = node[t] as Record<string, unknown>;
    const last = tokens[tokens.length - 1]!;
    expect(Object.prototype.hasOwnProperty.call(node, last)).toBe(true);
    node[last] = o.value;
  }
  return out as T;
}

// ---------------------------------------------------------------------------------------------
// Findings: images the kubelet pulls that the webhook never looks at.
// ---------------------------------------------------------------------------------------------
describe('image volumes (spec.volumes[].image.reference, Kubernetes 1.31+, on by default in 1.35)', () => {
  const withVolume = (podSpecExtra: Record<string, unknown> = {}) => ({
    containers: [{ name: 'app', image: SIGNED, volumeMounts: [{ name: 'payload', mountPath: '/payload' }] }],
    volumes: [{ name: 'payload', image: { reference: EVIL, pullPolicy: 'Always' } }],
    ...podSpecExtra,
  });

  test('image volume in a Pod: a Pod mounting an unsigned image as a volume is denied', async () => {
    const v = new StrictVerifier();
    const out = await handleAdmissionReview(review({ object: pod(withVolume()) }), v);
    // The kubelet pulls EVIL and mounts its content into the signed container.
    expect(v.images()).toContain(EVIL);
    expect(out.response.allowed).toBe(false);
  });

  test('image volume in a Deployment template: a Deployment template with an unsigned image volume is denied', async () => {
    const v = new StrictVerifier();
    const dep = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd' },
      spec: { template: { metadata: {}, spec: withVolume() } },
    };
    const out = await handleAdmissionReview(review({ kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, object: dep }), v);
    expect(v.images()).toContain(EVIL);
    expect(out.response.allowed).toBe(false);
  });

  test('image volume pinned by /mutate: /mutate pins the image volume to a verified digest too', async () => {
    // Even when the volume image is allowed by policy, the tag must be pinned like a container image.
    const v = new StrictVerifier(() => true);
    const out = await handleAdmissionReview(review({ object: pod(withVolume()) }), v, { mutate: true });
    expect(out.response.allowed).toBe(true);
    const paths = patchOf(out).map((o) => o.path);
    expect(paths).toContain('/spec/containers/0/image');
    expect(paths).toContain('/spec/volumes/0/image/reference');
  });
});

// ---------------------------------------------------------------------------------------------
// Regression guards: attacks the webhook handles.
// ---------------------------------------------------------------------------------------------
describe('every container list, every workload kind, every operation that can start a container', () => {
  const spec = (image: string, list: 'containers' | 'initContainers' | 'ephemeralContainers') => ({
    containers: [{ name: 'app', image: list === 'containers' ? image : SIGNED }],
    ...(list !== 'containers' ? { [list]: [{ name: 'x', image, ...(list === 'initContainers' ? { restartPolicy: 'Always' } : {}) }] } : {}),
  });

  test.each(['containers', 'initContainers', 'ephemeralContainers'] as const)('unsigned image in Pod %s is denied', async (list) => {
    const v = new StrictVerifier();
    const out = await handleAdmissionReview(review({ object: pod(spec(EVIL, list)) }), v);
    expect(out.response.allowed).toBe(false);
    expect(out.response.status?.message).toContain(EVIL);
  });

  const kinds: Array<[string, string, (s: unknown) => unknown]> = [
    ['apps', 'Deployment', (s) => ({ spec: { template: { spec: s } } })],
    ['apps', 'ReplicaSet', (s) => ({ spec: { template: { spec: s } } })],
    ['apps', 'StatefulSet', (s) => ({ spec: { template: { spec: s } } })],
    ['apps', 'DaemonSet', (s) => ({ spec: { template: { spec: s } } })],
    ['batch', 'Job', (s) => ({ spec: { template: { spec: s } } })],
    ['', 'ReplicationController', (s) => ({ spec: { template: { spec: s } } })],
    ['batch', 'CronJob', (s) => ({ spec: { jobTemplate: { spec: { template: { spec: s } } } } })],
  ];
  test.each(kinds)('%s/%s template with an unsigned init container is denied', async (group, kind, wrap) => {
    const v = new StrictVerifier();
    const obj = {
      apiVersion: group ? `${group}/v1` : 'v1',
      kind,
      metadata: { name: 'w' },
      ...(wrap(spec(EVIL, 'initContainers')) as object),
    };
    const out = await handleAdmissionReview(review({ kind: { group, version: 'v1', kind }, object: obj }), v);
    expect(out.response.allowed).toBe(false);
  });

  test('pods/ephemeralcontainers UPDATE (whole Pod, 1.22+): the new ephemeral container is verified', async () => {
    const old = pod({ containers: [{ name: 'app', image: SIGNED }] });
    const neu = pod({ containers: [{ name: 'app', image: SIGNED }], ephemeralContainers: [{ name: 'debugger', image: EVIL }] });
    const v = new StrictVerifier();
    const out = await handleAdmissionReview(
      review({ object: neu, oldObject: old, operation: 'UPDATE', subResource: 'ephemeralcontainers' }),
      v,
    );
    expect(out.response.allowed).toBe(false);
    expect(out.response.status?.message).toContain('ephemeralContainer "debugger" at /spec/ephemeralContainers/0/image');
  });

  test('legacy EphemeralContainers object (1.16-1.21) is verified', async () => {
    const obj = {
      apiVersion: 'v1',
      kind: 'EphemeralContainers',
      metadata: { name: 'p' },
      ephemeralContainers: [{ name: 'd', image: EVIL }],
    };
    const v = new StrictVerifier();
    const out = await handleAdmissionReview(
      review({
        kind: { group: '', version: 'v1', kind: 'EphemeralContainers' },
        object: obj,
        operation: 'UPDATE',
        subResource: 'ephemeralcontainers',
      }),
      v,
    );
    expect(out.response.allowed).toBe(false);
  });

  test('in-place image UPDATE of a running Pod (kubectl set image) is verified', async () => {
    const old = pod({ containers: [{ name: 'app', image: SIGNED }] });
    const neu = pod({ containers: [{ name: 'app', image: EVIL }] });
    const v = new StrictVerifier();
    const out = await handleAdmissionReview(review({ object: neu, oldObject: old, operation: 'UPDATE' }), v);
    expect(out.response.allowed).toBe(false);
  });

  test('dryRun requests are judged like real ones', async () => {
    const r = review({ object: pod({ containers: [{ name: 'app', image: EVIL }] }) });
    r.request.dryRun = true;
    expect((await handleAdmissionReview(r, new StrictVerifier())).response.allowed).toBe(false);
  });

  test('deletionTimestamp only on the new object (or on a CREATE) does not skip verification', async () => {
    const deleting = pod({ containers: [{ name: 'app', image: EVIL }] }, { name: 'p', deletionTimestamp: '2024-01-01T00:00:00Z' });
    const create = await handleAdmissionReview(review({ object: deleting }), new StrictVerifier());
    expect(create.response.allowed).toBe(false);
    const upd = await handleAdmissionReview(
      review({ object: deleting, oldObject: pod({ containers: [{ name: 'app', image: SIGNED }] }), operation: 'UPDATE' }),
      new StrictVerifier(),
    );
    expect(upd.response.allowed).toBe(false);
  });

  test('request.kind decides, not object.kind: a Pod body labelled kind ConfigMap is still a Pod', async () => {
    const obj = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'p' }, spec: { containers: [{ name: 'a', image: EVIL }] } };
    const out = await handleAdmissionReview(review({ object: obj }), new StrictVerifier());
    expect(out.response.allowed).toBe(false);
  });

  test('a Pod with 0 containers but an unsigned init container is denied', async () => {
    const out = await handleAdmissionReview(
      review({ object: pod({ containers: [], initContainers: [{ name: 'i', image: EVIL }] }) }),
      new StrictVerifier(),
    );
    expect(out.response.allowed).toBe(false);
  });

  test('a container list that is not a list, or an image that is not a string, denies (fail closed)', async () => {
    for (const spec of [
      { containers: { 0: { name: 'a', image: EVIL } } },
      { containers: [{ name: 'a', image: [EVIL] }] },
      { containers: [null] },
    ]) {
      const out = await handleAdmissionReview(review({ object: pod(spec) }), new StrictVerifier(() => true));
      expect(out.response.allowed).toBe(false);
    }
  });
});

describe('image strings that normalize differently', () => {
  test('tag and digest disagree: the verifier is asked about the full reference (the digest the runtime pulls), no patch', async () => {
    const image = `registry.example.com/team/app:1.4@${D_EVIL}`;
    const v = new StrictVerifier(() => true);
    const out = await handleAdmissionReview(review({ object: pod({ containers: [{ name: 'a', image }] }) }), v, { mutate: true });
    expect(v.images()).toEqual([image]);
    expect(out.response.patch).toBeUndefined();
  });

  test('spellings that are distinct images are verified separately (not merged by normalization)', async () => {
    const images = [
      'nginx',
      'nginx ',
      ' nginx',
      'Nginx',
      'nginx@',
      'nginx:latest@',
      `nginx@sha512:${'a'.repeat(64)}`,
      'docker.io/nginx:1.25',
      `nginx@${D_GOOD}`,
    ];
    const v = new FakeVerifier();
    await handleAdmissionReview(review({ object: pod({ containers: images.map((image, i) => ({ name: `c${i}`, image })) }) }), v);
    // 'docker.io/nginx:1.25' differs by tag; everything else is distinct or unparsable and asked about as written.
    expect(new Set(v.images())).toEqual(new Set(images));
  });

  test('spellings of the same image share one verification and every one is pinned to its digest', async () => {
    const images = ['nginx', 'docker.io/library/nginx:latest', 'index.docker.io/nginx', 'index.docker.io/library/nginx:latest'];
    const v = new StrictVerifier(() => true);
    const obj = pod({ containers: images.map((image, i) => ({ name: `c${i}`, image })) });
    const out = await handleAdmissionReview(review({ object: obj }), v, { mutate: true });
    expect(v.images()).toEqual(['nginx']);
    const patched = applyPatch(obj, patchOf(out));
    expect(containerImages(patched)).toEqual(images.map((i) => `${i}@${digestFor('nginx')}`));
  });
});

// `name:tag@digest` with a decoy tag (a tag-scoped allow rule borrowed for an arbitrary digest,
// which runtimes pull ignoring the tag): decided in the verification service, which confirms such
// a tag with the registry first (test/unit/verification/verification-service.test.ts,
// "name:tag@digest").

describe('/mutate pins exactly what was verified, at the right place', () => {
  test('two containers with the same name and different images: each index gets its own digest', async () => {
    const obj = pod({
      containers: [
        { name: 'app', image: 'registry.example.com/a:1' },
        { name: 'app', image: 'registry.example.com/b:1' },
      ],
      initContainers: [{ name: 'app', image: 'registry.example.com/b:1' }],
      ephemeralContainers: [{ name: 'app', image: 'registry.example.com/a:1' }],
    });
    const v = new StrictVerifier(() => true);
    const out = await handleAdmissionReview(review({ object: obj }), v, { mutate: true });
    const ops = patchOf(out);
    expect(ops.map((o) => [o.path, o.value])).toEqual([
      ['/spec/containers/0/image', `registry.example.com/a:1@${digestFor('registry.example.com/a:1')}`],
      ['/spec/ephemeralContainers/0/image', `registry.example.com/a:1@${digestFor('registry.example.com/a:1')}`],
      ['/spec/containers/1/image', `registry.example.com/b:1@${digestFor('registry.example.com/b:1')}`],
      ['/spec/initContainers/0/image', `registry.example.com/b:1@${digestFor('registry.example.com/b:1')}`],
    ]);
    const patched = applyPatch(obj, ops);
    expect(containerImages(patched)[0]!.endsWith(digestFor('registry.example.com/a:1'))).toBe(true);
  });

  test('one denied image (anywhere) means no patch at all', async () => {
    const obj = pod({ containers: [{ name: 'a', image: SIGNED }], initContainers: [{ name: 'i', image: EVIL }] });
    const out = await handleAdmissionReview(review({ object: obj }), new StrictVerifier(), { mutate: true });
    expect(out.response.allowed).toBe(false);
    expect(out.response.patch).toBeUndefined();
  });

  test('a verdict digest of another algorithm or malformed is never written into the patch', async () => {
    for (const digest of [`sha512:${'a'.repeat(128)}`, `sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(64)}/x`, `${D_GOOD}@${D_EVIL}`]) {
      const v = new FakeVerifier({}, { fallback: { allowed: true, digest } });
      const out = await handleAdmissionReview(review({ object: pod({ containers: [{ name: 'a', image: SIGNED }] }) }), v, { mutate: true });
      expect(out.response.patch).toBeUndefined();
    }
  });

  test('the response uid is the request uid, byte for byte', async () => {
    const r = review({ object: pod({ containers: [{ name: 'a', image: SIGNED }] }) });
    r.request.uid = 'ü/~0~1"\\ 705ab4f5';
    const out = await handleAdmissionReview(r, new StrictVerifier(), { mutate: true });
    expect(out.response.uid).toBe(r.request.uid);
  });
});

describe('an UPDATE of a running Pod: everything is verified, only what the update writes is pinned', () => {
  const V = 'registry.example.com/team/data:1';
  const before = pod({
    containers: [{ name: 'app', image: SIGNED }],
    volumes: [{ name: 'data', image: { reference: V } }],
    ephemeralContainers: [{ name: 'debugger-1', image: 'registry.example.com/tools/debug:1' }],
  });

  test('a label change: every image verified, none pinned (volumes and existing ephemeral containers cannot change; a changed image restarts its container)', async () => {
    const after = { ...before, metadata: { name: 'p', labels: { team: 'x' } } };
    const v = new StrictVerifier(() => true);
    const out = await handleAdmissionReview(review({ object: after, oldObject: before, operation: 'UPDATE' }), v, { mutate: true });
    expect(out.response.allowed).toBe(true);
    expect(v.images().sort()).toEqual([SIGNED, V, 'registry.example.com/tools/debug:1'].sort());
    expect(patchOf(out)).toEqual([]);
  });

  test('still denied when an unchanged image no longer verifies (a revoked key): not pinning is not a pass', async () => {
    const v = new StrictVerifier((i) => i !== V);
    const out = await handleAdmissionReview(review({ object: before, oldObject: before, operation: 'UPDATE' }), v, { mutate: true });
    expect(out.response.allowed).toBe(false);
  });

  test('a new ephemeral container (kubectl debug) and a changed container image are pinned; the rest is left as it was', async () => {
    const after = pod({
      containers: [{ name: 'app', image: 'registry.example.com/team/app:1.5' }],
      volumes: [{ name: 'data', image: { reference: V } }],
      ephemeralContainers: [
        { name: 'debugger-1', image: 'registry.example.com/tools/debug:1' },
        { name: 'debugger-2', image: 'registry.example.com/tools/debug:2' },
      ],
    });
    const v = new StrictVerifier(() => true);
    const out = await handleAdmissionReview(
      review({ object: after, oldObject: before, operation: 'UPDATE', subResource: 'ephemeralcontainers' }),
      v,
      { mutate: true },
    );
    expect(patchOf(out).map((o) => o.path)).toEqual(['/spec/containers/0/image', '/spec/ephemeralContainers/1/image']);
  });

  test('an UPDATE of a workload template pins as a CREATE does (a template is not running)', async () => {
    const dep = (image: string) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      spec: { template: { spec: { containers: [{ name: 'app', image }] } } },
    });
    const v = new StrictVerifier(() => true);
    const out = await handleAdmissionReview(
      review({
        kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
        resource: 'deployments',
        object: dep(SIGNED),
        oldObject: dep(SIGNED),
        operation: 'UPDATE',
      }),
      v,
      { mutate: true },
    );
    expect(patchOf(out).map((o) => o.path)).toEqual(['/spec/template/spec/containers/0/image']);
  });
});
