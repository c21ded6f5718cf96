/**
 * Adversarial review of the registry client facing a HOSTILE or COMPROMISED registry, a man in the
 * middle on a plain-HTTP leg, or storage/token hosts a registry names. What the attacker wants:
 * the organization's registry credentials at a host they control, a wrong verification answer,
 * a crash/hang/exhaustion, or Sign writing where it should not.
 *
 * Every test states what a demanding client (containerd, go-containerregistry, oras-go) does.
 * The review found eleven holes, closed since.
 */
import { createHash } from 'node:crypto';
import dns from 'node:dns';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { Agent } from 'undici';
import { selfSignedServerCert } from '../../support/openssl-cert';
import { RegistryClient, type RegistryClientOptions } from '../../../src/registry/client';
import { StaticCredentialStore } from '../../../src/registry/credentials';
import { sha256Digest } from '../../../src/registry/digest';
import { MEDIA_TYPE, type RepositoryRef } from '../../../src/registry/types';
import { CountersignError } from '../../../src/shared/errors';
import { ReferrerStore } from '../../../src/registry/referrer-store';
import { PolicyStore } from '../../../src/policy-store';
import { EvidenceCollector } from '../../../src/verification/collector';
import { EvidenceCache } from '../../../src/verification/evidence-cache';
import { VerificationService } from '../../../src/verification/verification-service';
import { tempKeyStore, type TempKeyStore } from '../../support/managed-keys';
import { newSigningKey, signedReferrer, storeImage, tempDir } from '../verification/bundle-fixtures';
import { FakeRegistry } from './fake-registry';
import { caught, expectCode, imageManifest } from './helpers';

// ---- tiny servers --------------------------------------------------------------------------

interface Seen {
  method: string;
  url: string;
  path: string;
  headers: http.IncomingHttpHeaders;
}

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer) => void;

interface Srv {
  /** host:port as a registry name / URL authority (the bind address, or `name` when given). */
  host: string;
  port: number;
  seen: Seen[];
  handler: Handler;
  close(): Promise<void>;
}

const servers: Srv[] = [];
const agents: Agent[] = [];
const clients: RegistryClient[] = [];

async function serve(handler: Handler, opts: { bind?: string; name?: string; tls?: { cert: string; key: string } } = {}): Promise<Srv> {
  const bind = opts.bind ?? '127.0.0.1';
  const seen: Seen[] = [];
  const srv = { seen, handler } as Srv;
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x.invalid');
      seen.push({ method: req.method ?? 'GET', url: req.url ?? '', path: url.pathname, headers: req.headers });
      try {
        srv.handler(req, res, url, Buffer.concat(chunks));
      } catch (err) {
        if (!res.headersSent) res.writeHead(500);
        res.end(String(err));
      }
    });
  };
  const server = opts.tls ? https.createServer(opts.tls, listener) : http.createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, bind, resolve));
  srv.port = (server.address() as AddressInfo).port;
  srv.host = `${opts.name ?? bind}:${srv.port}`;
  srv.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  servers.push(srv);
  return srv;
}

/** An undici Agent that resolves every `*.test` name to 127.0.0.1 (optionally trusting `ca`). */
function namedHostsAgent(ca?: string): Agent {
  const lookup = (hostname: string, options: dns.LookupOptions, cb: (...args: unknown[]) => void): void => {
    if (!hostname.endsWith('.test')) {
      dns.lookup(hostname, { ...options, all: true }, (err, addresses) =>
        err ? cb(err) : options.all ? cb(null, addresses) : cb(null, addresses[0]?.address, addresses[0]?.family),
      );
      return;
    }
    if (options.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
    else cb(null, '127.0.0.1', 4);
  };
  const agent = new Agent({ connect: { lookup, ...(ca ? { ca } : {}) } as never });
  agents.push(agent);
  return agent;
}

function newClient(options: RegistryClientOptions = {}): RegistryClient {
  const c = new RegistryClient({ maxRetries: 0, retryBaseMs: 1, timeoutMs: 3000, ...options });
  clients.push(c);
  return c;
}

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const s of servers.splice(0)) await s.close();
  for (const a of agents.splice(0)) await a.destroy();
});

const USER = 'org-robot';
const PASSWORD = 'Pa55-very-secret-registry-password';
const BASIC = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
const B64 = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
const creds = (host: string): StaticCredentialStore => new StaticCredentialStore({ [host]: { username: USER, password: PASSWORD } });

const MANIFEST = imageManifest(Buffer.from('hostile-review layer')).bytes;
const DIGEST = sha256Digest(MANIFEST);
const INDEX_BYTES = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_INDEX, manifests: [] }));

