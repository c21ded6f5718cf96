/**
 * Adversarial review of configuration, secrets handling and start-up. The attacker influences part
 * of the configuration (an env var, a config-file field, a mounted file), or the operator makes an
 * honest mistake: either must fail loudly at start-up, never run quietly open, and no secret (KEK,
 * private key, store password, registry password or token) may appear in an error or a log.
 *
 * Every test states what a demanding service does. The review found fifteen holes, closed since
 * (one, gRPC in plaintext beyond loopback, is the documented default and stays: see the notes).
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createApp, type App } from '../../../src/app';
import { resolveAccessMode, serverCredentials } from '../../../src/auth';
import { parseWorkers } from '../../../src/cluster/serve-cluster';
import { defaultConfig, loadConfig, type ServiceConfig } from '../../../src/config/config';
import { applyConfigText } from '../../../src/config/config-file';
import { PostgresWriteLock } from '../../../src/coordination';
import { freePort } from '../../../src/dev/local-registry';
import { startGateServer } from '../../../src/gate';
import { loadKek } from '../../../src/keys/crypto';
import { resolveKek } from '../../../src/keys/kek-source';
import { createLogger } from '../../../src/logging/logger';
import { DockerConfigCredentialStore } from '../../../src/registry/credentials';
import { CountersignError } from '../../../src/shared/errors';
import { isLoopbackListen } from '../../../src/shared/net';
import { describeStoreUrl } from '../../../src/store/postgres-errors';
import { certificate } from '../../support/der-writer';
import { freshDatabase } from '../../support/postgres';
import { runCli } from '../cli/run-cli';

const SECRET = 'hunter2-S3cr3t';
const root = mkdtempSync(path.join(os.tmpdir(), 'countersign-attacks-'));
let n = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

function fresh(prefix = 'd'): string {
  const dir = path.join(root, `${prefix}-${n++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function writeFile(name: string, content: string | Buffer, mode = 0o600): string {
  const file = path.join(fresh('f'), name);
  writeFileSync(file, content, { mode });
  chmodSync(file, mode);
  return file;
}

/** The CountersignError `fn` throws (fails when it throws nothing or something else). */
function caught(fn: () => unknown): CountersignError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CountersignError) return err;
    throw new Error(`expected a CountersignError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected a CountersignError, but nothing was thrown');
}

async function rejected(p: Promise<unknown>): Promise<CountersignError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CountersignError) return err;
    throw new Error(`expected a CountersignError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected a rejection, but it resolved');
}

function fromText(text: string, env: NodeJS.ProcessEnv = {}): ServiceConfig {
  const file = writeFile('countersign.yaml', text);
  return loadConfig({ configFile: file }, env, path.dirname(file));
}

/** Everything the error says, details included (a secret must be in neither). */
function everything(err: CountersignError): string {
  return `${err.message}\n${JSON.stringify(err.details ?? {})}`;
}

// ---------------------------------------------------------------------------------------------
// Certificates

const longAgo = new Date('2020-01-01T00:00:00Z');
const farAhead = new Date('2045-01-01T00:00:00Z');

function selfSigned(cn: string, o: { ca: boolean; notBefore?: Date; notAfter?: Date }) {
  const keys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const cert = certificate({
    subject: [['CN', cn]],
    publicKey: keys.publicKey,
    key: keys.privateKey,
    notBefore: o.notBefore ?? longAgo,
    notAfter: o.notAfter ?? farAhead,
    ca: o.ca,
  });
  return {
    certFile: writeFile(`${cn}.crt`, cert.pem),
    keyFile: writeFile(`${cn}.key`, keys.privateKey.export({ type: 'pkcs8', format: 'pem' })),
  };
}

// ---------------------------------------------------------------------------------------------
// createApp, for start-up checks beyond loadConfig

interface Built {
  config: ServiceConfig;
  logs: () => string;
}

function serviceConfig(overrides: Partial<ServiceConfig> = {}, opts: { kek?: boolean; kekMode?: number } = {}): Built {
  const dir = fresh('svc');
  const kekFile = opts.kek === false ? undefined : writeFile('kek', `${randomBytes(32).toString('base64')}\n`, opts.kekMode ?? 0o600);
  const config: ServiceConfig = {
    ...defaultConfig(dir),
    listen: '127.0.0.1:0',
    keysDir: path.join(dir, 'keys'),
    dataDir: path.join(dir, 'data'),
    shutdownGraceMs: 1000,
    ...(kekFile ? { kekFile } : {}),
    ...overrides,
  };
  return { config, logs: () => '' };
}

