/**
 * The CLI as operators and CI run it, under attack: a hostile (or impersonated) server, a hostile
 * vendor certificate, a network between the CLI and a remote server. In process (runCli) against
 * fake gRPC servers built from the real protos, and the real KeyService fixture.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { useConnection } from '../../../src/cli/client';
import { GrpcVerifier } from '../../../src/gate/grpc-verifier';
import { serviceConstructor } from '../../../src/grpc/proto';
import { selfSignedServerCert } from '../../support/openssl-cert';
import { startKeyService, type KeyServiceFixture } from '../grpc/key-service-fixture';
import { runCli } from './run-cli';

const run = runCli;
const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-cli-attacks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** What must never reach a terminal raw: C0 (ESC, BEL…), DEL, C1 (CSI U+009B, OSC U+009D), bidi overrides and isolates. */
// eslint-disable-next-line no-control-regex
const TERMINAL_UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069]/;
const shown = (s: string) => JSON.stringify(s.match(new RegExp(TERMINAL_UNSAFE.source, 'g')) ?? []);

/** Text a hostile server (or registry content it relays) could put in any string field. */
const HOSTILE = '\u001b]8;;https://evil.example\u0007click\u001b]8;;\u0007\u001b[2J\u001b[1A\u009b31m\u202eevil';

/** The environment the CLI reads its connection from, set for one test and restored after it. */
const CONNECTION_ENV = [
  'COUNTERSIGN_TOKEN',
  'COUNTERSIGN_TOKEN_FILE',
  'COUNTERSIGN_PLAINTEXT',
  'COUNTERSIGN_TLS_CA',
  'COUNTERSIGN_TLS_CLIENT_CERT',
  'COUNTERSIGN_TLS_CLIENT_KEY',
];
const saved = Object.fromEntries(CONNECTION_ENV.map((k) => [k, process.env[k]]));
afterEach(() => {
  for (const k of CONNECTION_ENV) {
    if (saved[k] === undefined) Reflect.deleteProperty(process.env, k);
    else process.env[k] = saved[k];
  }
  // The CLI keeps the last connection it set up (module state): later fixtures' clients must not inherit it.
  useConnection({});
});
beforeEach(() => {
  for (const k of CONNECTION_ENV) Reflect.deleteProperty(process.env, k);
});

type Handler = (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => void;
interface FakeServer {
  address: string;
  /** The metadata and request of every call that reached a handler. */
  calls: Array<{ method: string; authorization: string[]; request: unknown }>;
  stop(): void;
}

/** A gRPC server of `service` answering with `handlers` (unlisted methods: UNIMPLEMENTED), recording what reached it. */
async function fakeServer(
  service: 'VerificationService' | 'KeyService' | 'PolicyService' | 'SigningService',
  handlers: Record<string, Handler>,
  opts: { host?: string; credentials?: grpc.ServerCredentials } = {},
): Promise<FakeServer> {
  const calls: FakeServer['calls'] = [];
  const server = new grpc.Server();
  const wrapped: Record<string, Handler> = {};
  for (const [method, handler] of Object.entries(handlers)) {
    wrapped[method] = (call, cb) => {
      calls.push({ method, authorization: call.metadata.get('authorization').map(String), request: call.request });
      handler(call, cb);
    };
  }
  server.addService(serviceConstructor(service).service, wrapped);
  const host = opts.host ?? '127.0.0.1';
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:0`, opts.credentials ?? grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { address: `${host}:${port}`, calls, stop: () => server.forceShutdown() };
}

const DIGEST_A = `sha256:${'a'.repeat(64)}`;
const DIGEST_B = `sha256:${'b'.repeat(64)}`;

/** A VerifyResponse with every string field the CLI prints set to `text`. */
function verifyAnswer(text: string, over: Record<string, unknown> = {}) {
  return {
    allowed: false,
    image: 'registry.example/app:1',
    digest: DIGEST_A,
    mode: 'MODE_ENFORCE',
    rule: `rule-${text}`,
    requirements: [{ requirement: `signed-${text}`, satisfied: false, message: `no signature: ${text}` }],
    evidence: [
      {
        referrerDigest: DIGEST_B,
        format: 'sigstore-bundle',
        predicateType: `https://pred.example/${text}`,
        verified: false,
        reason: `referrer said ${text}`,
        keyName: `key-${text}`,
      },
      {
        referrerDigest: DIGEST_B,
        format: 'sigstore-bundle',
        verified: true,
        identity: { subject: `ci@${text}`, issuer: `https://issuer.example/${text}` },
      },
    ],
    policyRevision: `p-${text}`,
    trustRevision: `t-${text}`,
    warnings: [`warning ${text}`],
    reasons: [`reason ${text}`],
    ...over,
  };
}

