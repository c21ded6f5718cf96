/**
 * handleAdmissionReview with a fake verifier, on every Connaisseur admission vector and the
 * kubewarden vectors (shared/vectors INDEX.md §8), plus deadlines, parallelism, failures and
 * message formatting.
 */
import {
  AdmissionReviewError,
  handleAdmissionReview,
  MAX_MESSAGE_CHARS,
  MAX_WARNING_CHARS,
  type AdmissionLogger,
  type AdmissionVerifier,
} from '../../../src/admission';
import type { Logger } from '../../../src/logging/logger';
import { CountersignError } from '../../../src/shared/errors';
import type { VerificationService } from '../../../src/verification/verification-service';
import { connaisseur, FakeVerifier, kubewarden, kubewardenFiles, MemoryLogger, type ReviewFixture } from './fixtures';

const DIGEST_91 = 'sha256:91ac9b26df583762234c1cdb2fc930364754ccc59bc752a2bfe298d2ea68f9ff';
const CHARLIE = `securesystemsengineering/charlie-image@${DIGEST_91}`;
const ALICE_DIGEST = `sha256:${'1234567890123456'.repeat(4)}`;

/** The composition root passes a VerificationService; this fails to compile if it stops fitting. */
const asAdmissionVerifier = (s: VerificationService): AdmissionVerifier => s;
/** …and so must the project's pino logger. */
const asAdmissionLogger = (l: Logger): AdmissionLogger => l;

/** Policy of the fake: busybox is unsigned, my.reg/deny-me is statically denied, the rest verifies. */
function connaisseurVerifier(): FakeVerifier {
  return new FakeVerifier({
    busybox: { allowed: false, reasons: ['no signature by a trusted key was found for index.docker.io/library/busybox:latest'] },
    [`my.reg/deny-me@${DIGEST_91}`]: { allowed: false, reasons: ['rule static-deny denies my.reg/deny-me: static deny'] },
  });
}

