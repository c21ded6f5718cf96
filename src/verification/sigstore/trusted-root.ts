/**
 * Sigstore trusted roots (`trusted_root.json`, as given to cosign with --trusted-root): loaded and
 * validated ONCE (at startup, or once per CLI run), then turned into @sigstore/verify trust
 * material that every verification reuses.
 *
 * Validation is strict because @sigstore/verify is lenient where leniency is dangerous: a key or
 * certificate authority without `validFor.start` is treated by it as trusted since 1970, which
 * widens trust silently (sigstore-conformance `trust-root-tlog-missing-validity-start_fail`).
 * Every problem is reported with the JSON path of the field, so that the operator can fix it.
 */
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PublicKeyDetails, TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial, type TrustMaterial } from '@sigstore/verify';
import { CountersignError } from '../../shared/errors';

/** A validated trusted root, parsed once. */
export interface SigstoreTrustRoot {
  /** How it is named in evidence and messages (the file name without `.json`, or given). */
  name: string;
  /** Where it came from (a file path), for messages. */
  source: string;
  root: TrustedRoot;
  /** Trust material built once; a per-verification key finder is swapped in (see withKeyFinder). */
  material: TrustMaterial;
}

export const TRUSTED_ROOT_MEDIA_TYPES = [
  'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  'application/vnd.dev.sigstore.trustedroot.v0.1+json',
  'application/vnd.dev.sigstore.trustedroot.v0.2+json',
];

/** Sigstore's public-good instance root, shipped with the project (public data; see trust/README.md). */
export const PUBLIC_GOOD_TRUSTED_ROOT = path.resolve(__dirname, '..', '..', '..', 'trust', 'sigstore-public-good.json');

/** RSA key encodings in trusted roots are PKCS#1 for these details; everything else is SPKI. */
const PKCS1_DETAILS = new Set(['PKCS1_RSA_PKCS1V5', 'PKCS1_RSA_PSS']);

export class TrustedRootError extends CountersignError {
  constructor(source: string, field: string, problem: string) {
    super('INVALID_ARGUMENT', `Sigstore trusted root ${source}: ${field}: ${problem}`, { details: { source, field } });
  }
}

