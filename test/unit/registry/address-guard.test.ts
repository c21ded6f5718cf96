/**
 * A registry names URLs the service then requests: its token realm, where a blob read is
 * redirected, where an upload continues. A registry on a public address (or a pusher's registry
 * an image names) must not aim the service at an internal address by any spelling: a literal IP,
 * a name that resolves there, or a name that resolves elsewhere when checked and there when
 * connected (DNS rebinding). Loopback addresses stand in for the two networks here:
 * 127.0.0.1 plays "public", 127.0.0.2 "internal" (the client's isInternalAddress option).
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AddressGuard, isInternalAddress, type LookupAll, type ResolvedAddress } from '../../../src/registry/address-guard';
import { RegistryClient } from '../../../src/registry/client';
import { sha256Digest } from '../../../src/registry/digest';
import { caught } from './helpers';

const PUBLIC = '127.0.0.1';
const INTERNAL = '127.0.0.2';

interface Srv {
  port: number;
  hits: string[];
  connections: number;
  close(): Promise<void>;
}

const servers: Srv[] = [];
const clients: RegistryClient[] = [];

async function serve(bind: string, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Srv> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(`${req.method ?? ''} ${req.url ?? ''}`);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, bind, resolve));
  const srv: Srv = {
    port: (server.address() as AddressInfo).port,
    hits,
    connections: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on('connection', () => srv.connections++);
  servers.push(srv);
  return srv;
}

/** Names → addresses; a name mapped to a list answers its entries in turn (the last one from then on). */
function lookupOf(names: Record<string, string | string[]>): LookupAll & { asked: string[] } {
  const asked: string[] = [];
  const fn = ((hostname: string, cb: (err: NodeJS.ErrnoException | null, a: ResolvedAddress[]) => void) => {
    asked.push(hostname);
    const entry = names[hostname];
    if (entry === undefined) {
      cb(Object.assign(new Error(`no such host ${hostname}`), { code: 'ENOTFOUND' }), []);
      return;
    }
    const address = Array.isArray(entry) ? (entry.length > 1 ? entry.shift()! : entry[0]!) : entry;
    cb(null, [{ address, family: 4 }]);
  }) as LookupAll & { asked: string[] };
  fn.asked = asked;
  return fn;
}

function newClient(lookup: LookupAll, insecureHosts: string[]): RegistryClient {
  const client = new RegistryClient({
    maxRetries: 0,
    retryBaseMs: 1,
    timeoutMs: 3000,
    lookup,
    isInternalAddress: (a) => a === INTERNAL,
    insecureHosts,
  });
  clients.push(client);
  return client;
}

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const s of servers.splice(0)) await s.close();
});

const LAYER = Buffer.from('address-guard layer');
const LAYER_DIGEST = sha256Digest(LAYER);
const repo = (registry: string) => ({ registry, repository: 'team/app' });

