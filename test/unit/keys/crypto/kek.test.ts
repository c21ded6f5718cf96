import crypto from 'node:crypto';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KEK_BYTES, generateKek, kekFingerprint, loadKek, openPrivateKey, sealPrivateKey } from '../../../../src/keys/crypto';
import { expectCode, expectNoLeak, thrown } from './leak';

function tmpDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'countersign-kek-'));
}

function writeTmp(content: string | Buffer): string {
  const file = path.join(tmpDir(), 'kek');
  writeFileSync(file, content, { mode: 0o600 });
  return file;
}

/** kekFingerprint of the KEK 00 01 02 ... 1f: HMAC-SHA256(kek, "countersign key-encryption key fingerprint v1")[0..8]. */
const PINNED_FINGERPRINT = 'dd14bd1b3cde1635';
const KEY_ID = 'pQ4Z0cVbCDuDcI04Q3rZ6bZ9ljw1p8oO8f3j6kVJ2ss=';
const der = () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'der' });

/** The three dot-separated parts of a sealed key (version, nonce, ciphertext), checked to be three. */
function partsOf(sealed: string): [string, string, string] {
  const parts = sealed.split('.');
  expect(parts).toHaveLength(3);
  return parts as [string, string, string];
}

describe('generateKek / loadKek', () => {
  test('generateKek gives 32 fresh random bytes', () => {
    const a = generateKek();
    const b = generateKek();
    expect(a.length).toBe(KEK_BYTES);
    expect(a.equals(b)).toBe(false);
  });

  test('loads base64 from the environment, with surrounding whitespace or without padding', () => {
    const kek = generateKek();
    expect(loadKek({ env: kek.toString('base64') }).equals(kek)).toBe(true);
    expect(loadKek({ env: `  ${kek.toString('base64')}\n` }).equals(kek)).toBe(true);
    expect(loadKek({ env: kek.toString('base64').replace(/=+$/, '') }).equals(kek)).toBe(true);
  });

  test('loads a file of 32 raw bytes, or of base64 text as `openssl rand -base64 32` writes it', () => {
    let kek = generateKek();
    while (/^[A-Za-z0-9+/=_-]+$/.test(kek.toString('latin1'))) kek = generateKek(); // (probability 2^-64)
    expect(loadKek({ file: writeTmp(kek) }).equals(kek)).toBe(true);
    expect(loadKek({ file: writeTmp(`${kek.toString('base64')}\n`) }).equals(kek)).toBe(true);
  });

  test('refuses a missing configuration, or two at once', () => {
    expectCode(
      thrown(() => loadKek({})),
      'INVALID_ARGUMENT',
      /no key-encryption key configured.*openssl rand -base64 32/,
    );
    expectCode(
      thrown(() => loadKek({ env: '', file: '' })),
      'INVALID_ARGUMENT',
      /no key-encryption key configured/,
    );
    const kek = generateKek();
    const err = thrown(() => loadKek({ env: kek.toString('base64'), envName: 'COUNTERSIGN_KEK', file: writeTmp(kek) }));
    expectCode(err, 'INVALID_ARGUMENT', /configured twice \(file .* and environment variable COUNTERSIGN_KEK\); set only one/);
    expectNoLeak(err, [kek]);
  });

  test('refuses keys of the wrong size without printing them', () => {
    for (const n of [16, 31, 33, 64]) {
      const short = crypto.randomBytes(n);
      const fromEnv = thrown(() => loadKek({ env: short.toString('base64'), envName: 'COUNTERSIGN_KEK' }));
      expectCode(
        fromEnv,
        'INVALID_ARGUMENT',
        new RegExp(`environment variable COUNTERSIGN_KEK decodes to ${n} bytes; a key-encryption key must be exactly 32 bytes`),
      );
      expectNoLeak(fromEnv, [short, short.toString('base64')]);
      const fromFile = thrown(() => loadKek({ file: writeTmp(`${short.toString('base64')}\n`) }));
      expectCode(fromFile, 'INVALID_ARGUMENT', new RegExp(`key-encryption key file .* decodes to ${n} bytes`));
      expectNoLeak(fromFile, [short]);
    }
  });

  test('refuses text that is not base64, without printing it', () => {
    const secret = 'this-is-not-base64-but-might-be-a-secret!';
    const err = thrown(() => loadKek({ env: secret }));
    expectCode(err, 'INVALID_ARGUMENT', /is not valid base64; it must be base64 of 32 random bytes/);
    expectNoLeak(err, [secret]);
    const fileErr = thrown(() => loadKek({ file: writeTmp(`${secret}\n`) }));
    expectCode(fileErr, 'INVALID_ARGUMENT', /must hold exactly 32 raw bytes or base64 of 32 bytes, but holds 42 bytes that are not base64/);
    expectNoLeak(fileErr, [secret]);
  });

  test('refuses a 32-character text file (a shorter key in base64 or hex) rather than taking it as raw bytes', () => {
    const text = crypto.randomBytes(24).toString('base64');
    expect(text.length).toBe(32);
    const err = thrown(() => loadKek({ file: writeTmp(text) }));
    expectCode(err, 'INVALID_ARGUMENT', /holds 32 characters of text .* not 32 raw bytes/);
    expectNoLeak(err, [text]);
    expectCode(
      thrown(() => loadKek({ file: writeTmp(crypto.randomBytes(16).toString('hex')) })),
      'INVALID_ARGUMENT',
      /32 characters of text/,
    );
  });

  test('refuses a key of identical bytes (e.g. from /dev/zero)', () => {
    expectCode(
      thrown(() => loadKek({ file: writeTmp(Buffer.alloc(32)) })),
      'INVALID_ARGUMENT',
      /32 identical bytes, not a random key/,
    );
    expectCode(
      thrown(() => loadKek({ env: Buffer.alloc(32, 0xff).toString('base64') })),
      'INVALID_ARGUMENT',
      /32 identical bytes/,
    );
  });

  test('explains unreadable files', () => {
    const dir = tmpDir();
    expectCode(
      thrown(() => loadKek({ file: path.join(dir, 'nope') })),
      'INVALID_ARGUMENT',
      /cannot read key-encryption key file .*nope: it does not exist/,
    );
    expectCode(
      thrown(() => loadKek({ file: dir })),
      'INVALID_ARGUMENT',
      /cannot read key-encryption key file .*: it is a directory/,
    );
  });

  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  (asRoot ? test.skip : test)('explains a file the service may not read', () => {
    const file = writeTmp(generateKek().toString('base64'));
    chmodSync(file, 0o000);
    expectCode(
      thrown(() => loadKek({ file })),
      'INVALID_ARGUMENT',
      /cannot read key-encryption key file .*: permission denied/,
    );
  });
});

