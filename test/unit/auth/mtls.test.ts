/**
 * Client certificates: the mapping to identities, the server credentials, and a real grpc-js
 * server with TLS and a client CA on 127.0.0.1 (certificates minted with the openssl CLI;
 * skipped where it is missing).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { AuditLog } from '../../../src/audit';
import {
  AccessControl,
  CertificateMapper,
  TokenStore,
  parseSubjectAltName,
  serverCredentials,
  validateBindings,
  type MtlsBinding,
} from '../../../src/auth';
import { toGrpcError } from '../../../src/grpc/status';
import { openDatabase, SqliteStore } from '../../../src/store';
import { expectCode, removeTempDirs, tempDir } from './helpers';

afterAll(removeTempDirs);

function peer(cn: string | string[] | undefined, san?: string, eku?: string[]): PeerCertificate {
  return {
    raw: Buffer.from([1, 2, 3]),
    subject: cn === undefined ? {} : { CN: cn },
    ...(san !== undefined ? { subjectaltname: san } : {}),
    ...(eku !== undefined ? { ext_key_usage: eku } : {}),
    fingerprint256: 'AB:CD',
  } as unknown as PeerCertificate;
}

const BINDINGS: MtlsBinding[] = [
  { subject: 'CN=ci-team-a', roles: ['signer'], scopes: ['acmecorp/payments-*'] },
  { subject: 'CN=ci-team-a', roles: ['verifier'] },
  { subject: 'URI:spiffe://acme.example/ci/*', roles: ['verifier'] },
  { subject: 'DNS:*.admins.acme.example', roles: ['key-admin'] },
];

describe('parseSubjectAltName', () => {
  test('splits Node’s format, including JSON-quoted values', () => {
    expect(parseSubjectAltName('DNS:localhost, IP Address:127.0.0.1, URI:spiffe://acme.example/ci/a')).toEqual([
      { type: 'DNS', value: 'localhost' },
      { type: 'IP Address', value: '127.0.0.1' },
      { type: 'URI', value: 'spiffe://acme.example/ci/a' },
    ]);
    // A value with ", URI:" inside cannot pose as a second entry.
    expect(parseSubjectAltName('DNS:"evil, URI:spiffe://acme.example/ci/x", DNS:b')).toEqual([
      { type: 'DNS', value: 'evil, URI:spiffe://acme.example/ci/x' },
      { type: 'DNS', value: 'b' },
    ]);
    expect(parseSubjectAltName(undefined)).toEqual([]);
    expect(parseSubjectAltName('')).toEqual([]);
  });
});

describe('CertificateMapper', () => {
  const mapper = new CertificateMapper(BINDINGS);

  test('a CN binding grants its roles; several matching bindings add up', () => {
    expect(mapper.identityOf(peer('ci-team-a'))).toEqual({
      subject: 'cert:CN=ci-team-a',
      roles: ['signer', 'verifier'],
      scopes: ['acmecorp/payments-*'],
      via: 'mtls',
    });
  });

  test('CN matches exactly', () => {
    expect(mapper.identityOf(peer('ci-team-a2')).roles).toEqual([]);
    expect(mapper.identityOf(peer('CI-TEAM-A')).roles).toEqual([]);
  });

  test('URI patterns: * stays within one path segment', () => {
    expect(mapper.identityOf(peer(undefined, 'URI:spiffe://acme.example/ci/team-b'))).toEqual({
      subject: 'cert:URI:spiffe://acme.example/ci/team-b',
      roles: ['verifier'],
      scopes: [],
      via: 'mtls',
    });
    expect(mapper.identityOf(peer(undefined, 'URI:spiffe://acme.example/ci/team-b/extra')).roles).toEqual([]);
    expect(mapper.identityOf(peer(undefined, 'URI:spiffe://acme.example.evil/ci/x')).roles).toEqual([]);
    // A quoted DNS name containing a URI is not a URI.
    expect(mapper.identityOf(peer(undefined, 'DNS:"x, URI:spiffe://acme.example/ci/x"')).roles).toEqual([]);
  });

  test('DNS patterns: case-insensitive, * is one label', () => {
    expect(mapper.identityOf(peer('someone', 'DNS:Alice.Admins.acme.example')).roles).toEqual(['key-admin']);
    expect(mapper.identityOf(peer('someone', 'DNS:Alice.Admins.acme.example')).subject).toBe('cert:DNS:Alice.Admins.acme.example');
    expect(mapper.identityOf(peer('someone', 'DNS:a.b.admins.acme.example')).roles).toEqual([]);
    expect(mapper.identityOf(peer('someone', 'DNS:admins.acme.example')).roles).toEqual([]);
  });

  test('an unbound certificate has no roles, and is named by CN, else SAN, else fingerprint', () => {
    expect(mapper.identityOf(peer('stranger'))).toEqual({ subject: 'cert:CN=stranger', roles: [], scopes: [], via: 'mtls' });
    expect(mapper.identityOf(peer(undefined, 'DNS:x.example')).subject).toBe('cert:DNS:x.example');
    expect(mapper.identityOf(peer(undefined, 'IP Address:10.0.0.1')).subject).toBe('cert:IP Address:10.0.0.1');
    expect(mapper.identityOf(peer(undefined)).subject).toBe('cert:sha256:AB:CD');
  });

  test('a certificate not meant for client authentication is refused', () => {
    expectCode(() => mapper.identityOf(peer('ci-team-a', undefined, ['1.3.6.1.5.5.7.3.1'])), 'UNAUTHENTICATED', /lacks clientAuth/);
    expect(mapper.identityOf(peer('ci-team-a', undefined, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'])).roles).toHaveLength(2);
  });

  test('bindings are validated', () => {
    expect(validateBindings(undefined)).toEqual([]);
    expectCode(() => validateBindings({}), 'INVALID_ARGUMENT', /must be a list/);
    expectCode(
      () => validateBindings([{ subject: 'ci-team-a', roles: ['verifier'] }]),
      'INVALID_ARGUMENT',
      /mTLS binding 1: subject "ci-team-a" must be/,
    );
    expectCode(() => validateBindings([{ subject: 'CN=a', roles: ['root'] }]), 'INVALID_ARGUMENT', /unknown role "root"/);
    expectCode(() => validateBindings([{ subject: 'CN=a', roles: ['signer'] }]), 'INVALID_ARGUMENT', /needs at least one repository scope/);
    expect(() => new CertificateMapper([{ subject: 'URI:', roles: ['verifier'] }])).toThrow(/must be/);
  });
});

let hasOpenssl = true;
try {
  execFileSync('openssl', ['version'], { stdio: 'ignore' });
} catch {
  hasOpenssl = false;
}
const withOpenssl = hasOpenssl ? describe : describe.skip;

interface Pki {
  dir: string;
  file: (name: string) => string;
  read: (name: string) => Buffer;
}

/** A CA, a server certificate for 127.0.0.1/localhost, client certificates, and a rogue CA. */
function mintPki(): Pki {
  const dir = tempDir('countersign-mtls-');
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ca = (name: string) =>
    openssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout',
      file(`${name}.key`),
      '-out',
      file(`${name}.crt`),
    );
  const leaf = (name: string, subject: string, ext: string, issuer = 'ca') => {
    writeFileSync(file(`${name}.ext`), ext);
    openssl(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      subject,
      '-keyout',
      file(`${name}.key`),
      '-out',
      file(`${name}.csr`),
    );
    openssl(
      'x509',
      '-req',
      '-in',
      file(`${name}.csr`),
      '-CA',
      file(`${issuer}.crt`),
      '-CAkey',
      file(`${issuer}.key`),
      '-set_serial',
      String((Date.now() % 1e9) + name.length),
      '-days',
      '1',
      '-extfile',
      file(`${name}.ext`),
      '-out',
      file(`${name}.crt`),
    );
  };
  ca('ca');
  ca('rogue-ca');
  leaf('server', '/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  leaf('team-a', '/CN=ci-team-a', 'extendedKeyUsage=clientAuth\n');
  leaf('spiffe', '/O=acme', 'subjectAltName=URI:spiffe://acme.example/ci/team-b\nextendedKeyUsage=clientAuth\n');
  leaf('stranger', '/CN=stranger', 'extendedKeyUsage=clientAuth\n');
  leaf('impostor', '/CN=ci-team-a', 'extendedKeyUsage=clientAuth\n', 'rogue-ca');
  return { dir, file, read: (name) => readFileSync(file(name)) };
}