function challenge(realm: string): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    if (req.headers.authorization === 'Bearer good-token') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(LAYER.length) });
      res.end(LAYER);
      return;
    }
    res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="reg"`, 'content-length': '0' });
    res.end();
  };
}

function tokenServer(res: ServerResponse): void {
  const body = JSON.stringify({ token: 'good-token' });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
  res.end(body);
}

describe('a public registry cannot send the service to an internal address', () => {
  test('a token realm on a NAME that resolves to an internal address is never contacted', async () => {
    const inside = await serve(INTERNAL, (_req, res) => tokenServer(res));
    // The realm's port is the internal server's.
    const reg = await serve(PUBLIC, challenge(`http://metadata.test:${inside.port}/latest/meta-data`));
    const client = newClient(lookupOf({ 'registry.test': PUBLIC, 'metadata.test': INTERNAL }), [`registry.test:${reg.port}`]);
    const err = await caught(client.getBlob(repo(`registry.test:${reg.port}`), LAYER_DIGEST));
    expect(err.code).toBe('FAILED_PRECONDITION');
    expect(err.message).toMatch(/metadata\.test.*resolves to 127\.0\.0\.2/);
    expect(inside.hits).toEqual([]);
  });

  test('a token realm on an internal address literal (IPv4 or its IPv4-mapped IPv6 form) is never contacted', async () => {
    const inside = await serve(INTERNAL, (_req, res) => tokenServer(res));
    for (const host of [INTERNAL, `[::ffff:${INTERNAL}]`]) {
      const reg = await serve(PUBLIC, challenge(`http://${host}:${inside.port}/token`));
      const client = newClient(lookupOf({ 'registry.test': PUBLIC }), [`registry.test:${reg.port}`]);
      const err = await caught(client.getBlob(repo(`registry.test:${reg.port}`), LAYER_DIGEST));
      // The IPv4-mapped form: judged as the IPv4 address (isInternalAddress), or unreachable here.
      expect(['FAILED_PRECONDITION', 'UNAVAILABLE']).toContain(err.code);
    }
    expect(inside.hits).toEqual([]);
  });

  test('a blob read redirected to a name that resolves inside is refused before any request is made there', async () => {
    const inside = await serve(INTERNAL, (_req, res) => {
      res.writeHead(200, { 'content-length': String(LAYER.length) });
      res.end(LAYER);
    });
    const reg = await serve(PUBLIC, (_req, res) => {
      res.writeHead(307, { location: `http://storage.test:${inside.port}/blob`, 'content-length': '0' });
      res.end();
    });
    const client = newClient(lookupOf({ 'registry.test': PUBLIC, 'storage.test': INTERNAL }), [
      `registry.test:${reg.port}`,
      `storage.test:${inside.port}`,
    ]);
    const err = await caught(client.getBlob(repo(`registry.test:${reg.port}`), LAYER_DIGEST));
    expect(err.code).toBe('FAILED_PRECONDITION');
    expect(inside.hits).toEqual([]);
  });

  test('DNS rebinding: a name that resolves public when checked and internal when connected gets no connection', async () => {
    const inside = await serve(INTERNAL, (_req, res) => tokenServer(res));
    // The rebinding host's public answer must be a port on both addresses: the internal server's.
    const reg = await serve(PUBLIC, challenge(`http://rebind.test:${inside.port}/token`));
    const lookup = lookupOf({ 'registry.test': PUBLIC, 'rebind.test': [PUBLIC, INTERNAL] });
    const client = newClient(lookup, [`registry.test:${reg.port}`]);
    const err = await caught(client.getBlob(repo(`registry.test:${reg.port}`), LAYER_DIGEST));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toMatch(/resolves to a loopback, private or link-local address/);
    expect(inside.hits).toEqual([]);
    // Checked once, resolved again when connecting: the second answer is the one refused.
    expect(lookup.asked.filter((h) => h === 'rebind.test')).toHaveLength(2);
  });
});