function capturingLogger(): { logger: ReturnType<typeof createLogger>; text: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), text: () => chunks.join('') };
}

const apps: App[] = [];
afterAll(async () => {
  for (const app of apps.splice(0)) await app.stop().catch(() => undefined);
});

/** createApp (and start) the way `serve` does; the app is stopped after the file. */
async function boot(config: ServiceConfig): Promise<{ app: App; logs: string }> {
  const { logger, text } = capturingLogger();
  const app = await createApp(config, logger, { clusterWorker: false });
  apps.push(app);
  await app.start();
  return { app, logs: text() };
}

function portIsOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

// =============================================================================================

describe('config file: misspellings and YAML/JSON tricks', () => {
  test.each([
    ['acess:\n  mode: enforce\n', 'acess'],
    ['auth:\n  tls: { certFile: a, keyFile: b, clientCA: c }\n', 'auth.tls.clientCA'],
    ['auth:\n  tls: { certFile: a, keyFile: b, clientCaFile: c, requireClientcert: true }\n', 'auth.tls.requireClientcert'],
    ['auth:\n  Mode: enforce\n', 'auth.Mode'],
    ['gate:\n  allowPlainHTTP: false\n  listen: 0.0.0.0:1\n  upstream: http://r\n', 'gate.allowPlainHTTP'],
    ['registry:\n  insecureHost: [r]\n', 'registry.insecureHost'],
  ])('unknown or wrongly cased field %j is a start-up error naming %s', (text, field) => {
    const err = caught(() => fromText(text));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain(`${field}: unknown field`);
  });

  test('__proto__ / constructor keys are refused, and pollute nothing', () => {
    for (const text of [
      '__proto__:\n  listen: 0.0.0.0:1\n',
      'auth:\n  __proto__: { mode: dev }\n',
      '{"constructor": {"prototype": {"mode": "dev"}}}',
    ]) {
      expect(caught(() => fromText(text)).message).toMatch(/unknown field/);
    }
    expect(({} as Record<string, unknown>).mode).toBeUndefined();
    expect(({} as Record<string, unknown>).listen).toBeUndefined();
  });

  test('duplicate keys (YAML and JSON) are refused, not "last one wins"', () => {
    expect(caught(() => fromText('auth:\n  mode: enforce\n  mode: dev\n')).message).toMatch(/unique/);
    expect(caught(() => fromText('{"auth": {"mode": "enforce"}, "auth": {"mode": "dev"}}')).message).toMatch(/unique/);
  });

  test('anchors, aliases and merge keys are refused', () => {
    expect(caught(() => fromText('x: &a { mode: dev }\nauth: *a\n')).message).toMatch(/alias|unknown field/);
    expect(caught(() => fromText('auth:\n  <<: { mode: dev }\n')).message).toMatch(/unknown field/);
  });

  test('a second YAML document (which could carry an override) is refused', () => {
    expect(caught(() => fromText('auth: { mode: enforce }\n---\nauth: { mode: dev }\n')).code).toBe('INVALID_ARGUMENT');
  });

  test('deep nesting is an INVALID_ARGUMENT, not a crash of the process', () => {
    const err = caught(() => fromText(`auth: ${'['.repeat(50_000)}${']'.repeat(50_000)}\n`));
    expect(err.code).toBe('INVALID_ARGUMENT');
  });

  test('a file over 1 MiB is refused before parsing', () => {
    expect(caught(() => fromText(`listen: 127.0.0.1:1\n#${'x'.repeat(1024 * 1024)}\n`)).message).toMatch(/larger than|the limit is/);
  });

  test('YAML 1.1 booleans (yes/on) are not booleans for requireClientCert or allowPlainHttp', () => {
    expect(caught(() => fromText('auth:\n  tls: { certFile: a, keyFile: b, clientCaFile: c, requireClientCert: yes }\n')).message).toMatch(
      /requireClientCert: must be true or false/,
    );
    expect(caught(() => fromText('gate:\n  listen: 0.0.0.0:1\n  upstream: http://r\n  allowPlainHttp: on\n')).message).toMatch(
      /allowPlainHttp: must be true or false/,
    );
  });

  test('a directory given as the config file is a clear error', () => {
    const dir = fresh('cfgdir');
    expect(caught(() => loadConfig({ configFile: dir }, {}, dir)).message).toMatch(/config file .*(EISDIR|not a regular file)/);
  });

  test('a config file that is not valid UTF-8 is refused, not read with bytes silently replaced', () => {
    const file = writeFile(
      'latin1.yaml',
      Buffer.concat([Buffer.from('kekFile: /run/secrets/k'), Buffer.from([0xff, 0xfe]), Buffer.from('\n')]),
    );
    expect(() => loadConfig({ configFile: file }, {}, path.dirname(file))).toThrow(CountersignError);
  });

  test('syntax errors in a file holding a password never quote it', () => {
    for (const text of [
      `store: {url: "postgres://u:${SECRET}@db/x}\n`,
      `store:\n  url: postgres://u:${SECRET}@db/x\n   bad: indent\n`,
      `store: { url: "postgres://u:${SECRET}@db/x" } }\n`,
      `store:\n\turl: postgres://u:${SECRET}@db/x\n`,
      `store:\n  url: postgres://u:${SECRET}@db/x\n  url: postgres://u:${SECRET}@db/y\n`,
      `store:\n  url: [postgres://u:${SECRET}@db/x]\n`,
      `store:\n  url: mysql://u:${SECRET}@db/x\n`,
      `store:\n  url: postgres://u:${SECRET}@\n`,
    ]) {
      expect(everything(caught(() => fromText(text)))).not.toContain(SECRET);
    }
  });

  test('`store:` written as the URL itself (not { url: … }) is refused without echoing its password', () => {
    // A natural mistake: `store: postgres://countersign:PASSWORD@db/countersign`.
    for (const text of [`store: postgres://u:${SECRET}@db/x\n`, `store:\n  postgres://u:${SECRET}@db/x\n`]) {
      const err = caught(() => fromText(text));
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(everything(err)).not.toContain(SECRET);
    }
  });

  test('COUNTERSIGN_STORE_URL that is refused is never echoed', () => {
    for (const url of [`mysql://u:${SECRET}@db/x`, `postgres://u:${SECRET}@`, `postgres://u:${SECRET}@db:99999/x`]) {
      expect(everything(caught(() => loadConfig({}, { COUNTERSIGN_STORE_URL: url }, root)))).not.toContain(SECRET);
    }
  });
});

