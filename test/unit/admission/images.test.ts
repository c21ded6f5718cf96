/**
 * Image extraction per workload kind, on the Connaisseur and kubewarden admission vectors
 * (shared/vectors INDEX.md §8) plus synthetic edge cases.
 */
import { groupImages, imagesOf, isWorkloadKind, MalformedObjectError, normalizeImage, type ImageRef } from '../../../src/admission';
import { connaisseur, kubewarden, kubewardenFiles } from './fixtures';

const DIGEST_91 = 'sha256:91ac9b26df583762234c1cdb2fc930364754ccc59bc752a2bfe298d2ea68f9ff';
const CHARLIE = `securesystemsengineering/charlie-image@${DIGEST_91}`;
const TPL = '/spec/template/spec';

function c(image: string, path: string, container: string, kind: ImageRef['kind'] = 'container'): ImageRef {
  return { image, path, container, kind };
}

describe('imagesOf on the Connaisseur vectors', () => {
  const cases: Array<[file: string, expected: ImageRef[]]> = [
    ['01_deployment.json', [c('securesystemsengineering/alice-image:test', `${TPL}/containers/0/image`, 'test-connaisseur')]],
    ['02_pod.json', [c(CHARLIE, '/spec/containers/0/image', 'test-connaisseur')]],
    ['03_replicaset.json', [c('securesystemsengineering/sample-san-sama:hai', `${TPL}/containers/0/image`, 'test-connaisseur')]],
    ['04_cronjob.json', [c('busybox', '/spec/jobTemplate/spec/template/spec/containers/0/image', 'yooob')]],
    ['05_replication_controller.json', [c('nginx', `${TPL}/containers/0/image`, 'nginx')]],
    ['06_daemonset.json', [c('quay.io/fluentd_elasticsearch/fluentd:v2.5.2', `${TPL}/containers/0/image`, 'fluentd-elasticsearch')]],
    ['07_statefulset.json', [c('registry.k8s.io/nginx-slim:0.8', `${TPL}/containers/0/image`, 'nginx')]],
    ['08_job.json', [c('perl:5.34.0', `${TPL}/containers/0/image`, 'pi')]],
    [
      '09_dply_multi_image.json',
      [
        c('redis:alpine', `${TPL}/containers/0/image`, 'redis'),
        c('mysql:8', `${TPL}/containers/1/image`, 'mysql'),
        c('busybox:1.32', `${TPL}/initContainers/0/image`, 'init', 'initContainer'),
      ],
    ],
    ['10_update.json', [c(`docker.io/library/redis:latest@sha256:${'1'.repeat(64)}`, `${TPL}/containers/0/image`, 'nginx')]],
    ['11_role.json', []],
    ['13_unknown_parent.json', [c(CHARLIE, '/spec/containers/0/image', 'test-connaisseur')]],
    ['14_deny_me_job.json', [c(`my.reg/deny-me@${DIGEST_91}`, `${TPL}/containers/0/image`, 'pi')]],
    ['15_allow_me_job.json', [c(`my.reg/allow-me@${DIGEST_91}`, `${TPL}/containers/0/image`, 'pi')]],
    ['16_mismatch_uid.json', [c(CHARLIE, '/spec/containers/0/image', 'test-connaisseur')]],
    ['17_deny_me_pod.json', [c(`my.reg/deny-me@${DIGEST_91}`, '/spec/containers/0/image', 'test-connaisseur')]],
    ['18_allow_me_pod.json', [c(`my.reg/allow-me@${DIGEST_91}`, '/spec/containers/0/image', 'test-connaisseur')]],
    [
      '19_pod_initcontainer.json',
      [
        c(CHARLIE, '/spec/containers/0/image', 'test-connaisseur'),
        c('nginx', '/spec/initContainers/0/image', 'my-initcontainer', 'initContainer'),
      ],
    ],
    [
      '20_pod_ephemeralcontainer.json',
      [
        c(CHARLIE, '/spec/containers/0/image', 'test-connaisseur'),
        c('nginx', '/spec/ephemeralContainers/0/image', 'my-initcontainer', 'ephemeralContainer'),
      ],
    ],
    ['22_allow_me_with_index_docker_io.json', [c('test-image', '/spec/containers/0/image', 'test-connaisseur')]],
    [
      '23_alice_digest_dpl.json',
      [c(`securesystemsengineering/alice-image@sha256:${'1234567890123456'.repeat(4)}`, `${TPL}/containers/0/image`, 'test-connaisseur')],
    ],
    [
      '24_alice_tag_digest_dpl.json',
      [
        c(
          `securesystemsengineering/alice-image:test@sha256:${'1234567890123456'.repeat(4)}`,
          `${TPL}/containers/0/image`,
          'test-connaisseur',
        ),
      ],
    ],
    ['27_deleted_deployment.json', [c('busybox', `${TPL}/containers/0/image`, 'test-connaisseur')]],
  ];

  test.each(cases)('%s', (file, expected) => {
    const review = connaisseur(file);
    expect(imagesOf(review.request)).toEqual(expected);
  });

  test('12_err_pod: a Pod without a pod spec is malformed (not silently image-free)', () => {
    expect(() => imagesOf(connaisseur('12_err_pod.json').request)).toThrow(MalformedObjectError);
    expect(() => imagesOf(connaisseur('12_err_pod.json').request)).toThrow(/no pod spec: \/spec/);
  });

  test('11_role: a Role is not a workload', () => {
    expect(isWorkloadKind(connaisseur('11_role.json').request)).toBe(false);
    expect(isWorkloadKind(connaisseur('02_pod.json').request)).toBe(true);
  });
});