describe('Connaisseur admission vectors', () => {
  type Expect = { apiVersion: 'v1' | 'v1beta1'; uid: string; allowed: boolean; verified: string[]; message?: RegExp };
  const UID_POD = '0c3331b6-1812-11ea-b3fc-02897404852e';
  const UID_ALICE = '3a3a7b38-5512-4a85-94bb-3562269e0a6a';
  const cases: Array<[string, Expect]> = [
    [
      '01_deployment.json',
      { apiVersion: 'v1beta1', uid: UID_ALICE, allowed: true, verified: ['securesystemsengineering/alice-image:test'] },
    ],
    ['02_pod.json', { apiVersion: 'v1', uid: UID_POD, allowed: true, verified: [CHARLIE] }],
    [
      '03_replicaset.json',
      {
        apiVersion: 'v1beta1',
        uid: 'f8c8b687-fe68-48e2-8e2b-329567556307',
        allowed: true,
        verified: ['securesystemsengineering/sample-san-sama:hai'],
      },
    ],
    [
      '04_cronjob.json',
      {
        apiVersion: 'v1beta1',
        uid: '1d5c9e9a-a985-41ef-b87f-4bc6057e94a2',
        allowed: false,
        verified: ['busybox'],
        message:
          /^image "busybox" \(container "yooob" at \/spec\/jobTemplate\/spec\/template\/spec\/containers\/0\/image\) was denied: no signature by a trusted key was found for index\.docker\.io\/library\/busybox:latest\.$/,
      },
    ],
    [
      '05_replication_controller.json',
      { apiVersion: 'v1', uid: 'faa399ba-a51b-4790-a404-dd1aaac7421e', allowed: true, verified: ['nginx'] },
    ],
    [
      '06_daemonset.json',
      {
        apiVersion: 'v1',
        uid: '083cbdfe-ae0e-48ef-b944-8c4585c4aa90',
        allowed: true,
        verified: ['quay.io/fluentd_elasticsearch/fluentd:v2.5.2'],
      },
    ],
    [
      '07_statefulset.json',
      { apiVersion: 'v1', uid: '9412459c-09dc-4c90-b022-639eea4d2b2c', allowed: true, verified: ['registry.k8s.io/nginx-slim:0.8'] },
    ],
    ['08_job.json', { apiVersion: 'v1', uid: '4b84524b-2dc4-4e69-935d-833c86ff0c10', allowed: true, verified: ['perl:5.34.0'] }],
    [
      '10_update.json',
      {
        apiVersion: 'v1',
        uid: '6418f614-b7f1-4c57-94bf-14fc30b2d791',
        allowed: true,
        verified: [`docker.io/library/redis:latest@sha256:${'1'.repeat(64)}`],
      },
    ],
    ['11_role.json', { apiVersion: 'v1', uid: 'a13ec2e3-9c34-4fb7-9522-b191691b70e1', allowed: true, verified: [] }],
    [
      '12_err_pod.json',
      {
        apiVersion: 'v1',
        uid: UID_POD,
        allowed: false,
        verified: [],
        message: /cannot check the images of this object: the Pod object has no pod spec/,
      },
    ],
    ['13_unknown_parent.json', { apiVersion: 'v1beta1', uid: UID_POD, allowed: true, verified: [CHARLIE] }],
    [
      '14_deny_me_job.json',
      {
        apiVersion: 'v1',
        uid: '4b84524b-2dc4-4e69-935d-833c86ff0c10',
        allowed: false,
        verified: [`my.reg/deny-me@${DIGEST_91}`],
        message: /my\.reg\/deny-me@sha256:91ac.*static deny/,
      },
    ],
    [
      '15_allow_me_job.json',
      { apiVersion: 'v1', uid: '4b84524b-2dc4-4e69-935d-833c86ff0c10', allowed: true, verified: [`my.reg/allow-me@${DIGEST_91}`] },
    ],
    ['16_mismatch_uid.json', { apiVersion: 'v1', uid: UID_POD, allowed: true, verified: [CHARLIE] }],
    [
      '17_deny_me_pod.json',
      {
        apiVersion: 'v1',
        uid: UID_POD,
        allowed: false,
        verified: [`my.reg/deny-me@${DIGEST_91}`],
        message:
          /image "my\.reg\/deny-me@sha256:91ac9b26[0-9a-f]+" \(container "test-connaisseur" at \/spec\/containers\/0\/image\) was denied: .*static deny/,
      },
    ],
    ['18_allow_me_pod.json', { apiVersion: 'v1', uid: UID_POD, allowed: true, verified: [`my.reg/allow-me@${DIGEST_91}`] }],
    ['19_pod_initcontainer.json', { apiVersion: 'v1', uid: UID_POD, allowed: true, verified: [CHARLIE, 'nginx'] }],
    ['20_pod_ephemeralcontainer.json', { apiVersion: 'v1', uid: UID_POD, allowed: true, verified: [CHARLIE, 'nginx'] }],
    ['22_allow_me_with_index_docker_io.json', { apiVersion: 'v1', uid: UID_POD, allowed: true, verified: ['test-image'] }],
    [
      '23_alice_digest_dpl.json',
      { apiVersion: 'v1beta1', uid: UID_ALICE, allowed: true, verified: [`securesystemsengineering/alice-image@${ALICE_DIGEST}`] },
    ],
    [
      '24_alice_tag_digest_dpl.json',
      { apiVersion: 'v1beta1', uid: UID_ALICE, allowed: true, verified: [`securesystemsengineering/alice-image:test@${ALICE_DIGEST}`] },
    ],
    // Connaisseur semantics for objects with a deletionTimestamp: 27 (CREATE) verified, 28 (oldObject
    // already being deleted: finalizer bookkeeping) admitted without verification.
    [
      '27_deleted_deployment.json',
      { apiVersion: 'v1beta1', uid: UID_ALICE, allowed: false, verified: ['busybox'], message: /image "busybox".*no signature/ },
    ],
    ['28_deleted_deployment_updated.json', { apiVersion: 'v1beta1', uid: UID_ALICE, allowed: true, verified: [] }],
    // 29: only the new object has a deletionTimestamp → still verified (busybox is unsigned → denied).
    [
      '29_deleted_deployment_update_for_delete.json',
      { apiVersion: 'v1beta1', uid: UID_ALICE, allowed: false, verified: ['busybox'], message: /image "busybox"/ },
    ],
  ];

  test.each(cases)('%s', async (file, e) => {
    const verifier = connaisseurVerifier();
    const review = connaisseur(file);
    const out = await handleAdmissionReview(review, verifier);
    expect(out.apiVersion).toBe(`admission.k8s.io/${e.apiVersion}`);
    expect(out.kind).toBe('AdmissionReview');
    expect(out.response.uid).toBe(review.request.uid);
    expect(out.response.uid).toBe(e.uid);
    expect(out.response.allowed).toBe(e.allowed);
    expect(verifier.images()).toEqual(e.verified);
    if (e.allowed) {
      expect(out.response.status).toBeUndefined();
    } else {
      expect(out.response.status?.code).toBe(403);
      expect(out.response.status?.message).toMatch(e.message!);
    }
    // Validating only: never a patch.
    expect(out.response).not.toHaveProperty('patch');
    expect(out.response).not.toHaveProperty('patchType');
  });

  test('09_dply_multi_image: every image (containers and init container) is verified; each denied one is named', async () => {
    const verifier = new FakeVerifier({
      'busybox:1.32': { allowed: false, reasons: ['not signed'] },
      'mysql:8': { allowed: false, reasons: ['signed by revoked key k1', 'no SBOM attestation'] },
    });
    const out = await handleAdmissionReview(connaisseur('09_dply_multi_image.json'), verifier);
    expect(verifier.images().sort()).toEqual(['busybox:1.32', 'mysql:8', 'redis:alpine']);
    expect(out.apiVersion).toBe('admission.k8s.io/v1beta1');
    expect(out.response.allowed).toBe(false);
    expect(out.response.status!.message).toBe(
      '2 of 3 images denied. ' +
        'image "mysql:8" (container "mysql" at /spec/template/spec/containers/1/image) was denied: signed by revoked key k1; no SBOM attestation. ' +
        'image "busybox:1.32" (initContainer "init" at /spec/template/spec/initContainers/0/image) was denied: not signed.',
    );
  });

  test.each(['21_broken_admission_request.json', '25_null_request.json', '26_broken_update_admission_request.json'])(
    '%s: malformed review → AdmissionReviewError (HTTP 400), never an answer',
    async (file) => {
      const verifier = connaisseurVerifier();
      const p = handleAdmissionReview(connaisseur(file), verifier);
      await expect(p).rejects.toBeInstanceOf(AdmissionReviewError);
      await expect(p).rejects.toMatchObject({ httpStatus: 400, code: 'INVALID_ARGUMENT' });
      expect(verifier.calls).toHaveLength(0);
    },
  );

  test('21: the error says what is missing', async () => {
    await expect(handleAdmissionReview(connaisseur('21_broken_admission_request.json'), connaisseurVerifier())).rejects.toThrow(
      'request.uid is missing',
    );
    await expect(handleAdmissionReview(null, connaisseurVerifier())).rejects.toThrow(/expected a JSON object/);
  });

  test('DELETE and CONNECT are allowed without verification', async () => {
    for (const operation of ['DELETE', 'CONNECT']) {
      const review = connaisseur('27_deleted_deployment.json');
      review.request.operation = operation;
      const verifier = connaisseurVerifier();
      const out = await handleAdmissionReview(review, verifier);
      expect(out.response).toEqual({ uid: review.request.uid, allowed: true });
      expect(verifier.calls).toHaveLength(0);
    }
  });

  test('status updates are not verified; other subresources (ephemeralcontainers) are', async () => {
    const status = connaisseur('19_pod_initcontainer.json');
    status.request.operation = 'UPDATE';
    status.request.subResource = 'status';
    const v1 = connaisseurVerifier();
    expect((await handleAdmissionReview(status, v1)).response.allowed).toBe(true);
    expect(v1.calls).toHaveLength(0);

    const eph = connaisseur('20_pod_ephemeralcontainer.json');
    eph.request.operation = 'UPDATE';
    eph.request.subResource = 'ephemeralcontainers';
    const v2 = new FakeVerifier({ nginx: { allowed: false, reasons: ['unsigned'] } });
    const out = await handleAdmissionReview(eph, v2);
    expect(v2.images()).toEqual([CHARLIE, 'nginx']);
    expect(out.response.status?.message).toContain('ephemeralContainer "my-initcontainer" at /spec/ephemeralContainers/0/image');
  });

  test('10_update: UPDATE re-verifies images unchanged from oldObject (a key may have been revoked)', async () => {
    const review = connaisseur('10_update.json');
    expect(review.request.oldObject.spec.template.spec.containers[0]!.image).toBe(
      review.request.object.spec.template.spec.containers[0]!.image,
    );
    const verifier = new FakeVerifier({}, { fallback: { allowed: false, reasons: ['key k1 was revoked'] } });
    const out = await handleAdmissionReview(review, verifier);
    expect(verifier.calls).toHaveLength(1);
    expect(out.response.allowed).toBe(false);
    expect(out.response.status?.message).toContain('key k1 was revoked');
  });

  test('02_pod: the verifier gets action deploy, namespace, identity, labels and the deadline', async () => {
    const verifier = connaisseurVerifier();
    await handleAdmissionReview(connaisseur('02_pod.json'), verifier, { deadline: Date.now() + 5000 });
    expect(verifier.calls).toEqual([
      {
        image: CHARLIE,
        action: 'deploy',
        context: {
          namespace: 'test-connaisseur',
          identity: 'system:serviceaccount:kube-system:replicaset-controller',
          labels: { app: 'test-connaisseur', 'pod-template-hash': '76fbf58b7d' },
        },
        deadline: expect.any(Number) as unknown,
      },
    ]);
    expect(verifier.calls[0]!.deadline! - Date.now()).toBeGreaterThan(4000);
  });

  test('22: the same image spelled three ways is verified once, and the deny names every place', async () => {
    const review = connaisseur('22_allow_me_with_index_docker_io.json');
    const spec = review.request.object.spec;
    spec.containers.push({ name: 'second', image: 'index.docker.io/library/test-image:latest' });
    spec.initContainers = [{ name: 'init', image: 'docker.io/library/test-image' }];
    const verifier = new FakeVerifier({ 'test-image': { allowed: false, reasons: ['unsigned'] } });
    const out = await handleAdmissionReview(review, verifier);
    expect(verifier.images()).toEqual(['test-image']);
    expect(out.response.status!.message).toBe(
      'image "test-image" (container "test-connaisseur" at /spec/containers/0/image, container "second" at /spec/containers/1/image, ' +
        'initContainer "init" at /spec/initContainers/0/image) was denied: unsigned.',
    );
  });
});

