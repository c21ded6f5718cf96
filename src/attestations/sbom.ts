/**
 * The package list of an SBOM predicate, flattened to one shape for SPDX 2.x, SPDX 3 and CycloneDX,
 * so that license and "banned package" policies need not know SBOM formats.
 *
 * Nothing is dropped: a package without a name is listed under its SPDX id (or "(unnamed)"), since
 * an SBOM that hides a package from a deny rule by omitting its name must not pass that rule.
 */
import { field, invalid, isList, isObject, nonEmptyString, type JsonObject } from './json';
import { classifyPredicateType } from './predicate-types';
import { parsePredicateObject } from './predicate-object';
import { isCycloneDx, isSpdx3Context, sniffContent } from './sniff';

export interface SbomPackage {
  name: string;
  version?: string;
  purl?: string;
  /** License ids or expressions as written (concluded first, then declared); NOASSERTION/NONE omitted. */
  licenses: string[];
}

export function sbomPackages(predicateType: string, predicate: unknown): SbomPackage[] {
  const doc = parsePredicateObject(predicate);
  // The content must be what its predicate type says: read as another format, a document has no
  // packages where that format keeps them, and its packages would pass every deny rule unseen.
  switch (classifyPredicateType(predicateType)) {
    case 'spdx':
      if (isSpdx3Context(doc['@context'])) return spdx3Packages(doc);
      if (typeof doc.spdxVersion !== 'string') {
        throw invalid(
          `the SBOM's predicate type is SPDX but it is no SPDX document (no "spdxVersion" nor SPDX 3 "@context"${contentHint(doc)})`,
        );
      }
      return spdx2Packages(doc);
    case 'cyclonedx':
      if (!isCycloneDx(doc))
        throw invalid(`the SBOM's predicate type is CycloneDX but it is no CycloneDX BOM (no "bomFormat": "CycloneDX"${contentHint(doc)})`);
      return cycloneDxPackages(doc);
    default:
      throw invalid(
        `predicate type ${predicateType} is not an SBOM; expected SPDX (https://spdx.dev/Document) or ` +
          'CycloneDX (https://cyclonedx.org/bom)',
      );
  }
}

/** What the document looks like instead, when it is recognisably something else. */
function contentHint(doc: JsonObject): string {
  const kind = sniffContent(doc);
  return kind === 'unknown'
    ? ''
    : `; it looks like ${kind === 'spdx2' || kind === 'spdx3' ? 'an SPDX document' : kind === 'cyclonedx' ? 'a CycloneDX BOM' : `a ${kind}`}`;
}

/** Values SPDX uses to say "no license information", which are not licenses. */
const NO_LICENSE = new Set(['NOASSERTION', 'NONE']);

function addLicense(licenses: string[], value: unknown): void {
  const text = nonEmptyString(value)?.trim();
  if (text !== undefined && !NO_LICENSE.has(text.toUpperCase()) && !licenses.includes(text)) licenses.push(text);
}

/**
 * SPDX 2.x `packages[]`. The `package*` spellings (`packageName`, `packageVersion`,
 * `packageLicenseDeclared`) are the tag-value names some generators emit in JSON (policy-controller's
 * example SBOM does); they are read as fallbacks.
 */
function spdx2Packages(doc: JsonObject): SbomPackage[] {
  const packages = doc.packages;
  if (packages === undefined || packages === null) return [];
  if (!Array.isArray(packages)) throw invalid('SPDX document: packages must be a list');
  return packages.map((p, i) => {
    if (!isObject(p)) throw invalid(`SPDX document: packages[${i}] is not an object`);
    const licenses: string[] = [];
    for (const key of ['licenseConcluded', 'packageLicenseConcluded', 'licenseDeclared', 'packageLicenseDeclared']) {
      addLicense(licenses, p[key]);
    }
    const purl = isList(p.externalRefs)
      ? p.externalRefs.find(
          (ref) => typeof field(ref, 'referenceType') === 'string' && String(field(ref, 'referenceType')).toLowerCase() === 'purl',
        )
      : undefined;
    return compactPackage({
      name: nonEmptyString(p.name) ?? nonEmptyString(p.packageName) ?? nonEmptyString(p.SPDXID) ?? '(unnamed)',
      version: nonEmptyString(p.versionInfo) ?? nonEmptyString(p.packageVersion),
      purl: nonEmptyString(field(purl, 'referenceLocator')),
      licenses,
    });
  });
}