// =============================================================================================

describe('environment over file: no silent weakening', () => {
  const mtlsFile = (): string =>
    writeFile(
      'mtls.yaml',
      'listen: 0.0.0.0:50051\nauth:\n  tls:\n    certFile: /srv/tls/server.crt\n    keyFile: /srv/tls/server.key\n    clientCaFile: /srv/tls/clients-ca.crt\n    requireClientCert: true\n',
    );

  test('COUNTERSIGN_TLS_CERT_FILE/_KEY_FILE (a rotated certificate) keep the file’s clientCaFile and requireClientCert', () => {
    const file = mtlsFile();
    const config = loadConfig(
      { configFile: file },
      { COUNTERSIGN_TLS_CERT_FILE: '/srv/tls2/server.crt', COUNTERSIGN_TLS_KEY_FILE: '/srv/tls2/server.key' },
      root,
    );
    // Either keep the file's mTLS settings, or refuse the ambiguous combination: never turn mTLS off.
    expect(config.auth.tls?.requireClientCert).toBe(true);
    expect(config.auth.tls?.clientCaFile).toBe('/srv/tls/clients-ca.crt');
  });

  test('COUNTERSIGN_TLS_CLIENT_CA_FILE without any server certificate is refused, not silently ignored (mTLS never turned on)', () => {
    // Alone: the operator asked for client certificates and gets plaintext without a word.
    expect(() => loadConfig({}, { COUNTERSIGN_TLS_CLIENT_CA_FILE: '/srv/tls/clients-ca.crt' }, root)).toThrow(CountersignError);
    // With the server certificate in the file: the CA from the environment is dropped.
    const file = writeFile('tls.yaml', 'auth:\n  tls: { certFile: /srv/s.crt, keyFile: /srv/s.key }\n');
    let config: ServiceConfig | undefined;
    try {
      config = loadConfig({ configFile: file }, { COUNTERSIGN_TLS_CLIENT_CA_FILE: '/srv/tls/clients-ca.crt' }, root);
    } catch (err) {
      expect(err).toBeInstanceOf(CountersignError); // refusing is fine too
      return;
    }
    expect(config.auth.tls?.clientCaFile).toBe('/srv/tls/clients-ca.crt');
  });

  test('empty environment variables do not override (or blank out) file values', () => {
    const file = writeFile('c.yaml', 'listen: 127.0.0.1:6000\nauth: { mode: enforce }\nkekFile: ./kek\n');
    const config = loadConfig(
      { configFile: file },
      { COUNTERSIGN_LISTEN: '', COUNTERSIGN_AUTH_MODE: '', COUNTERSIGN_KEK_FILE: '', COUNTERSIGN_STORE_URL: '' },
      root,
    );
    expect(config.listen).toBe('127.0.0.1:6000');
    expect(config.auth.mode).toBe('enforce');
    expect(config.kekFile).toBe(path.join(path.dirname(file), 'kek'));
    expect(config.store).toBeUndefined();
  });

  test('half a TLS pair from the environment is refused', () => {
    expect(caught(() => loadConfig({}, { COUNTERSIGN_TLS_KEY_FILE: '/k' }, root)).message).toMatch(/set both/);
    expect(caught(() => loadConfig({}, { COUNTERSIGN_TLS_CERT_FILE: '/c' }, root)).message).toMatch(/set both/);
    expect(caught(() => loadConfig({}, { COUNTERSIGN_ADMISSION_TLS_CERT: '/c' }, root)).message).toMatch(/both/);
    expect(caught(() => loadConfig({}, { COUNTERSIGN_GATE_TLS_KEY: '/k' }, root)).message).toMatch(/both|upstream/);
  });

  test('COUNTERSIGN_AUTH_MODE: only exact values; dev beyond loopback is refused whichever source gave it', () => {
    for (const v of ['DEV', 'Dev', ' dev', 'development', 'off', 'none']) {
      expect(caught(() => loadConfig({}, { COUNTERSIGN_AUTH_MODE: v }, root)).code).toBe('INVALID_ARGUMENT');
    }
    const config = loadConfig({}, { COUNTERSIGN_AUTH_MODE: 'dev', COUNTERSIGN_LISTEN: '0.0.0.0:50051' }, root);
    expect(caught(() => resolveAccessMode({ requested: config.auth.mode!, listen: config.listen })).code).toBe('FAILED_PRECONDITION');
    const fromFile = fromText('listen: "[::]:50051"\nauth: { mode: dev }\n');
    expect(caught(() => resolveAccessMode({ requested: fromFile.auth.mode!, listen: fromFile.listen })).code).toBe('FAILED_PRECONDITION');
  });

  test.each([
    '0.0.0.0:50051',
    '[::]:50051',
    ':50051',
    '127.0.0.1.nip.io:50051',
    'localhost.:50051',
    '127.1:50051',
    '[::ffff:7f00:1]:1',
    '10.0.0.5:1',
    'myhost:1',
  ])('listen %s is not loopback: no dev mode and no generated KEK there', (listen) => {
    expect(isLoopbackListen(listen)).toBe(false);
    expect(resolveAccessMode({ listen })).toBe('enforce');
    expect(caught(() => resolveKek({ dataDir: fresh('kek'), listen })).code).toBe('FAILED_PRECONDITION');
  });

  test('the gRPC listen address needs a host', () => {
    expect(caught(() => loadConfig({}, { COUNTERSIGN_LISTEN: ':50051' }, root)).message).toMatch(/has no host/);
  });

  test('metrics and admission listen addresses (and the gate upstream) are checked by loadConfig, before anything binds', () => {
    expect(() => loadConfig({}, { COUNTERSIGN_METRICS_LISTEN: 'not-an-address' }, root)).toThrow(CountersignError);
    expect(() => loadConfig({}, { COUNTERSIGN_ADMISSION_LISTEN: '0.0.0.0' }, root)).toThrow(CountersignError);
    expect(() =>
      loadConfig({}, { COUNTERSIGN_GATE_LISTEN: '127.0.0.1:0', COUNTERSIGN_GATE_UPSTREAM: 'registry.internal:5000' }, root),
    ).toThrow(CountersignError);
  });

  test('a gate upstream URL carrying credentials is refused (the gate drops them silently, and logs the URL)', () => {
    const err = caught(() =>
      loadConfig(
        {},
        { COUNTERSIGN_GATE_LISTEN: '127.0.0.1:0', COUNTERSIGN_GATE_UPSTREAM: `https://robot:${SECRET}@registry.internal` },
        root,
      ),
    );
    expect(everything(err)).not.toContain(SECRET);
  });

  test('a malformed gate upstream is refused without echoing the password in it', async () => {
    const err = await rejected(
      startGateServer({
        listen: '127.0.0.1:0',
        upstream: `https://robot:${SECRET}@registry.internal:99999`,
        verifier: { verify: () => Promise.reject(new Error('unused')) },
        decisionTimeoutMs: 1000,
      }),
    );
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(everything(err)).not.toContain(SECRET);
  });

  test('--workers / COUNTERSIGN_WORKERS: 0, negative, fractional, huge, hex and empty are refused', () => {
    for (const v of ['0', '-1', '1.5', '1e3', '0x4', '', ' ', '99999999', '9007199254740993']) {
      expect(caught(() => parseWorkers(v)).code).toBe('INVALID_ARGUMENT');
    }
    expect(parseWorkers('2')).toBe(2);
  });
});

