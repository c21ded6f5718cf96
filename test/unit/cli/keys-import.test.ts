/**
 * `countersign keys import` with the trust anchors people have, end to end through a real
 * KeyService server: the kind, source and certificate facts come back over gRPC (GetKey, ListKeys)
 * and are printed; refusals are INVALID_ARGUMENT with the store's actionable message, and store nothing.
 */
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { call } from '../../../src/cli/client';
import { testPki } from '../../support/test-pki';
import { runCli } from './run-cli';
import { startKeyService, type KeyServiceFixture } from '../grpc/key-service-fixture';

const run = runCli;

const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-cli-import-'));
function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

let fixture: KeyServiceFixture;
beforeAll(async () => {
  fixture = await startKeyService();
});
afterAll(() => fixture.stop());

test('an X.509 certificate: imported as its RSA key, kind, source and certificate shown by the CLI and GetKey', async () => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyFile = file('rsa.key', privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  const certFile = path.join(dir, 'rsa.crt');
  const r = spawnSync(
    'openssl',
    ['req', '-x509', '-new', '-key', keyFile, '-subj', '/CN=vendor-release/O=Vendor Inc', '-days', '90', '-out', certFile],
    { encoding: 'utf8' },
  );
  expect(r.status).toBe(0);
  const cert = new crypto.X509Certificate(readFileSync(certFile));

  const imported = await run(['keys', 'import', 'vendor', '--public-key', certFile, '--server', fixture.address]);
  expect(imported).toMatchObject({ code: 0, stderr: '' });
  expect(imported.stdout).toContain('kind:        rsa-2048 (from x509)');
  expect(imported.stdout).toContain('certificate: CN=vendor-release, O=Vendor Inc');
  expect(imported.stdout).toContain(`serial:    ${cert.serialNumber}`);
  // The key printed is the certificate's key.
  expect(imported.stdout).toContain(publicKey.export({ type: 'spki', format: 'pem' }) as string);

  const got = await call<{
    key: { kind: string; source: string; certificate: { subject: string; serialNumber: string; notAfterTime: { seconds: number } } };
  }>(fixture.client, 'GetKey', { key: 'vendor' }, 10_000);
  expect(got.key).toMatchObject({
    kind: 'rsa-2048',
    source: 'x509',
    certificate: { subject: cert.subject, serialNumber: cert.serialNumber },
  });
  expect(got.key.certificate.notAfterTime.seconds).toBe(Math.floor(new Date(cert.validTo).getTime() / 1000));

  const listed = await run(['keys', 'list', '--json', '--server', fixture.address]);
  const vendor = (JSON.parse(listed.stdout) as Array<{ name: string; kind: string; source: string }>).find((k) => k.name === 'vendor');
  expect(vendor).toMatchObject({ kind: 'rsa-2048', source: 'x509' });
});

test('SPKI public keys of each kind: kind and source over ListKeys', async () => {
  const pairs = {
    'p384-pub': crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }),
    'ed-pub': crypto.generateKeyPairSync('ed25519'),
  };
  for (const [name, pair] of Object.entries(pairs)) {
    const r = await run([
      'keys',
      'import',
      name,
      '--public-key',
      file(`${name}.pub`, pair.publicKey.export({ type: 'spki', format: 'pem' }) as string),
      '--server',
      fixture.address,
    ]);
    expect(r.code).toBe(0);
  }
  const listed = await call<{ keys: Array<{ name: string; kind: string; source: string; certificate: unknown }> }>(
    fixture.client,
    'ListKeys',
    {},
    10_000,
  );
  const byName = Object.fromEntries(listed.keys.map((k) => [k.name, k]));
  expect(byName['p384-pub']).toMatchObject({ kind: 'ecdsa-p384', source: 'spki', certificate: null });
  expect(byName['ed-pub']).toMatchObject({ kind: 'ed25519', source: 'spki' });
});