const SIGN = '/countersign.v1.SigningService/Sign';
const LIST_KEYS = '/countersign.v1.KeyService/ListKeys';

/** Two of our RPC paths with JSON messages: enough to exercise the access check over real TLS. */
function jsonMethod(methodPath: string): grpc.MethodDefinition<object, object> {
  const ser = (v: object) => Buffer.from(JSON.stringify(v));
  const de = (b: Buffer) => JSON.parse(b.toString('utf8')) as object;
  return {
    path: methodPath,
    requestStream: false,
    responseStream: false,
    requestSerialize: ser,
    requestDeserialize: de,
    responseSerialize: ser,
    responseDeserialize: de,
  };
}
const SERVICE: grpc.ServiceDefinition = { Sign: jsonMethod(SIGN), ListKeys: jsonMethod(LIST_KEYS) };
const TestClient = grpc.makeGenericClientConstructor(SERVICE, 'AuthTest');

type Reply = { subject: string } | { code: grpc.status; details: string };

function callRpc(client: grpc.Client, name: 'Sign' | 'ListKeys', request: object, metadata = new grpc.Metadata()): Promise<Reply> {
  return new Promise((resolve) => {
    const fn = (
      client as unknown as Record<string, (r: object, m: grpc.Metadata, o: grpc.CallOptions, cb: grpc.requestCallback<object>) => void>
    )[name];
    fn!.call(client, request, metadata, { deadline: Date.now() + 10_000 }, (err, res) => {
      resolve(err ? { code: err.code, details: err.details } : (res as { subject: string }));
    });
  });
}

