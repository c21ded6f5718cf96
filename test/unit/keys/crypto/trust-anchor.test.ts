/**
 * Trust anchors as people have them: SPKI PEM public keys and X.509 certificates of every kind
 * verification supports are accepted and named; everything that could never verify (or is not a
 * public key at all) is refused with INVALID_ARGUMENT and a message that says what to do, without
 * quoting the input.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { keyKindOf, parseTrustAnchorPem } from '../../../../src/keys/crypto';
import { errorText } from './leak';

function spki(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }) as string;
}

const kinds: Array<[string, () => crypto.KeyPairKeyObjectResult]> = [
  ['ecdsa-p256', () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })],
  ['ecdsa-p384', () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' })],
  ['ecdsa-p521', () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-521' })],
  ['ed25519', () => crypto.generateKeyPairSync('ed25519')],
  ['rsa-2048', () => crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })],
  ['rsa-3072', () => crypto.generateKeyPairSync('rsa', { modulusLength: 3072 })],
];

/** A self-signed certificate made by openssl for `privateKeyPem` (node:crypto cannot issue certificates). */
function selfSigned(privateKeyPem: string, days: string[] = ['-days', '30']): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-ta-'));
  const keyFile = path.join(dir, 'k.pem');
  const certFile = path.join(dir, 'c.pem');
  writeFileSync(keyFile, privateKeyPem);
  const r = spawnSync(
    'openssl',
    ['req', '-x509', '-new', '-key', keyFile, '-subj', '/CN=release-signer/O=Acme', ...days, '-out', certFile],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return readFileSync(certFile, 'utf8');
}

