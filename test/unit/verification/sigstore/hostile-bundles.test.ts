/**
 * Hostile bundles: every field of real bundles (keyless v0.1 and v0.3, key-based) replaced by
 * junk of every JSON type, one at a time. The core must never throw, must give a reason when it
 * refuses, and may only still verify when the changed field is one that is not authenticated.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadTrustedRootFile } from '../../../../src/verification/sigstore/trusted-root';
import { verifySigstoreBundle } from '../../../../src/verification/sigstore/verify-bundle';
import { CONFORMANCE, PRODUCTION_ROOT, VECTORS } from '../../../support/conformance-cases';
import crypto from 'node:crypto';

const prod = loadTrustedRootFile(PRODUCTION_ROOT);
const key = { id: 'k', publicKey: crypto.createPublicKey(readFileSync(path.join(CONFORMANCE, 'managed-key-happy-path', 'key.pub'))) };
const trust = { roots: [prod], keys: { byHint: () => key, all: () => [key] } };
const artifact = { bytes: readFileSync(path.join(CONFORMANCE, 'a.txt')) };

const sources = [
  path.join(CONFORMANCE, 'happy-path-v0.1', 'bundle.sigstore.json'),
  path.join(CONFORMANCE, 'happy-path-v0.3', 'bundle.sigstore.json'),
  path.join(CONFORMANCE, 'managed-key-happy-path', 'bundle.sigstore.json'),
  path.join(VECTORS, 'cosign/pkg/cosign/testdata/oci-attestation.sigstore.json'),
];
const JUNK: unknown[] = [null, 0, -1, 1e300, '', 'AAAA', '%%%', [], [null], {}, { rawBytes: 'AAAA' }, true];

/** Every path to a value in the document (objects and arrays), up to a depth. */
function paths(v: unknown, at: Array<string | number> = [], depth = 6): Array<Array<string | number>> {
  if (depth === 0 || typeof v !== 'object' || v === null) return [];
  const keys = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v);
  return keys.flatMap((k) => [[...at, k], ...paths((v as Record<string | number, unknown>)[k], [...at, k], depth - 1)]);
}

function setAt(doc: unknown, p: Array<string | number>, value: unknown): unknown {
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  let node: Record<string | number, unknown> = copy;
  for (const k of p.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
  node[p[p.length - 1]!] = value;
  return copy;
}

test.each(sources.map((s) => [path.basename(path.dirname(s)) + '/' + path.basename(s), s]))(
  '%s: junk in any field is refused with a reason, never thrown',
  (_name, file) => {
    const doc: unknown = JSON.parse(readFileSync(file, 'utf8'));
    let tried = 0;
    const accepted = new Set<string>();
    for (const p of paths(doc)) {
      for (const junk of JUNK) {
        const mutated = setAt(doc, p, junk);
        if (JSON.stringify(mutated) === JSON.stringify(doc)) continue;
        tried++;
        let result;
        expect(() => (result = verifySigstoreBundle(mutated, trust, artifact))).not.toThrow();
        // A few fields are unauthenticated hints (key hint, DSSE keyid) or unused: changing them may still verify.
        if ((result as unknown as { ok: boolean }).ok) accepted.add(`${p.join('.').replace(/\.\d+/g, '[]')} := ${JSON.stringify(junk)}`);
        else expect((result as unknown as { reason: string }).reason).toMatch(/\S/);
      }
    }
    expect(tried).toBeGreaterThan(100);
    // What may change and still verify: fields @sigstore/verify does not authenticate on purpose.
    // An inclusion proof's own root hash and tree size (the signed checkpoint is authoritative), a
    // v0.1 proof or a SET when the other one is there, the digest algorithm (defaults to SHA-256).
    // For key-based bundles also the unauthenticated key hint and, since none are required there,
    // log entries and timestamps (then counted as 0, which the policy's minimums see).
    const keyBased = file.includes('managed-key');
    const allowed = keyBased
      ? /^(verificationMaterial\.(publicKey|tlogEntries|timestampVerificationData)|messageSignature\.messageDigest\.algorithm)/
      : /^(verificationMaterial\.tlogEntries\[\]\.(inclusionProof(\.rootHash|\.treeSize)?|inclusionPromise) |messageSignature\.messageDigest\.algorithm )/;
    for (const a of accepted) expect(a).toMatch(allowed);
  },
);