// =============================================================================================

describe('the key-encryption key', () => {
  const b64 = (bytes: Buffer): string => bytes.toString('base64');

  test('too short, too long, hex, 32 characters of text, identical bytes, base64url: all refused', () => {
    const cases: Array<string | Buffer> = [
      b64(randomBytes(16)),
      b64(randomBytes(33)),
      randomBytes(32).toString('hex'),
      'a'.repeat(32),
      b64(Buffer.alloc(32, 7)),
      randomBytes(32).toString('base64url').replace(/=+$/, '') + '-_',
      Buffer.concat([randomBytes(32), Buffer.from('\n')]),
      '',
    ];
    for (const c of cases) {
      const file = writeFile('kek', c);
      expect(caught(() => loadKek({ file })).code).toBe('INVALID_ARGUMENT');
    }
  });

  test('base64 with a trailing newline or CRLF is read as the same key', () => {
    const key = randomBytes(32);
    for (const tail of ['', '\n', '\r\n', '  \n']) {
      expect(loadKek({ file: writeFile('kek', `${b64(key)}${tail}`) }).equals(key)).toBe(true);
    }
    expect(loadKek({ file: writeFile('kek', key) }).equals(key)).toBe(true);
  });

  test('errors about a bad KEK never contain it', () => {
    const secretish = b64(randomBytes(20));
    for (const e of [
      caught(() => loadKek({ env: secretish, envName: 'COUNTERSIGN_KEK' })),
      caught(() => loadKek({ env: `${secretish}!!`, envName: 'COUNTERSIGN_KEK' })),
      caught(() => loadKek({ file: writeFile('kek', secretish) })),
      caught(() => loadKek({ file: writeFile('kek', `${secretish}!!`) })),
    ]) {
      expect(everything(e)).not.toContain(secretish);
      expect(everything(e)).not.toContain(secretish.slice(0, 12));
    }
  });

  test('a KEK given twice (file and environment) is refused, even when both are the same key', () => {
    const key = b64(randomBytes(32));
    const file = writeFile('kek', key);
    expect(caught(() => resolveKek({ kekFile: file, kekBase64: key, dataDir: fresh('k'), listen: '0.0.0.0:1' })).message).toMatch(/twice/);
  });

  test('a KEK file that is a directory or missing is a clear error', () => {
    expect(caught(() => loadKek({ file: fresh('kekdir') })).message).toMatch(/is a directory|not a regular file/);
    expect(caught(() => loadKek({ file: path.join(root, 'nope', 'kek') })).message).toMatch(/does not exist/);
  });

  test('no KEK beyond loopback is a start-up error', async () => {
    const { config } = serviceConfig({ listen: '0.0.0.0:0' }, { kek: false });
    const err = await rejected(boot(config));
    expect(err.code).toBe('FAILED_PRECONDITION');
    expect(err.message).toMatch(/no key-encryption key/);
  });

  test('a KEK file readable by group/others is refused or at least warned about at start-up', async () => {
    const { config } = serviceConfig({}, { kekMode: 0o644 });
    let logs: string;
    try {
      logs = (await boot(config)).logs;
    } catch (err) {
      expect((err as Error).message).toMatch(/permission|readable|mode/i); // refusing is fine
      return;
    }
    expect(logs).toMatch(/key-encryption key[^\n]*(readable|permission|mode)|(readable|permission|mode)[^\n]*key-encryption key/i);
  });

  test('the generated development KEK is not used when the keys live in a shared PostgreSQL store (store.url)', async () => {
    // Loopback listen (a sidecar proxy in front, say) and store.url: the sealed keys go to the
    // durable shared database, their KEK into this one replica's (often ephemeral) data directory.
    const url = await freshDatabase('attack_devkek');
    const { config } = serviceConfig({ store: { url } }, { kek: false });
    const err = await rejected(boot(config));
    expect(err.message).toMatch(/key-encryption key/);
  });

  test('start-up logs never carry the KEK, and the development-KEK warning is loud', async () => {
    const key = b64(randomBytes(32));
    const { config } = serviceConfig({ kekFile: writeFile('kek', key) });
    const { logs } = await boot(config);
    expect(logs).not.toContain(key);
    const dev = serviceConfig({}, { kek: false });
    const devBoot = await boot(dev.config);
    expect(devBoot.logs).toMatch(/DEVELOPMENT KEY-ENCRYPTION KEY IN USE/);
  });
});

