/**
 * CA bundles as trust anchors (issue 10 item 5): one or more CA certificates in one PEM file. Every
 * certificate must be a CA that has not expired, and the file must hold nothing but the blocks;
 * each refusal names the certificate by position and says what to do, without quoting the input.
 */
import { generateKeyPairSync } from 'node:crypto';
import { parseCaBundlePem } from '../../../../src/keys/crypto/ca-bundle';
import { selfSignedCa, testPki } from '../../../support/test-pki';
import { errorText } from './leak';

const NOW = new Date('2026-12-01T00:00:00Z');
const d = (s: string) => new Date(s);
const ec = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const name = (cn: string): Array<[string, string]> => [
  ['O', 'Acme'],
  ['CN', cn],
];
const acme = testPki({ name });
const root = acme.root;
const intermediate = acme.intermediate;
const leaf = acme.signer().cert;
const expired = selfSignedCa(name('Old Root'), d('2020-01-01T00:00:00Z'), d('2026-06-01T00:00:00Z')).cert;

test('a root and an intermediate: both kept in order, with an id over their DER and their facts', () => {
  const bundle = parseCaBundlePem(root.pem + intermediate.pem, NOW);
  expect(bundle.certificates.map((c) => c.subject)).toEqual(['O=Acme\nCN=Root CA', 'O=Acme\nCN=Intermediate CA']);
  expect(bundle.facts.map((f) => f.subject)).toEqual(['O=Acme\nCN=Root CA', 'O=Acme\nCN=Intermediate CA']);
  expect(bundle.id).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  expect(parseCaBundlePem(intermediate.pem + root.pem, NOW).id).not.toBe(bundle.id);
  // Whitespace and CRLF between and around the blocks are fine.
  expect(parseCaBundlePem(`\n${root.pem.replace(/\n/g, '\r\n')}\n\n${intermediate.pem}  \n`, NOW).id).toBe(bundle.id);
});

test('a single CA is a bundle of one', () => {
  expect(parseCaBundlePem(root.pem, NOW).certificates).toHaveLength(1);
});

const refusals: Array<[string, () => string, RegExp]> = [
  [
    'a signing (non-CA) certificate',
    () => root.pem + leaf.pem,
    /certificate 2 of the CA bundle \(O=Acme, CN=release\) is not a CA certificate/,
  ],
  [
    'an expired CA',
    () => expired.pem + root.pem,
    /certificate 1 of the CA bundle \(O=Acme, CN=Old Root\) expired at 2026-06-01T00:00:00.000Z/,
  ],
  [
    'text between two certificates',
    () => `${root.pem}# intermediate:\n${intermediate.pem}`,
    /unexpected text between certificates 1 and 2/,
  ],
  ['text before the first certificate', () => `subject=CN=Root CA\n${root.pem}`, /unexpected text before the first certificate/],
  ['text after the last certificate', () => `${root.pem}trailing`, /unexpected text after the last certificate/],
  [
    'a private key block',
    () => root.pem + (ec().privateKey.export({ type: 'pkcs8', format: 'pem' }) as string),
    /block 2 of the CA bundle is a private key/,
  ],
  [
    'a public key block',
    () => root.pem + (ec().publicKey.export({ type: 'spki', format: 'pem' }) as string),
    /block 2 of the CA bundle is a PUBLIC KEY/,
  ],
  ['no block at all', () => 'not a pem', /no PEM block found/],
  ['a truncated block', () => root.pem.replace('-----END CERTIFICATE-----', ''), /truncated PEM: block 1/],
  ['bad base64', () => root.pem.replace(/\n[A-Za-z0-9+/]{10}/, '\n!!!!!!!!!!'), /certificate 1 of the CA bundle is not valid base64/],
  ['the same CA twice', () => root.pem + root.pem, /certificate 2 of the CA bundle \(O=Acme, CN=Root CA\) appears twice/],
];

test.each(refusals)('refused: %s', (_what, input, message) => {
  const text = input();
  let error: unknown;
  try {
    parseCaBundlePem(text, NOW);
  } catch (err) {
    error = err;
  }
  expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
  expect((error as Error).message).toMatch(message);
  // No line of the input is quoted back (it may be key material).
  const lines = text.split('\n').filter((l) => l.length > 20);
  for (const line of lines) expect(errorText(error)).not.toContain(line);
});
