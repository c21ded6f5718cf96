/**
 * Cosign encrypted private keys (FORMATS.md section 3.5) against the real test keys listed in
 * shared/vectors INDEX.md section 9, plus round trips and malformed inputs.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  COSIGN_PEM_TYPE,
  decryptCosignPrivateKey,
  encryptCosignPrivateKey,
  parsePublicKeyPem,
} from '../../../../src/keys/crypto/cosign-key';
import { secretboxOpen, secretboxSeal } from '../../../../src/keys/crypto/secretbox';
import { keyIdOf } from '../../../../src/keys/key-id';
import { expectCode, expectNoLeak, thrown } from './leak';

const VECTORS_DIR = path.resolve(__dirname, '../../../../../shared/vectors');
const COSIGN_TEST_KEYS = 'cosign/pkg/cosign/keys_test.go.extracted';

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out;
}

const ALL_FILES = listFiles(VECTORS_DIR).map((f) => ({ rel: path.relative(VECTORS_DIR, f), text: readFileSync(f, 'latin1') }));

/** Every public key (SPKI PEM) in the vectors, whatever the file is called. */
const PUBLIC_KEYS = ALL_FILES.filter((f) => /^-----BEGIN PUBLIC KEY-----/m.test(f.text)).flatMap((f) => {
  try {
    return [{ rel: f.rel, key: crypto.createPublicKey(f.text) }];
  } catch {
    return [];
  }
});

/** The encrypted cosign keys in the vectors and what INDEX.md section 9 says about each. */
const EXPECTED: Record<string, { password: string; label: string; N: number; pub: string[]; pkcs8: boolean }> = {
  [`${COSIGN_TEST_KEYS}/pemcosignkey.key`]: { password: 'hello', label: 'ENCRYPTED COSIGN PRIVATE KEY', N: 32768, pub: [], pkcs8: true },
  [`${COSIGN_TEST_KEYS}/pemsigstorekey.key`]: {
    password: 'hello',
    label: 'ENCRYPTED SIGSTORE PRIVATE KEY',
    N: 32768,
    pub: [],
    pkcs8: true,
  },
  [`${COSIGN_TEST_KEYS}/pemcosigneckey.key`]: { password: 'hello', label: 'ENCRYPTED COSIGN PRIVATE KEY', N: 65536, pub: [], pkcs8: false },
  'policy-controller/examples/keys/cosign.key': {
    password: '',
    label: 'ENCRYPTED COSIGN PRIVATE KEY',
    N: 32768,
    pub: ['policy-controller/examples/keys/cosign.pub'],
    pkcs8: true,
  },
};

const ENCRYPTED_FILES = ALL_FILES.filter((f) => /-----BEGIN ENCRYPTED (SIGSTORE|COSIGN) PRIVATE KEY-----/.test(f.text));

function pemBody(pem: string): string {
  return pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
}

function pemLabel(pem: string): string {
  return /-----BEGIN ([A-Z ]+)-----/.exec(pem)![1]!;
}