// =============================================================================================

describe('TLS and mTLS at start-up', () => {
  const server = selfSigned('server', { ca: false });
  const clientCa = selfSigned('clients-ca', { ca: true });

  test('a key without its certificate, a mismatched pair, a cert given as the key: refused', () => {
    const other = selfSigned('other', { ca: false });
    expect(
      caught(() => serverCredentials({ certFile: server.certFile, keyFile: other.keyFile, requireClientCert: false })).message,
    ).toMatch(/does not belong/);
    expect(caught(() => serverCredentials({ certFile: server.certFile, keyFile: server.certFile, requireClientCert: false })).code).toBe(
      'FAILED_PRECONDITION',
    );
    expect(caught(() => fromText('auth:\n  tls: { keyFile: server.key }\n')).message).toMatch(/auth\.tls\.certFile: is required/);
  });

  test('a private key file that does not parse is refused without quoting it', () => {
    const keyFile = writeFile(
      'bad.key',
      `-----BEGIN PRIVATE KEY-----\n${Buffer.from(SECRET).toString('base64')}\n-----END PRIVATE KEY-----\n`,
    );
    const err = caught(() => serverCredentials({ certFile: server.certFile, keyFile, requireClientCert: false }));
    expect(everything(err)).not.toContain(SECRET);
    expect(everything(err)).not.toContain(Buffer.from(SECRET).toString('base64'));
  });

  test('an empty client CA file, or requireClientCert without a client CA, is refused', () => {
    const empty = writeFile('empty-ca.pem', '');
    expect(caught(() => serverCredentials({ ...server, clientCaFile: empty, requireClientCert: false })).code).toBe('FAILED_PRECONDITION');
    expect(caught(() => serverCredentials({ ...server, requireClientCert: true })).code).toBe('INVALID_ARGUMENT');
    expect(serverCredentials({ ...server, clientCaFile: clientCa.certFile, requireClientCert: true })._isSecure()).toBe(true);
  });

  test('a client CA file holding a certificate that is not a CA (a leaf, basicConstraints CA:false) is refused', () => {
    const leaf = selfSigned('not-a-ca', { ca: false });
    expect(() => serverCredentials({ ...server, clientCaFile: leaf.certFile, requireClientCert: true })).toThrow(CountersignError);
  });

  test('a client CA file with a block the CA check would not read (a TRUSTED CERTIFICATE OpenSSL trusts, a truncated one, a key) is refused', () => {
    const leaf = selfSigned('trusted-leaf', { ca: false });
    const caText = readFileSync(clientCa.certFile, 'utf8');
    const leafBody = readFileSync(leaf.certFile, 'utf8').replace(/-----(BEGIN|END) CERTIFICATE-----/g, '');
    for (const extra of [
      `-----BEGIN TRUSTED CERTIFICATE-----${leafBody}-----END TRUSTED CERTIFICATE-----\n`,
      `-----BEGIN X509 CERTIFICATE-----${leafBody}-----END X509 CERTIFICATE-----\n`,
      `-----BEGIN CERTIFICATE-----${leafBody}`,
      readFileSync(leaf.keyFile, 'utf8'),
    ]) {
      const clientCaFile = writeFile('mixed-ca.pem', caText + extra);
      const err = caught(() => serverCredentials({ ...server, clientCaFile, requireClientCert: true }));
      expect(err.code).toBe('FAILED_PRECONDITION');
      expect(err.message).toMatch(/CERTIFICATE blocks only/);
      expect(everything(err)).not.toContain(leafBody.trim().slice(0, 40));
    }
  });

  test('an expired (or not yet valid) server certificate is refused at start-up, not at every handshake', () => {
    const expired = selfSigned('expired', { ca: false, notBefore: longAgo, notAfter: new Date('2021-01-01T00:00:00Z') });
    expect(() => serverCredentials({ ...expired, requireClientCert: false })).toThrow(CountersignError);
    const future = selfSigned('future', { ca: false, notBefore: new Date('2044-01-01T00:00:00Z'), notAfter: farAhead });
    expect(() => serverCredentials({ ...future, requireClientCert: false })).toThrow(CountersignError);
  });

  test('auth.mtlsBindings without a client CA (no certificate can ever be verified) is said at start-up (it fails closed)', async () => {
    const { config } = serviceConfig({
      auth: { mtlsBindings: [{ subject: 'CN=ci-team-a', roles: ['verifier'], scopes: [] }] },
    });
    expect((await boot(config)).logs).toMatch(/mtlsBindings are configured, but no client CA/);
  });

  test('gRPC in plaintext beyond loopback is said at start-up (clients refuse it unless told it is intended); on loopback it is not', async () => {
    const beyond = await boot(serviceConfig({ listen: '0.0.0.0:0' }).config);
    expect(beyond.logs).toMatch(/gRPC is served in plaintext beyond loopback/);
    const local = await boot(serviceConfig({ listen: '127.0.0.1:0' }).config);
    expect(local.logs).not.toMatch(/plaintext beyond loopback/);
  });
});