function writeManifest(res: ServerResponse, method: string, bytes: Buffer, extra: Record<string, string> = {}): void {
  res.writeHead(200, {
    'content-type': MEDIA_TYPE.OCI_MANIFEST,
    'content-length': String(bytes.length),
    'docker-content-digest': sha256Digest(bytes),
    ...extra,
  });
  res.end(method === 'HEAD' ? undefined : bytes);
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

/** Everything an error exposes to a caller or a log line. */
function exposed(err: CountersignError): string {
  return `${err.message}\n${JSON.stringify(err.details ?? {})}`;
}

/** TLS material for `*.test` names (openssl CLI, minted at load: test.skip is decided then); undefined without openssl. */
const tlsDir = mkdtempSync(path.join(os.tmpdir(), 'countersign-hostile-'));
const tlsMaterial: { cert: string; key: string } | undefined = (() => {
  try {
    return selfSignedServerCert(tlsDir, 'registry.test', 'DNS:registry.test,DNS:storage.test,DNS:auth.test');
  } catch {
    return undefined;
  }
})();
afterAll(() => rmSync(tlsDir, { recursive: true, force: true }));

// ---- 1. credentials and token realms ---------------------------------------------------------

describe('credentials and Bearer realms', () => {
  test('a 401 from a host the registry redirected to (blob storage) must not steer the registry credentials to a token realm that host names', async () => {
    // The registry (trusted, credentials configured) redirects blob reads to storage on another
    // host, as Distribution's S3/GCS drivers do. A compromised storage front end, or a man in the
    // middle on a plain-HTTP storage leg, answers 401 with a Bearer realm of its own choosing.
    const evil = await serve((_req, res) => json(res, 200, { token: 'attacker-token', expires_in: 3600 }), { bind: '127.0.0.3' });
    const storage = await serve(
      (_req, res) =>
        json(
          res,
          401,
          { errors: [{ code: 'UNAUTHORIZED' }] },
          { 'www-authenticate': `Bearer realm="http://${evil.host}/token",service="s3"` },
        ),
      { bind: '127.0.0.2' },
    );
    const blob = Buffer.from('signature bundle');
    const registry = await serve((req, res, url) => {
      if (url.pathname.includes('/blobs/')) {
        res.writeHead(307, { location: `http://${storage.host}/bucket/blob?X-Amz-Signature=abc` });
        res.end();
        return;
      }
      writeManifest(res, req.method ?? 'GET', MANIFEST);
    });
    const client = newClient({ credentials: creds(registry.host) });
    const repo: RepositoryRef = { registry: registry.host, repository: 'team/app' };
    await caught(client.getBlob(repo, sha256Digest(blob)));
    // containerd keys the challenge (and the credentials it looks up) by the host that sent it;
    // go-containerregistry only ever reads challenges from the registry's own /v2/ ping.
    expect(evil.seen.map((s) => s.headers.authorization ?? '')).not.toContain(BASIC);
    // Nor is the registry's challenge state poisoned: its next requests do not go to the attacker's realm.
    await client.headManifest(repo, 'v1').catch(() => undefined);
    expect(evil.seen.filter((s) => s.headers.authorization === BASIC)).toHaveLength(0);
  });

  test("guard: a Bearer realm on plain HTTP at a host that is neither loopback nor insecure never receives the registry's credentials", async () => {
    const auth = await serve((_req, res) => json(res, 200, { token: 't' }), { name: 'auth.test' });
    const registry = await serve(
      (_req, res) => json(res, 401, {}, { 'www-authenticate': `Bearer realm="http://${auth.host}/token",service="reg"` }),
      { name: 'registry.test' },
    );
    const client = newClient({
      dispatcher: namedHostsAgent(),
      insecureHosts: [registry.host],
      credentials: creds(registry.host),
    });
    await expectCode(
      client.headManifest({ registry: registry.host, repository: 'team/app' }, 'v1'),
      'FAILED_PRECONDITION',
      /plain-HTTP token endpoint/,
    );
    expect(auth.seen).toHaveLength(0);
  });

  test('a remote registry cannot aim the token fetch at the service host itself (loopback realm = SSRF), nor read the answer back through the error', async () => {
    // "internal" stands for anything only the service can reach: an admin port on loopback, a
    // cloud metadata endpoint, a sidecar.
    const internal = await serve((_req, res) => json(res, 404, 'internal-only: db_password=hunter2'));
    const registry = await serve(
      (_req, res) =>
        json(res, 401, {}, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${internal.port}/admin/secrets?x=1",service="reg"` }),
      { name: 'registry.test' },
    );
    const client = newClient({ dispatcher: namedHostsAgent(), insecureHosts: [registry.host], credentials: creds(registry.host) });
    const err = await caught(client.headManifest({ registry: registry.host, repository: 'team/app' }, 'v1'));
    expect(exposed(err)).not.toContain('hunter2');
    expect(internal.seen).toHaveLength(0);
  });

  test('a 401 body echoing the Authorization header never puts the credentials into the error (Verify reasons, logs)', async () => {
    // Proxies and debug endpoints echo request headers; the error text is quoted into the gRPC
    // status message and the deny reasons a mere verifier-role caller receives.
    const registry = await serve((req, res) => {
      const got = req.headers.authorization;
      if (!got) {
        json(res, 401, {}, { 'www-authenticate': 'Basic realm="r"' });
        return;
      }
      json(res, 401, `denied: you sent Authorization: ${got} (${Buffer.from(got.slice(6), 'base64').toString()})`, {
        'www-authenticate': 'Basic realm="r"',
      });
    });
    const client = newClient({ credentials: creds(registry.host) });
    // A GET (a HEAD answer has no body to quote).
    const err = await caught(client.getManifest({ registry: registry.host, repository: 'team/app' }, DIGEST));
    expect(err.code).toBe('PERMISSION_DENIED');
    expect(exposed(err)).not.toContain(B64);
    expect(exposed(err)).not.toContain(PASSWORD);
  });

  test('a token endpoint echoing the credentials in its refusal never puts them into the error', async () => {
    const auth = await serve(
      (req, res) => json(res, 401, { errors: [{ code: 'DENIED', message: `bad ${req.headers.authorization ?? ''}` }] }),
      {
        bind: '127.0.0.2',
      },
    );
    const registry = await serve((_req, res) =>
      json(res, 401, {}, { 'www-authenticate': `Bearer realm="http://${auth.host}/token",service="reg"` }),
    );
    const client = newClient({ credentials: creds(registry.host) });
    const err = await caught(client.headManifest({ registry: registry.host, repository: 'team/app' }, 'v1'));
    expect(err.code).toBe('PERMISSION_DENIED');
    expect(exposed(err)).not.toContain(B64);
  });

  test('guard: a realm URL carrying user:pass@ is neither sent as credentials nor echoed', async () => {
    const auth = await serve((_req, res) => json(res, 503, 'down'), { bind: '127.0.0.2' });
    const registry = await serve((_req, res) =>
      json(res, 401, {}, { 'www-authenticate': `Bearer realm="http://leak:realmsecret@${auth.host}/token"` }),
    );
    const client = newClient();
    const err = await caught(client.headManifest({ registry: registry.host, repository: 'team/app' }, 'v1'));
    expect(exposed(err)).not.toContain('realmsecret');
    expect(auth.seen.every((s) => s.headers.authorization === undefined)).toBe(true);
  });

  test('guard: a token endpoint redirecting to another host does not forward the Basic credentials', async () => {
    const other = await serve((_req, res) => json(res, 200, { token: 't' }), { bind: '127.0.0.2' });
    const auth = await serve((_req, res, url) => {
      res.writeHead(307, { location: `http://${other.host}${url.pathname}${url.search}` });
      res.end();
    });
    const registry = await serve((req, res) => {
      if (req.headers.authorization !== 'Bearer t') {
        json(res, 401, {}, { 'www-authenticate': `Bearer realm="http://${auth.host}/token",service="reg"` });
        return;
      }
      writeManifest(res, req.method ?? 'GET', MANIFEST);
    });
    const client = newClient({ credentials: creds(registry.host) });
    await client.headManifest({ registry: registry.host, repository: 'team/app' }, 'v1');
    expect(auth.seen[0]!.headers.authorization).toBe(BASIC);
    expect(other.seen).toHaveLength(1);
    expect(other.seen[0]!.headers.authorization).toBeUndefined();
  });

  test('guard: credentials for a host are not sent to another port of it (host vs host:port)', async () => {
    const registry = await serve(
      (req, res) => {
        if (!req.headers.authorization) {
          json(res, 401, {}, { 'www-authenticate': 'Basic realm="r"' });
          return;
        }
        writeManifest(res, req.method ?? 'GET', MANIFEST);
      },
      { name: 'registry.test' },
    );
    const client = newClient({
      dispatcher: namedHostsAgent(),
      insecureHosts: ['registry.test'],
      // docker login registry.test (no port)
      credentials: new StaticCredentialStore({ 'registry.test': { username: USER, password: PASSWORD } }),
    });
    await expectCode(client.headManifest({ registry: registry.host, repository: 'team/app' }, 'v1'), 'PERMISSION_DENIED');
    expect(registry.seen.every((s) => s.headers.authorization === undefined)).toBe(true);
  });

  test('guard: two registries on one IP, different ports and credentials: each receives only its own (no pooled-connection mix-up)', async () => {
    const a = await serve((req, res) => {
      if (!req.headers.authorization) {
        json(res, 401, {}, { 'www-authenticate': 'Basic realm="a"' });
        return;
      }
      writeManifest(res, req.method ?? 'GET', MANIFEST);
    });
    const b = await serve((req, res) => {
      if (!req.headers.authorization) {
        json(res, 401, {}, { 'www-authenticate': 'Basic realm="b"' });
        return;
      }
      writeManifest(res, req.method ?? 'GET', MANIFEST);
    });
    const client = newClient({
      credentials: new StaticCredentialStore({
        [a.host]: { username: 'alice', password: 'a-pw' },
        [b.host]: { username: 'bob', password: 'b-pw' },
      }),
    });
    for (let i = 0; i < 3; i++) {
      await client.headManifest({ registry: a.host, repository: 'x/y' }, 'v1');
      await client.headManifest({ registry: b.host, repository: 'x/y' }, 'v1');
    }
    const basic = (u: string, p: string): string => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
    expect(a.seen.filter((s) => s.headers.authorization).every((s) => s.headers.authorization === basic('alice', 'a-pw'))).toBe(true);
    expect(b.seen.filter((s) => s.headers.authorization).every((s) => s.headers.authorization === basic('bob', 'b-pw'))).toBe(true);
  });

  test('guard: a registry rotating its challenge on every 401 gets a bounded number of token requests, then PERMISSION_DENIED', async () => {
    let n = 0;
    const auth = await serve((_req, res) => json(res, 200, { token: `t${n}` }), { bind: '127.0.0.2' });
    const registry = await serve((_req, res) => {
      n++;
      json(res, 401, {}, { 'www-authenticate': `Bearer realm="http://${auth.host}/token${n}",service="s${n}"` });
    });
    const client = newClient({ credentials: creds(registry.host) });
    await expectCode(client.headManifest({ registry: registry.host, repository: 'team/app' }, 'v1'), 'PERMISSION_DENIED');
    expect(auth.seen.length).toBeLessThanOrEqual(3);
  });

  test('guard: hostile token responses (oversized, chunked oversized, not JSON, a JSON list, an empty token) fail closed with a CountersignError', async () => {
    const bodies: Array<[string, (res: ServerResponse) => void, string]> = [
      ['declared 1 MiB', (res) => json(res, 200, { token: 'x'.repeat(1024 * 1024) }), 'RESOURCE_EXHAUSTED'],
      [
        'chunked 1 MiB',
        (res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          for (let i = 0; i < 64; i++) res.write('x'.repeat(16 * 1024));
          res.end();
        },
        'RESOURCE_EXHAUSTED',
      ],
      ['not JSON', (res) => json(res, 200, '<html>login</html>'), 'DATA_LOSS'],
      ['a JSON list', (res) => json(res, 200, '[{"token":"t"}]'), 'DATA_LOSS'],
      ['an empty token', (res) => json(res, 200, { token: '', access_token: 7 }), 'DATA_LOSS'],
    ];
    for (const [, answer, code] of bodies) {
      const auth = await serve((_req, res) => answer(res), { bind: '127.0.0.2' });
      const registry = await serve((_req, res) => json(res, 401, {}, { 'www-authenticate': `Bearer realm="http://${auth.host}/token"` }));
      const client = newClient();
      await expectCode(client.headManifest({ registry: registry.host, repository: 'team/app' }, 'v1'), code as never);
    }
  });

  test('guard: a token carrying CR/LF is never sent as an injected header, and fails as a CountersignError', async () => {
    const auth = await serve((_req, res) => json(res, 200, { token: 'abc\r\nX-Injected: yes' }), { bind: '127.0.0.2' });
    const registry = await serve((_req, res) => json(res, 401, {}, { 'www-authenticate': `Bearer realm="http://${auth.host}/token"` }));
    const client = newClient();
    await caught(client.headManifest({ registry: registry.host, repository: 'team/app' }, 'v1'));
    expect(registry.seen.some((s) => s.headers['x-injected'] !== undefined)).toBe(false);
  });

  test('guard: an expires_in of 1e400 (Infinity) or -5 still lets a refused cached token be replaced', async () => {
    for (const expires of ['1e400', '-5', '0']) {
      let issued = 0;
      const auth = await serve((_req, res) => json(res, 200, `{"token":"t${++issued}","expires_in":${expires}}`), { bind: '127.0.0.2' });
      let accept = 't1';
      const registry = await serve((req, res) => {
        if (req.headers.authorization !== `Bearer ${accept}`) {
          json(res, 401, {}, { 'www-authenticate': `Bearer realm="http://${auth.host}/token"` });
          return;
        }
        writeManifest(res, req.method ?? 'GET', MANIFEST);
      });
      const client = newClient();
      const repo = { registry: registry.host, repository: 'team/app' };
      await client.headManifest(repo, 'v1');
      accept = 't2'; // the registry rotated its signing key
      await client.headManifest(repo, 'v1');
      expect(issued).toBe(2);
    }
  });

  test('guard: a WWW-Authenticate of 2000 parameters and unterminated quotes parses without hanging or crashing', async () => {
    const params = Array.from({ length: 700 }, (_, i) => `p${i}="v\\"${i},x"`).join(',');
    const registry = await serve((_req, res) => json(res, 401, {}, { 'www-authenticate': `Bearer ${params}, Basic realm="unterminated` }));
    const client = newClient();
    const err = await caught(client.headManifest({ registry: registry.host, repository: 'team/app' }, 'v1'));
    expect(err).toBeInstanceOf(CountersignError);
  });
});

// ---- 2. redirects --------------------------------------------------------------------------

describe('redirects', () => {
  test('guard: a redirect loop ends after a bounded number of hops (UNAVAILABLE)', async () => {
    const registry = await serve((_req, res, url) => {
      res.writeHead(302, { location: `${url.pathname}?hop=${Math.random()}` });
      res.end();
    });
    const client = newClient();
    await expectCode(
      client.getManifest({ registry: registry.host, repository: 'team/app' }, DIGEST),
      'UNAVAILABLE',
      /redirected more than/,
    );
    expect(registry.seen.length).toBeLessThanOrEqual(6);
  });

  test.each(['file:///etc/passwd', 'data:application/json,{}', 'ftp://127.0.0.1/x', 'javascript:alert(1)'])(
    'guard: a redirect to %s is refused (DATA_LOSS)',
    async (location) => {
      const registry = await serve((_req, res) => {
        res.writeHead(301, { location });
        res.end();
      });
      const client = newClient();
      await expectCode(
        client.getManifest({ registry: registry.host, repository: 'team/app' }, DIGEST),
        'DATA_LOSS',
        /unsupported URL scheme/,
      );
    },
  );

  test('guard: a redirect to another port of the same host drops Authorization', async () => {
    const other = await serve((req, res) => writeManifest(res, req.method ?? 'GET', MANIFEST));
    const registry = await serve((req, res, url) => {
      if (!req.headers.authorization) {
        json(res, 401, {}, { 'www-authenticate': 'Basic realm="r"' });
        return;
      }
      res.writeHead(307, { location: `http://127.0.0.1:${other.port}${url.pathname}` });
      res.end();
    });
    const client = newClient({ credentials: creds(registry.host) });
    await client.getManifest({ registry: registry.host, repository: 'team/app' }, DIGEST);
    expect(other.seen).toHaveLength(1);
    expect(other.seen[0]!.headers.authorization).toBeUndefined();
  });

  test('guard: a malformed Location (http://[) fails as a CountersignError, not a TypeError', async () => {
    const registry = await serve((_req, res) => {
      res.writeHead(302, { location: 'http://[' });
      res.end();
    });
    const client = newClient();
    await caught(client.getManifest({ registry: registry.host, repository: 'team/app' }, DIGEST));
  });

  test('guard: every hop of a redirect chain shares one deadline (a slow chain cannot multiply timeoutMs)', async () => {
    const registry = await serve((_req, res, url) => {
      const hop = Number(url.searchParams.get('hop') ?? '0');
      setTimeout(() => {
        if (res.destroyed) return;
        res.writeHead(307, { location: `${url.pathname}?hop=${hop + 1}` });
        res.end();
      }, 150);
    });
    const client = newClient({ timeoutMs: 400 });
    await expectCode(client.getManifest({ registry: registry.host, repository: 'team/app' }, DIGEST), 'UNAVAILABLE', /within 400 ms/);
    expect(registry.seen.length).toBeLessThanOrEqual(4);
  });

  const withTls = (): typeof test => (tlsMaterial ? test : test.skip);
  withTls()(
    'an HTTPS registry cannot downgrade a read to plain HTTP with a redirect (a man in the middle on that leg picks the digest a tag resolves to)',
    async () => {
      const attackerDigest = sha256Digest(Buffer.from('an older, vulnerable but signed image'));
      const plain = await serve(
        (req, res) => {
          res.writeHead(200, {
            'content-type': MEDIA_TYPE.OCI_MANIFEST,
            'content-length': '100',
            'docker-content-digest': attackerDigest,
          });
          res.end(req.method === 'HEAD' ? undefined : '');
        },
        { name: 'storage.test' },
      );
      const registry = await serve(
        (_req, res, url) => {
          res.writeHead(307, { location: `http://${plain.host}${url.pathname}` });
          res.end();
        },
        { name: 'registry.test', tls: tlsMaterial! },
      );
      const client = newClient({ dispatcher: namedHostsAgent(tlsMaterial!.cert), credentials: creds(registry.host) });
      const outcome = await client.headManifest({ registry: registry.host, repository: 'team/app' }, 'v1').then(
        (d) => d.digest,
        (err: unknown) => (err instanceof CountersignError ? err.code : String(err)),
      );
      // Whatever else it does, a plain-HTTP answer never carries the registry's credentials.
      expect(plain.seen.every((s) => s.headers.authorization === undefined)).toBe(true);
      expect(outcome).not.toBe(attackerDigest);
      expect(plain.seen).toHaveLength(0);
    },
  );
});

// ---- 3. what a response claims --------------------------------------------------------------

describe('responses that lie', () => {
  test('guard: a manifest declared over the cap is refused without reading it; a chunked one while streaming', async () => {
    const big = Buffer.alloc(256 * 1024, 0x20);
    const declared = await serve((req, res) => writeManifest(res, req.method ?? 'GET', big));
    const chunked = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': MEDIA_TYPE.OCI_MANIFEST });
      for (let i = 0; i < 16; i++) res.write(big.subarray(0, 16 * 1024));
      res.end();
    });
    const client = newClient({ maxManifestBytes: 64 * 1024 });
    await expectCode(client.getManifest({ registry: declared.host, repository: 'a/b' }, 'v1'), 'RESOURCE_EXHAUSTED', /262144 bytes/);
    await expectCode(client.getManifest({ registry: chunked.host, repository: 'a/b' }, 'v1'), 'RESOURCE_EXHAUSTED', /larger/);
  });

  test('guard: a Content-Length smaller than the body (lying short) is caught by the digest', async () => {
    const registry = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': MEDIA_TYPE.OCI_MANIFEST, 'content-length': '10' });
      res.end(MANIFEST.subarray(0, 10));
    });
    const client = newClient();
    await expectCode(client.getManifest({ registry: registry.host, repository: 'a/b' }, DIGEST), 'DATA_LOSS');
  });

  test('guard: a gzip bomb (Content-Encoding: gzip) is never inflated: its raw bytes fail the digest', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    const registry = await serve((_req, res) => {
      res.writeHead(200, {
        'content-type': MEDIA_TYPE.OCI_MANIFEST,
        'content-encoding': 'gzip',
        'content-length': String(bomb.length),
        'docker-content-digest': DIGEST,
      });
      res.end(bomb);
    });
    const client = newClient();
    await expectCode(client.getManifest({ registry: registry.host, repository: 'a/b' }, DIGEST), 'DATA_LOSS');
    await expectCode(client.getManifest({ registry: registry.host, repository: 'a/b' }, 'v1'), 'DATA_LOSS');
  });

  test('guard: a tag HEAD naming digest D, then a GET of D serving other bytes: DATA_LOSS', async () => {
    const other = imageManifest(Buffer.from('swapped')).bytes;
    const registry = await serve((req, res) => {
      if (req.method === 'HEAD') {
        writeManifest(res, 'HEAD', MANIFEST);
        return;
      }
      writeManifest(res, 'GET', other, { 'docker-content-digest': DIGEST });
    });
    const client = newClient();
    const repo = { registry: registry.host, repository: 'a/b' };
    const d = await client.headManifest(repo, 'v1');
    expect(d.digest).toBe(DIGEST);
    await expectCode(client.getManifest(repo, d.digest), 'DATA_LOSS', /does not match its digest/);
  });

  test('guard: a HEAD by digest answering another Docker-Content-Digest is DATA_LOSS; one with a sha512 of other bytes too', async () => {
    const registry = await serve((_req, res) => {
      res.writeHead(200, {
        'content-type': MEDIA_TYPE.OCI_MANIFEST,
        'content-length': '5',
        'docker-content-digest': `sha512:${'a'.repeat(128)}`,
      });
      res.end();
    });
    const client = newClient();
    await expectCode(client.headManifest({ registry: registry.host, repository: 'a/b' }, DIGEST), 'DATA_LOSS');
  });

  test('guard: a tag GET whose Docker-Content-Digest (sha512) contradicts the bytes is DATA_LOSS', async () => {
    const registry = await serve((_req, res) =>
      writeManifest(res, 'GET', MANIFEST, { 'docker-content-digest': `sha512:${'b'.repeat(128)}` }),
    );
    const client = newClient();
    await expectCode(client.getManifest({ registry: registry.host, repository: 'a/b' }, 'v1'), 'DATA_LOSS');
  });

  test('an index served as "application/json" reads as an index by its bytes (GET); a HEAD only reports the header, which judges nothing', async () => {
    // Verify's resolve() reads what a digest is from its bytes, never from a HEAD's Content-Type
    // (the verification tests below: a lying HEAD does not turn a deny into an allow).
    const digest = sha256Digest(INDEX_BYTES);
    const registry = await serve((req, res) => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': String(INDEX_BYTES.length),
        'docker-content-digest': digest,
      });
      res.end(req.method === 'HEAD' ? undefined : INDEX_BYTES);
    });
    const client = newClient();
    const repo = { registry: registry.host, repository: 'a/b' };
    expect((await client.getManifest(repo, 'v1')).descriptor.mediaType).toBe(MEDIA_TYPE.OCI_INDEX);
    expect((await client.headManifest(repo, 'v1')).mediaType).toBe('application/json');
  });

  test('guard: 429 with a negative or garbage Retry-After is retried a bounded number of times', async () => {
    for (const ra of ['-5', '1e9', 'soon', '99999999999999999999']) {
      const registry = await serve((_req, res) => json(res, 429, 'slow down', { 'retry-after': ra }));
      const client = newClient({ maxRetries: 2, maxRetryDelayMs: 50 });
      await caught(client.headManifest({ registry: registry.host, repository: 'a/b' }, 'v1'));
      expect(registry.seen.length).toBeLessThanOrEqual(3);
    }
  });

  test('guard: a token endpoint trickling its body is cut off by the request deadline', async () => {
    const auth = await serve(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"token":"');
        const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write('x')), 50);
        res.on('close', () => clearInterval(timer));
      },
      { bind: '127.0.0.2' },
    );
    const registry = await serve((_req, res) => json(res, 401, {}, { 'www-authenticate': `Bearer realm="http://${auth.host}/token"` }));
    const client = newClient({ timeoutMs: 400 });
    await expectCode(client.headManifest({ registry: registry.host, repository: 'a/b' }, 'v1'), 'UNAVAILABLE');
  });
});