describe('imagesOf on the kubewarden vectors', () => {
  const SIGNED = 'ghcr.io/kubewarden/test-verify-image-signatures:signed';
  const UNSIGNED = 'ghcr.io/kubewarden/test-verify-image-signatures:unsigned';
  const pathFor: Record<string, string> = {
    pod: '/spec/containers/0/image',
    cronjob: '/spec/jobTemplate/spec/template/spec/containers/0/image',
  };

  const created = kubewardenFiles().filter((f) => /^[a-z]+_creation_(un)?signed\.json$/.test(f));
  test('every kind has a signed and an unsigned vector', () => {
    expect(created).toHaveLength(16);
  });

  test.each(created)('%s', (file) => {
    const kind = file.split('_')[0]!;
    const refs = imagesOf(kubewarden(file).request);
    expect(refs.map((r) => r.image)).toEqual([file.includes('unsigned') ? UNSIGNED : SIGNED]);
    expect(refs[0]!.path).toBe(pathFor[kind] ?? `${TPL}/containers/0/image`);
    expect(refs[0]!.kind).toBe('container');
  });

  test('pod_creation_with_init_container.json: both lists, in order', () => {
    expect(imagesOf(kubewarden('pod_creation_with_init_container.json').request)).toEqual([
      c('nginx', '/spec/containers/0/image', 'nginx'),
      c('init', '/spec/initContainers/0/image', 'init', 'initContainer'),
    ]);
  });

  test('pod_creation_with_digest.json: tag+digest kept as written', () => {
    const refs = imagesOf(kubewarden('pod_creation_with_digest.json').request);
    expect(refs.map((r) => r.image)).toEqual(['nginx:v1.26@sha256:89102e348749bb17a6a651a4b2a17420e1a66d2a44a675b981973d49a5af3a5e']);
  });

  test.each(['pod_creation_signed_with_keyless_mode.json', 'pod_creation_signed_with_certificate.json'])('%s', (file) => {
    expect(imagesOf(kubewarden(file).request).map((r) => r.image)).toEqual(['ghcr.io/kubewarden/tests/pod-privileged:v0.2.1']);
  });
});

