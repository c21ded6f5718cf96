import { evidenceKind, parseManifest } from '../../../src/gate/manifests';

const j = (o: unknown) => Buffer.from(JSON.stringify(o));
const D = (c: string) => `sha256:${c.repeat(64)}`;
const FALLBACK = `sha256-${'a'.repeat(64)}`;
const image = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D('c'), size: 2 },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D('d'), size: 3 }],
};
const bundleReferrer = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
  config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: D('e'), size: 2 },
  layers: [{ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', digest: D('f'), size: 9 }],
  subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: D('1'), size: 5 },
};
const referrersIndex = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [{ mediaType: bundleReferrer.mediaType, digest: D('2'), size: 5, artifactType: bundleReferrer.artifactType }],
};
const platformIndex = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [{ mediaType: image.mediaType, digest: D('3'), size: 5, platform: { os: 'linux', architecture: 'amd64' } }],
};
const cosignSig = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D('4'), size: 2 },
  layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: D('5'), size: 200 }],
};

describe('evidence recognition is by body, never by name alone', () => {
  test('a sigstore bundle referrer by digest is evidence', () => {
    expect(evidenceKind(parseManifest(j(bundleReferrer), undefined), undefined)).toBe('referrer artifact');
  });
  test('a runnable image carrying a subject is content', () => {
    expect(evidenceKind(parseManifest(j({ ...image, subject: bundleReferrer.subject }), undefined), undefined)).toBeUndefined();
  });
  test('a WASM module with a subject is content (runtimes execute it)', () => {
    const wasm = { ...bundleReferrer, layers: [{ mediaType: 'application/vnd.wasm.content.layer.v1+wasm', digest: D('8'), size: 10 }] };
    expect(evidenceKind(parseManifest(j(wasm), undefined), undefined)).toBeUndefined();
  });
  test('a layer with no media type counts as runnable', () => {
    expect(
      evidenceKind(parseManifest(j({ ...bundleReferrer, layers: [{ digest: D('9'), size: 1 }] }), undefined), undefined),
    ).toBeUndefined();
  });
  test('the sha256-<hex> fallback index is evidence; an image or a platform index under that name is not', () => {
    expect(evidenceKind(parseManifest(j(referrersIndex), undefined), FALLBACK)).toBe('referrers fallback index');
    expect(evidenceKind(parseManifest(j(image), undefined), FALLBACK)).toBeUndefined();
    expect(evidenceKind(parseManifest(j(platformIndex), undefined), FALLBACK)).toBeUndefined();
    expect(
      evidenceKind(
        parseManifest(j({ ...referrersIndex, mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json' }), undefined),
        FALLBACK,
      ),
    ).toBeUndefined();
    expect(evidenceKind(parseManifest(Buffer.from('not json'), undefined), FALLBACK)).toBeUndefined();
  });
  test('cosign .sig/.att tags pass only with a non-runnable manifest', () => {
    expect(evidenceKind(parseManifest(j(cosignSig), undefined), `${FALLBACK}.sig`)).toBe('cosign signature/attestation tag');
    expect(evidenceKind(parseManifest(j(image), undefined), `${FALLBACK}.att`)).toBeUndefined();
    expect(evidenceKind(parseManifest(j(cosignSig), undefined), `sha256-abc.sig`)).toBeUndefined();
  });
  test('a bundle referrer under an ordinary tag is content', () => {
    expect(evidenceKind(parseManifest(j(bundleReferrer), undefined), 'latest')).toBeUndefined();
  });
  test('an index lists its children; unknown/unknown attestation entries are not platforms', () => {
    const p = parseManifest(
      j({ ...referrersIndex, manifests: [{ ...referrersIndex.manifests[0], platform: { os: 'unknown', architecture: 'unknown' } }] }),
      undefined,
    )!;
    expect(p).toMatchObject({ isIndex: true, runnable: false, children: [D('2')] });
    expect(parseManifest(j(platformIndex), undefined)).toMatchObject({ isIndex: true, runnable: true, children: [D('3')] });
  });
});

// Go's encoding/json (Distribution, containerd, skopeo, docker) matches object keys to fields
// case-insensitively, with Unicode simple folding (ſ → s, K → k), and the last of two matching
// keys wins. JSON.parse does neither: a body the gate reads as a layer-less referrer would be
// unpacked and run by every Go client. Such a body is never evidence (it is decided like content).
describe('evidence is never recognised in a body a Go client reads differently', () => {
  const tar = [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D('d'), size: 3 }];
  const { layers: _drop, ...noLayers } = bundleReferrer;
  test.each([
    ['"Layers" (case)', { ...noLayers, Layers: tar }],
    ['"LAYERS" after "layers"', { ...bundleReferrer, LAYERS: tar }],
    ['"layerſ" (U+017F folds to s)', { ...noLayers, layerſ: tar }],
    ['"MediaType" beside "mediaType"', { ...bundleReferrer, MediaType: 'application/vnd.oci.image.index.v1+json' }],
    ['"Subject"', { ...bundleReferrer, Subject: bundleReferrer.subject }],
    ['"fsLayers" (schema 1 layers)', { ...noLayers, schemaVersion: 1, fsLayers: [{ blobSum: D('d') }] }],
  ])('a referrer with %s', (_what, body) => {
    const parsed = parseManifest(j(body), undefined);
    expect(evidenceKind(parsed, undefined)).toBeUndefined();
    expect(evidenceKind(parsed, `${FALLBACK}.sig`)).toBeUndefined();
  });
  test('a layer descriptor whose "MediaType" a Go client reads instead of "mediaType"', () => {
    const layer = { ...bundleReferrer.layers[0], MediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' };
    expect(evidenceKind(parseManifest(j({ ...bundleReferrer, layers: [layer] }), undefined), undefined)).toBeUndefined();
  });
  test('a fallback index with a "Manifests" or "Layers" key is not evidence', () => {
    expect(evidenceKind(parseManifest(j({ ...referrersIndex, Manifests: platformIndex.manifests }), undefined), FALLBACK)).toBeUndefined();
    expect(evidenceKind(parseManifest(j({ ...referrersIndex, layers: tar }), undefined), FALLBACK)).toBeUndefined();
  });
  test('a body whose mediaType disagrees with the Content-Type it is served under is not evidence', () => {
    expect(evidenceKind(parseManifest(j(bundleReferrer), 'application/vnd.oci.image.index.v1+json'), undefined)).toBeUndefined();
    expect(evidenceKind(parseManifest(j(bundleReferrer), 'application/vnd.oci.image.manifest.v1+json'), undefined)).toBe(
      'referrer artifact',
    );
    expect(evidenceKind(parseManifest(j(bundleReferrer), 'application/json'), undefined)).toBe('referrer artifact');
  });
  test('an entry of a fallback index with a "Platform" a Go client sees is not evidence', () => {
    const entry = { ...referrersIndex.manifests[0], Platform: { os: 'linux', architecture: 'amd64' } };
    expect(evidenceKind(parseManifest(j({ ...referrersIndex, manifests: [entry] }), undefined), FALLBACK)).toBeUndefined();
  });
});

describe('evidence is never recognised in a manifest some client runs (each judged as that client decides)', () => {
  const EMPTY = 'application/vnd.oci.empty.v1+json';
  const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
  const withLayer = (layerType: unknown, config: unknown = { mediaType: EMPTY, digest: D('e'), size: 2 }) => ({
    ...bundleReferrer,
    ...(config === undefined ? {} : { config }),
    layers: [{ mediaType: layerType, digest: D('f'), size: 9 }],
  });
  const kindOf = (m: Record<string, unknown>) => evidenceKind(parseManifest(j(m), undefined), undefined);
  const { config: _config, ...noConfig } = withLayer('application/vnd.acme.report+json');

  // Docker's classic puller unpacks every layer of a manifest whose config type it takes for an
  // image's (moby's ImageTypes), sniffing the compression, whatever the layer's type says.
  test.each([
    ['application/octet-stream', OCI_CONFIG],
    ['', OCI_CONFIG],
    ['application/vnd.acme.report+json', OCI_CONFIG],
    ['application/vnd.acme.report+json', 'application/vnd.docker.container.image.v1+json'],
    ['application/vnd.acme.report+json', 'APPLICATION/VND.OCI.IMAGE.CONFIG.V1+JSON; charset=x'],
    ['application/vnd.acme.report+json', 'application/octet-stream'],
    ['application/vnd.acme.report+json', 'application/json'],
    ['application/vnd.acme.report+json', 'text/html'],
    ['application/vnd.acme.report+json', ''],
  ])('a layer of type %p under a config of type %p (an image to Docker) is runnable', (layerType, configType) => {
    expect(kindOf(withLayer(layerType, { mediaType: configType, digest: D('e'), size: 2 }))).toBeUndefined();
  });

  test('a config without a type, or no config at all, is an image to Docker too', () => {
    expect(kindOf(withLayer('application/vnd.acme.report+json', { digest: D('e'), size: 2 }))).toBeUndefined();
    expect(kindOf(noConfig)).toBeUndefined();
  });

  // Filesystem layer types are unpacked by containerd (so Kubernetes) whatever the config: case
  // and parameters do not hide them, nor does any type of the image or Docker namespaces.
  test.each([
    'APPLICATION/VND.OCI.IMAGE.LAYER.V1.TAR+GZIP',
    'application/vnd.oci.image.layer.v1.tar+zstd; foo=bar',
    ' application/vnd.docker.image.rootfs.diff.tar.gzip',
    'application/vnd.docker.image.ROOTFS.foreign.diff.tar.gzip',
    'application/vnd.oci.image.config.v1+json',
    'Application/Wasm',
  ])('a layer of type %p is runnable even under an artifact config', (layerType) => {
    expect(kindOf(withLayer(layerType))).toBeUndefined();
  });

  // Evidence is what is recognised: some client runs or deploys artifacts of types the gate does
  // not know (Helm charts, Apptainer images, Flux bundles…), and no list of those is complete.
  test.each([
    'application/vnd.acme.report+json',
    'application/octet-stream',
    'application/json',
    'text/plain',
    'application/vnd.cncf.helm.chart.content.v1.tar+gzip',
    'application/vnd.sylabs.sif.layer.v1.sif',
    'application/vnd.cncf.flux.content.v1.tar+gzip',
  ])('a layer of type %p, with a subject, under the empty config is content to decide, not evidence', (layerType) => {
    expect(kindOf(withLayer(layerType))).toBeUndefined();
  });

  test.each([
    ['a Helm chart', 'application/vnd.cncf.helm.config.v1+json'],
    ['an Apptainer image', 'application/vnd.sylabs.sif.config.v1+json'],
    ['an unknown artifact', 'application/vnd.acme.config.v1+json'],
  ])("%s's config, with a subject and a payload layer, is content to decide", (_what, configType) => {
    expect(kindOf(withLayer('application/vnd.in-toto+json', { mediaType: configType, digest: D('e'), size: 2 }))).toBeUndefined();
  });

  // What verifiers read stays readable by digest: every tool's signature, attestation and SBOM types.
  test.each([
    ['a Sigstore bundle', EMPTY, 'application/vnd.dev.sigstore.bundle.v0.3+json'],
    ['a Notation signature (OCI 1.1)', EMPTY, 'application/jose+json'],
    ['a Notation signature (its own config type)', 'application/vnd.cncf.notary.signature', 'application/cose'],
    ['an SPDX SBOM (oras attach)', EMPTY, 'application/spdx+json'],
    ['a CycloneDX SBOM', EMPTY, 'application/vnd.cyclonedx+json'],
    ['an in-toto attestation', EMPTY, 'application/vnd.in-toto+json'],
    ['an artifact whose only layer is the empty blob', EMPTY, EMPTY],
  ])('%s is evidence by digest', (_what, configType, layerType) => {
    expect(kindOf(withLayer(layerType, { mediaType: configType, digest: D('e'), size: 2 }))).toBe('referrer artifact');
  });

  // cosign's .sig / .att tags carry an image config type: only payload types of evidence pass there.
  test.each([
    'application/vnd.dev.cosign.simplesigning.v1+json',
    'application/vnd.dsse.envelope.v1+json',
    'application/vnd.in-toto+json',
    'application/vnd.dev.sigstore.bundle.v0.3+json',
    'application/spdx+json',
    'application/vnd.cyclonedx+json',
    'application/jose+json',
  ])('a %p layer under an image config is evidence (cosign legacy tags)', (layerType) => {
    const sig = { ...cosignSig, layers: [{ mediaType: layerType, digest: D('5'), size: 200 }] };
    expect(evidenceKind(parseManifest(j(sig), undefined), `${FALLBACK}.sig`)).toBe('cosign signature/attestation tag');
  });

  test('one runnable layer among payloads makes the whole manifest runnable', () => {
    const sig = { ...cosignSig, layers: [...cosignSig.layers, { mediaType: 'application/octet-stream', digest: D('6'), size: 9 }] };
    expect(evidenceKind(parseManifest(j(sig), undefined), `${FALLBACK}.att`)).toBeUndefined();
  });
});

describe('a sha256-<hex> tag is a referrers index only when every entry names an artifact', () => {
  const entry = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: D('2'), size: 5 };
  const index = (manifests: unknown[]) => ({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests });
  const kindOf = (m: Record<string, unknown>) => evidenceKind(parseManifest(j(m), undefined), FALLBACK);

  test.each([
    ['no artifactType (an image, as far as anyone can tell)', [entry]],
    ['an empty artifactType', [{ ...entry, artifactType: '' }]],
    ["an image config's type", [{ ...entry, artifactType: 'application/vnd.oci.image.config.v1+json' }]],
    ["a Docker image config's type, in upper case", [{ ...entry, artifactType: 'APPLICATION/VND.DOCKER.CONTAINER.IMAGE.V1+JSON' }]],
    ['a non-string artifactType', [{ ...entry, artifactType: 7 }]],
    ['one good entry and one without', [{ ...entry, artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json' }, entry]],
    ['an entry that is not an object', [{ ...entry, artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json' }, 'x']],
  ])('an entry with %s: not evidence', (_what, manifests) => {
    expect(kindOf(index(manifests))).toBeUndefined();
  });

  test('artifact entries (ggcr before v0.21.6 wrote the empty config type as artifactType) and an empty index are evidence', () => {
    expect(kindOf(index([{ ...entry, artifactType: 'application/vnd.oci.empty.v1+json' }]))).toBe('referrers fallback index');
    expect(kindOf(index([{ ...entry, artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json' }]))).toBe('referrers fallback index');
    expect(kindOf(index([]))).toBe('referrers fallback index');
  });
});

describe('what a manifest is: the one reading Verify uses too (src/registry/manifest-type.ts)', () => {
  const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
  const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
  const { mediaType: _drop, ...untyped } = platformIndex;

  test('a body that calls itself an image is an image, whatever lists it carries: its "manifests" cover no child', () => {
    const body = j({ ...platformIndex, mediaType: OCI_MANIFEST });
    const parsed = parseManifest(body, OCI_MANIFEST)!;
    expect(parsed.isIndex).toBe(false);
    expect(parsed.children).toEqual([]);
    expect(parsed.mediaType).toBe(OCI_MANIFEST);
  });

  test('a body without mediaType is an index by its shape, so served as an image it is ambiguous (Verify refuses it too)', () => {
    const asImage = parseManifest(j(untyped), OCI_MANIFEST)!;
    expect(asImage.isIndex).toBe(true);
    expect(asImage.ambiguous).toBe(true);
    // Served as the index it is: not ambiguous, and its platform child is covered.
    const asIndex = parseManifest(j(untyped), OCI_INDEX)!;
    expect(asIndex.ambiguous).toBe(false);
    expect(asIndex.children).toEqual([D('3')]);
  });
});