// =============================================================================================

describe('start-up failures leave nothing serving', () => {
  test('when a later listener is refused (plain-HTTP admission beyond loopback), the gRPC port is not left serving', async () => {
    const port = await freePort();
    const { config } = serviceConfig({ listen: `127.0.0.1:${port}`, admission: { listen: '0.0.0.0:0', timeoutMs: 1000 } });
    const { logger } = capturingLogger();
    const app = await createApp(config, logger, { clusterWorker: false });
    apps.push(app);
    const err = await rejected(app.start());
    expect(err.message).toMatch(/plain HTTP/);
    expect(await portIsOpen(port)).toBe(false);
  });

  test('the admission webhook and the gate refuse plain HTTP beyond loopback', async () => {
    const { config } = serviceConfig({ admission: { listen: '[::]:0', timeoutMs: 1000 } });
    const { logger } = capturingLogger();
    const app = await createApp(config, logger, { clusterWorker: false });
    apps.push(app);
    expect((await rejected(app.start())).message).toMatch(/refusing to serve admission reviews over plain HTTP/);
    const gate = await rejected(
      startGateServer({ listen: ':0', upstream: 'http://127.0.0.1:1', verifier: {} as never, decisionTimeoutMs: 1000 }),
    );
    expect(gate.message).toMatch(/refusing to serve the registry gate over plain HTTP on every interface/);
  });
});

