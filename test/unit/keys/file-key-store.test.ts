import crypto from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileKeyStore, keyIdOf } from '../../../src/keys';
import { CountersignError } from '../../../src/shared/errors';

function tmpDir() {
  return mkdtempSync(path.join(os.tmpdir(), 'countersign-keys-'));
}

describe('FileKeyStore', () => {
  test('create writes a P-256 PKCS#8 key (0600) and a public key, with cosign\'s key hint as id', async () => {
    const dir = tmpDir();
    const info = await new FileKeyStore(dir).create('ci-release');
    const priv = readFileSync(path.join(dir, 'ci-release.key'), 'utf8');
    expect(priv).toContain('-----BEGIN PRIVATE KEY-----');
    expect(statSync(path.join(dir, 'ci-release.key')).mode & 0o777).toBe(0o600);
    const pub = crypto.createPublicKey(readFileSync(path.join(dir, 'ci-release.pub')));
    expect(pub.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const expectedId = crypto.createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('base64');
    expect(info.id).toBe(expectedId);
    expect(keyIdOf(pub)).toBe(expectedId);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  test('signatures verify with the public key', async () => {
    const store = new FileKeyStore(tmpDir());
    await store.create('k1');
    const key = await store.getSigningKey('k1');
    const sig = key.sign(Buffer.from('payload'));
    expect(crypto.verify('sha256', Buffer.from('payload'), key.publicKey, sig)).toBe(true);
    expect(crypto.verify('sha256', Buffer.from('other'), key.publicKey, sig)).toBe(false);
  });

  test('a key is found by name or id; unknown → NOT_FOUND', async () => {
    const store = new FileKeyStore(tmpDir());
    const info = await store.create('k1');
    expect((await store.getSigningKey(info.id)).name).toBe('k1');
    await expect(store.getSigningKey('k2')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(store.getSigningKey('')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  test('an existing key is never overwritten', async () => {
    const dir = tmpDir();
    const store = new FileKeyStore(dir);
    await store.create('k1');
    const before = readFileSync(path.join(dir, 'k1.key'));
    await expect(store.create('k1')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    expect(readFileSync(path.join(dir, 'k1.key'))).toEqual(before);
  });

  test.each(['', 'UPPER', '../escape', 'a/b', '.hidden', 'x'.repeat(64)])('invalid key name %p is refused', async (name) => {
    await expect(new FileKeyStore(tmpDir()).create(name)).rejects.toBeInstanceOf(CountersignError);
  });

  test('the signing handle never serializes private material', async () => {
    const dir = tmpDir();
    const store = new FileKeyStore(dir);
    await store.create('k1');
    const key = await store.getSigningKey('k1');
    const pem = readFileSync(path.join(dir, 'k1.key'), 'utf8');
    const body = pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
    const text = JSON.stringify(key);
    expect(text).toContain(key.id);
    expect(text).not.toContain(body.slice(0, 20));
    expect(text).not.toContain('PRIVATE');
  });

  test('list skips foreign and unreadable files', async () => {
    const dir = tmpDir();
    const store = new FileKeyStore(dir);
    await store.create('a');
    await store.create('b');
    writeFileSync(path.join(dir, 'junk.key'), 'not a key');
    writeFileSync(path.join(dir, 'notes.txt'), 'hello');
    expect((await store.list()).map((k) => k.name)).toEqual(['a', 'b']);
  });

  test('a non-P-256 key file is refused with FAILED_PRECONDITION and no key bytes in the message', async () => {
    const dir = tmpDir();
    const { privateKey } = crypto.generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    writeFileSync(path.join(dir, 'ed.key'), pem);
    const err = await new FileKeyStore(dir).getSigningKey('ed').catch((e: unknown) => e as CountersignError);
    expect(err).toMatchObject({ code: 'FAILED_PRECONDITION' });
    expect((err as Error).message).not.toContain(pem.split('\n')[1]!.slice(0, 16));
  });
});
