/**
 * Our use of @noble/ciphers' secretbox against the NaCl distribution's published vector
 * (tests/secretbox.c): same layout (tag || ciphertext), same key/nonce handling, and tampering is
 * refused. cosign.key files decrypting (cosign-key.test.ts) is the end-to-end check.
 */
import crypto from 'node:crypto';
import { secretboxOpen, secretboxSeal } from '../../../../src/keys/crypto/secretbox';
import { CountersignError } from '../../../../src/shared/errors';

const hex = (s: string) => Buffer.from(s.replace(/[\s:]/g, ''), 'hex');

const NACL = {
  firstkey: hex('1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389'),
  nonce: hex('69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37'),
  m: hex(
    'be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffc' +
      'e5ecbaaf33bd751a1ac728d45e6c61296cdc3c01233561f41db66cce314adb31' +
      '0e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a024a838f21af1fde' +
      '048977eb48f59ffd4924ca1c60902e52f0a089bc76897040e082f93776384864' +
      '5e0705',
  ),
  c: hex(
    'f3ffc7703f9400e52a7dfb4b3d3305d98e993b9f48681273c29650ba32fc76ce' +
      '48332ea7164d96a4476fb8c531a1186ac0dfc17c98dce87b4da7f011ec48c972' +
      '71d2c20f9b928fe2270d6fb863d51738b48eeee314a7cc8ab932164548e526ae' +
      '90224368517acfeabd6bb3732bc0e9da99832b61ca01b6de56244a9e88d5f9b3' +
      '7973f622a43d14a6599b1f654cb45a74e355a5',
  ),
};

describe('secretbox', () => {
  test('NaCl secretbox vector: seal gives the published ciphertext', () => {
    expect(secretboxSeal(NACL.m, NACL.nonce, NACL.firstkey).toString('hex')).toBe(NACL.c.toString('hex'));
  });

  test('NaCl secretbox vector: open gives the published plaintext', () => {
    expect(secretboxOpen(NACL.c, NACL.nonce, NACL.firstkey)?.toString('hex')).toBe(NACL.m.toString('hex'));
  });

  test.each([0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 1000])('round trip, %i-byte message', (len) => {
    const key = crypto.randomBytes(32);
    const nonce = crypto.randomBytes(24);
    const msg = crypto.randomBytes(len);
    const sealed = secretboxSeal(msg, nonce, key);
    expect(sealed.length).toBe(len + 16);
    if (len >= 16) expect(sealed.subarray(16).equals(msg)).toBe(false);
    expect(secretboxOpen(sealed, nonce, key)?.equals(msg)).toBe(true);
  });

  test('every single-bit flip of tag or ciphertext is rejected', () => {
    const key = crypto.randomBytes(32);
    const nonce = crypto.randomBytes(24);
    const sealed = secretboxSeal(crypto.randomBytes(70), nonce, key);
    for (let i = 0; i < sealed.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const t = Buffer.from(sealed);
        t[i]! ^= bit;
        expect(secretboxOpen(t, nonce, key)).toBeNull();
      }
    }
  });

  test('every single-byte change of the nonce is rejected', () => {
    const key = crypto.randomBytes(32);
    const nonce = crypto.randomBytes(24);
    const sealed = secretboxSeal(Buffer.from('a PKCS#8 key would be here'), nonce, key);
    for (let i = 0; i < nonce.length; i++) {
      const n = Buffer.from(nonce);
      n[i]! ^= 0x01;
      expect(secretboxOpen(sealed, n, key)).toBeNull();
    }
  });

  test('a wrong key, a truncated box, an extended box and a box shorter than the tag are rejected', () => {
    const key = crypto.randomBytes(32);
    const nonce = crypto.randomBytes(24);
    const sealed = secretboxSeal(crypto.randomBytes(40), nonce, key);
    const wrongKey = Buffer.from(key);
    wrongKey[31]! ^= 0x40;
    expect(secretboxOpen(sealed, nonce, wrongKey)).toBeNull();
    expect(secretboxOpen(sealed.subarray(0, sealed.length - 1), nonce, key)).toBeNull();
    expect(secretboxOpen(Buffer.concat([sealed, Buffer.from([0])]), nonce, key)).toBeNull();
    expect(secretboxOpen(sealed.subarray(0, 15), nonce, key)).toBeNull();
    expect(secretboxOpen(new Uint8Array(0), nonce, key)).toBeNull();
  });

  test('wrong key or nonce sizes are programming errors, not authentication failures', () => {
    const call = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e;
      }
      return undefined;
    };
    for (const e of [
      call(() => secretboxOpen(Buffer.alloc(32), Buffer.alloc(23), Buffer.alloc(32))),
      call(() => secretboxOpen(Buffer.alloc(32), Buffer.alloc(24), Buffer.alloc(16))),
      call(() => secretboxSeal(Buffer.alloc(1), Buffer.alloc(12), Buffer.alloc(32))),
    ]) {
      expect(e).toBeInstanceOf(CountersignError);
      expect((e as CountersignError).message).toMatch(/must be (24|32) bytes, got (23|16|12)/);
    }
  });
});