// =============================================================================================

describe('registry credentials', () => {
  test('a Docker config that is not JSON, or a bad auth entry, is refused without quoting it', async () => {
    const notJson = writeFile('config.json', `{"auths": {"r.example": {"auth": "${SECRET}"`);
    expect(everything(await rejected(new DockerConfigCredentialStore(notJson).get('r.example')))).not.toContain(SECRET);
    const badAuth = writeFile('config.json', JSON.stringify({ auths: { 'r.example': { auth: Buffer.from(SECRET).toString('base64') } } }));
    const err = await rejected(new DockerConfigCredentialStore(badAuth).get('r.example'));
    expect(everything(err)).not.toContain(SECRET);
    expect(everything(err)).not.toContain(Buffer.from(SECRET).toString('base64'));
  });

  test('an explicitly configured registry.dockerConfig that does not exist is a start-up error, not "no credentials"', async () => {
    const { config } = serviceConfig({
      registry: { ...defaultConfig(root).registry, dockerConfig: path.join(root, 'typo', 'config.json') },
    });
    await expect(boot(config)).rejects.toThrow(CountersignError);
  });
});

// =============================================================================================

describe('store URL in messages', () => {
  test('describeStoreUrl drops the password and the query string', () => {
    expect(describeStoreUrl(`postgres://u:${SECRET}@db:5432/x`)).toBe('PostgreSQL u@db:5432/x');
    expect(describeStoreUrl(`postgres://u@db/x?password=${SECRET}`)).not.toContain(SECRET);
    expect(describeStoreUrl(`postgres://u:${SECRET}@db:99999/x`)).not.toContain(SECRET);
  });

  test('a password with an unescaped "/" is not shown by describeStoreUrl (nor accepted as a URL)', () => {
    // `postgres://u:2024/hunter2@db/x` parses as host "u", port 2024, path "/hunter2@db/x".
    const url = `postgres://u:2024/${SECRET}@db/x`;
    let refused = false;
    try {
      loadConfig({}, { COUNTERSIGN_STORE_URL: url }, root);
    } catch (err) {
      refused = true;
      expect(everything(err as CountersignError)).not.toContain(SECRET);
    }
    if (!refused) expect(describeStoreUrl(url)).not.toContain(SECRET);
  });

  test('an unreachable store fails at start-up without the password in the error', async () => {
    const port = await freePort();
    const err = await rejected(PostgresWriteLock.connect(`postgres://u:${SECRET}@127.0.0.1:${port}/db`, { connectTimeoutMs: 2000 }));
    expect(err.code).toBe('UNAVAILABLE');
    expect(everything(err)).not.toContain(SECRET);
    expect((err as { cause?: Error }).cause?.message ?? '').not.toContain(SECRET);
  });
});

