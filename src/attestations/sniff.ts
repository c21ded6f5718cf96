/**
 * Recognises what a JSON document is, independently of the predicate type the caller claimed.
 * Used to wrap raw scanner reports, and to turn "wrong --type" mistakes into an error that names
 * the right type instead of a generic "field X missing".
 */
import { field, isObject, type JsonObject } from './json';

export type ContentKind =
  'spdx2' | 'spdx3' | 'cyclonedx' | 'trivy-report' | 'grype-report' | 'vuln-predicate' | 'intoto-statement' | 'dsse-envelope' | 'unknown';

export function sniffContent(doc: JsonObject): ContentKind {
  if (typeof doc.payloadType === 'string' && typeof doc.payload === 'string' && Array.isArray(doc.signatures)) {
    return 'dsse-envelope';
  }
  if (typeof doc._type === 'string' && doc._type.startsWith('https://in-toto.io/Statement/')) return 'intoto-statement';
  if (typeof doc.spdxVersion === 'string') return 'spdx2';
  if (isSpdx3Context(doc['@context'])) return 'spdx3';
  if (doc.bomFormat === 'CycloneDX') return 'cyclonedx';
  if (isTrivyReport(doc)) return 'trivy-report';
  if (isGrypeReport(doc)) return 'grype-report';
  if (isObject(doc.scanner) && isObject(doc.metadata)) return 'vuln-predicate';
  return 'unknown';
}

/** Trivy `--format json`: `SchemaVersion` (2 since Trivy 0.20) plus `Results` or `ArtifactName`. */
export function isTrivyReport(doc: unknown): boolean {
  return isObject(doc) && typeof doc.SchemaVersion === 'number' && (Array.isArray(doc.Results) || typeof doc.ArtifactName === 'string');
}

/** Grype `-o json`: `matches` plus `descriptor.name === "grype"`. */
export function isGrypeReport(doc: unknown): boolean {
  return isObject(doc) && Array.isArray(doc.matches) && field(doc, 'descriptor', 'name') === 'grype';
}

export function isCycloneDx(doc: unknown): boolean {
  return isObject(doc) && doc.bomFormat === 'CycloneDX';
}

/**
 * SPDX 3 JSON-LD: `@context` names the SPDX 3 context, e.g.
 * "https://spdx.org/rdf/3.0.1/spdx-context.jsonld" (a string, or one entry of an array).
 */
export function isSpdx3Context(context: unknown): boolean {
  const entries = Array.isArray(context) ? context : [context];
  return entries.some((c) => typeof c === 'string' && /^https?:\/\/spdx\.org\/rdf\/3[./]/.test(c));
}

/** How to name a content kind in an error message, with the `--type` that would fit it. */
export function describeContentKind(kind: ContentKind): string {
  switch (kind) {
    case 'spdx2':
      return 'an SPDX 2 JSON document (use --type spdxjson)';
    case 'spdx3':
      return 'an SPDX 3 JSON-LD document (use --type https://spdx.dev/Document/v3)';
    case 'cyclonedx':
      return 'a CycloneDX JSON BOM (use --type cyclonedx)';
    case 'trivy-report':
      return 'a Trivy JSON report (use --type vuln)';
    case 'grype-report':
      return 'a Grype JSON report (use --type vuln)';
    case 'vuln-predicate':
      return 'a vulnerability scan predicate (use --type vuln)';
    case 'intoto-statement':
      return 'a complete in-toto Statement';
    case 'dsse-envelope':
      return 'a DSSE envelope';
    case 'unknown':
      return 'a JSON object of unrecognised shape';
  }
}