describe('kubewarden vectors (bare requests wrapped as v1 reviews)', () => {
  const SIGNED = 'ghcr.io/kubewarden/test-verify-image-signatures:signed';
  const UNSIGNED = 'ghcr.io/kubewarden/test-verify-image-signatures:unsigned';
  const verifier = (): FakeVerifier =>
    new FakeVerifier(
      {
        [SIGNED]: { allowed: true, digest: 'sha256:1d9d3da4c60d27b77bb96bba738319c1c4424853fdd10f65982f9f2ca2422a72' },
        [UNSIGNED]: { allowed: false, reasons: [`verification of image ${UNSIGNED} failed`] },
      },
      { fallback: { allowed: false, reasons: ['unexpected image'] } },
    );
  const files = kubewardenFiles().filter((f) => /_creation_(un)?signed\.json$/.test(f));

  test.each(files)('%s', async (file) => {
    const v = verifier();
    const review = kubewarden(file);
    const out = await handleAdmissionReview(review, v);
    expect(out.apiVersion).toBe('admission.k8s.io/v1');
    expect(out.response.uid).toBe('1299d386-525b-4032-98ae-1949f69f9cfc');
    const signed = !file.includes('unsigned');
    expect(v.images()).toEqual([signed ? SIGNED : UNSIGNED]);
    expect(v.calls[0]!.context.identity).toBe('alice');
    expect(out.response.allowed).toBe(signed);
    if (!signed) expect(out.response.status!.message).toContain(`image "${UNSIGNED}" (container`);
    if (!signed) expect(out.response.status!.message).toContain(`verification of image ${UNSIGNED} failed`);
  });

  test('pod_creation_with_init_container: both images verified in one review', async () => {
    const v = new FakeVerifier({ init: { allowed: false, reasons: ['unsigned'] } });
    const out = await handleAdmissionReview(kubewarden('pod_creation_with_init_container.json'), v);
    expect(v.images().sort()).toEqual(['init', 'nginx']);
    expect(out.response.allowed).toBe(false);
    expect(out.response.status!.message).toMatch(/^1 of 2 images denied\. image "init" \(initContainer "init"/);
  });
});

describe('failures deny (fail closed), never a 500', () => {
  test('a verifier that throws a typed error denies that image with its message', async () => {
    const bad = 'Securesystemsengineering/Alice-Image:test';
    const review = connaisseur('01_deployment.json');
    review.request.object.spec.template.spec.containers.push({ name: 'bad', image: bad });
    const v = new FakeVerifier({
      [bad]: { throws: new CountersignError('INVALID_ARGUMENT', `invalid image reference "${bad}": repository names must be lowercase`) },
    });
    const out = await handleAdmissionReview(review, v);
    expect(v.calls).toHaveLength(2);
    expect(out.response.allowed).toBe(false);
    expect(out.response.status).toEqual({
      code: 403,
      message: `1 of 2 images denied. image "${bad}" (container "bad" at /spec/template/spec/containers/1/image) was denied: invalid image reference "${bad}": repository names must be lowercase.`,
    });
  });

  test('an untyped error denies without leaking its message to kubectl users, and is logged', async () => {
    const logger = new MemoryLogger();
    const v = new FakeVerifier({}, { fallback: { throws: new Error('secret internals at /etc/countersign') } });
    const out = await handleAdmissionReview(connaisseur('02_pod.json'), v, { logger });
    expect(out.response.allowed).toBe(false);
    expect(out.response.status!.message).not.toContain('secret');
    expect(out.response.status!.message).toContain('internal error while verifying the image');
    expect(out.response.status!.message).toContain('0c3331b6-1812-11ea-b3fc-02897404852e');
    expect(logger.lines.some((l) => l.level === 'error' && JSON.stringify(l.obj).includes('secret internals'))).toBe(true);
  });

  test('a verifier that throws synchronously, or returns no decision, denies', async () => {
    const sync: AdmissionVerifier = {
      verify() {
        throw new CountersignError('UNAVAILABLE', 'registry unreachable');
      },
    };
    const a = await handleAdmissionReview(connaisseur('02_pod.json'), sync);
    expect(a.response.allowed).toBe(false);
    expect(a.response.status!.message).toContain('registry unreachable');

    const nonsense = { verify: async () => ({ allowed: 'yes' }) } as unknown as AdmissionVerifier;
    const b = await handleAdmissionReview(connaisseur('02_pod.json'), nonsense);
    expect(b.response.allowed).toBe(false);
    expect(b.response.status!.message).toContain('the verifier returned no decision');
  });

  test('a deny without reasons still says which rule denied', async () => {
    const v = new FakeVerifier({}, { fallback: { allowed: false, reasons: [] } });
    const out = await handleAdmissionReview(connaisseur('02_pod.json'), v);
    expect(out.response.status!.message).toContain('denied by policy rule test-rule');
  });
});

describe('time', () => {
  test('all images are verified in parallel: every verification starts before any finishes', async () => {
    const delay = 300;
    const v = new FakeVerifier({}, { delayMs: delay });
    const t0 = Date.now();
    const out = await handleAdmissionReview(connaisseur('09_dply_multi_image.json'), v);
    const took = Date.now() - t0;
    expect(out.response.allowed).toBe(true);
    expect(v.calls).toHaveLength(3);
    // One after the other, the second would start after the first finished; the order of events
    // says it, not a wall-clock bound (which a loaded machine breaks).
    expect(v.finishedBeforeStart).toEqual([0, 0, 0]);
    expect(took).toBeGreaterThanOrEqual(delay - 5);
  });

  test('a verifier that never answers → deny at the deadline, all under one deadline', async () => {
    const v = new FakeVerifier({ 'redis:alpine': { allowed: true } }, { fallback: { hang: true } });
    const deadline = Date.now() + 400;
    const t0 = Date.now();
    const out = await handleAdmissionReview(connaisseur('09_dply_multi_image.json'), v, { deadline });
    const took = Date.now() - t0;
    // Answered at the deadline: not before it (timers never fire early), and every image was given
    // that one deadline (below) rather than a budget of its own.
    expect(took).toBeGreaterThanOrEqual(390);
    expect(out.response.allowed).toBe(false);
    expect(out.response.status!.message).toMatch(/^2 of 3 images denied\./);
    expect(out.response.status!.message).toContain('image "mysql:8"');
    expect(out.response.status!.message).toContain('did not finish within');
    expect(v.calls.every((c) => c.deadline === deadline)).toBe(true);
  });

  test('a deadline already past denies without waiting', async () => {
    const v = new FakeVerifier({}, { fallback: { hang: true } });
    const t0 = Date.now();
    const out = await handleAdmissionReview(connaisseur('02_pod.json'), v, { deadline: Date.now() - 1 });
    // The verifier hangs forever: an answer at all means nothing waited on it (a generous bound,
    // far below jest's timeout, for a machine under load).
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(out.response.allowed).toBe(false);
  });
});

describe('messages and warnings', () => {
  test('the deny message is capped at ~1000 characters and still names every denied image', async () => {
    const review = connaisseur('09_dply_multi_image.json');
    const long = 'x'.repeat(900);
    const v = new FakeVerifier({}, { fallback: { allowed: false, reasons: [`not signed: ${long}`] } });
    const out = await handleAdmissionReview(review, v);
    const msg = out.response.status!.message;
    expect(msg.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS);
    expect(msg).toContain('…');
    for (const image of ['busybox:1.32', 'redis:alpine', 'mysql:8']) expect(msg).toContain(`image "${image}"`);
  });

  test('control characters in reasons do not reach kubectl', async () => {
    const v = new FakeVerifier({}, { fallback: { allowed: false, reasons: ['line one\nline two\u001b[31m'] } });
    const out = await handleAdmissionReview(connaisseur('02_pod.json'), v);
    expect(out.response.status!.message).toContain('line one line two [31m');
    expect(out.response.status!.message).not.toContain('\n');
    expect(out.response.status!.message).not.toContain('\u001b');
  });

  test('warn-mode results: allowed, with warnings ≤ 120 characters, deduplicated (in image order: containers, then init)', async () => {
    const long = `no signature found for busybox:1.32 (rule workloads is in warn mode: allowed anyway) ${'y'.repeat(200)}`;
    const v = new FakeVerifier({
      'busybox:1.32': { allowed: true, mode: 'warn', warnings: [long, 'exception 0 expires soon'] },
      'mysql:8': { allowed: true, mode: 'warn', warnings: ['exception 0 expires soon'] },
    });
    const out = await handleAdmissionReview(connaisseur('09_dply_multi_image.json'), v);
    expect(out.response.allowed).toBe(true);
    expect(out.response.status).toBeUndefined();
    expect(out.response.warnings).toEqual(['exception 0 expires soon', long.slice(0, MAX_WARNING_CHARS - 1) + '…']);
    for (const w of out.response.warnings!) expect(w.length).toBeLessThanOrEqual(MAX_WARNING_CHARS);
  });

  test('warnings are capped in number', async () => {
    const v = new FakeVerifier({}, { fallback: { allowed: true, warnings: Array.from({ length: 50 }, (_, i) => `warning ${i}`) } });
    const out = await handleAdmissionReview(connaisseur('02_pod.json'), v);
    expect(out.response.warnings).toHaveLength(20);
    expect(out.response.warnings![19]).toMatch(/and 31 more warnings/);
  });

  test('no warnings → no warnings field', async () => {
    const out = await handleAdmissionReview(connaisseur('02_pod.json'), new FakeVerifier());
    expect(out.response).toEqual({ uid: '0c3331b6-1812-11ea-b3fc-02897404852e', allowed: true });
  });
});

describe('envelope validation', () => {
  const good = (): ReviewFixture => connaisseur('02_pod.json');
  test.each<[string, (r: ReviewFixture) => unknown, RegExp]>([
    ['an array', () => [], /expected a JSON object/],
    ['a string', () => 'AdmissionReview', /expected a JSON object/],
    ['apiVersion v2', (r) => ({ ...r, apiVersion: 'admission.k8s.io/v2' }), /unsupported apiVersion "admission\.k8s\.io\/v2"/],
    ['no apiVersion', (r) => ({ ...r, apiVersion: undefined }), /unsupported apiVersion null/],
    ['kind Pod', (r) => ({ ...r, kind: 'Pod' }), /unsupported kind "Pod"/],
    ['request null', (r) => ({ ...r, request: null }), /no request object/],
    ['uid empty', (r) => ({ ...r, request: { ...r.request, uid: '' } }), /request\.uid is missing or empty/],
    ['uid a number', (r) => ({ ...r, request: { ...r.request, uid: 7 } }), /request\.uid/],
    ['no operation', (r) => ({ ...r, request: { ...r.request, operation: undefined } }), /request\.operation is missing/],
  ])('%s → AdmissionReviewError', async (_name, make, message) => {
    const v = new FakeVerifier();
    await expect(handleAdmissionReview(make(good()), v)).rejects.toThrow(message);
    await expect(handleAdmissionReview(make(good()), v)).rejects.toBeInstanceOf(AdmissionReviewError);
    expect(v.calls).toHaveLength(0);
  });

  test('a workload review without an object is denied (fail closed), not allowed', async () => {
    const r = good();
    Reflect.deleteProperty(r.request, 'object');
    const v = new FakeVerifier();
    const out = await handleAdmissionReview(r, v);
    expect(out.response.allowed).toBe(false);
    expect(out.response.status!.message).toMatch(/the Pod object is missing/);
  });
});

describe('logging', () => {
  test('one structured line per review with uid, kind, namespace, name, operation, images, allowed, durationMs', async () => {
    const logger = new MemoryLogger();
    const v = new FakeVerifier({ 'mysql:8': { allowed: false, reasons: ['unsigned'] } });
    await handleAdmissionReview(connaisseur('09_dply_multi_image.json'), v, { logger });
    const lines = logger.reviews();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      uid: '4784c1dc-553f-4d53-a8d3-23c4bda880b6',
      kind: 'Deployment',
      namespace: 'connaisseur',
      name: 'test',
      operation: 'CREATE',
      images: ['redis:alpine', 'mysql:8', 'busybox:1.32'],
      allowed: false,
      denied: [{ image: 'mysql:8', reasons: ['unsigned'] }],
      durationMs: expect.any(Number) as unknown,
    });
  });

  test('skipped reviews say why', async () => {
    const logger = new MemoryLogger();
    await handleAdmissionReview(connaisseur('28_deleted_deployment_updated.json'), new FakeVerifier(), { logger });
    expect(logger.reviews()[0]).toMatchObject({
      allowed: true,
      operation: 'UPDATE',
      skipped: expect.stringContaining('being deleted') as unknown,
    });
  });
});

