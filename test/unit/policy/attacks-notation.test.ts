/**
 * Adversarial review of how a Notation trust policy is read (`require.signatures.notation`): an
 * identity list that does not mean what its author reads must be refused when the policy loads, as
 * notation-go refuses it (trustpolicy validation, internal/pkix ParseDistinguishedName). It found
 * three ways, closed since.
 */
import { copyFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parsePolicy } from '../../../src/policy';

const KEYS = path.resolve(__dirname, '../../../../shared/vectors/notation/test/e2e/testdata/config/localkeys');
const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-notation-policy-attacks-'));
copyFileSync(path.join(KEYS, 'e2e.crt'), path.join(dir, 'ca.pem'));
const file = path.join(dir, 'policy.yaml');

const load = (identities: string[]) =>
  parsePolicy(
    `rules:\n  - name: n\n    require:\n      signatures: { notation: { trustStore: [ca.pem], identities: ${JSON.stringify(identities)} } }\n`,
    file,
  );

test('a duplicate attribute in an identity is refused; C, ST and O are required', () => {
  expect(() => load(['x509.subject: C=US, ST=WA, O=Notary, O=Other'])).toThrow(/names an attribute twice/);
  expect(() => load(['x509.subject: C=US, O=Notary'])).toThrow(/missing ST/);
  expect(load(['x509.subject: C=US, ST=WA, O=Notary, CN=e2e']).rules[0]!.require!.signatures!.notation!.identities).toHaveLength(1);
});

test('an identity whose mandatory attribute is empty (O=) is refused, as notation refuses it', () => {
  // pkix.ParseDistinguishedName: `attrKeyValue[field] == ""` for C, ST or O is "no mandatory RDN attribute".
  // Loaded, "O=" only admits a leaf whose O is the empty string: a templating slip ("O=${ORG}") trusts an empty organization.
  expect(() => load(['x509.subject: C=US, ST=WA, O='])).toThrow(/O/);
  expect(() => load(['x509.subject: C=US, ST=, O=Notary'])).toThrow(/ST/);
});

test('"*" listed beside x509.subject identities is refused: it silently trusts every signer of the store', () => {
  // notation-go trust policy validation: "if wildcard trusted identity is set, it must be the only value".
  // The author who narrows ["*"] by adding an x509.subject, without removing "*", believes the policy narrowed.
  expect(() => load(['*', 'x509.subject: C=US, ST=WA, O=Notary, CN=e2e'])).toThrow(/\*/);
});

test('a multi-valued RDN or an RFC 4514 "#hex" value in an identity is refused, as notation refuses them', () => {
  // notation: "multi-valued RDN attributes are not supported", "does not support x509.subject identities containing =#".
  expect(() => load(['x509.subject: C=US, ST=WA, O=Notary+CN=e2e'])).toThrow(/multi-valued|\+/);
  expect(() => load(['x509.subject: C=US, ST=WA, O=#0c064e6f74617279'])).toThrow(/#/);
});