// ---- 4. referrers pagination ------------------------------------------------------------------

describe('referrers API pagination', () => {
  const subject = DIGEST;
  const page = (entries: number, offset = 0): string =>
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.OCI_INDEX,
      manifests: Array.from({ length: entries }, (_, i) => ({
        mediaType: MEDIA_TYPE.OCI_MANIFEST,
        digest: `sha256:${createHash('sha256')
          .update(`e${offset + i}`)
          .digest('hex')}`,
        size: 1,
        artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      })),
    });

  test.each([
    [
      'another host',
      (host: string) => `<http://127.0.0.2:${host.split(':')[1] ?? ''}/v2/a/b/referrers/${subject}?n=2>; rel="next"`,
      /another host/,
    ],
    ['the same page (a loop)', () => `</v2/a/b/referrers/${subject}>; rel="next"`, /pagination loop/],
  ])('guard: a Link to %s is refused (DATA_LOSS)', async (_n, link, why) => {
    let self = '';
    const registry = await serve((_req, res) => json(res, 200, page(1), { 'content-type': MEDIA_TYPE.OCI_INDEX, link: link(self) }));
    self = registry.host;
    const client = newClient();
    await expectCode(client.listReferrers({ registry: registry.host, repository: 'a/b' }, subject), 'DATA_LOSS', why);
  });

  test('a Link that is not a URL (<http://[>) fails as a CountersignError (DATA_LOSS: judged as evidence), not a TypeError', async () => {
    const registry = await serve((_req, res) =>
      json(res, 200, page(1), { 'content-type': MEDIA_TYPE.OCI_INDEX, link: '<http://[>; rel="next"' }),
    );
    const client = newClient();
    await expectCode(client.listReferrers({ registry: registry.host, repository: 'a/b' }, subject), 'DATA_LOSS');
  });

  test('endless distinct pages are bounded by bytes, not only by a count of 100 full-size pages (100 x maxManifestBytes = 400 MiB at defaults)', async () => {
    // Each page is under the per-page cap; the collector's 64 MiB byte budget is not charged for
    // listing pages, so one Verify of an image on a hostile registry reads and holds
    // 100 x 4 MiB of descriptors (millions of objects) before the page cap stops it.
    let served = 0;
    const registry = await serve((_req, res, url) => {
      const n = Number(url.searchParams.get('n') ?? '0');
      const body = page(300, n * 300); // ~45 KiB, under the 64 KiB cap
      served += Buffer.byteLength(body);
      json(res, 200, body, { 'content-type': MEDIA_TYPE.OCI_INDEX, link: `</v2/a/b/referrers/${subject}?n=${n + 1}>; rel="next"` });
    });
    const client = newClient({ maxManifestBytes: 64 * 1024 });
    const outcome = await client.listReferrers({ registry: registry.host, repository: 'a/b' }, subject).then(
      (r) => `${r.manifests.length} entries`,
      (err: unknown) => (err instanceof CountersignError ? err.message : String(err)),
    );
    expect(outcome).toMatch(/more than \d+ bytes of pages/); // what stops it: the bytes of the listing
    // A demanding bound: the whole listing within a few times the manifest cap.
    expect(served).toBeLessThanOrEqual(8 * 64 * 1024);
  });
});