function pemOf(label: string, body: Buffer): string {
  const b64 = body
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trim();
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** The JSON inside a well-formed cosign key file (FORMATS.md section 3.5): what cosign and encryptCosignPrivateKey write. */
interface CosignKeyDoc {
  kdf: { name: string; params: { N: number; r: number; p: number }; salt: string };
  cipher: { name: string; nonce: string };
  ciphertext: string;
}

/** The JSON of a key file the test wrote or took from the vectors, all of which are well-formed. */
function jsonOf(pem: string): CosignKeyDoc {
  return JSON.parse(Buffer.from(pemBody(pem), 'base64').toString('utf8')) as CosignKeyDoc;
}

/** The same key file with its JSON replaced by what `tamper` makes of it: any document at all, as a hostile file holds. */
function rewrite(pem: string, tamper: (doc: CosignKeyDoc) => unknown): string {
  return pemOf(pemLabel(pem), Buffer.from(JSON.stringify(tamper(jsonOf(pem)))));
}

/** The base64 text with one bit of byte `index` flipped. */
function flipBit(b64: string, index: number): string {
  const bytes = Buffer.from(b64, 'base64');
  bytes[index]! ^= 1;
  return bytes.toString('base64');
}

/** Builds a cosign key file around arbitrary plaintext (as cosign would for a PKCS#8 key), N=32768 for speed. */
function craft(plaintext: Buffer, password: string, N = 32768, label = 'ENCRYPTED COSIGN PRIVATE KEY'): string {
  const salt = crypto.randomBytes(32);
  const nonce = crypto.randomBytes(24);
  const key = crypto.scryptSync(password, salt, 32, { N, r: 8, p: 1, maxmem: 256 * N * 8 });
  const doc = {
    kdf: { name: 'scrypt', params: { N, r: 8, p: 1 }, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: secretboxSeal(plaintext, nonce, key).toString('base64'),
  };
  return pemOf(label, Buffer.from(JSON.stringify(doc)));
}

function matchingPublicKeys(priv: KeyObject): string[] {
  const spki = crypto.createPublicKey(priv).export({ type: 'spki', format: 'der' });
  return PUBLIC_KEYS.filter((p) => p.key.export({ type: 'spki', format: 'der' }).equals(spki)).map((p) => p.rel);
}

function signsAndVerifies(priv: KeyObject, pub: KeyObject): boolean {
  const data = Buffer.from('sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
  const alg = priv.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  return crypto.verify(alg, data, pub, crypto.sign(alg, data, priv));
}

describe('the cosign test keys in shared/vectors', () => {
  test('the vectors hold exactly the encrypted keys INDEX.md section 9 lists', () => {
    expect(ENCRYPTED_FILES.map((f) => f.rel).sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const f of ENCRYPTED_FILES) {
      expect(pemLabel(f.text)).toBe(EXPECTED[f.rel]!.label);
      expect(jsonOf(f.text).kdf.params).toEqual({ N: EXPECTED[f.rel]!.N, r: 8, p: 1 });
    }
    expect(PUBLIC_KEYS.map((p) => p.rel)).toContain('policy-controller/examples/keys/cosign.pub');
  });

  const decryptable = Object.entries(EXPECTED).filter(([, e]) => e.pkcs8);

  test.each(decryptable)('%s decrypts to a P-256 PKCS#8 key whose public key matches the vectors', (rel, e) => {
    const priv = decryptCosignPrivateKey(readFileSync(path.join(VECTORS_DIR, rel), 'utf8'), e.password);
    expect(priv.type).toBe('private');
    expect(priv.asymmetricKeyType).toBe('ec');
    expect(priv.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const pub = crypto.createPublicKey(priv);
    expect(signsAndVerifies(priv, pub)).toBe(true);
    expect(matchingPublicKeys(priv)).toEqual(e.pub);
  });

  test('the policy-controller key (empty password) is the key of cosign.pub, by key id too', () => {
    const priv = decryptCosignPrivateKey(readFileSync(path.join(VECTORS_DIR, 'policy-controller/examples/keys/cosign.key'), 'utf8'), '');
    const pub = parsePublicKeyPem(readFileSync(path.join(VECTORS_DIR, 'policy-controller/examples/keys/cosign.pub'), 'utf8'));
    expect(keyIdOf(crypto.createPublicKey(priv))).toBe(keyIdOf(pub));
    expect(signsAndVerifies(priv, pub)).toBe(true);
  });

  test('pemcosigneckey.key decrypts with "hello" but holds a SEC1 key, which is refused (as cosign does) without leaking it', () => {
    const pem = readFileSync(path.join(VECTORS_DIR, COSIGN_TEST_KEYS, 'pemcosigneckey.key'), 'utf8');
    // Decrypt independently to learn the plaintext, so the test can check it does not leak.
    const doc = jsonOf(pem);
    const key = crypto.scryptSync('hello', Buffer.from(doc.kdf.salt, 'base64'), 32, {
      N: doc.kdf.params.N,
      r: 8,
      p: 1,
      maxmem: 256 * 1024 * 1024,
    });
    const plaintext = secretboxOpen(Buffer.from(doc.ciphertext, 'base64'), Buffer.from(doc.cipher.nonce, 'base64'), key);
    expect(plaintext).not.toBeNull();
    expect(crypto.createPrivateKey({ key: plaintext!, format: 'der', type: 'sec1' }).asymmetricKeyType).toBe('ec');

    const err = thrown(() => decryptCosignPrivateKey(pem, 'hello'));
    expectCode(err, 'INVALID_ARGUMENT', /holds a SEC1 \("EC PRIVATE KEY"\) key rather than PKCS#8/);
    expectNoLeak(err, [pemBody(pem), plaintext!, 'hello']);
  });

  test.each(Object.entries(EXPECTED))('%s: wrong passwords are refused without details or leaks', (rel, e) => {
    const pem = readFileSync(path.join(VECTORS_DIR, rel), 'utf8');
    const wrongs = ['not-the-password', `${e.password}\n`, e.password === '' ? 'hello' : '', e.password.toUpperCase()].filter(
      (w) => w !== e.password,
    );
    expect(wrongs.length).toBeGreaterThanOrEqual(3);
    for (const wrong of wrongs) {
      const err = thrown(() => decryptCosignPrivateKey(pem, wrong));
      expectCode(err, 'INVALID_ARGUMENT', /^cannot decrypt the cosign private key: wrong password or corrupted key$/);
      expect(err.details).toBeUndefined();
      expect(err.cause).toBeUndefined();
      expectNoLeak(err, [pemBody(pem), wrong, e.password]);
    }
  });
});

describe('encryptCosignPrivateKey round trips', () => {
  const keys: Array<[string, KeyObject]> = [
    ['EC P-256', crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey],
    ['EC P-384', crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey],
    ['Ed25519', crypto.generateKeyPairSync('ed25519').privateKey],
    ['RSA-2048', crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey],
  ];

  test.each(keys)('%s: encrypt then decrypt gives the same PKCS#8 key', (_name, key) => {
    const password = 'correct horse battery staple ✓';
    const pem = encryptCosignPrivateKey(key, password);
    const back = decryptCosignPrivateKey(pem, password);
    expect(back.export({ type: 'pkcs8', format: 'der' }).equals(key.export({ type: 'pkcs8', format: 'der' }))).toBe(true);
    expect(pem).not.toContain(key.export({ type: 'pkcs8', format: 'der' }).toString('base64').slice(0, 40));
  });

  test("the output has cosign's shape: PEM type, 64-column lines, JSON fields, N=65536, fresh salt and nonce", () => {
    const key = keys[0]![1];
    const a = encryptCosignPrivateKey(key, '');
    const b = encryptCosignPrivateKey(key, '');
    expect(a).toMatch(
      new RegExp(
        `^-----BEGIN ${COSIGN_PEM_TYPE}-----\\n([A-Za-z0-9+/=]{64}\\n)*[A-Za-z0-9+/=]{1,64}\\n-----END ${COSIGN_PEM_TYPE}-----\\n$`,
      ),
    );
    const doc = jsonOf(a);
    expect(Object.keys(doc)).toEqual(['kdf', 'cipher', 'ciphertext']);
    expect(doc.kdf.name).toBe('scrypt');
    expect(doc.kdf.params).toEqual({ N: 65536, r: 8, p: 1 });
    expect(Buffer.from(doc.kdf.salt, 'base64').length).toBe(32);
    expect(doc.cipher.name).toBe('nacl/secretbox');
    expect(Buffer.from(doc.cipher.nonce, 'base64').length).toBe(24);
    expect(jsonOf(b).kdf.salt).not.toBe(doc.kdf.salt);
    expect(jsonOf(b).cipher.nonce).not.toBe(doc.cipher.nonce);
    expect(decryptCosignPrivateKey(a, '').asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  test('a re-encrypted test vector key keeps its public key (pemsigstorekey.key, new password)', () => {
    const priv = decryptCosignPrivateKey(readFileSync(path.join(VECTORS_DIR, COSIGN_TEST_KEYS, 'pemsigstorekey.key'), 'utf8'), 'hello');
    const again = decryptCosignPrivateKey(encryptCosignPrivateKey(priv, 'new password'), 'new password');
    expect(keyIdOf(crypto.createPublicKey(again))).toBe(keyIdOf(crypto.createPublicKey(priv)));
  });

  test('reads N=131072 files (the largest cosign accepts; needs scrypt maxmem raised to 128 MiB and more)', () => {
    const key = keys[0]![1];
    const pem = craft(key.export({ type: 'pkcs8', format: 'der' }), 'pw', 131072, 'ENCRYPTED SIGSTORE PRIVATE KEY');
    expect(jsonOf(pem).kdf.params.N).toBe(131072);
    expect(keyIdOf(crypto.createPublicKey(decryptCosignPrivateKey(pem, 'pw')))).toBe(keyIdOf(crypto.createPublicKey(key)));
  });

  test('refuses public keys and unsupported key types', () => {
    const { publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expectCode(
      thrown(() => encryptCosignPrivateKey(publicKey, 'x')),
      'INVALID_ARGUMENT',
      /needs a private KeyObject/,
    );
    const x25519 = crypto.generateKeyPairSync('x25519').privateKey;
    expectCode(
      thrown(() => encryptCosignPrivateKey(x25519, 'x')),
      'INVALID_ARGUMENT',
      /type x25519; supported are/,
    );
  });
});

// @noble/ciphers is a dependency (src/keys/crypto/secretbox.ts): this test always runs.
test('an exported key opens with an independent secretbox (@noble/ciphers) and Node scrypt', async () => {
  const noble = await import('@noble/ciphers/salsa.js');
  const key = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const doc = jsonOf(encryptCosignPrivateKey(key, 'pw'));
  const k = crypto.scryptSync('pw', Buffer.from(doc.kdf.salt, 'base64'), 32, { N: 65536, r: 8, p: 1, maxmem: 128 * 1024 * 1024 });
  const plain = noble.secretbox(k, Buffer.from(doc.cipher.nonce, 'base64')).open(Buffer.from(doc.ciphertext, 'base64'));
  expect(Buffer.from(plain).equals(key.export({ type: 'pkcs8', format: 'der' }))).toBe(true);
});

describe('malformed cosign keys', () => {
  const sigstorePem = readFileSync(path.join(VECTORS_DIR, COSIGN_TEST_KEYS, 'pemsigstorekey.key'), 'utf8');
  const cases: Array<[string, () => string, RegExp]> = [
    ['no PEM at all', () => 'not a key', /no PEM block found/],
    [
      'an unencrypted PKCS#8 key',
      () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      /unsupported PEM type PRIVATE KEY \(this is an unencrypted private key/,
    ],
    [
      'a public key',
      () => readFileSync(path.join(VECTORS_DIR, 'policy-controller/examples/keys/cosign.pub'), 'utf8'),
      /unsupported PEM type PUBLIC KEY; expected ENCRYPTED SIGSTORE PRIVATE KEY/,
    ],
    [
      'a truncated PEM',
      () => sigstorePem.slice(0, sigstorePem.indexOf('-----END')),
      /truncated cosign private key: -----END ENCRYPTED SIGSTORE PRIVATE KEY----- is missing/,
    ],
    ['a body that is not base64', () => sigstorePem.replace(/\n[A-Za-z0-9+/]{10}/, '\n!!!!!!!!!!'), /block is not valid base64/],
    [
      'base64 of something that is not JSON',
      () => pemOf('ENCRYPTED SIGSTORE PRIVATE KEY', Buffer.from('{"kdf": not json')),
      /does not contain JSON/,
    ],
    ['JSON that is an array', () => pemOf('ENCRYPTED SIGSTORE PRIVATE KEY', Buffer.from('[]')), /must be an object/],
    ['no kdf', () => rewrite(sigstorePem, ({ kdf: _, ...rest }) => rest), /missing "kdf" object/],
    [
      'kdf pbkdf2',
      () => rewrite(sigstorePem, (d) => ({ ...d, kdf: { ...d.kdf, name: 'pbkdf2' } })),
      /unsupported kdf "pbkdf2"; only "scrypt"/,
    ],
    [
      'scrypt N=16384',
      () => rewrite(sigstorePem, (d) => ({ ...d, kdf: { ...d.kdf, params: { ...d.kdf.params, N: 16384 } } })),
      /unsupported scrypt parameters N=16384, r=8, p=1/,
    ],
    [
      'scrypt N=2^20',
      () => rewrite(sigstorePem, (d) => ({ ...d, kdf: { ...d.kdf, params: { ...d.kdf.params, N: 1048576 } } })),
      /unsupported scrypt parameters N=1048576/,
    ],
    [
      'scrypt r=16',
      () => rewrite(sigstorePem, (d) => ({ ...d, kdf: { ...d.kdf, params: { ...d.kdf.params, r: 16 } } })),
      /unsupported scrypt parameters N=32768, r=16, p=1/,
    ],
    [
      'scrypt p=2',
      () => rewrite(sigstorePem, (d) => ({ ...d, kdf: { ...d.kdf, params: { ...d.kdf.params, p: 2 } } })),
      /p=2; cosign accepts only r=8, p=1 with N=32768, 65536 or 131072/,
    ],
    [
      'scrypt N as a string',
      () => rewrite(sigstorePem, (d) => ({ ...d, kdf: { ...d.kdf, params: { ...d.kdf.params, N: '32768' } } })),
      /unsupported scrypt parameters N="32768"/,
    ],
    ['no params', () => rewrite(sigstorePem, (d) => ({ ...d, kdf: { name: d.kdf.name, salt: d.kdf.salt } })), /missing kdf "params"/],
    ['salt not base64', () => rewrite(sigstorePem, (d) => ({ ...d, kdf: { ...d.kdf, salt: 'a-b_' } })), /kdf salt is not valid base64/],
    ['empty salt', () => rewrite(sigstorePem, (d) => ({ ...d, kdf: { ...d.kdf, salt: '' } })), /kdf salt is empty/],
    [
      'cipher aes-gcm',
      () => rewrite(sigstorePem, (d) => ({ ...d, cipher: { ...d.cipher, name: 'aes-256-gcm' } })),
      /unsupported cipher "aes-256-gcm"; only "nacl\/secretbox"/,
    ],
    [
      'a 12-byte nonce',
      () => rewrite(sigstorePem, (d) => ({ ...d, cipher: { ...d.cipher, nonce: Buffer.alloc(12).toString('base64') } })),
      /nonce must be 24 bytes, got 12/,
    ],
    ['no ciphertext', () => rewrite(sigstorePem, ({ ciphertext: _, ...rest }) => rest), /ciphertext is missing or not a string/],
    [
      'a ciphertext shorter than the tag',
      () => rewrite(sigstorePem, (d) => ({ ...d, ciphertext: Buffer.alloc(16).toString('base64') })),
      /ciphertext is too short/,
    ],
  ];

  test.each(cases)('%s is refused with a message naming the problem', (_name, make, message) => {
    const pem = make();
    const err = thrown(() => decryptCosignPrivateKey(pem, 'hello'));
    expectCode(err, 'INVALID_ARGUMENT', message);
    expectNoLeak(err, [pemBody(sigstorePem), pemBody(pem), 'hello']);
  });

  test('a long, odd kdf name is not echoed', () => {
    const name = 'x'.repeat(30) + 'SECRET-LOOKING-VALUE'.repeat(3);
    const err = thrown(() =>
      decryptCosignPrivateKey(
        rewrite(sigstorePem, (d) => ({ ...d, kdf: { ...d.kdf, name } })),
        'hello',
      ),
    );
    expectCode(err, 'INVALID_ARGUMENT', /unsupported kdf \(unrecognized string\)/);
    expect(err.message).not.toContain('SECRET-LOOKING');
  });

  test('a modified ciphertext or nonce is reported like a wrong password', () => {
    for (const mutate of [
      (d: CosignKeyDoc) => ({ ...d, ciphertext: flipBit(d.ciphertext, Buffer.from(d.ciphertext, 'base64').length - 1) }),
      (d: CosignKeyDoc) => ({ ...d, cipher: { ...d.cipher, nonce: flipBit(d.cipher.nonce, 0) } }),
      (d: CosignKeyDoc) => ({ ...d, kdf: { ...d.kdf, salt: flipBit(d.kdf.salt, 5) } }),
    ]) {
      const err = thrown(() => decryptCosignPrivateKey(rewrite(sigstorePem, mutate), 'hello'));
      expectCode(err, 'INVALID_ARGUMENT', /wrong password or corrupted key/);
    }
  });

  test('the ENCRYPTED SIGSTORE label wins when other PEM blocks surround it', () => {
    const pem = `comment\n${readFileSync(path.join(VECTORS_DIR, 'policy-controller/examples/keys/cosign.pub'), 'utf8')}\n${sigstorePem}`;
    expect(decryptCosignPrivateKey(pem, 'hello').asymmetricKeyType).toBe('ec');
  });

  test('decrypted content that is not a private key, or an unsupported key type, is refused without leaking it', () => {
    const junk = crypto.randomBytes(100);
    let err = thrown(() => decryptCosignPrivateKey(craft(junk, 'pw'), 'pw'));
    expectCode(err, 'INVALID_ARGUMENT', /decrypted, but the content is not a PKCS#8 private key/);
    expectNoLeak(err, [junk, 'pw']);

    const x25519 = crypto.generateKeyPairSync('x25519').privateKey.export({ type: 'pkcs8', format: 'der' });
    err = thrown(() => decryptCosignPrivateKey(craft(x25519, 'pw'), 'pw'));
    expectCode(err, 'INVALID_ARGUMENT', /the decrypted cosign private key is of type x25519/);
    expectNoLeak(err, [x25519]);

    const rsa1024 = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    const pkcs1 = rsa1024.export({ type: 'pkcs1', format: 'der' });
    err = thrown(() => decryptCosignPrivateKey(craft(pkcs1, 'pw'), 'pw'));
    expectCode(err, 'INVALID_ARGUMENT', /PKCS#1 \("RSA PRIVATE KEY"\) key rather than PKCS#8/);
    expectNoLeak(err, [pkcs1]);

    const small = rsa1024.export({ type: 'pkcs8', format: 'der' });
    err = thrown(() => decryptCosignPrivateKey(craft(small, 'pw'), 'pw'));
    expectCode(err, 'INVALID_ARGUMENT', /1024-bit RSA key; at least 2048 bits/);
    expectNoLeak(err, [small]);
  });
});

describe('parsePublicKeyPem', () => {
  test('parses cosign.pub and every other public key in the vectors', () => {
    const pub = parsePublicKeyPem(readFileSync(path.join(VECTORS_DIR, 'policy-controller/examples/keys/cosign.pub'), 'utf8'));
    expect(pub.type).toBe('public');
    expect(pub.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(PUBLIC_KEYS.length).toBeGreaterThanOrEqual(5);
    for (const p of PUBLIC_KEYS) {
      const text = ALL_FILES.find((f) => f.rel === p.rel)!.text;
      if ((text.match(/-----BEGIN /g) ?? []).length !== 1) continue;
      expect(keyIdOf(parsePublicKeyPem(text))).toBe(keyIdOf(p.key));
    }
  });

  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privatePems: Array<[string, string]> = [
    ['a PKCS#8 PRIVATE KEY', ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string],
    ['a SEC1 EC PRIVATE KEY', ec.privateKey.export({ type: 'sec1', format: 'pem' }) as string],
    ['a PKCS#1 RSA PRIVATE KEY', rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string],
    ['an ENCRYPTED PRIVATE KEY', ec.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }) as string],
    ['a cosign encrypted key', readFileSync(path.join(VECTORS_DIR, 'policy-controller/examples/keys/cosign.key'), 'utf8')],
    [
      'a public key followed by a private key',
      `${ec.publicKey.export({ type: 'spki', format: 'pem' }) as string}${ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string}`,
    ],
  ];

  test.each(privatePems)('refuses %s without echoing it', (_name, pem) => {
    const err = thrown(() => parsePublicKeyPem(pem));
    expectCode(
      err,
      'INVALID_ARGUMENT',
      /expected a public key \(PEM type PUBLIC KEY\) but was given a private key \(PEM type [A-Z ]*PRIVATE KEY\)/,
    );
    expectNoLeak(err, [pemBody(pem)]);
  });

  test('refuses a private key body relabelled as PUBLIC KEY without echoing it', () => {
    const der = ec.privateKey.export({ type: 'pkcs8', format: 'der' });
    const err = thrown(() => parsePublicKeyPem(pemOf('PUBLIC KEY', der)));
    expectCode(err, 'INVALID_ARGUMENT', /not a valid SubjectPublicKeyInfo/);
    expectNoLeak(err, [der]);
  });

  test('other problems are named', () => {
    const spki = ec.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    expectCode(
      thrown(() => parsePublicKeyPem('')),
      'INVALID_ARGUMENT',
      /no PEM block found/,
    );
    expectCode(
      thrown(() => parsePublicKeyPem(spki + spki)),
      'INVALID_ARGUMENT',
      /exactly one PEM block \(PUBLIC KEY\), found 2/,
    );
    expectCode(
      thrown(() => parsePublicKeyPem(spki.replace('-----END PUBLIC KEY-----', ''))),
      'INVALID_ARGUMENT',
      /truncated PEM/,
    );
    expectCode(
      thrown(() => parsePublicKeyPem(spki.replace(/PUBLIC KEY/g, 'CERTIFICATE'))),
      'INVALID_ARGUMENT',
      /got CERTIFICATE; extract its key with: openssl x509 -pubkey/,
    );
    expectCode(
      thrown(() => parsePublicKeyPem(spki.replace(/\n[A-Za-z0-9+/]{4}/, '\n$$$$'))),
      'INVALID_ARGUMENT',
      /not valid base64/,
    );
    expect(parsePublicKeyPem(`# cosign.pub for the release key\n${spki}`).asymmetricKeyType).toBe('ec');
  });
});