describe('verify: what a hostile server sends reaches the terminal escaped', () => {
  let server: FakeServer;
  let answer: Record<string, unknown>;
  beforeAll(async () => {
    server = await fakeServer('VerificationService', { Verify: (_call, cb) => cb(null, answer) });
  });
  afterAll(() => server.stop());

  test('verify escapes the deny reasons, warnings, rule, key names and signer identities it prints', async () => {
    answer = verifyAnswer(HOSTILE);
    const r = await run(['verify', 'registry.example/app:1', '--server', server.address]);
    expect(r.code).toBe(1);
    // The answer is printed (the test sees the fields)…
    expect(r.stdout).toContain('DENIED');
    expect(r.stdout).toContain('click');
    // …and none of the control, C1 or bidi characters in them reach the terminal raw.
    expect(`stdout carries ${shown(r.stdout)}`).toBe('stdout carries []');
  });

  test('plain server text is printed as sent, and --json escapes C0 controls (JSON.stringify)', async () => {
    answer = verifyAnswer('plain');
    const r = await run(['verify', 'registry.example/app:1', '--server', server.address]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('FAIL signed-plain: no signature: plain');
    expect(r.stdout).toContain('keyless ci@plain (issuer https://issuer.example/plain)');
    answer = verifyAnswer('\u001b[2J');
    const json = await run(['verify', 'registry.example/app:1', '--json', '--server', server.address]);
    expect(json.code).toBe(1);
    expect(json.stdout).not.toContain('\u001b');
    expect((JSON.parse(json.stdout) as { rule: string }).rule).toBe('rule-\u001b[2J');
    // C1 controls and bidi overrides, which JSON.stringify leaves raw, are escaped too: same JSON value.
    answer = verifyAnswer(HOSTILE);
    const hostile = await run(['verify', 'registry.example/app:1', '--json', '--server', server.address]);
    expect(`stdout carries ${shown(hostile.stdout)}`).toBe('stdout carries []');
    expect((JSON.parse(hostile.stdout) as { rule: string }).rule).toBe(`rule-${HOSTILE}`);
  });

  test('an error the server sends (its details) is escaped before it reaches stderr', async () => {
    const failing = await fakeServer('VerificationService', {
      Verify: (_call, cb) => cb({ code: grpc.status.FAILED_PRECONDITION, details: `registry said: ${HOSTILE}` }),
    });
    try {
      const r = await run(['verify', 'registry.example/app:1', '--server', failing.address]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('FAILED_PRECONDITION');
      expect(r.stderr).toContain('registry said');
      expect(`stderr carries ${shown(r.stderr)}`).toBe('stderr carries []');
    } finally {
      failing.stop();
    }
  });
});

describe('verify: exit codes never turn a deny or an error into an allow', () => {
  let server: FakeServer;
  let reply: (cb: grpc.sendUnaryData<unknown>) => void;
  beforeAll(async () => {
    server = await fakeServer('VerificationService', { Verify: (_call, cb) => reply(cb) });
  });
  afterAll(() => server.stop());
  const verify = (...extra: string[]) => run(['verify', 'registry.example/app:1', '--server', server.address, ...extra]);

  test('an empty answer (every field at its default) is a deny: exit 1, in text and --json', async () => {
    reply = (cb) => cb(null, {});
    for (const extra of [[], ['--json']]) {
      const r = await verify(...extra);
      expect(r.code).toBe(1);
    }
    expect((await verify()).stdout).toMatch(/^DENIED /);
  });

  test('a deny is exit 1 whatever the mode field says; an allow is exit 0', async () => {
    for (const mode of ['MODE_ENFORCE', 'MODE_WARN', 'MODE_AUDIT', 'MODE_UNSPECIFIED']) {
      reply = (cb) => cb(null, verifyAnswer('x', { allowed: false, mode }));
      expect((await verify()).code).toBe(1);
      expect((await verify('--json')).code).toBe(1);
    }
    reply = (cb) => cb(null, verifyAnswer('x', { allowed: true, requirements: [] }));
    expect((await verify()).code).toBe(0);
  });

  test('every server error is exit 2, never 0 or 1, and prints nothing on stdout', async () => {
    for (const code of [
      grpc.status.UNAUTHENTICATED,
      grpc.status.PERMISSION_DENIED,
      grpc.status.INTERNAL,
      grpc.status.UNAVAILABLE,
      grpc.status.UNKNOWN,
    ]) {
      reply = (cb) => cb({ code, details: 'no' });
      const r = await verify('--json');
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
    }
  });

  test('an unreachable server is exit 2 with one actionable line', async () => {
    const gone = await fakeServer('VerificationService', {});
    gone.stop();
    const r = await run(['verify', 'registry.example/app:1', '--server', gone.address, '--timeout', '5']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  test('an allow about another digest than the pinned one asked for is no verdict (exit 2), nor is an allow naming no digest', async () => {
    // The gate refuses such an answer ("Countersign answered about X instead of Y"); the CLI, which
    // CI gates releases with, takes it at its word.
    reply = (cb) =>
      cb(null, verifyAnswer('x', { allowed: true, requirements: [], image: `registry.example/app@${DIGEST_B}`, digest: DIGEST_B }));
    const r = await run(['verify', `registry.example/app@${DIGEST_A}`, '--server', server.address]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`not ${DIGEST_A} as asked`);
    // The same answer for the digest asked is an allow (the control).
    reply = (cb) =>
      cb(null, verifyAnswer('x', { allowed: true, requirements: [], image: `registry.example/app@${DIGEST_A}`, digest: DIGEST_A }));
    expect((await run(['verify', `registry.example/app@${DIGEST_A}`, '--server', server.address])).code).toBe(0);
    // An allow of a tag that names no digest allows nothing in particular.
    reply = (cb) => cb(null, verifyAnswer('x', { allowed: true, requirements: [], digest: '' }));
    expect((await verify()).code).toBe(2);
  });
});

describe('credentials on the wire', () => {
  /** A non-loopback address of this machine, to stand for a remote server. */
  const remoteHost = Object.values(os.networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  const remote = remoteHost ? test : test.skip;

  remote('a bearer token is never sent in plaintext to a server beyond loopback (no TLS configured)', async () => {
    const server = await fakeServer('VerificationService', { Verify: (_call, cb) => cb(null, verifyAnswer('x')) }, { host: remoteHost! });
    try {
      const token = 'cs_secret_token_value_0123456789';
      const r = await run(['verify', 'registry.example/app:1', '--server', server.address, '--token', token]);
      // Whatever the CLI then does (refuse, or call without it), the token must not cross the network in the clear.
      expect(server.calls.flatMap((c) => c.authorization)).toEqual([]);
      expect(r.code).toBe(2);
      expect(r.stderr).not.toContain(token);
      expect(r.stderr).toContain('COUNTERSIGN_TLS_CA');
      // Plaintext said to be intended (a mesh encrypting the hop): the call is made, token and all.
      process.env.COUNTERSIGN_PLAINTEXT = '1';
      try {
        expect((await run(['verify', 'registry.example/app:1', '--server', server.address, '--token', token])).code).toBe(1);
      } finally {
        delete process.env.COUNTERSIGN_PLAINTEXT;
      }
      expect(server.calls.flatMap((c) => c.authorization)).toEqual([`Bearer ${token}`]);
    } finally {
      server.stop();
    }
  });

  remote('a gate asking a Countersign beyond loopback in plaintext refuses to start, unless told plaintext is intended', () => {
    expect(() => new GrpcVerifier({ address: `${remoteHost!}:50051`, token: 't' })).toThrow(/refusing to reach .* in plaintext/);
    expect(() => new GrpcVerifier({ address: `dns:///${remoteHost!}:50051` })).toThrow(/in plaintext/);
    new GrpcVerifier({ address: `${remoteHost!}:50051`, plaintext: true }).close();
    new GrpcVerifier({ address: '127.0.0.1:50051' }).close();
    new GrpcVerifier({ address: 'localhost:50051' }).close();
  });

  test('a client certificate without a CA is refused, not silently left unsent over plaintext', async () => {
    process.env.COUNTERSIGN_TLS_CLIENT_CERT = file('client.crt', 'x');
    process.env.COUNTERSIGN_TLS_CLIENT_KEY = file('client.key', 'x');
    const server = await fakeServer('VerificationService', { Verify: (_call, cb) => cb(null, verifyAnswer('x')) });
    try {
      const r = await run(['verify', 'registry.example/app:1', '--server', server.address]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('COUNTERSIGN_TLS_CA');
      expect(server.calls).toEqual([]);
    } finally {
      server.stop();
    }
  });

  remote('keys import --cosign-key never sends a private key and its password in plaintext beyond loopback', async () => {
    const remoteServer = await fakeServer(
      'KeyService',
      { ImportKey: (_call, cb) => cb({ code: grpc.status.INVALID_ARGUMENT, details: 'refused' }) },
      { host: remoteHost! },
    );
    try {
      const keyFile = file(
        'cosign.key',
        '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n',
      );
      const passwordFile = file('cosign.pass', 'hunter2-password\n');
      const r = await run([
        'keys',
        'import',
        'vendor',
        '--cosign-key',
        keyFile,
        '--password-file',
        passwordFile,
        '--server',
        remoteServer.address,
      ]);
      expect(remoteServer.calls).toEqual([]);
      expect(r.code).not.toBe(0);
    } finally {
      remoteServer.stop();
    }
  });

  test('a token given by flag or environment goes to a loopback server, and is never echoed in an error', async () => {
    const token = 'cs_loopback_token_9876543210';
    const server = await fakeServer('VerificationService', {
      Verify: (_call, cb) => cb({ code: grpc.status.UNAUTHENTICATED, details: 'unknown or revoked token' }),
    });
    try {
      const byFlag = await run(['verify', 'registry.example/app:1', '--server', server.address, '--token', token]);
      process.env.COUNTERSIGN_TOKEN = token;
      const byEnv = await run(['verify', 'registry.example/app:1', '--server', server.address]);
      expect(server.calls.map((c) => c.authorization)).toEqual([[`Bearer ${token}`], [`Bearer ${token}`]]);
      for (const r of [byFlag, byEnv]) {
        expect(r.code).toBe(2);
        expect(r.stderr).toContain('UNAUTHENTICATED');
        expect(r.stdout + r.stderr).not.toContain(token);
      }
    } finally {
      server.stop();
    }
  });

  test('a token can be read from a file (--token-file, COUNTERSIGN_TOKEN_FILE), so that it need not be on the command line (visible in ps)', async () => {
    const server = await fakeServer('VerificationService', { Verify: (_call, cb) => cb(null, verifyAnswer('x')) });
    try {
      const tokenFile = file('token', 'cs_file_token_0000\n');
      const r = await run(['verify', 'registry.example/app:1', '--server', server.address, '--token-file', tokenFile]);
      expect(r.stderr).not.toMatch(/Unknown option/);
      process.env.COUNTERSIGN_TOKEN_FILE = tokenFile;
      const byEnv = await run(['verify', 'registry.example/app:1', '--server', server.address]);
      delete process.env.COUNTERSIGN_TOKEN_FILE;
      expect(byEnv.code).toBe(1);
      expect(server.calls.flatMap((c) => c.authorization)).toEqual(['Bearer cs_file_token_0000', 'Bearer cs_file_token_0000']);
      // Both, an empty file, or one with two words: a usage error, no call made.
      const both = await run(['verify', 'registry.example/app:1', '--server', server.address, '--token', 'x', '--token-file', tokenFile]);
      const empty = await run(['verify', 'registry.example/app:1', '--server', server.address, '--token-file', file('empty-token', '\n')]);
      const two = await run(['verify', 'registry.example/app:1', '--server', server.address, '--token-file', file('two-tokens', 'a b\n')]);
      const missing = await run(['verify', 'registry.example/app:1', '--server', server.address, '--token-file', path.join(dir, 'none')]);
      for (const bad of [both, empty, two, missing]) expect(bad.code).toBe(2);
      expect(server.calls).toHaveLength(2);
    } finally {
      server.stop();
    }
  });
});

describe('TLS: with COUNTERSIGN_TLS_CA the server certificate is verified, with no fallback', () => {
  const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
  const tls = hasOpenssl ? test : test.skip;

  async function tlsServer(name: string, san: string) {
    const sub = mkdtempSync(path.join(dir, `${name}-`));
    const pair = selfSignedServerCert(sub, name, san);
    const server = await fakeServer(
      'VerificationService',
      { Verify: (_call, cb) => cb(null, verifyAnswer('x', { allowed: true, requirements: [] })) },
      {
        credentials: grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(pair.cert), private_key: Buffer.from(pair.key) }]),
      },
    );
    return { server, caFile: file(`${name}-ca.pem`, pair.cert) };
  }

  tls('the right CA and name: allowed (the control); another CA, a wrong name, or no CA: refused, no call made', async () => {
    const good = await tlsServer('good', 'IP:127.0.0.1');
    const wrongName = await tlsServer('wrong-name', 'DNS:countersign.other.example');
    const impostor = await tlsServer('impostor', 'IP:127.0.0.1');
    try {
      const verify = (address: string) => run(['verify', 'registry.example/app:1', '--server', address, '--timeout', '10']);
      process.env.COUNTERSIGN_TLS_CA = good.caFile;
      expect((await verify(good.server.address)).code).toBe(0);
      // A server with a certificate from another CA (an impostor on the right address).
      const other = await verify(impostor.server.address);
      expect(other.code).toBe(2);
      expect(impostor.server.calls).toEqual([]);
      // A certificate of the right CA for another name.
      process.env.COUNTERSIGN_TLS_CA = wrongName.caFile;
      const mismatch = await verify(wrongName.server.address);
      expect(mismatch.code).toBe(2);
      expect(wrongName.server.calls).toEqual([]);
      // Without a CA the CLI speaks plaintext: a TLS server is unreachable, never reached insecurely.
      delete process.env.COUNTERSIGN_TLS_CA;
      const plain = await verify(good.server.address);
      expect(plain.code).toBe(2);
      expect(good.server.calls).toHaveLength(1);
    } finally {
      for (const s of [good, wrongName, impostor]) s.server.stop();
    }
  });

  tls('an unreadable COUNTERSIGN_TLS_CA is an error, not a plaintext fallback', async () => {
    const server = await fakeServer('VerificationService', { Verify: (_call, cb) => cb(null, verifyAnswer('x', { allowed: true })) });
    try {
      process.env.COUNTERSIGN_TLS_CA = path.join(dir, 'no-such-ca.pem');
      const r = await run(['verify', 'registry.example/app:1', '--server', server.address]);
      expect(r.code).not.toBe(0);
      expect(server.calls).toEqual([]);
    } finally {
      server.stop();
    }
  });
});

describe('keys: a third party’s certificate, imported, cannot spoof the terminal', () => {
  let fixture: KeyServiceFixture;
  beforeAll(async () => {
    fixture = await startKeyService();
  });
  afterAll(() => fixture.stop());

  const openssl = spawnSync('openssl', ['version']).status === 0 ? test : test.skip;

  openssl('keys show escapes a vendor certificate’s subject (C1 CSI, bidi override)', async () => {
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keyFile = file('vendor.key', privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    const certFile = path.join(dir, 'vendor.crt');
    // A CN with a C1 CSI (U+009B) and a right-to-left override (U+202E): Node's X509Certificate
    // escapes C0 controls in a subject but passes these through.
    const r = spawnSync(
      'openssl',
      ['req', '-x509', '-new', '-utf8', '-key', keyFile, '-subj', '/CN=vendor\u009b2J\u202etxe.release', '-days', '9', '-out', certFile],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(0);
    const imported = await run(['keys', 'import', 'vendor', '--public-key', certFile, '--server', fixture.address]);
    expect(imported.code).toBe(0);
    const shownKey = await run(['keys', 'show', 'vendor', '--server', fixture.address]);
    expect(shownKey.code).toBe(0);
    expect(shownKey.stdout).toContain('certificate: CN=vendor');
    expect(`stdout carries ${shown(shownKey.stdout)}`).toBe('stdout carries []');
  });

  test('keys show of a name with escapes: the server refuses it, and the refusal is quoted', async () => {
    const r = await run(['keys', 'show', `x${HOSTILE}`, '--server', fixture.address]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/NOT_FOUND|INVALID_ARGUMENT/);
    expect(`stderr carries ${shown(r.stderr)}`).toBe('stderr carries []');
  });
});

describe('verify-bundle (offline): a hostile bundle’s text is quoted in the reason', () => {
  // The reason comes from verifySigstoreBundle, which Verify uses on every pushed bundle referrer too.
  test('a bundle media type with a C1 CSI and a bidi override is shown escaped (C0 already is), exit 1', async () => {
    const { publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keyFile = file('bundle-key.pub', publicKey.export({ type: 'spki', format: 'pem' }) as string);
    const bundle = file(
      'hostile.sigstore.json',
      JSON.stringify({
        mediaType: `application/vnd.dev.sigstore.bundle.v0.3+json${HOSTILE}`,
        verificationMaterial: { publicKey: { hint: HOSTILE } },
        messageSignature: { messageDigest: { algorithm: 'SHA2_256', digest: 'AAAA' }, signature: 'AAAA' },
      }),
    );
    const r = await run(['verify-bundle', '--bundle', bundle, '--key', keyFile, DIGEST_A]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('NOT VERIFIED');
    expect(`stderr carries ${shown(r.stderr)}`).toBe('stderr carries []');
  });
});