/**
 * SPDX 3 JSON-LD: `software_Package` elements of `@graph`. Licenses are separate elements linked
 * by `hasConcludedLicense` / `hasDeclaredLicense` relationships.
 */
function spdx3Packages(doc: JsonObject): SbomPackage[] {
  const graph = doc['@graph'];
  if (!Array.isArray(graph)) throw invalid('SPDX 3 document: @graph must be a list');
  const elements = new Map<string, JsonObject>();
  for (const el of graph) {
    const id = isObject(el) ? (nonEmptyString(el.spdxId) ?? nonEmptyString(el['@id'])) : undefined;
    if (id !== undefined && isObject(el)) elements.set(id, el);
  }
  const licensesOf = new Map<string, string[]>();
  for (const rel of ['hasConcludedLicense', 'hasDeclaredLicense']) {
    for (const el of graph) {
      if (!isObject(el) || typeOf(el) !== 'Relationship' || el.relationshipType !== rel) continue;
      const from = nonEmptyString(el.from);
      if (from === undefined) continue;
      const list = licensesOf.get(from) ?? [];
      for (const to of Array.isArray(el.to) ? el.to : [el.to]) {
        const target = typeof to === 'string' ? elements.get(to) : undefined;
        addLicense(list, target?.simplelicensing_licenseExpression ?? target?.name ?? listedLicenseId(to));
      }
      licensesOf.set(from, list);
    }
  }
  const packages: SbomPackage[] = [];
  for (const el of graph) {
    if (!isObject(el) || typeOf(el) !== 'software_Package') continue;
    const id = nonEmptyString(el.spdxId) ?? nonEmptyString(el['@id']);
    const identifiers = isList(el.externalIdentifier) ? el.externalIdentifier : [];
    const purlId = identifiers.find((x) => field(x, 'externalIdentifierType') === 'packageUrl');
    packages.push(
      compactPackage({
        name: nonEmptyString(el.name) ?? id ?? '(unnamed)',
        version: nonEmptyString(el.software_packageVersion),
        purl: nonEmptyString(el.software_packageUrl) ?? nonEmptyString(field(purlId, 'identifier')),
        licenses: (id !== undefined ? licensesOf.get(id) : undefined) ?? [],
      }),
    );
  }
  return packages;
}

function typeOf(el: JsonObject): unknown {
  return el.type ?? el['@type'];
}

/** `https://spdx.org/licenses/MIT` → `MIT` when the license is referenced but not defined in the graph. */
function listedLicenseId(ref: unknown): string | undefined {
  return typeof ref === 'string' && ref.startsWith('https://spdx.org/licenses/') ? ref.slice(26) : undefined;
}

/** CycloneDX `components[]`, nested components included, in document order (depth-first). */
function cycloneDxPackages(bom: JsonObject): SbomPackage[] {
  const top = bom.components;
  if (top === undefined || top === null) return [];
  if (!Array.isArray(top)) throw invalid('CycloneDX BOM: components must be a list');
  const packages: SbomPackage[] = [];
  // Explicit stack (reversed pushes keep document order) instead of recursion: nesting is untrusted input.
  const stack: unknown[] = [];
  for (let i = top.length - 1; i >= 0; i--) stack.push(top[i]);
  while (stack.length > 0) {
    const c = stack.pop();
    if (!isObject(c)) throw invalid('CycloneDX BOM: every entry of components must be an object');
    const licenses: string[] = [];
    if (Array.isArray(c.licenses)) {
      for (const l of c.licenses) {
        addLicense(licenses, field(l, 'license', 'id') ?? field(l, 'license', 'name') ?? field(l, 'expression'));
      }
    }
    packages.push(
      compactPackage({
        name: nonEmptyString(c.name) ?? nonEmptyString(c['bom-ref']) ?? '(unnamed)',
        version: nonEmptyString(c.version),
        purl: nonEmptyString(c.purl),
        licenses,
      }),
    );
    if (Array.isArray(c.components)) for (let i = c.components.length - 1; i >= 0; i--) stack.push(c.components[i]);
  }
  return packages;
}

function compactPackage(p: { name: string; version: string | undefined; purl: string | undefined; licenses: string[] }): SbomPackage {
  return {
    name: p.name,
    ...(p.version !== undefined ? { version: p.version } : {}),
    ...(p.purl !== undefined ? { purl: p.purl } : {}),
    licenses: p.licenses,
  };
}