describe('what stays allowed', () => {
  test('a token realm on another public host is used (Docker Hub: registry-1.docker.io → auth.docker.io)', async () => {
    const auth = await serve(PUBLIC, (_req, res) => tokenServer(res));
    const reg = await serve(PUBLIC, challenge(`http://auth.test:${auth.port}/token`));
    const client = newClient(lookupOf({ 'registry.test': PUBLIC, 'auth.test': PUBLIC }), [`registry.test:${reg.port}`]);
    expect(await client.getBlob(repo(`registry.test:${reg.port}`), LAYER_DIGEST)).toEqual(LAYER);
    expect(auth.hits).toHaveLength(1);
  });

  test('a registry that is itself on an internal address may use an internal token service (a corporate Harbor, GitLab)', async () => {
    const auth = await serve(INTERNAL, (_req, res) => tokenServer(res));
    const reg = await serve(INTERNAL, challenge(`http://auth.corp.test:${auth.port}/jwt/auth`));
    const client = newClient(lookupOf({ 'registry.corp.test': INTERNAL, 'auth.corp.test': INTERNAL }), [`registry.corp.test:${reg.port}`]);
    expect(await client.getBlob(repo(`registry.corp.test:${reg.port}`), LAYER_DIGEST)).toEqual(LAYER);
    expect(auth.hits).toHaveLength(1);
  });

  test("the registry's own host is reached wherever it resolves (its token endpoint on the same host and another port too)", async () => {
    const auth = await serve(INTERNAL, (_req, res) => tokenServer(res));
    const reg = await serve(INTERNAL, challenge(`http://registry.corp.test:${auth.port}/token`));
    // The registry name resolves internal: the operator's own network.
    const client = newClient(lookupOf({ 'registry.corp.test': INTERNAL }), [
      `registry.corp.test:${reg.port}`,
      `registry.corp.test:${auth.port}`,
    ]);
    expect(await client.getBlob(repo(`registry.corp.test:${reg.port}`), LAYER_DIGEST)).toEqual(LAYER);
  });

  test('requests to the registry itself make no lookup beyond the connection (the warm path pays nothing)', async () => {
    const reg = await serve(PUBLIC, (_req, res) => {
      res.writeHead(200, { 'content-length': String(LAYER.length) });
      res.end(LAYER);
    });
    const lookup = lookupOf({ 'registry.test': PUBLIC });
    const client = newClient(lookup, [`registry.test:${reg.port}`]);
    for (let i = 0; i < 5; i++) await client.getBlob(repo(`registry.test:${reg.port}`), LAYER_DIGEST);
    // Each lookup is a connection's own (undici may open a second one for back-to-back requests).
    expect(lookup.asked).toEqual(Array<string>(reg.connections).fill('registry.test'));
  });
});

describe('isInternalAddress', () => {
  test.each([
    ['127.0.0.1', true],
    ['10.1.2.3', true],
    ['172.16.0.1', true],
    ['172.32.0.1', false],
    ['192.168.1.1', true],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['100.128.0.1', false],
    ['0.0.0.0', true],
    ['8.8.8.8', false],
    ['::1', true],
    ['::', true],
    ['::ffff:169.254.169.254', true],
    ['::ffff:a9fe:a9fe', true],
    ['0:0:0:0:0:ffff:7f00:1', true],
    ['::ffff:8.8.8.8', false],
    ['fd00::1', true],
    ['fc00::1', true],
    ['fe80::1', true],
    ['febf::1', true],
    ['fec0::1', false],
    ['2001:4860:4860::8888', false],
    ['metadata.google.internal', false],
  ])('%s → %s', (address, internal) => {
    expect(isInternalAddress(address)).toBe(internal);
  });

  test('a guard whose registry name does not resolve treats the registry as public (the stricter rule)', async () => {
    const guard = new AddressGuard({ home: () => 'https://nowhere.test', lookup: lookupOf({}), isInternal: (a) => a === INTERNAL });
    const err = await caught(Promise.resolve(guard.confinement('nowhere.test', new URL(`https://${INTERNAL}/token`))));
    expect(err.code).toBe('FAILED_PRECONDITION');
  });
});

describe('deadlines', () => {
  test('a call whose deadline passes while a foreign name is still resolving ends then, DEADLINE_EXCEEDED', async () => {
    // A blob redirect to a name whose resolver never answers (a black-holed DNS server): the
    // Verify or gate request under it must end at its deadline, not at the resolver's timeout.
    const reg = await serve(PUBLIC, (_req, res) => {
      res.writeHead(307, { location: 'http://slow-dns.test/blob', 'content-length': '0' });
      res.end();
    });
    const base = lookupOf({ 'registry.test': PUBLIC });
    const hanging: LookupAll = (hostname, cb) => {
      if (hostname === 'slow-dns.test') return;
      base(hostname, cb);
    };
    const client = newClient(hanging, [`registry.test:${reg.port}`]);
    const controller = new AbortController();
    const pending = caught(client.getBlob(repo(`registry.test:${reg.port}`), LAYER_DIGEST, { signal: controller.signal }));
    setTimeout(() => controller.abort(), 100);
    const err = await pending;
    expect(err.code).toBe('DEADLINE_EXCEEDED');
  });
});