withOpenssl('mTLS end to end (real grpc-js server on 127.0.0.1)', () => {
  let pki: Pki;
  let db: SqliteStore;
  let audit: AuditLog;
  let ciToken: string;
  const servers: grpc.Server[] = [];
  const clients: grpc.Client[] = [];

  async function startServer(requireClientCert: boolean): Promise<number> {
    const access = new AccessControl({ mode: 'enforce', tokens: await TokenStore.open(db), audit, mtlsBindings: BINDINGS });
    const server = new grpc.Server();
    const handler =
      (method: string): grpc.handleUnaryCall<object, object> =>
      (call, callback) => {
        // Synchronous when the answer is in memory: made a promise here either way.
        Promise.resolve()
          .then(() => access.check(call as grpc.ServerUnaryCall<unknown, unknown>, method, call.request))
          .then(
            (identity) => callback(null, { subject: identity.subject }),
            (err: unknown) => {
              const mapped = toGrpcError(err, 'test');
              callback({ code: mapped.code, details: mapped.details });
            },
          );
      };
    server.addService(SERVICE, { Sign: handler(SIGN.slice(1)), ListKeys: handler(LIST_KEYS.slice(1)) });
    const creds = serverCredentials({
      certFile: pki.file('server.crt'),
      keyFile: pki.file('server.key'),
      clientCaFile: pki.file('ca.crt'),
      requireClientCert,
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))),
    );
    servers.push(server);
    return port;
  }

  function client(port: number, cert?: string): grpc.Client {
    const creds = cert
      ? grpc.credentials.createSsl(pki.read('ca.crt'), pki.read(`${cert}.key`), pki.read(`${cert}.crt`))
      : grpc.credentials.createSsl(pki.read('ca.crt'));
    const c = new TestClient(`127.0.0.1:${port}`, creds);
    clients.push(c);
    return c;
  }

  const inScope = { image: 'reg.example.com/acmecorp/payments-api:1.0' };
  const outOfScope = { image: 'reg.example.com/acmecorp/billing:1.0' };

  beforeAll(async () => {
    pki = mintPki();
    db = await SqliteStore.open(openDatabase(path.join(pki.dir, 'countersign.db')), { changeCheckMs: 0 });
    audit = await AuditLog.open(db);
    ciToken = (await (await TokenStore.open(db)).create({ name: 'ci-token', roles: ['key-admin'], createdBy: 'test' })).token;
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const s of servers) s.forceShutdown();
    await db.close();
  });

  describe('client certificate optional (requireClientCert: false)', () => {
    let port: number;
    beforeAll(async () => {
      port = await startServer(false);
    });

    test('a bound certificate maps to its roles and scopes', async () => {
      expect(await callRpc(client(port, 'team-a'), 'Sign', inScope)).toEqual({ subject: 'cert:CN=ci-team-a' });
      expect(await callRpc(client(port, 'team-a'), 'Sign', outOfScope)).toEqual({
        code: grpc.status.PERMISSION_DENIED,
        details: 'cert:CN=ci-team-a has role signer for acmecorp/payments-*, not for reg.example.com/acmecorp/billing',
      });
      expect(await callRpc(client(port, 'team-a'), 'ListKeys', {})).toMatchObject({
        code: grpc.status.PERMISSION_DENIED,
        details: expect.stringContaining('cert:CN=ci-team-a lacks role key-admin') as unknown,
      });
    });

    test('a URI SAN binding works the same way', async () => {
      expect(await callRpc(client(port, 'spiffe'), 'Sign', inScope)).toMatchObject({
        code: grpc.status.PERMISSION_DENIED,
        details: expect.stringContaining('cert:URI:spiffe://acme.example/ci/team-b lacks role signer') as unknown,
      });
    });

    test('an unbound certificate from the CA: PERMISSION_DENIED, audited under its name', async () => {
      expect(await callRpc(client(port, 'stranger'), 'Sign', inScope)).toEqual({
        code: grpc.status.PERMISSION_DENIED,
        details: 'cert:CN=stranger lacks role signer, which countersign.v1.SigningService/Sign requires (it has no roles)',
      });
      const [entry] = await audit.list({ actor: 'cert:CN=stranger' });
      expect(entry).toMatchObject({
        action: 'countersign.v1.SigningService/Sign',
        outcome: 'denied',
        target: 'reg.example.com/acmecorp/payments-api:1.0',
        details: { status: 'PERMISSION_DENIED', via: 'mtls', peer: expect.stringMatching(/127\.0\.0\.1:\d+$/) as unknown },
      });
    });

    test('no certificate and no token: UNAUTHENTICATED', async () => {
      expect(await callRpc(client(port), 'Sign', inScope)).toEqual({
        code: grpc.status.UNAUTHENTICATED,
        details: "no credentials: send 'authorization: Bearer <token>' or a client certificate",
      });
    });

    test('a certificate from another CA counts as no certificate', async () => {
      expect(await callRpc(client(port, 'impostor'), 'Sign', inScope)).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    });

    test('a server certificate from the same CA is not a client identity', async () => {
      // OpenSSL already refuses to verify it for the client purpose (EKU serverAuth only), so it
      // counts as no certificate; CertificateMapper's own EKU check is a second line of defence.
      expect(await callRpc(client(port, 'server'), 'Sign', inScope)).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    });

    test('a bearer token works over TLS without a certificate', async () => {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${ciToken}`);
      expect(await callRpc(client(port), 'ListKeys', {}, md)).toEqual({ subject: 'token:ci-token' });
    });
  });

  describe('client certificate required (requireClientCert: true)', () => {
    let port: number;
    beforeAll(async () => {
      port = await startServer(true);
    });

    test('a bound certificate is accepted', async () => {
      expect(await callRpc(client(port, 'team-a'), 'Sign', inScope)).toEqual({ subject: 'cert:CN=ci-team-a' });
    });

    test('without a certificate, or with one from another CA, the handshake fails', async () => {
      expect(await callRpc(client(port), 'Sign', inScope)).toMatchObject({ code: grpc.status.UNAVAILABLE });
      expect(await callRpc(client(port, 'impostor'), 'Sign', inScope)).toMatchObject({ code: grpc.status.UNAVAILABLE });
    });
  });

  test('serverCredentials checks its files at startup', () => {
    expectCode(
      () => serverCredentials({ certFile: pki.file('missing.crt'), keyFile: pki.file('server.key'), requireClientCert: false }),
      'FAILED_PRECONDITION',
      /cannot read the TLS certificate file .*missing\.crt \(ENOENT\)/,
    );
    expectCode(
      () => serverCredentials({ certFile: pki.file('server.crt'), keyFile: pki.file('team-a.key'), requireClientCert: false }),
      'FAILED_PRECONDITION',
      /does not belong to the certificate/,
    );
    expectCode(
      () => serverCredentials({ certFile: pki.file('server.crt'), keyFile: pki.file('server.crt'), requireClientCert: false }),
      'FAILED_PRECONDITION',
      /is not an unencrypted PEM private key/,
    );
    expectCode(
      () => serverCredentials({ certFile: pki.file('server.crt'), keyFile: pki.file('server.key'), requireClientCert: true }),
      'INVALID_ARGUMENT',
      /requireClientCert needs clientCaFile/,
    );
    expectCode(
      () =>
        serverCredentials({
          certFile: pki.file('server.crt'),
          keyFile: pki.file('server.key'),
          clientCaFile: pki.file('server.ext'),
          requireClientCert: false,
        }),
      'FAILED_PRECONDITION',
      /is not a PEM certificate/,
    );
    // TLS without client certificates (tokens only).
    expect(
      serverCredentials({ certFile: pki.file('server.crt'), keyFile: pki.file('server.key'), requireClientCert: false })._isSecure(),
    ).toBe(true);
  });
});