// =============================================================================================

describe('CLI output', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) Reflect.deleteProperty(process.env, k);
    Object.assign(process.env, saved);
  });

  test('serve --help prints no configured secret', async () => {
    process.env.COUNTERSIGN_KEK = randomBytes(32).toString('base64');
    process.env.COUNTERSIGN_STORE_URL = `postgres://u:${SECRET}@db/x`;
    const r = await runCli(['serve', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(process.env.COUNTERSIGN_KEK);
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  });

  test('serve with a wrong COUNTERSIGN_KEK exits 1 without printing it', async () => {
    const kek = randomBytes(20).toString('base64');
    process.env.COUNTERSIGN_KEK = kek;
    const dir = fresh('cli');
    const r = await runCli([
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--data-dir',
      path.join(dir, 'data'),
      '--keys-dir',
      path.join(dir, 'keys'),
      '--workers',
      '1',
      '--log-level',
      'silent',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/COUNTERSIGN_KEK/);
    expect(r.stdout + r.stderr).not.toContain(kek);
  });

  test('serve with a misspelled log level in the environment exits 1 before serving', async () => {
    process.env.COUNTERSIGN_LOG_LEVEL = 'verbose';
    const r = await runCli(['serve', '--listen', '127.0.0.1:0', '--data-dir', path.join(fresh('cli'), 'data'), '--workers', '1']);
    expect(r.code).toBe(1);
  });

  test('applyConfigText applies nothing when any problem is found', () => {
    const config = defaultConfig(root);
    expect(() => applyConfigText(config, 'listen: 0.0.0.0:1\nauth: { mode: dve }\n', path.join(root, 'x.yaml'))).toThrow(CountersignError);
    expect(config.listen).toBe('127.0.0.1:50051');
    expect(config.auth.mode).toBeUndefined();
  });
});