test('refusals are INVALID_ARGUMENT with the actionable message, over gRPC and in the CLI, and store nothing', async () => {
  const before = (await fixture.store.listKeys()).length;
  const weak = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const err = (await call(fixture.client, 'ImportKey', { name: 'weak', publicKeyPem: weak }, 10_000).catch(
    (e: unknown) => e,
  )) as grpc.ServiceError;
  expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(err.details).toMatch(/RSA key of 1024 bits is too weak/);

  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const priv = ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const r = await run(['keys', 'import', 'oops', '--public-key', file('oops.pem', priv), '--server', fixture.address]);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/was given a private key/);
  // The private key's bytes are never echoed back.
  expect(r.stderr).not.toContain(priv.split('\n')[1]!.slice(0, 20));

  const two = (ec.publicKey.export({ type: 'spki', format: 'pem' }) as string).repeat(2);
  const bundle = await run(['keys', 'import', 'two', '--public-key', file('two.pem', two), '--server', fixture.address]);
  expect(bundle.stderr).toMatch(/expected exactly one PEM block, found 2/);
  expect((await fixture.store.listKeys()).length).toBe(before);
});

test('a CA bundle: imported with kind and source ca-bundle (over GetKey); a bundle with a non-CA certificate is INVALID_ARGUMENT and stores nothing', async () => {
  const acme = testPki();
  const bundle = file('acme-bundle.crt', acme.root.pem + acme.intermediate.pem);
  const imported = await run(['keys', 'import', 'acme-pki', '--ca-bundle', bundle, '--server', fixture.address]);
  expect(imported).toMatchObject({ code: 0, stderr: '' });
  expect(imported.stdout).toContain('kind:        ca-bundle (from ca-bundle)');
  // Not a key: the first CA's public key is neither printed nor named as the algorithm.
  expect(imported.stdout).not.toContain('BEGIN PUBLIC KEY');
  const got = await call<{ key: { kind: string; source: string } }>(fixture.client, 'GetKey', { key: 'acme-pki' }, 10_000);
  expect(got.key).toMatchObject({ kind: 'ca-bundle', source: 'ca-bundle' });
  const listed = await run(['keys', 'list', '--json', '--server', fixture.address]);
  const rows = JSON.parse(listed.stdout) as Array<{ name: string; kind: string }>;
  expect(rows.find((k) => k.name === 'acme-pki')).toMatchObject({ kind: 'ca-bundle' });
  expect((await fixture.store.listKeys()).find((k) => k.name === 'acme-pki')).toMatchObject({ algorithm: 'ca-bundle' });
  const shown = await run(['keys', 'show', 'acme-pki', '--server', fixture.address]);
  expect(shown).toMatchObject({ code: 0 });
  expect(shown.stdout).not.toContain('BEGIN PUBLIC KEY');

  // Rotation generates a signing key: refused for a bundle, saying what to do instead; nothing changes.
  const rotated = await run(['keys', 'rotate', 'acme-pki', '--server', fixture.address]);
  expect(rotated.code).not.toBe(0);
  expect(rotated.stderr).toMatch(/FAILED_PRECONDITION.*acme-pki is a CA bundle.*--ca-bundle/s);
  const after = await call<{ key: { state: string; version: number } }>(fixture.client, 'GetKey', { key: 'acme-pki' }, 10_000);
  expect(after.key).toMatchObject({ state: 'KEY_STATE_ACTIVE', version: 1 });

  const mixed = file('mixed.crt', testPki().root.pem + acme.signer().cert.pem);
  const refused = await run(['keys', 'import', 'mixed', '--ca-bundle', mixed, '--server', fixture.address]);
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toMatch(/INVALID_ARGUMENT.*certificate 2 of the CA bundle \(O=Acme, CN=release\) is not a CA certificate/s);
  await expect(call(fixture.client, 'GetKey', { key: 'mixed' }, 10_000)).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });

  const both = await run(['keys', 'import', 'x', '--ca-bundle', bundle, '--public-key', bundle, '--server', fixture.address]);
  expect(both.code).not.toBe(0);
  expect(both.stderr).toContain('exactly one of --public-key FILE, --ca-bundle FILE or --cosign-key FILE');
});
