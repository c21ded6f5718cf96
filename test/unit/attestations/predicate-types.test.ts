import { CountersignError } from '../../../src/shared/errors';
import { PREDICATE_TYPE, classifyPredicateType, predicateTypeVersion, resolvePredicateType } from '../../../src/attestations';
import { V, statementFromEnvelope, thrown } from './vectors';

describe('resolvePredicateType', () => {
  it.each([
    ['spdx', 'https://spdx.dev/Document'],
    ['spdxjson', 'https://spdx.dev/Document'],
    ['cyclonedx', 'https://cyclonedx.org/bom'],
    ['vuln', 'https://cosign.sigstore.dev/attestation/vuln/v1'],
    ['slsaprovenance', 'https://slsa.dev/provenance/v0.2'],
    ['slsaprovenance02', 'https://slsa.dev/provenance/v0.2'],
    ['slsaprovenance1', 'https://slsa.dev/provenance/v1'],
    ['openvex', 'https://openvex.dev/ns'],
    ['custom', 'https://cosign.sigstore.dev/attestation/v1'],
    ['link', 'https://in-toto.io/Link/v1'],
  ])('maps the cosign shorthand %s to %s', (arg, uri) => {
    expect(resolvePredicateType(arg)).toBe(uri);
  });

  it('accepts shorthands regardless of case and surrounding blanks', () => {
    expect(resolvePredicateType('  SPDXJSON ')).toBe(PREDICATE_TYPE.SPDX);
    expect(resolvePredicateType('Vuln')).toBe(PREDICATE_TYPE.COSIGN_VULN);
  });

  it.each([
    'https://cosign.sigstore.dev/attestation/vuln/v1',
    'https://spdx.dev/Document/v2.3',
    'https://in-toto.io/attestation/vulns/v0.2',
    'https://example.com/my-predicate/v1?x=1#frag',
    'http://localhost:8080/p',
  ])('passes the absolute URI %s through unchanged', (uri) => {
    expect(resolvePredicateType(uri)).toBe(uri);
  });

  it.each([
    ['no scheme', 'cosign.sigstore.dev/attestation/vuln/v1'],
    ['no authority (URN)', 'urn:example:predicate'],
    ['empty authority', 'file:///etc/predicate'],
    ['unknown word', 'sbom'],
    ['whitespace inside', 'https://exa mple.com/p'],
    ['scheme only', 'https://'],
    ['relative path', '/attestation/vuln/v1'],
    ['an inherited property name', 'constructor'],
    ['__proto__', '__proto__'],
  ])('refuses %s (%s) with INVALID_ARGUMENT naming the valid forms', (_label, arg) => {
    const err = thrown(() => resolvePredicateType(arg));
    expect(err).toBeInstanceOf(CountersignError);
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain(arg);
    expect(err.message).toContain('spdxjson');
    expect(err.message).toContain('https://cosign.sigstore.dev/attestation/vuln/v1');
  });

  it('suggests adding https:// when the scheme is missing', () => {
    expect(thrown(() => resolvePredicateType('cosign.sigstore.dev/attestation/vuln/v1')).message).toContain(
      'did you mean "https://cosign.sigstore.dev/attestation/vuln/v1"',
    );
  });

  it('refuses an empty type and an absurdly long one', () => {
    expect(thrown(() => resolvePredicateType('')).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => resolvePredicateType('   ')).message).toMatch(/predicate type is required/);
    const long = `https://example.com/${'a'.repeat(3000)}`;
    expect(thrown(() => resolvePredicateType(long)).message).toMatch(/at most 2048/);
  });

  it('refuses the scheme-less predicateTypes of the cosign malformed/ vectors', () => {
    for (const file of [V.policyMalformedVuln, V.policyMalformedCustom]) {
      const { predicateType } = statementFromEnvelope(file);
      expect(predicateType).not.toMatch(/^https:/); // guard: the vector is what INDEX.md says it is
      expect(thrown(() => resolvePredicateType(predicateType)).code).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('classifyPredicateType', () => {
  it.each([
    ['https://spdx.dev/Document', 'spdx'],
    ['https://spdx.dev/Document/v2.3', 'spdx'],
    ['https://spdx.dev/Document/v3', 'spdx'],
    ['https://cyclonedx.org/bom', 'cyclonedx'],
    ['https://cyclonedx.org/bom/v1.5', 'cyclonedx'],
    ['https://cyclonedx.org/bom/v1.4', 'cyclonedx'],
    ['https://cosign.sigstore.dev/attestation/vuln/v1', 'cosign-vuln'],
    ['https://in-toto.io/attestation/vulns', 'intoto-vulns'],
    ['https://in-toto.io/attestation/vulns/v0.1', 'intoto-vulns'],
    ['https://in-toto.io/attestation/vulns/v0.2', 'intoto-vulns'],
    ['https://sigstore.dev/cosign/sign/v1', 'cosign-sign'],
  ])('%s is %s', (uri, kind) => {
    expect(classifyPredicateType(uri)).toBe(kind);
  });

  it.each([
    'https://cyclonedx.org/bomb',
    'https://cyclonedx.org/bom/',
    'https://cyclonedx.org/bom/v',
    'https://cyclonedx.org/bom/vX',
    'https://cyclonedx.org/bom/v1.5/extra',
    'https://spdx.dev/Documents',
    'http://spdx.dev/Document',
    'https://SPDX.dev/Document',
    'https://cosign.sigstore.dev/attestation/vuln/v2',
    'https://cosign.sigstore.dev/attestation/vuln/v1/',
    'cosign.sigstore.dev/attestation/vuln/v1',
    'https://cosign.sigstore.dev/attestation/v1',
    'https://slsa.dev/provenance/v1',
  ])('%s is other (no prefix or case-folded matching)', (uri) => {
    expect(classifyPredicateType(uri)).toBe('other');
  });

  it('classifies the predicateTypes of the cosign policy vectors as INDEX.md §5 requires', () => {
    expect(classifyPredicateType(statementFromEnvelope(V.policyValidVuln).predicateType)).toBe('cosign-vuln');
    // malformed/vuln differs only by the missing scheme: it must NOT count as a vuln attestation.
    expect(classifyPredicateType(statementFromEnvelope(V.policyMalformedVuln).predicateType)).toBe('other');
    expect(statementFromEnvelope(V.policyValidCustom).predicateType).toBe(PREDICATE_TYPE.COSIGN_CUSTOM);
    expect(statementFromEnvelope(V.policyMalformedCustom).predicateType).not.toBe(PREDICATE_TYPE.COSIGN_CUSTOM);
  });
});

describe('predicateTypeVersion', () => {
  it('returns the version of a versioned URI and nothing otherwise', () => {
    expect(predicateTypeVersion('https://cyclonedx.org/bom/v1.5', PREDICATE_TYPE.CYCLONEDX)).toBe('1.5');
    expect(predicateTypeVersion('https://spdx.dev/Document/v3', PREDICATE_TYPE.SPDX)).toBe('3');
    expect(predicateTypeVersion('https://cyclonedx.org/bom', PREDICATE_TYPE.CYCLONEDX)).toBeUndefined();
    expect(predicateTypeVersion('https://cyclonedx.org/bomb', PREDICATE_TYPE.CYCLONEDX)).toBeUndefined();
    expect(predicateTypeVersion('https://cyclonedx.org/bom/vnext', PREDICATE_TYPE.CYCLONEDX)).toBeUndefined();
  });
});