/** Reads, validates and prepares one trusted_root.json. Throws TrustedRootError naming the field. */
export function loadTrustedRootFile(file: string, name?: string): SigstoreTrustRoot {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CountersignError('INVALID_ARGUMENT', `cannot read the Sigstore trusted root ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CountersignError('INVALID_ARGUMENT', `Sigstore trusted root ${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseTrustedRoot(json, file, name ?? path.basename(file).replace(/\.json$/, ''));
}

/** Validates a parsed trusted_root.json document and builds its trust material. */
export function parseTrustedRoot(json: unknown, source: string, name = source): SigstoreTrustRoot {
  validateTrustedRoot(json, source);
  let root: TrustedRoot;
  let material: TrustMaterial;
  try {
    root = TrustedRoot.fromJSON(json);
    material = toTrustMaterial(root);
  } catch (err) {
    throw new CountersignError('INVALID_ARGUMENT', `Sigstore trusted root ${source} could not be used: ${(err as Error).message}`);
  }
  return { name, source, root, material };
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks the document field by field; the first problem is thrown with its JSON path. */
export function validateTrustedRoot(json: unknown, source: string): void {
  const bad = (field: string, problem: string): never => {
    throw new TrustedRootError(source, field, problem);
  };
  if (!isObj(json)) bad('(document)', 'must be a JSON object');
  const doc = json as Obj;
  if (typeof doc.mediaType !== 'string') bad('mediaType', 'missing');
  if (!TRUSTED_ROOT_MEDIA_TYPES.includes(doc.mediaType as string)) {
    bad('mediaType', `${JSON.stringify(doc.mediaType)} is not a known trusted root media type (${TRUSTED_ROOT_MEDIA_TYPES.join(', ')})`);
  }
  for (const list of ['tlogs', 'ctlogs'] as const) {
    const items = arrayField(doc, list, bad);
    items.forEach((item, i) => validateLog(item, `${list}[${i}]`, bad));
  }
  for (const list of ['certificateAuthorities', 'timestampAuthorities'] as const) {
    const items = arrayField(doc, list, bad);
    items.forEach((item, i) => validateAuthority(item, `${list}[${i}]`, bad));
  }
}

type Bad = (field: string, problem: string) => never;

function arrayField(doc: Obj, name: string, bad: Bad): unknown[] {
  const v = doc[name];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) bad(name, 'must be a list');
  return v as unknown[];
}

function validateLog(item: unknown, at: string, bad: Bad): void {
  if (!isObj(item)) bad(at, 'must be an object');
  const log = item;
  const key = log.publicKey;
  if (!isObj(key)) bad(`${at}.publicKey`, 'missing');
  const pk = key;
  const details = pk.keyDetails;
  if (typeof details !== 'string' || !(details in PublicKeyDetails) || details === 'PUBLIC_KEY_DETAILS_UNSPECIFIED') {
    bad(`${at}.publicKey.keyDetails`, `${JSON.stringify(details)} is not a known key type`);
  }
  const der = base64Field(pk.rawBytes, `${at}.publicKey.rawBytes`, bad);
  try {
    crypto.createPublicKey({ key: der, format: 'der', type: PKCS1_DETAILS.has(details) ? 'pkcs1' : 'spki' });
  } catch (err) {
    bad(`${at}.publicKey.rawBytes`, `not a DER public key (${(err as Error).message})`);
  }
  validateValidity(pk.validFor, `${at}.publicKey.validFor`, bad);
  if (!isObj(log.logId)) bad(`${at}.logId`, 'missing');
  base64Field(log.logId.keyId, `${at}.logId.keyId`, bad);
  if (log.checkpointKeyId !== undefined && log.checkpointKeyId !== null) {
    if (!isObj(log.checkpointKeyId)) bad(`${at}.checkpointKeyId`, 'must be an object');
    base64Field(log.checkpointKeyId.keyId, `${at}.checkpointKeyId.keyId`, bad);
  }
}

function validateAuthority(item: unknown, at: string, bad: Bad): void {
  if (!isObj(item)) bad(at, 'must be an object');
  const ca = item;
  if (!isObj(ca.certChain)) bad(`${at}.certChain`, 'missing');
  const certs = ca.certChain.certificates;
  if (!Array.isArray(certs) || certs.length === 0) bad(`${at}.certChain.certificates`, 'must list at least one certificate');
  (certs as unknown[]).forEach((c, j) => {
    const field = `${at}.certChain.certificates[${j}].rawBytes`;
    if (!isObj(c)) bad(`${at}.certChain.certificates[${j}]`, 'must be an object');
    const der = base64Field(c.rawBytes, field, bad);
    try {
      new crypto.X509Certificate(der);
    } catch (err) {
      bad(field, `not a DER X.509 certificate (${(err as Error).message})`);
    }
  });
  validateValidity(ca.validFor, `${at}.validFor`, bad);
}

function validateValidity(v: unknown, at: string, bad: Bad): void {
  if (!isObj(v)) bad(at, 'missing (every key and authority must say from when it is trusted)');
  const range = v;
  if (range.start === undefined || range.start === null)
    bad(`${at}.start`, 'missing: a validity window without a start would be trusted since 1970');
  const start = timeField(range.start, `${at}.start`, bad);
  // protobuf JSON writes an absent end as null (open-ended).
  if (range.end !== undefined && range.end !== null) {
    const end = timeField(range.end, `${at}.end`, bad);
    if (end < start) bad(`${at}.end`, `is before the start (${JSON.stringify(range.start)})`);
  }
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function timeField(v: unknown, at: string, bad: Bad): number {
  const t = typeof v === 'string' && RFC3339.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) bad(at, `${JSON.stringify(v)} is not an RFC 3339 time`);
  return t;
}

function base64Field(v: unknown, at: string, bad: Bad): Buffer {
  if (typeof v !== 'string' || v.length === 0) bad(at, 'missing');
  const s = v;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) bad(at, 'not base64');
  return Buffer.from(s, 'base64');
}
