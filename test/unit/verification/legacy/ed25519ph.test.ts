/**
 * Ed25519 trust anchors sign in two schemes: pure Ed25519 (skopeo, Node, sigstore-js) and Ed25519ph
 * (RFC 8032 §5.1 HashEdDSA: SHA-512 of the message, signed under the dom2 prefix), which cosign
 * uses for Ed25519 keys by default (FORMATS.md §3.5, §6.4). verifyWithKey must accept both — and
 * nothing that is merely related: a pure signature over the SHA-512 digest, an Ed25519ctx
 * signature, a non-canonical S, another message, another key.
 */
import crypto from 'node:crypto';
import { verifyWithKey } from '../../../../src/verification/legacy/crypto';
import { ed25519, ed25519ph, ed25519ctx } from '../../../support/noble-ed25519';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const ed25519Key = (raw: Uint8Array): crypto.KeyObject =>
  crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });

// RFC 8032 §7.3, the Ed25519ph test vector ("abc").
const RFC_PH = {
  secret: hex('833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42'),
  publicKey: hex('ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf'),
  message: Buffer.from('abc'),
  signature: hex(
    '98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406',
  ),
};
// RFC 8032 §7.1, TEST 2 (pure Ed25519, one-byte message 0x72).
const RFC_PURE = {
  publicKey: hex('3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c'),
  message: hex('72'),
  signature: hex(
    '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  ),
};
// The order of the Ed25519 group: S must be below it (RFC 8032 §5.1.7, step 1).
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

test('the RFC 8032 Ed25519ph vector verifies; the same signature over another message does not', () => {
  // The signer the other tests use agrees with the RFC (and so with Go's ed25519 Options{Hash: SHA512}).
  expect(Buffer.from(ed25519ph.sign(RFC_PH.message, RFC_PH.secret))).toEqual(RFC_PH.signature);
  const key = ed25519Key(RFC_PH.publicKey);
  expect(verifyWithKey(key, RFC_PH.message, RFC_PH.signature)).toBe(true);
  expect(verifyWithKey(key, Buffer.from('abd'), RFC_PH.signature)).toBe(false);
  expect(verifyWithKey(key, Buffer.alloc(0), RFC_PH.signature)).toBe(false);
});

test('the RFC 8032 pure Ed25519 vector still verifies', () => {
  expect(verifyWithKey(ed25519Key(RFC_PURE.publicKey), RFC_PURE.message, RFC_PURE.signature)).toBe(true);
  expect(verifyWithKey(ed25519Key(RFC_PURE.publicKey), hex('73'), RFC_PURE.signature)).toBe(false);
});

test('an Ed25519ph signature made here (as cosign signs a payload) verifies, and only with its key and message', () => {
  const secret = ed25519.utils.randomSecretKey();
  const key = ed25519Key(ed25519.getPublicKey(secret));
  const payload = Buffer.from('{"critical":{"type":"cosign container image signature"}}');
  const signature = Buffer.from(ed25519ph.sign(payload, secret));
  expect(verifyWithKey(key, payload, signature)).toBe(true);
  const stranger = ed25519Key(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
  expect(verifyWithKey(stranger, payload, signature)).toBe(false);
  const flipped = Buffer.from(signature);
  flipped[10]! ^= 1;
  expect(verifyWithKey(key, payload, flipped)).toBe(false);
  expect(verifyWithKey(key, payload, Buffer.concat([signature, Buffer.from([0])]))).toBe(false);
  expect(verifyWithKey(key, payload, signature.subarray(0, 63))).toBe(false);
});

test('a pure signature over the SHA-512 digest is not an Ed25519ph signature of the message (the dom2 prefix differs)', () => {
  const secret = ed25519.utils.randomSecretKey();
  const key = ed25519Key(ed25519.getPublicKey(secret));
  const message = Buffer.from('payload');
  const digest = crypto.createHash('sha512').update(message).digest();
  const overDigest = Buffer.from(ed25519.sign(digest, secret));
  expect(verifyWithKey(key, digest, overDigest)).toBe(true); // it is a valid pure signature of the digest…
  expect(verifyWithKey(key, message, overDigest)).toBe(false); // …and of nothing else
});

test('an Ed25519ctx signature (a context string) is refused for the message', () => {
  const secret = ed25519.utils.randomSecretKey();
  const key = ed25519Key(ed25519.getPublicKey(secret));
  const message = Buffer.from('payload');
  const signature = Buffer.from(ed25519ctx.sign(message, secret, { context: Buffer.from('cosign') }));
  expect(verifyWithKey(key, message, signature)).toBe(false);
});

test('an Ed25519ph signature with a non-canonical S (S + L) is refused (malleability)', () => {
  const key = ed25519Key(RFC_PH.publicKey);
  const s = BigInt('0x' + Buffer.from(RFC_PH.signature.subarray(32)).reverse().toString('hex'));
  const malleated = Buffer.from((s + L).toString(16).padStart(64, '0'), 'hex').reverse();
  const signature = Buffer.concat([RFC_PH.signature.subarray(0, 32), malleated]);
  expect(signature.length).toBe(64);
  expect(verifyWithKey(key, RFC_PH.message, signature)).toBe(false);
});
