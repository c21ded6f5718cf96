import { CountersignError } from '../../../src/shared/errors';
import { PREDICATE_TYPE, sbomPackages } from '../../../src/attestations';
import { V, readVector, readVectorJson, statementFromEnvelope, thrown } from './vectors';

describe('sbomPackages: SPDX 2.x', () => {
  it('cosign bom-go-mod.spdx.json has no packages', () => {
    expect(sbomPackages(PREDICATE_TYPE.SPDX, readVectorJson(V.cosignSpdx))).toEqual([]);
  });

  it("reads policy-controller's example (packageName/packageVersion spellings), omitting NOASSERTION", () => {
    expect(sbomPackages(PREDICATE_TYPE.SPDX, readVectorJson(V.policyControllerSpdx))).toEqual([
      { name: 'go1.16.4.linux-amd64', version: '1.16.4', licenses: ['LicenseRef-Golang-BSD-plus-Patents'] },
      { name: 'go', version: '1.16.4', licenses: [] },
    ]);
  });

  it('reads Trivy centos-7 SPDX with purls from externalRefs', () => {
    const packages = sbomPackages(PREDICATE_TYPE.SPDX, readVectorJson(V.trivyCentosSpdx));
    expect(packages.map((p) => p.name)).toEqual(['integration/testdata/fixtures/images/centos-7.tar.gz', 'centos', 'bash', 'openssl-libs']);
    expect(packages[2]).toEqual({
      name: 'bash',
      version: '4.2.46',
      purl: 'pkg:rpm/centos/bash@4.2.46-31.el7?arch=x86_64&distro=centos-7.6.1810',
      licenses: ['GPLv3+'],
    });
  });

  it('reads the SPDX-2.3 conda golden', () => {
    const packages = sbomPackages('https://spdx.dev/Document/v2.3', readVectorJson(V.trivyCondaSpdx));
    expect(packages).toContainEqual({ name: 'openssl', version: '1.1.1q', purl: 'pkg:conda/openssl@1.1.1q', licenses: ['OpenSSL'] });
    expect(packages).toContainEqual({ name: 'pip', version: '22.2.2', purl: 'pkg:conda/pip@22.2.2', licenses: ['MIT'] });
    expect(packages).toHaveLength(3);
  });

  it('reads a legacy cosign --type spdx predicate, stored as a JSON string', () => {
    const asString = readVector(V.policyControllerSpdx).toString('utf8');
    expect(sbomPackages(PREDICATE_TYPE.SPDX, asString).map((p) => p.name)).toEqual(['go1.16.4.linux-amd64', 'go']);
  });

  it('keeps packages without a name under their SPDX id', () => {
    const doc = { spdxVersion: 'SPDX-2.3', packages: [{ SPDXID: 'SPDXRef-anon' }, {}] };
    expect(sbomPackages(PREDICATE_TYPE.SPDX, doc).map((p) => p.name)).toEqual(['SPDXRef-anon', '(unnamed)']);
  });
});

describe('sbomPackages: SPDX 3', () => {
  it('reads software_Package elements and their license relationships', () => {
    const doc = {
      '@context': 'https://spdx.org/rdf/3.0.1/spdx-context.jsonld',
      '@graph': [
        {
          type: 'software_Package',
          spdxId: 'urn:p1',
          name: 'openssl',
          software_packageVersion: '3.0.13',
          externalIdentifier: [
            { type: 'ExternalIdentifier', externalIdentifierType: 'packageUrl', identifier: 'pkg:apk/alpine/openssl@3.0.13' },
          ],
        },
        { type: 'software_Package', spdxId: 'urn:p2', name: 'zlib', software_packageUrl: 'pkg:apk/alpine/zlib@1.3' },
        { type: 'simplelicensing_LicenseExpression', spdxId: 'urn:l1', simplelicensing_licenseExpression: 'Apache-2.0' },
        { type: 'Relationship', spdxId: 'urn:r1', from: 'urn:p1', relationshipType: 'hasConcludedLicense', to: ['urn:l1'] },
        {
          type: 'Relationship',
          spdxId: 'urn:r2',
          from: 'urn:p2',
          relationshipType: 'hasDeclaredLicense',
          to: ['https://spdx.org/licenses/Zlib'],
        },
        { type: 'Relationship', spdxId: 'urn:r3', from: 'urn:p2', relationshipType: 'contains', to: ['urn:p1'] },
      ],
    };
    expect(sbomPackages('https://spdx.dev/Document/v3', doc)).toEqual([
      { name: 'openssl', version: '3.0.13', purl: 'pkg:apk/alpine/openssl@3.0.13', licenses: ['Apache-2.0'] },
      { name: 'zlib', purl: 'pkg:apk/alpine/zlib@1.3', licenses: ['Zlib'] },
    ]);
  });
});

