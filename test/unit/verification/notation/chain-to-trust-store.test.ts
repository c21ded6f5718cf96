/**
 * Where a Notary signing chain must end (notaryproject/specifications trust-store-trust-policy.md,
 * "Signature Verification", Validate Authenticity): the envelope carries a complete chain from the
 * code-signing certificate to a root certificate, and that chain leads to a certificate of the
 * trust store. So a chain that includes its root is judged against the store whether the store
 * holds the root or an intermediate of the chain; a chain that stops below its root is refused even
 * when the trust store holds the missing root or the intermediate it stops at (the FAQ: without
 * the complete chain revocation cannot be checked exhaustively); a chain that reaches no trust
 * store certificate is refused. The PKI is built here (test/support/der-writer.ts).
 */
import { createHash, sign as cryptoSign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parsePolicy } from '../../../../src/policy';
import { judgeNotation, type NotationTrust } from '../../../../src/policy/notation-trust';
import { MEDIA_TYPE } from '../../../../src/registry/types';
import { verifyJwsEnvelope } from '../../../../src/verification/notation/envelope';
import type { BuiltCert } from '../../../support/der-writer';
import { selfSignedCa, testPki } from '../../../support/test-pki';

const IMAGE = `sha256:${'7c'.repeat(32)}`;
const NOW = new Date('2026-12-01T00:00:00Z');
const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-chain-'));
const d = (s: string) => new Date(s);
const name = (cn: string, o = 'Countersign Test'): Array<[string, string]> => [
  ['C', 'US'],
  ['ST', 'WA'],
  ['O', o],
  ['CN', cn],
];

const pki = testPki({ name });
const { root, intermediate } = pki;
const { cert: leaf, key: leafKey } = pki.signer({ notBefore: d('2026-01-01T00:00:00Z'), notAfter: d('2027-01-01T00:00:00Z') });
// Another root with the same name as ours but another key: a name match is not a trust-store match.
const impostor = selfSignedCa(name('Root CA'), d('2025-01-01T00:00:00Z'), d('2035-01-01T00:00:00Z')).cert;
const otherRoot = testPki({ name: (cn) => name(cn, 'Elsewhere') }).root;

function storeFile(file: string, ...certs: BuiltCert[]): string {
  writeFileSync(path.join(dir, file), certs.map((c) => c.pem).join(''));
  return JSON.stringify(path.join(dir, file));
}
const STORE = {
  root: storeFile('root.pem', root),
  intermediate: storeFile('intermediate.pem', intermediate),
  impostor: storeFile('impostor.pem', impostor),
  other: storeFile('other.pem', otherRoot),
};

function trust(store: string, level = 'strict'): NotationTrust {
  const text = `rules:\n  - name: n\n    require:\n      signatures: { notation: { trustStore: [${store}], identities: ["x509.subject: C=US, ST=WA, O=Countersign Test, CN=release"], level: ${level} } }\n`;
  const file = path.join(dir, `policy-${createHash('sha256').update(text).digest('hex').slice(0, 8)}.yaml`);
  writeFileSync(file, text);
  return parsePolicy(text, file).rules[0]!.require!.signatures!.notation!;
}

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
function envelope(chain: BuiltCert[]): Buffer {
  const protectedB64 = b64url({
    alg: 'ES256',
    crit: ['io.cncf.notary.signingScheme'],
    cty: 'application/vnd.cncf.notary.payload.v1+json',
    'io.cncf.notary.signingScheme': 'notary.x509',
    'io.cncf.notary.signingTime': '2026-06-01T00:00:00Z',
  });
  const payloadB64 = b64url({ targetArtifact: { digest: IMAGE, mediaType: MEDIA_TYPE.OCI_MANIFEST, size: 100 } });
  const signature = cryptoSign('sha256', Buffer.from(`${protectedB64}.${payloadB64}`), {
    key: leafKey,
    dsaEncoding: 'ieee-p1363',
  });
  return Buffer.from(
    JSON.stringify({
      payload: payloadB64,
      protected: protectedB64,
      header: { x5c: chain.map((c) => c.der.toString('base64')) },
      signature: signature.toString('base64url'),
    }),
  );
}
const judge = (chain: BuiltCert[], t: NotationTrust) =>
  judgeNotation(t, verifyJwsEnvelope(envelope(chain), { digest: IMAGE }), undefined, NOW);

describe('the chain includes its root', () => {
  test('and the trust store holds the root: accepted', () => {
    expect(judge([leaf, intermediate, root], trust(STORE.root))).toEqual({ accepted: true, logged: [] });
  });
  test('and the trust store holds the intermediate of the chain: accepted (the chain leads to a trust-store certificate)', () => {
    expect(judge([leaf, intermediate, root], trust(STORE.intermediate))).toEqual({ accepted: true, logged: [] });
  });
  test('but the trust store holds another root: refused', () => {
    const j = judge([leaf, intermediate, root], trust(STORE.other));
    expect(j.accepted).toBe(false);
    expect(j.reason).toMatch(/^authenticity validation failed: the certificate chain of .*CN=release does not lead to a certificate of /);
  });
  test('but the trust store holds a root of the same name with another key: refused', () => {
    const j = judge([leaf, intermediate, root], trust(STORE.impostor));
    expect(j.accepted).toBe(false);
    expect(j.reason).toMatch(/does not lead to a certificate of /);
  });
});

describe('the chain stops below its root', () => {
  test('at an intermediate the trust store holds: refused, the envelope must carry the complete chain', () => {
    const j = judge([leaf, intermediate], trust(STORE.intermediate));
    expect(j.accepted).toBe(false);
    expect(j.reason).toMatch(
      /^authenticity validation failed: the certificate chain of .*CN=release ends at .*CN=Intermediate CA, which is not a root certificate \(self-signed\); the Notary Project requires the complete chain/,
    );
  });
  test('issued by the root the trust store holds: refused', () => {
    const j = judge([leaf, intermediate], trust(STORE.root));
    expect(j.accepted).toBe(false);
    expect(j.reason).toMatch(/ends at .*CN=Intermediate CA, which is not a root certificate/);
  });
  test('the leaf alone, issued by an intermediate the trust store holds: refused', () => {
    const j = judge([leaf], trust(STORE.intermediate));
    expect(j.accepted).toBe(false);
    expect(j.reason).toMatch(/ends at .*CN=release, which is not a root certificate/);
  });
  test('at level audit the incomplete chain is logged, not enforced', () => {
    const j = judge([leaf, intermediate], trust(STORE.intermediate, 'audit'));
    expect(j.accepted).toBe(true);
    expect(j.logged).toEqual([
      expect.stringMatching(/^authenticity validation failed: .*not a root certificate.*\(logged only: level audit\)$/),
    ]);
  });
});

test('a root of the same name as the chain top but another key does not complete the chain: an integrity failure', () => {
  expect(() => judge([leaf, intermediate, impostor], trust(STORE.impostor))).toThrow(/x5c\[1\] is not signed by x5c\[2\]/);
});