describe('accepted: SPKI PEM public keys', () => {
  test.each(kinds)('%s', (kind, gen) => {
    const { publicKey } = gen();
    const anchor = parseTrustAnchorPem(spki(publicKey));
    expect(anchor).toMatchObject({ kind, source: 'spki' });
    expect(anchor.publicKey.export({ type: 'spki', format: 'der' }).equals(publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
    expect(anchor.certificate).toBeUndefined();
  });

  test('CRLF line endings and surrounding whitespace are fine', () => {
    const { publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(parseTrustAnchorPem(`\n\n${spki(publicKey).replace(/\n/g, '\r\n')}\n  \n`).kind).toBe('ecdsa-p256');
  });
});

describe('accepted: X.509 certificates (the key is the certificate key)', () => {
  test.each(kinds.filter(([k]) => k !== 'rsa-3072'))('%s', (kind, gen) => {
    const { publicKey, privateKey } = gen();
    const pem = selfSigned(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    const anchor = parseTrustAnchorPem(pem);
    expect(anchor).toMatchObject({ kind, source: 'x509' });
    expect(anchor.publicKey.equals(publicKey)).toBe(true);
    const cert = new crypto.X509Certificate(pem);
    expect(anchor.certificate).toEqual({
      subject: cert.subject,
      issuer: cert.issuer,
      serialNumber: cert.serialNumber,
      notBefore: new Date(cert.validFrom),
      notAfter: new Date(cert.validTo),
      fingerprintSha256: crypto.createHash('sha256').update(cert.raw).digest('hex'),
    });
    expect(anchor.certificate?.subject).toContain('CN=release-signer');
    expect(anchor.certificatePem).toBe(cert.toString());
  });
});

describe('refused with INVALID_ARGUMENT and an actionable message', () => {
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecPub = spki(ec.publicKey);

  function refusal(pem: string): { code: string; message: string } {
    try {
      parseTrustAnchorPem(pem);
    } catch (err) {
      const e = err as { code: string; message: string };
      // Never echo the input (it may be key material): not in the message, details, stack or causes.
      const text = errorText(err);
      for (const line of pem.split(/\r?\n/))
        if (line.length >= 16 && !line.startsWith('-----')) expect(text).not.toContain(line.slice(4, 20));
      return { code: e.code, message: e.message };
    }
    throw new Error('was accepted');
  }

  test.each([
    ['PKCS#8', () => ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string],
    ['SEC1', () => ec.privateKey.export({ type: 'sec1', format: 'pem' }) as string],
    [
      'RSA PKCS#1',
      () => crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }) as string,
    ],
    ['a key pair file (public then private)', () => ecPub + (ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string)],
  ])('a private key given as public: %s', (_what, make) => {
    expect(refusal(make())).toEqual({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/was given a private key.*pass the public key file/) as unknown,
    });
  });

  test('RSA below 2048 bits', () => {
    const { publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(refusal(spki(publicKey))).toEqual({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/RSA key of 1024 bits is too weak; RSA keys must have at least 2048 bits/) as unknown,
    });
  });

  test('unknown curves: secp256k1', () => {
    const { publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
    expect(refusal(spki(publicKey))).toEqual({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/unsupported elliptic curve secp256k1; .*P-256, P-384 and P-521/) as unknown,
    });
  });

  test('DSA, Ed448, X25519, RSA-PSS', () => {
    expect(refusal(spki(crypto.generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 256 }).publicKey)).message).toMatch(
      /DSA keys are not supported/,
    );
    expect(refusal(spki(crypto.generateKeyPairSync('ed448').publicKey)).message).toMatch(/Ed448 keys are not supported/);
    expect(refusal(spki(crypto.generateKeyPairSync('x25519').publicKey)).message).toMatch(/key-agreement key/);
    expect(refusal(spki(crypto.generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey)).message).toMatch(/RSA-PSS-restricted/);
  });

  test('garbage, empty, truncated, bad base64, not SPKI', () => {
    expect(refusal('hello').message).toMatch(/no PEM block found/);
    expect(refusal('').message).toMatch(/no PEM block found/);
    expect(refusal(ecPub.replace(/-----END PUBLIC KEY-----\n$/, '')).message).toMatch(/truncated PEM/);
    expect(refusal('-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n').message).toMatch(/not valid base64/);
    expect(refusal('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n').message).toMatch(/not a valid SubjectPublicKeyInfo/);
    expect(refusal('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n').message).toMatch(/not a valid X\.509 certificate/);
  });

  test('PEM with trailing or leading junk', () => {
    expect(refusal(`${ecPub}junk\n`).message).toMatch(/unexpected text outside the PUBLIC KEY block/);
    expect(refusal(`comment line\n${ecPub}`).message).toMatch(/unexpected text outside/);
  });

  test('DER with bytes after the key', () => {
    const der = Buffer.concat([ec.publicKey.export({ type: 'spki', format: 'der' }), Buffer.from([0, 0])]);
    const pem = `-----BEGIN PUBLIC KEY-----\n${der.toString('base64')}\n-----END PUBLIC KEY-----\n`;
    expect(refusal(pem).code).toBe('INVALID_ARGUMENT');
  });

  test('several keys where one is expected; a CA bundle', () => {
    const other = spki(crypto.generateKeyPairSync('ed25519').publicKey);
    expect(refusal(ecPub + other).message).toMatch(
      /expected exactly one PEM block, found 2 \(PUBLIC KEY, PUBLIC KEY\); import each key or certificate under its own name/,
    );
    const certs = selfSigned(ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    expect(refusal(certs + certs).message).toMatch(/found 2 \(CERTIFICATE, CERTIFICATE\).*CA bundles/);
  });

  test('other PEM types: PKCS#1 RSA PUBLIC KEY gets the conversion command', () => {
    const pkcs1 = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'pkcs1', format: 'pem' }) as string;
    expect(refusal(pkcs1).message).toMatch(/unsupported PEM type RSA PUBLIC KEY \(PKCS#1; convert with: openssl rsa -RSAPublicKey_in/);
  });
});

test('keyKindOf names the kinds the store records', () => {
  for (const [kind, gen] of kinds) expect(keyKindOf(gen().publicKey)).toBe(kind);
});