// ---- 5. uploads (Sign writing where it should not) --------------------------------------------

describe('blob upload Location', () => {
  test("guard: an upload Location on another host gets the blob but never the registry's credentials", async () => {
    const elsewhere = await serve(
      (_req, res) => {
        res.writeHead(201, {});
        res.end();
      },
      { bind: '127.0.0.2' },
    );
    const registry = await serve((req, res, url) => {
      if (!req.headers.authorization) {
        json(res, 401, {}, { 'www-authenticate': 'Basic realm="r"' });
        return;
      }
      if (req.method === 'HEAD') {
        json(res, 404, '');
        return;
      }
      if (req.method === 'POST' && url.pathname.endsWith('/blobs/uploads/')) {
        res.writeHead(202, { location: `http://${elsewhere.host}/upload/1?state=x`, 'content-length': '0' });
        res.end();
        return;
      }
      json(res, 500, 'unexpected');
    });
    const client = newClient({ credentials: creds(registry.host) });
    await client.pushBlob({ registry: registry.host, repository: 'a/b' }, Buffer.from('sig'));
    expect(elsewhere.seen).toHaveLength(1);
    expect(elsewhere.seen[0]!.headers.authorization).toBeUndefined();
  });

  test('a malformed upload Location (http://[) fails Sign as a CountersignError, not a TypeError (INTERNAL)', async () => {
    const registry = await serve((req, res, url) => {
      if (req.method === 'HEAD') {
        json(res, 404, '');
        return;
      }
      if (req.method === 'POST' && url.pathname.endsWith('/blobs/uploads/')) {
        res.writeHead(202, { location: 'http://[', 'content-length': '0' });
        res.end();
        return;
      }
      json(res, 500, 'unexpected');
    });
    const client = newClient();
    await caught(client.pushBlob({ registry: registry.host, repository: 'a/b' }, Buffer.from('sig')));
  });
});