test('VerificationService fits AdmissionVerifier and pino fits AdmissionLogger (compile-time checks)', () => {
  expect(typeof asAdmissionVerifier).toBe('function');
  expect(typeof asAdmissionLogger).toBe('function');
});

describe('the image cap (verifyMany, shared with VerifyBatch)', () => {
  const podWith = (images: string[]) => {
    const review = connaisseur('02_pod.json');
    review.request.object.spec.containers = images.map((image, i) => ({ name: `c${i}`, image }));
    return review;
  };

  test('a Pod with 10,000 containers of distinct images is denied without verifying any', async () => {
    const v = new FakeVerifier();
    const logger = new MemoryLogger();
    const out = await handleAdmissionReview(podWith(Array.from({ length: 10_000 }, (_, i) => `reg.example.com/team/app${i}:1`)), v, {
      logger,
    });
    expect(out.response.allowed).toBe(false);
    expect(out.response.status!.code).toBe(403);
    expect(out.response.status!.message).toBe(
      'this object names 10000 distinct images and the admission webhook verifies at most 64 per object; none was verified',
    );
    expect(v.calls).toHaveLength(0);
    expect(logger.lines.find((l) => l.msg === 'admission review')!.obj).toMatchObject({ allowed: false, tooManyImages: 10_000 });
  });

  test('10,000 containers of one image are one verification (the cap counts distinct images)', async () => {
    const v = new FakeVerifier();
    const out = await handleAdmissionReview(podWith(Array.from({ length: 10_000 }, () => 'reg.example.com/team/app:1')), v);
    expect(out.response.allowed).toBe(true);
    expect(v.images()).toEqual(['reg.example.com/team/app:1']);
  });

  test('64 distinct images are verified', async () => {
    const v = new FakeVerifier();
    const out = await handleAdmissionReview(podWith(Array.from({ length: 64 }, (_, i) => `reg.example.com/team/app${i}:1`)), v);
    expect(out.response.allowed).toBe(true);
    expect(v.calls).toHaveLength(64);
  });
});
