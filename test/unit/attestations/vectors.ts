/**
 * Access to the third-party test vectors in shared/vectors (described in shared/vectors/INDEX.md).
 * Paths are relative to this file so the suite runs wherever the checkout lives.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const VECTORS_DIR = path.resolve(__dirname, '../../../../shared/vectors');

export function vectorPath(relative: string): string {
  return path.join(VECTORS_DIR, relative);
}

export function readVector(relative: string): Buffer {
  return fs.readFileSync(vectorPath(relative));
}

export function readVectorJson(relative: string): Record<string, unknown> {
  return JSON.parse(readVector(relative).toString('utf8')) as Record<string, unknown>;
}

/** A path into a parsed JSON document: member names and list indexes, e.g. ['scanner', 'result', 0, 'id']. */
export type JsonPath = readonly [string | number, ...Array<string | number>];

/** The object or list holding the last step of `path`; throws (failing the test) when the document has no such place. */
function holderOf(doc: unknown, path: JsonPath): Record<string | number, unknown> {
  let node = doc;
  for (const [i, key] of path.entries()) {
    if (typeof node !== 'object' || node === null) throw new Error(`the test document has no ${path.slice(0, i).join('.')} to edit`);
    if (i === path.length - 1) return node as Record<string | number, unknown>;
    node = (node as Record<string | number, unknown>)[key];
  }
  throw new Error('unreachable: a JsonPath has at least one step');
}

/** Sets the member at `path` of a test document (a vector edited into a hostile or broken variant). */
export function setIn(doc: unknown, path: JsonPath, value: unknown): void {
  holderOf(doc, path)[path[path.length - 1]!] = value;
}

/** Deletes the member at `path` of a test document. */
export function deleteIn(doc: unknown, path: JsonPath): void {
  Reflect.deleteProperty(holderOf(doc, path), path[path.length - 1]!);
}

/** The in-toto statement inside a DSSE envelope file (cosign policy testdata, Trivy .intoto.jsonl). */
export function statementFromEnvelope(relative: string): { predicateType: string; predicate: unknown; _type: string } {
  const envelope = JSON.parse(readVector(relative).toString('utf8').trim()) as { payload: string };
  return JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as {
    predicateType: string;
    predicate: unknown;
    _type: string;
  };
}

export const V = {
  cosignSpdx: 'cosign/test/testdata/bom-go-mod.spdx.json',
  cosignCdx: 'cosign/test/testdata/bom-go-mod.cyclonedx.json',
  cosignVulnPredicate: 'cosign/test/testdata/attestations/vuln-predicate.json',
  policyValidVuln: 'cosign/pkg/policy/testdata/valid/vuln',
  policyValidCustom: 'cosign/pkg/policy/testdata/valid/custom',
  policyMalformedVuln: 'cosign/pkg/policy/testdata/malformed/vuln',
  policyMalformedCustom: 'cosign/pkg/policy/testdata/malformed/custom',
  policyControllerSpdx: 'policy-controller/examples/sboms/example.spdx.json',
  trivyCentosSpdx: 'trivy/integration/testdata/fixtures/sbom/centos-7-spdx.json',
  trivyCentosCdx: 'trivy/integration/testdata/fixtures/sbom/centos-7-cyclonedx.json',
  trivyCentosIntoto: 'trivy/integration/testdata/fixtures/sbom/centos-7-cyclonedx.intoto.jsonl',
  trivyCondaSpdx: 'trivy/integration/testdata/conda-spdx.json.golden',
  trivyFluentdCdx16: 'trivy@6fb3fde916/integration/testdata/fluentd-multiple-lockfiles-short.cdx.json.golden',
  trivyFluentdCdx17: 'trivy/integration/testdata/fluentd-multiple-lockfiles-short.cdx.json.golden',
  trivyAlpine310: 'trivy/integration/testdata/alpine-310.json.golden',
  grypeCdxGolden: 'grype/grype/presenter/cyclonedx/testdata/snapshot/TestCycloneDxPresenterImage.golden',
  grypeJsonGolden: 'grype/grype/presenter/json/testdata/snapshot/TestJsonImgsPresenter.golden',
  grypeChainguardRuby: 'grype/grype/presenter/explain/testdata/chainguard-ruby-test.json',
  grypeKeycloak: 'grype/grype/presenter/explain/testdata/keycloak-test.json',
} as const;

/** Runs `fn` and returns the error it throws; fails the test when it does not throw. */
export function thrown(fn: () => unknown): Error & { code?: string; details?: Record<string, unknown> } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected the call to throw, but it returned');
}
