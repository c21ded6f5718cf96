/** `require.signatures.notation` in the policy document: what the loader accepts and refuses. */
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parsePolicy } from '../../../src/policy';

const KEYS = path.resolve(__dirname, '../../../../shared/vectors/notation/test/e2e/testdata/config/localkeys');
const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-notation-policy-'));
copyFileSync(path.join(KEYS, 'e2e.crt'), path.join(dir, 'ca.pem'));
const file = path.join(dir, 'policy.yaml');

const load = (notation: string) => parsePolicy(`rules:\n  - name: n\n    require:\n      signatures: { notation: ${notation} }\n`, file);

test('a trust store relative to the policy file, identities and level load; level defaults to strict', () => {
  const sig = load('{ trustStore: [ca.pem], identities: ["x509.subject: C=US, ST=WA, O=Notary"] }').rules[0]!.require!.signatures!;
  expect(sig.notation).toMatchObject({ level: 'strict', identities: [{ text: 'x509.subject: C=US, ST=WA, O=Notary' }] });
  expect(sig.notation!.trustStore).toHaveLength(1);
  expect(sig.notation!.trustStore[0]!.subject).toContain('CN=e2e');
});

test.each([
  ['{ trustStore: [missing.pem], identities: ["*"] }', /signatures\.notation\.trustStore\[0\]: cannot read .*missing\.pem: ENOENT/],
  ['{ identities: ["*"] }', /signatures\.notation\.trustStore: is required/],
  ['{ trustStore: [ca.pem] }', /signatures\.notation\.identities: is required/],
  ['{ trustStore: [ca.pem], identities: ["CN=e2e"] }', /must be "\*" or "x509\.subject:/],
  ['{ trustStore: [ca.pem], identities: ["x509.subject: O=Acme"] }', /must name at least C, ST and O \(missing C\)/],
  ['{ trustStore: [ca.pem], identities: ["*"], level: lenient }', /level: is "lenient"; use one of strict, permissive, audit, skip/],
  ['{ trustStore: [ca.pem], identities: ["*"], trustedIdentities: ["*"] }', /trustedIdentities/],
  // level skip verifies nothing, so a Notation signature never counts: alone it could never be satisfied.
  [
    '{ level: skip }',
    /signatures\.notation\.level: is skip, which verifies nothing, so no Notation signature counts as a signer; this rule could never be satisfied/,
  ],
  ['{ level: skip }, keys: [alice], minimum: 2', /signatures\.minimum: is 2 but only 1 key is listed/],
])('%s is refused with a message naming the field', (notation, why) => {
  expect(() => load(notation)).toThrow(why);
});

test('a file without certificates is refused (a public key is not a Notation trust anchor)', () => {
  writeFileSync(path.join(dir, 'key.pem'), '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n');
  expect(() => load('{ trustStore: [key.pem], identities: ["*"] }')).toThrow(/holds no CERTIFICATE block/);
});

test('replacing the CA certificate behind the same file name is a new policy revision', () => {
  const before = load('{ trustStore: [ca.pem], identities: ["*"] }').revision;
  copyFileSync(path.join(KEYS, 'new_e2e.crt'), path.join(dir, 'ca.pem'));
  const after = load('{ trustStore: [ca.pem], identities: ["*"] }').revision;
  copyFileSync(path.join(KEYS, 'e2e.crt'), path.join(dir, 'ca.pem'));
  expect(after).not.toBe(before);
  expect(load('{ trustStore: [ca.pem], identities: ["*"] }').revision).toBe(before);
});