describe('imagesOf edge cases', () => {
  const pod = (spec: unknown): unknown => ({ kind: { group: '', version: 'v1', kind: 'Pod' }, object: { spec } });

  test('falls back to object.kind/apiVersion when the request has no kind', () => {
    const refs = imagesOf({
      object: { apiVersion: 'apps/v1', kind: 'Deployment', spec: { template: { spec: { containers: [{ name: 'a', image: 'x' }] } } } },
    });
    expect(refs).toEqual([c('x', `${TPL}/containers/0/image`, 'a')]);
  });

  test('a same-named kind in a foreign API group is not a workload', () => {
    expect(
      imagesOf({
        kind: { group: 'example.com', version: 'v1', kind: 'Deployment' },
        object: { spec: { template: { spec: { containers: [{ image: 'x' }] } } } },
      }),
    ).toEqual([]);
    expect(imagesOf({ kind: { group: '', version: 'v1', kind: 'toString' }, object: {} })).toEqual([]);
  });

  test('extensions/v1beta1 Deployment (old clusters) is a workload', () => {
    const refs = imagesOf({
      kind: { group: 'extensions', version: 'v1beta1', kind: 'Deployment' },
      object: { spec: { template: { spec: { containers: [{ name: 'a', image: 'x' }] } } } },
    });
    expect(refs.map((r) => r.image)).toEqual(['x']);
  });

  test('legacy EphemeralContainers kind (pods/ephemeralcontainers before 1.22)', () => {
    const refs = imagesOf({
      kind: { group: '', version: 'v1', kind: 'EphemeralContainers' },
      subResource: 'ephemeralcontainers',
      object: { kind: 'EphemeralContainers', ephemeralContainers: [{ name: 'debugger', image: 'busybox' }] },
    });
    expect(refs).toEqual([c('busybox', '/ephemeralContainers/0/image', 'debugger', 'ephemeralContainer')]);
  });

  test('pods/ephemeralcontainers with a whole Pod returns every image of the Pod', () => {
    const req = { ...connaisseur('20_pod_ephemeralcontainer.json').request, subResource: 'ephemeralcontainers' };
    expect(imagesOf(req).map((r) => r.kind)).toEqual(['container', 'ephemeralContainer']);
  });

  test('containers without an image (template defaults) are skipped; non-string images are malformed', () => {
    expect(
      imagesOf({
        kind: { group: 'apps', kind: 'Deployment' },
        object: { spec: { template: { spec: { containers: [{ name: 'a' }, { name: 'b', image: 'y' }] } } } },
      }),
    ).toEqual([c('y', `${TPL}/containers/1/image`, 'b')]);
    expect(() => imagesOf(pod({ containers: [{ name: 'a', image: 42 }] }) as never)).toThrow(
      /\/spec\/containers\/0\/image of the Pod is not a string/,
    );
  });

  test('a list that is not a list, a container that is not an object, a missing object', () => {
    expect(() => imagesOf(pod({ containers: { image: 'x' } }) as never)).toThrow(/\/spec\/containers of the Pod is not a list/);
    expect(() => imagesOf(pod({ containers: ['x'] }) as never)).toThrow(/\/spec\/containers\/0 of the Pod is not an object/);
    expect(() => imagesOf({ kind: { group: 'batch', kind: 'CronJob' }, object: null })).toThrow(MalformedObjectError);
    expect(() => imagesOf({ kind: { group: 'batch', kind: 'CronJob' }, object: { spec: { jobTemplate: {} } } })).toThrow(
      /\/spec\/jobTemplate\/spec is missing/,
    );
  });

  test('a Pod with no containers field is malformed', () => {
    expect(() => imagesOf(pod({ initContainers: [{ image: 'x' }] }) as never)).toThrow(/no \/spec\/containers/);
  });
});

describe('normalization and grouping', () => {
  test('22: test-image normalizes to index.docker.io/library/test-image:latest', () => {
    expect(normalizeImage('test-image')).toBe('index.docker.io/library/test-image:latest');
    expect(normalizeImage('docker.io/library/test-image')).toBe('index.docker.io/library/test-image:latest');
    expect(normalizeImage('index.docker.io/library/test-image:latest')).toBe('index.docker.io/library/test-image:latest');
    expect(normalizeImage('busybox')).toBe('index.docker.io/library/busybox:latest');
    expect(normalizeImage('quay.io/fluentd_elasticsearch/fluentd:v2.5.2')).toBe('quay.io/fluentd_elasticsearch/fluentd:v2.5.2');
    expect(normalizeImage('Not A Reference')).toBeUndefined();
  });

  test('spellings of the same image are verified once, every path kept', () => {
    const refs = [
      c('test-image', '/spec/containers/0/image', 'a'),
      c('docker.io/library/test-image:latest', '/spec/containers/1/image', 'b'),
      c('nginx', '/spec/initContainers/0/image', 'i', 'initContainer'),
      c('index.docker.io/library/test-image', '/spec/ephemeralContainers/0/image', 'e', 'ephemeralContainer'),
      c('BAD REF', '/spec/containers/2/image', 'x'),
    ];
    const groups = groupImages(refs);
    expect(groups.map((g) => [g.image, g.key, g.refs.map((r) => r.path)])).toEqual([
      [
        'test-image',
        'index.docker.io/library/test-image:latest',
        ['/spec/containers/0/image', '/spec/containers/1/image', '/spec/ephemeralContainers/0/image'],
      ],
      ['nginx', 'index.docker.io/library/nginx:latest', ['/spec/initContainers/0/image']],
      ['BAD REF', 'BAD REF', ['/spec/containers/2/image']],
    ]);
  });

  test('nginx:latest and nginx:1.25 stay distinct', () => {
    expect(groupImages([c('nginx:latest', '/a', 'a'), c('nginx:1.25', '/b', 'b')])).toHaveLength(2);
  });
});