// ---- 6. what Verify makes of a lying HEAD ----------------------------------------------------

describe('Verify over a registry whose manifest HEAD lies about the media type', () => {
  const REPOSITORY = 'team/app';
  let dir: ReturnType<typeof tempDir>;
  let fake: FakeRegistry;
  let client: RegistryClient;
  let keys: TempKeyStore;
  let policies: PolicyStore;

  beforeAll(() => {
    dir = tempDir('hostile-head');
  });
  afterAll(() => dir.cleanup());
  afterEach(async () => {
    policies.close();
    await keys.close();
    await fake.close();
    await client.close();
  });

  /**
   * An index with an unsigned linux/arm64 child next to a signed amd64 child; the index digest
   * itself is signed too. Under `multiArch: platforms` every child a runtime could run must be
   * signed, so the right answer is a deny naming the arm64 child.
   */
  async function scenario(headContentType: string | undefined, storedAs: string = MEDIA_TYPE.OCI_INDEX) {
    const signer = await newSigningKey('ci');
    keys = await tempKeyStore();
    await keys.store.importPublicKey({ name: 'ci' }, signer.publicKeyPem, 'test');
    const file = path.join(dir.dir, `policy-${Math.random()}.yaml`);
    writeFileSync(file, 'rules:\n  - name: multi\n    multiArch: platforms\n    require:\n      signatures: {}\n');
    policies = await PolicyStore.open(file, { watch: false, pollMs: 0 });
    fake = await FakeRegistry.start({ referrersApi: true });
    client = new RegistryClient({ maxRetries: 0, retryBaseMs: 1 });
    const repo = { registry: fake.host, repository: REPOSITORY };
    const amd = storeImage(fake, REPOSITORY, 'amd64');
    const arm = storeImage(fake, REPOSITORY, 'arm64, never signed');
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPE.OCI_INDEX,
        manifests: [
          { mediaType: amd.mediaType, digest: amd.digest, size: amd.size, platform: { os: 'linux', architecture: 'amd64' } },
          { mediaType: arm.mediaType, digest: arm.digest, size: arm.size, platform: { os: 'linux', architecture: 'arm64' } },
        ],
      }),
    );
    const digest = fake.storeManifest(REPOSITORY, bytes, storedAs, 'v1');
    const idx = { mediaType: MEDIA_TYPE.OCI_INDEX, digest, size: bytes.length };
    const store = new ReferrerStore(client);
    await store.attach(repo, await signedReferrer(signer, amd));
    await store.attach(repo, await signedReferrer(signer, idx));
    if (headContentType !== undefined) {
      fake.inject({
        method: 'HEAD',
        path: /\/manifests\/v1$/,
        times: 100,
        status: 200,
        headers: { 'content-type': headContentType, 'docker-content-digest': digest, 'content-length': String(bytes.length) },
      });
    }
    const collector = new EvidenceCollector({ client, trust: keys.store.trust });
    const svc = new VerificationService({ registry: client, collector, cache: new EvidenceCache(), trust: keys.store.trust, policies });
    return { result: await svc.verify({ image: `${fake.host}/${REPOSITORY}:v1`, action: 'deploy' }), arm };
  }

  test('guard (control): an honest registry: denied, naming the unsigned arm64 child', async () => {
    const { result, arm } = await scenario(undefined);
    expect(result.allowed).toBe(false);
    expect(result.reasons.join('\n')).toContain(arm.digest.slice(0, 19));
  });

  test('a HEAD that calls the index an image manifest must not turn that deny into an allow', async () => {
    const { result } = await scenario(MEDIA_TYPE.OCI_MANIFEST);
    expect(result.allowed).toBe(false);
  });

  test('an index a registry serves as "application/json" (HEAD and GET) is still judged as an index', async () => {
    const { result } = await scenario(undefined, 'application/json');
    expect(result.allowed).toBe(false);
  });
});
