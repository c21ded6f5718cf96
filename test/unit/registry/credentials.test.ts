import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CountersignError } from '../../../src/shared/errors';
import {
  DockerConfigCredentialStore,
  StaticCredentialStore,
  defaultDockerConfigPath,
  normalizeRegistryKey,
} from '../../../src/registry/credentials';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-creds-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function writeConfig(config: unknown): string {
  const file = path.join(dir, 'config.json');
  writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config));
  return file;
}

describe('normalizeRegistryKey', () => {
  test.each([
    ['https://index.docker.io/v1/', 'index.docker.io'],
    ['docker.io', 'index.docker.io'],
    ['registry-1.docker.io', 'index.docker.io'],
    ['https://GHCR.io', 'ghcr.io'],
    ['http://localhost:5000/v2/', 'localhost:5000'],
    ['quay.io', 'quay.io'],
  ])('%s → %s', (key, host) => expect(normalizeRegistryKey(key)).toBe(host));
});

describe('DockerConfigCredentialStore', () => {
  test('reads auth, username/password and identitytoken entries under any key spelling', async () => {
    const file = writeConfig({
      auths: {
        'https://index.docker.io/v1/': { auth: Buffer.from('hubuser:hub:pass:with:colons').toString('base64') },
        'ghcr.io': { username: 'gh', password: 'ghp_secret' },
        'https://acr.example.com': { identitytoken: 'refresh-me' },
        'empty.example.com': {},
      },
      credsStore: 'desktop',
    });
    const store = new DockerConfigCredentialStore({ path: file });
    expect(await store.get('index.docker.io')).toEqual({ username: 'hubuser', password: 'hub:pass:with:colons' });
    expect(await store.get('docker.io')).toEqual({ username: 'hubuser', password: 'hub:pass:with:colons' });
    expect(await store.get('GHCR.IO')).toEqual({ username: 'gh', password: 'ghp_secret' });
    expect(await store.get('acr.example.com')).toEqual({ identityToken: 'refresh-me' });
    expect(await store.get('empty.example.com')).toBeUndefined();
    expect(await store.get('other.example.com')).toBeUndefined();
  });

  test('accepts a bare path, finds DOCKER_CONFIG, and treats a missing file as no credentials', async () => {
    const sub = path.join(dir, 'dockercfg');
    mkdirSync(sub);
    writeFileSync(path.join(sub, 'config.json'), JSON.stringify({ auths: { 'r.io': { username: 'u', password: 'p' } } }));
    expect(defaultDockerConfigPath({ DOCKER_CONFIG: sub })).toBe(path.join(sub, 'config.json'));
    expect(await new DockerConfigCredentialStore({ env: { DOCKER_CONFIG: sub } }).get('r.io')).toEqual({ username: 'u', password: 'p' });
    expect(await new DockerConfigCredentialStore(path.join(sub, 'config.json')).get('r.io')).toEqual({ username: 'u', password: 'p' });
    expect(await new DockerConfigCredentialStore({ path: path.join(dir, 'nope.json') }).get('r.io')).toBeUndefined();
    expect(defaultDockerConfigPath({})).toBe(path.join(os.homedir(), '.docker', 'config.json'));
  });

  test('malformed files fail with FAILED_PRECONDITION and never echo secrets', async () => {
    const bad = writeConfig('{"auths": {"r.io": {"password": "hunter2"');
    const err = await new DockerConfigCredentialStore({ path: bad }).get('r.io').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CountersignError);
    expect((err as CountersignError).code).toBe('FAILED_PRECONDITION');
    expect((err as CountersignError).message).toContain(bad);
    expect((err as CountersignError).message).not.toContain('hunter2');

    const badAuth = writeConfig({ auths: { 'r.io': { auth: Buffer.from('no-colon-secret').toString('base64') } } });
    const err2 = await new DockerConfigCredentialStore({ path: badAuth }).get('r.io').catch((e: unknown) => e);
    expect((err2 as CountersignError).code).toBe('FAILED_PRECONDITION');
    expect((err2 as CountersignError).message).toMatch(/docker login r\.io/);
    expect((err2 as CountersignError).message).not.toContain('no-colon-secret');
  });
});

test('StaticCredentialStore normalizes keys', async () => {
  const s = new StaticCredentialStore({ 'https://index.docker.io/v1/': { username: 'a', password: 'b' } });
  expect(await s.get('docker.io')).toEqual({ username: 'a', password: 'b' });
  expect(await s.get('ghcr.io')).toBeUndefined();
});