describe('image volumes (volumes[].image.reference): pulled like container images, so checked like them', () => {
  const pod = (spec: Record<string, unknown>) => ({ kind: { group: '', version: 'v1', kind: 'Pod' }, object: { kind: 'Pod', spec } });
  const containers = [{ name: 'app', image: 'registry.example/app:1' }];

  test('after the containers, in document order, with the volume name and the pointer to the reference', () => {
    const refs = imagesOf(
      pod({
        containers,
        volumes: [
          { name: 'cfg', configMap: { name: 'x' } },
          { name: 'payload', image: { reference: 'evil.example/payload:1', pullPolicy: 'Always' } },
          { name: 'models', image: { reference: 'registry.example/app:1' } },
        ],
      }),
    );
    expect(refs).toEqual([
      c('registry.example/app:1', '/spec/containers/0/image', 'app'),
      c('evil.example/payload:1', '/spec/volumes/1/image/reference', 'payload', 'imageVolume'),
      c('registry.example/app:1', '/spec/volumes/2/image/reference', 'models', 'imageVolume'),
    ]);
    // One verification for an image used by a container and a volume alike, pinned at both places.
    expect(groupImages(refs).map((g) => g.refs.map((r) => r.path))).toEqual([
      ['/spec/containers/0/image', '/spec/volumes/2/image/reference'],
      ['/spec/volumes/1/image/reference'],
    ]);
  });

  test('in workload templates too (a CronJob, the deepest one)', () => {
    const refs = imagesOf({
      kind: { group: 'batch', version: 'v1', kind: 'CronJob' },
      object: {
        spec: { jobTemplate: { spec: { template: { spec: { containers, volumes: [{ name: 'p', image: { reference: 'x/y:1' } }] } } } } },
      },
    });
    expect(refs.map((r) => [r.kind, r.path])).toContainEqual([
      'imageVolume',
      '/spec/jobTemplate/spec/template/spec/volumes/0/image/reference',
    ]);
  });

  test('a template may leave the reference to be defaulted (skipped, as a container without an image is)', () => {
    expect(
      imagesOf(
        pod({
          containers,
          volumes: [
            { name: 'p', image: {} },
            { name: 'q', image: { reference: '' } },
          ],
        }),
      ),
    ).toHaveLength(1);
  });

  test.each([
    ['volumes is not a list', { volumes: { name: 'p' } }, '/spec/volumes of the Pod is not a list'],
    ['a volume is not an object', { volumes: ['p'] }, '/spec/volumes/0 of the Pod is not an object'],
    ['image is not an object', { volumes: [{ name: 'p', image: 'x/y:1' }] }, '/spec/volumes/0/image of the Pod is not an object'],
    [
      'the reference is not a string',
      { volumes: [{ name: 'p', image: { reference: ['x/y:1'] } }] },
      '/spec/volumes/0/image/reference of the Pod is not a string',
    ],
  ])('%s: malformed (denied: what would run cannot be said)', (_what, extra, message) => {
    expect(() => imagesOf(pod({ containers, ...extra }))).toThrow(MalformedObjectError);
    expect(() => imagesOf(pod({ containers, ...extra }))).toThrow(message);
  });
});