describe('sealPrivateKey / openPrivateKey', () => {
  test('round trip, in the documented compact format, with a fresh nonce each time', () => {
    const kek = generateKek();
    const key = der();
    const a = sealPrivateKey(key, kek, KEY_ID);
    const b = sealPrivateKey(key, kek, KEY_ID);
    expect(a).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    expect(Buffer.from(a.split('.')[2]!, 'base64url').length).toBe(key.length + 16);
    expect(a).not.toBe(b);
    expect(a.split('.')[1]).not.toBe(b.split('.')[1]);
    expect(openPrivateKey(a, kek, KEY_ID).equals(key)).toBe(true);
    expect(openPrivateKey(b, kek, KEY_ID).equals(key)).toBe(true);
    expect(crypto.createPrivateKey({ key: openPrivateKey(a, kek, KEY_ID), format: 'der', type: 'pkcs8' }).asymmetricKeyType).toBe('ec');
    expect(a).not.toContain(key.toString('base64url').slice(0, 20));
  });

  test('a wrong KEK is refused with FAILED_PRECONDITION and no key material', () => {
    const kek = generateKek();
    const other = generateKek();
    const key = der();
    const sealed = sealPrivateKey(key, kek, KEY_ID);
    const err = thrown(() => openPrivateKey(sealed, other, KEY_ID));
    expectCode(
      err,
      'FAILED_PRECONDITION',
      new RegExp(`^cannot decrypt key ${JSON.stringify(KEY_ID).replace(/[+=]/g, '\\$&')}: wrong key-encryption key or corrupted data$`),
    );
    expectNoLeak(err, [kek, other, key, sealed.split('.')[2]!]);
  });

  test("a wrong aad (the sealed key moved to another key's record) is refused", () => {
    const kek = generateKek();
    const sealed = sealPrivateKey(der(), kek, KEY_ID);
    expectCode(
      thrown(() => openPrivateKey(sealed, kek, 'another-key-id')),
      'FAILED_PRECONDITION',
      /cannot decrypt key "another-key-id": wrong key-encryption key/,
    );
    expectCode(
      thrown(() => openPrivateKey(sealed, kek, `${KEY_ID} `)),
      'FAILED_PRECONDITION',
      /wrong key-encryption key or corrupted data/,
    );
  });

  test('every single-bit change of nonce, ciphertext or tag is refused', () => {
    const kek = generateKek();
    const key = der();
    const sealed = sealPrivateKey(key, kek, KEY_ID);
    const [v, n, c] = partsOf(sealed);
    const nonce = Buffer.from(n, 'base64url');
    const ct = Buffer.from(c, 'base64url');
    let refused = 0;
    for (let i = 0; i < nonce.length; i++) {
      const t = Buffer.from(nonce);
      t[i]! ^= 0x01;
      const err = thrown(() => openPrivateKey(`${v}.${t.toString('base64url')}.${c}`, kek, KEY_ID));
      expectCode(err, 'FAILED_PRECONDITION', /wrong key-encryption key or corrupted data/);
      refused++;
    }
    for (let i = 0; i < ct.length; i++) {
      const t = Buffer.from(ct);
      t[i]! ^= 0x80;
      const err = thrown(() => openPrivateKey(`${v}.${n}.${t.toString('base64url')}`, kek, KEY_ID));
      expectCode(err, 'FAILED_PRECONDITION', /wrong key-encryption key or corrupted data/);
      expectNoLeak(err, [key, kek]);
      refused++;
    }
    expect(refused).toBe(12 + key.length + 16);
  });

  test('truncation is refused', () => {
    const kek = generateKek();
    const sealed = sealPrivateKey(der(), kek, KEY_ID);
    const [v, n, c] = partsOf(sealed);
    const ct = Buffer.from(c, 'base64url');
    for (const cut of [1, 3, 16]) {
      const shorter = `${v}.${n}.${ct.subarray(0, ct.length - cut).toString('base64url')}`;
      expectCode(
        thrown(() => openPrivateKey(shorter, kek, KEY_ID)),
        'FAILED_PRECONDITION',
        /corrupted data/,
      );
    }
    expectCode(
      thrown(() => openPrivateKey(`${v}.${n}.${Buffer.alloc(16).toString('base64url')}`, kek, KEY_ID)),
      'DATA_LOSS',
      /malformed/,
    );
  });

  test('malformed strings are DATA_LOSS, other versions ask for an upgrade', () => {
    const kek = generateKek();
    const sealed = sealPrivateKey(der(), kek, KEY_ID);
    const [, n, c] = partsOf(sealed);
    for (const bad of [
      '',
      'garbage',
      `${n}.${c}`,
      `v1.${n}`,
      `v1.${n}.${c}.x`,
      `V1.${n}.${c}`,
      `v1.${n}=.${c}`,
      `v1.${n}.${c}*`,
      `v1.AAAA.${c}`,
    ]) {
      const err = thrown(() => openPrivateKey(bad, kek, KEY_ID));
      expectCode(err, 'DATA_LOSS', /is malformed/);
      expectNoLeak(err, [c, kek]);
    }
    expectCode(
      thrown(() => openPrivateKey(`v2.${n}.${c}`, kek, KEY_ID)),
      'FAILED_PRECONDITION',
      /uses format v2, but this version of countersign only reads v1; upgrade/,
    );
  });

  test('bad arguments are refused up front', () => {
    const kek = generateKek();
    expectCode(
      thrown(() => sealPrivateKey(der(), kek.subarray(0, 16), KEY_ID)),
      'INVALID_ARGUMENT',
      /must be a 32-byte Buffer/,
    );
    expectCode(
      thrown(() => sealPrivateKey(der(), kek, '')),
      'INVALID_ARGUMENT',
      /non-empty aad/,
    );
    expectCode(
      thrown(() => sealPrivateKey(Buffer.alloc(0), kek, KEY_ID)),
      'INVALID_ARGUMENT',
      /non-empty DER Buffer/,
    );
    expectCode(
      thrown(() => openPrivateKey('v1.a.b', Buffer.alloc(31), KEY_ID)),
      'INVALID_ARGUMENT',
      /must be a 32-byte Buffer/,
    );
  });
});

describe('kekFingerprint', () => {
  test('is short, stable, and pinned (stored fingerprints must keep matching across releases)', () => {
    const kek = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
    expect(kekFingerprint(kek)).toMatch(/^[0-9a-f]{16}$/);
    expect(kekFingerprint(kek)).toBe(kekFingerprint(Buffer.from(kek)));
    expect(kekFingerprint(kek)).toBe(PINNED_FINGERPRINT);
  });

  test('differs between KEKs, and is not a plain hash of the KEK', () => {
    const a = generateKek();
    const b = Buffer.from(a);
    b[0]! ^= 1;
    expect(kekFingerprint(a)).not.toBe(kekFingerprint(b));
    expect(crypto.createHash('sha256').update(a).digest('hex')).not.toContain(kekFingerprint(a));
    expect(a.toString('hex')).not.toContain(kekFingerprint(a));
  });
});