describe('sbomPackages: CycloneDX', () => {
  it('cosign bom-go-mod.cyclonedx.json has no components', () => {
    expect(sbomPackages(PREDICATE_TYPE.CYCLONEDX, readVectorJson(V.cosignCdx))).toEqual([]);
  });

  it('reads Trivy centos-7 CycloneDX 1.5 (license names)', () => {
    expect(sbomPackages(PREDICATE_TYPE.CYCLONEDX, readVectorJson(V.trivyCentosCdx))).toEqual([
      {
        name: 'bash',
        version: '4.2.46-31.el7',
        purl: 'pkg:rpm/centos/bash@4.2.46-31.el7?arch=x86_64&distro=centos-7.6.1810',
        licenses: ['GPLv3+'],
      },
      {
        name: 'openssl-libs',
        version: '1.0.2k-16.el7',
        purl: 'pkg:rpm/centos/openssl-libs@1.0.2k-16.el7?arch=x86_64&epoch=1&distro=centos-7.6.1810',
        licenses: ['OpenSSL+'],
      },
      { name: 'centos', version: '7.6.1810', licenses: [] },
    ]);
  });

  it("reads the CycloneDX inside Trivy's .intoto.jsonl statement", () => {
    const { predicateType, predicate } = statementFromEnvelope(V.trivyCentosIntoto);
    expect(sbomPackages(predicateType, predicate).map((p) => p.name)).toContain('bash');
  });

  it('reads license ids (grype golden) and the fluentd goldens', () => {
    const grype = sbomPackages('https://cyclonedx.org/bom/v1.7', readVectorJson(V.grypeCdxGolden));
    expect(grype[1]).toEqual({ name: 'package-2', version: '2.2.2', purl: 'pkg:deb/package-2@2.2.2', licenses: ['Apache-2.0', 'MIT'] });
    for (const file of [V.trivyFluentdCdx16, V.trivyFluentdCdx17]) {
      const fluentd = sbomPackages(PREDICATE_TYPE.CYCLONEDX, readVectorJson(file));
      expect(fluentd.map((p) => p.name)).toEqual(['debian', 'bash', 'libidn2-0', 'activesupport']);
      expect(fluentd.find((p) => p.name === 'activesupport')?.licenses).toEqual(['MIT']);
    }
  });

  it('walks nested components depth-first in document order, and reads license expressions', () => {
    const bom = {
      bomFormat: 'CycloneDX',
      specVersion: '1.6',
      components: [
        {
          name: 'a',
          components: [{ name: 'a1', components: [{ name: 'a1x', licenses: [{ expression: 'MIT OR Apache-2.0' }] }] }, { name: 'a2' }],
        },
        { name: 'b' },
      ],
    };
    const packages = sbomPackages(PREDICATE_TYPE.CYCLONEDX, bom);
    expect(packages.map((p) => p.name)).toEqual(['a', 'a1', 'a1x', 'a2', 'b']);
    expect(packages[2]!.licenses).toEqual(['MIT OR Apache-2.0']);
  });

  it('copes with very deep nesting without overflowing the stack', () => {
    let inner: Record<string, unknown> = { name: 'leaf' };
    for (let i = 0; i < 20000; i++) inner = { name: `n${i}`, components: [inner] };
    const packages = sbomPackages(PREDICATE_TYPE.CYCLONEDX, { bomFormat: 'CycloneDX', specVersion: '1.6', components: [inner] });
    expect(packages).toHaveLength(20001);
    expect(packages[packages.length - 1]!.name).toBe('leaf');
  });
});

describe('sbomPackages: refusals', () => {
  it('refuses predicate types that are not SBOMs', () => {
    const err = thrown(() => sbomPackages(PREDICATE_TYPE.COSIGN_VULN, readVectorJson(V.cosignVulnPredicate)));
    expect(err).toBeInstanceOf(CountersignError);
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(/not an SBOM/);
  });

  it('refuses malformed package lists instead of returning none', () => {
    expect(thrown(() => sbomPackages(PREDICATE_TYPE.SPDX, { spdxVersion: 'SPDX-2.3', packages: 'x' })).message).toMatch(
      /packages must be a list/,
    );
    expect(thrown(() => sbomPackages(PREDICATE_TYPE.SPDX, { spdxVersion: 'SPDX-2.3', packages: [null] })).message).toMatch(/packages\[0\]/);
    expect(thrown(() => sbomPackages(PREDICATE_TYPE.SPDX, 'not json')).message).toMatch(/does not hold a JSON document/);
  });
});
