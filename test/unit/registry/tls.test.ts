/**
 * HTTPS to a registry with a private CA: trusted through the `ca` option, refused (with advice)
 * without it. Needs a non-loopback address (loopback registries are spoken to over plain HTTP)
 * and the openssl CLI to mint a certificate; skipped where either is missing.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { RegistryClient } from '../../../src/registry/client';
import { selfSignedServerCert } from '../../support/openssl-cert';
import { sha256Digest } from '../../../src/registry/digest';
import { MEDIA_TYPE } from '../../../src/registry/types';
import { expectCode } from './helpers';

const ip = Object.values(os.networkInterfaces())
  .flat()
  .find((i) => i && !i.internal && i.family === 'IPv4')?.address;
let hasOpenssl = true;
try {
  execFileSync('openssl', ['version'], { stdio: 'ignore' });
} catch {
  hasOpenssl = false;
}
const maybe = ip && hasOpenssl ? describe : describe.skip;

maybe('TLS with a custom CA', () => {
  const address = ip!; // maybe() runs this block only where ip was found
  let dir: string;
  let server: https.Server;
  let host: string;
  let cert: string;
  const digest = sha256Digest(Buffer.from('m'));

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-tls-'));
    const tls = selfSignedServerCert(dir, 'countersign-test-registry', `IP:${address}`);
    cert = tls.cert;
    server = https.createServer({ cert, key: tls.key }, (_req, res) => {
      res.writeHead(200, { 'docker-content-digest': digest, 'content-type': MEDIA_TYPE.OCI_MANIFEST, 'content-length': '1' });
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, address, resolve));
    host = `${address}:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  test('trusted with the ca option (system roots kept as well)', async () => {
    const client = new RegistryClient({ ca: cert });
    try {
      expect(await client.headManifest({ registry: host, repository: 'a' }, 'v1')).toEqual({
        mediaType: MEDIA_TYPE.OCI_MANIFEST,
        digest,
        size: 1,
      });
    } finally {
      await client.close();
    }
  });

  test('refused without it: UNAVAILABLE explaining how to configure the CA', async () => {
    const client = new RegistryClient({ maxRetries: 0 });
    try {
      await expectCode(
        client.headManifest({ registry: host, repository: 'a' }, 'v1'),
        'UNAVAILABLE',
        new RegExp(`registry ${host.replace(/\./g, '\\.')} is unavailable: TLS verification failed .*ca option`),
      );
    } finally {
      await client.close();
    }
  });
});
