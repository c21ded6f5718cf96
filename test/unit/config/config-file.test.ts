/**
 * The config file is checked as strictly as the policy: an unknown field at any level, or a value
 * of the wrong type, is a startup error naming file:line:column, the field path and (for a
 * misspelling) the field that was probably meant.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../../src/config/config';
import { CountersignError } from '../../../src/shared/errors';
import type { DocumentProblem } from '../../../src/shared/checked-document';

const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-config-file-'));
let n = 0;

function write(text: string, ext = 'yaml'): string {
  const file = path.join(dir, `config-${n++}.${ext}`);
  writeFileSync(file, text);
  return file;
}

/** The error loading `text` gives, with its problem lines (`FILE:L:C: path: message`). */
function failure(text: string, ext?: string): { file: string; lines: string[]; problems: DocumentProblem[]; error: CountersignError } {
  const file = write(text, ext);
  try {
    loadConfig({ configFile: file }, {}, dir);
  } catch (err) {
    expect(err).toBeInstanceOf(CountersignError);
    const e = err as CountersignError;
    expect(e.code).toBe('INVALID_ARGUMENT');
    return { file, lines: e.message.split('\n').slice(1), problems: (e.details as { problems: DocumentProblem[] }).problems, error: e };
  }
  throw new Error(`loading ${JSON.stringify(text)} did not fail`);
}

describe('unknown fields at every level', () => {
  it.each<[string, string, string, string]>([
    ['listne: 1.2.3.4:5\n', '1:1', 'listne', 'listen'],
    ['auth:\n  mdoe: enforce\n', '2:3', 'auth.mdoe', 'mode'],
    ['registry:\n  insecureHost: [reg.internal]\n', '2:3', 'registry.insecureHost', 'insecureHosts'],
    ['verification:\n  cacheTtl: 1000\n', '2:3', 'verification.cacheTtl', 'cacheTtlMs'],
    ['admission:\n  lisen: 0.0.0.0:8443\n', '2:3', 'admission.lisen', 'listen'],
    ['limits:\n  maxPredicateByte: 10\n', '2:3', 'limits.maxPredicateByte', 'maxPredicateBytes'],
    [
      'auth:\n  tls:\n    certFile: a.pem\n    keyFile: a.key\n    requireClientCrt: true\n',
      '5:5',
      'auth.tls.requireClientCrt',
      'requireClientCert',
    ],
    ['auth:\n  mtlsBindings:\n    - subjet: CN=ci\n      roles: [verifier]\n', '3:7', 'auth.mtlsBindings[0].subjet', 'subject'],
    [
      'auth:\n  mtlsBindings:\n    - subject: CN=ci\n      roles: [signer]\n      scope: ["reg.example.com/a/*"]\n',
      '5:7',
      'auth.mtlsBindings[0].scope',
      'scopes',
    ],
  ])('%j → %s %s, did you mean %s', (text, where, field, suggestion) => {
    const { file, lines } = failure(text);
    expect(lines).toContainEqual(
      expect.stringMatching(new RegExp(`^${escape(`${file}:${where}: ${field}: unknown field; did you mean "${suggestion}"?`)}`)),
    );
  });

  it('names the allowed fields when nothing is close', () => {
    const { lines } = failure('registry:\n  frobnicate: 1\n');
    expect(lines).toEqual([
      expect.stringContaining(
        'registry.frobnicate: unknown field (allowed here: insecureHosts, caFile, dockerConfig, timeoutMs, maxRetries, exclusiveReferrerWrites)',
      ),
    ]);
  });

  it('reports every problem at once, in document order', () => {
    const { file, lines, problems } = failure('auth:\n  mdoe: enforce\nregistry:\n  timeoutMs: soon\nverification:\n  cacheTtl: 1\n');
    expect(lines).toEqual([
      `${file}:2:3: auth.mdoe: unknown field; did you mean "mode"? (allowed here: mode, tls, mtlsBindings)`,
      `${file}:4:14: registry.timeoutMs: must be a whole number, not the string "soon"`,
      `${file}:6:3: verification.cacheTtl: unknown field; did you mean "cacheTtlMs"? (allowed here: cacheTtlMs, negativeCacheTtlMs, maxDurationMs, sigstoreTrustedRoot, sigstoreTrustedRoots, cacheMaxEntries, cacheRefreshAfterMs)`,
    ]);
    expect(problems.map((p) => [p.line, p.column, p.path])).toEqual([
      [2, 3, 'auth.mdoe'],
      [4, 14, 'registry.timeoutMs'],
      [6, 3, 'verification.cacheTtl'],
    ]);
  });

  it('JSON files get positions too', () => {
    const { file, lines } = failure('{\n  "auth": { "mdoe": "dev" }\n}\n', 'json');
    expect(lines).toEqual([
      expect.stringMatching(new RegExp(`^${escape(`${file}:2:13: auth.mdoe: unknown field; did you mean "mode"?`)}`)),
    ]);
  });
});

describe('wrong types and values', () => {
  it.each<[string, string, string]>([
    ['registry:\n  timeoutMs: "10000"\n', 'registry.timeoutMs', 'must be a whole number, not the string "10000"'],
    ['registry:\n  maxRetries: -1\n', 'registry.maxRetries', 'must be at least 0, not -1'],
    ['verification:\n  maxDurationMs: 0\n', 'verification.maxDurationMs', 'must be at least 1, not 0'],
    ['gate:\n  decisionCacheTtlMs: -1\n', 'gate.decisionCacheTtlMs', 'must be at least 0, not -1'],
    ['gate:\n  decisionCacheTtlMs: 60001\n', 'gate.decisionCacheTtlMs', 'must be at most 60000, not 60001'],
    ['gate:\n  manifestTimeoutMs: 0\n', 'gate.manifestTimeoutMs', 'must be at least 1, not 0'],
    ['shutdownGraceMs: 1.5\n', 'shutdownGraceMs', 'must be a whole number, not the number 1.5'],
    [
      'registry:\n  insecureHosts: reg.internal:5000\n',
      'registry.insecureHosts',
      'must be a list of strings, not the string "reg.internal:5000"',
    ],
    ['registry: [a]\n', 'registry', 'must be a mapping (object)'],
    ['auth:\n  mode: Enforce\n', 'auth.mode', 'must be one of enforce, dev, not "Enforce" (values are lower case: "enforce")'],
    ['logLevel: verbose\n', 'logLevel', 'must be one of trace, debug, info, warn, error, fatal, silent, not "verbose"'],
    // YAML 1.2: `yes` is a string, and a requireClientCert that is not true must not silently be false.
    [
      'auth:\n  tls: { certFile: a.pem, keyFile: a.key, requireClientCert: yes }\n',
      'auth.tls.requireClientCert',
      'must be true or false, not the string "yes"',
    ],
    ['registry:\n  exclusiveReferrerWrites: "true"\n', 'registry.exclusiveReferrerWrites', 'must be true or false, not the string "true"'],
    ['limits:\n  returnMemoryWhenIdle: "no"\n', 'limits.returnMemoryWhenIdle', 'must be true or false, not the string "no"'],
    ['auth:\n  tls: { certFile: a.pem }\n', 'auth.tls.keyFile', 'is required'],
    ['keysDir: ""\n', 'keysDir', 'must not be empty'],
    ['listen: nope\n', 'listen', 'expected HOST:PORT'],
    [
      'auth:\n  mtlsBindings:\n    - { subject: "O=acme", roles: [verifier] }\n',
      'auth.mtlsBindings[0].subject',
      'must be "CN=<common name>"',
    ],
    [
      'auth:\n  mtlsBindings:\n    - { subject: CN=a, roles: [signr] }\n',
      'auth.mtlsBindings[0].roles[0]',
      'must be one of signer, verifier, key-admin, policy-admin, not "signr"',
    ],
    [
      'auth:\n  mtlsBindings:\n    - { subject: CN=a, roles: [signer] }\n',
      'auth.mtlsBindings[0]',
      'the signer role needs at least one repository scope',
    ],
    ['auth:\n  mtlsBindings: { subject: CN=a }\n', 'auth.mtlsBindings', 'must be a list'],
    ['admission:\n  timeoutMs: 9s\n', 'admission.timeoutMs', 'must be a whole number'],
    ['listen: &a 127.0.0.1:1\nadmission: { listen: *a }\n', '(document)', 'alias *a is not supported in config files'],
    ['listen: [\n', '(syntax)', ''],
    ['- listen\n', '(document)', 'must be a mapping (object)'],
  ])('%j → %s: %s', (text, field, message) => {
    const { file, lines } = failure(text);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${escape(file)}:\\d+:\\d+: ${escape(field)}: .*${escape(message)}`)));
  });

  it('a duplicate key is an error, not "the last one wins"', () => {
    const { lines } = failure('auth:\n  mode: enforce\n  mode: dev\n');
    expect(lines.join('\n')).toMatch(/:3:3: \(syntax\): Map keys must be unique/);
  });

  it('an empty file means all defaults', () => {
    const file = write('# nothing yet\n');
    expect(loadConfig({ configFile: file }, {}, dir)).toEqual(loadConfig({}, {}, dir));
  });
});

describe('deploy/countersign.example.yaml', () => {
  const example = path.join(__dirname, '../../../deploy/countersign.example.yaml');
  const text = readFileSync(example, 'utf8');

  it('loads, and every setting it shows is applied', () => {
    const c = loadConfig({ configFile: example }, {}, '/');
    expect(c).toMatchObject({
      listen: '127.0.0.1:50051',
      keysDir: '/var/lib/countersign/keys',
      dataDir: '/var/lib/countersign/state',
      logLevel: 'info',
      shutdownGraceMs: 10000,
      registry: { insecureHosts: [], timeoutMs: 10000, maxRetries: 3, exclusiveReferrerWrites: false },
      limits: { maxPredicateBytes: 8388608, returnMemoryWhenIdle: true },
      verification: { cacheTtlMs: 300000, negativeCacheTtlMs: 10000, maxDurationMs: 8000 },
      auth: {
        mode: 'enforce',
        mtlsBindings: [
          { subject: 'CN=ci-team-a', roles: ['signer'], scopes: ['registry.example.com/team-a/*'] },
          { subject: 'URI:spiffe://acme.example/admission/*', roles: ['verifier'], scopes: [] },
        ],
      },
      admission: { timeoutMs: 9000 },
    });
  });

  it('its commented-out settings are valid too, once uncommented', () => {
    const uncommented = text.replace(/^(\s*)# (\s*[A-Za-z]\w*:(?:\s|$))/gm, '$1$2');
    expect(uncommented).not.toBe(text);
    const file = write(uncommented);
    const c = loadConfig({ configFile: file }, {}, dir);
    expect(c).toMatchObject({
      policyFile: '/etc/countersign/policy.yaml',
      trustDir: '/etc/countersign/trusted-keys',
      kekFile: '/etc/countersign/kek',
      registry: { caFile: '/etc/countersign/registry-ca.pem', dockerConfig: '/etc/countersign/docker-config.json' },
      verification: { sigstoreTrustedRoot: '/etc/countersign/trusted_root.json' },
      store: { url: 'postgres://countersign:PASSWORD@db.internal:5432/countersign' },
      auth: {
        tls: {
          certFile: '/etc/countersign/tls/server.pem',
          keyFile: '/etc/countersign/tls/server.key',
          clientCaFile: '/etc/countersign/tls/clients-ca.pem',
          requireClientCert: false,
        },
      },
      admission: {
        listen: '0.0.0.0:8443',
        tlsCertFile: '/etc/countersign/tls/webhook.pem',
        tlsKeyFile: '/etc/countersign/tls/webhook.key',
      },
    });
  });
});

describe('environment and flags still apply over the file', () => {
  it('environment over file, flags over both; unknown COUNTERSIGN_* variables are ignored', () => {
    const file = write('listen: 127.0.0.1:6000\nregistry:\n  timeoutMs: 2500\nauth:\n  mode: enforce\n');
    const c = loadConfig(
      { configFile: file, dataDir: 'flagdata' },
      {
        COUNTERSIGN_REGISTRY_TIMEOUT_MS: '700',
        COUNTERSIGN_AUTH_MODE: 'dev',
        COUNTERSIGN_DATA_DIR: 'envdata',
        COUNTERSIGN_NOT_A_SETTING: 'x',
      },
      dir,
    );
    expect(c.listen).toBe('127.0.0.1:6000');
    expect(c.registry.timeoutMs).toBe(700);
    expect(c.auth.mode).toBe('dev');
    expect(c.dataDir).toBe(path.join(dir, 'flagdata'));
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('verification cache size (issue 11)', () => {
  it('cacheMaxEntries and cacheRefreshAfterMs are read; zero entries is refused', () => {
    const c = loadConfig({ configFile: write('verification:\n  cacheMaxEntries: 100000\n  cacheRefreshAfterMs: 0\n') }, {}, '/');
    expect(c.verification).toMatchObject({ cacheMaxEntries: 100000, cacheRefreshAfterMs: 0 });
    expect(() => loadConfig({ configFile: write('verification:\n  cacheMaxEntries: 0\n') }, {}, '/')).toThrow(
      /verification\.cacheMaxEntries/,
    );
  });
});

describe('store.url (cross-replica coordination)', () => {
  it('is read from the file, and COUNTERSIGN_STORE_URL overrides it', () => {
    const file = write('store:\n  url: postgres://cs:pw@db.internal:5432/countersign\n');
    expect(loadConfig({ configFile: file }, {}, dir).store).toEqual({ url: 'postgres://cs:pw@db.internal:5432/countersign' });
    expect(loadConfig({ configFile: file }, { COUNTERSIGN_STORE_URL: 'postgresql://other/x' }, dir).store).toEqual({
      url: 'postgresql://other/x',
    });
    expect(loadConfig({}, {}, dir).store).toBeUndefined();
  });

  it('a misspelled field is an error with a suggestion', () => {
    const { lines } = failure('store:\n  uri: postgres://db/x\n');
    expect(lines.join('\n')).toMatch(/:2:3: store\.uri: unknown field; did you mean "url"\?/);
  });

  it('another scheme is refused, naming what is supported, without echoing the URL (it may hold a password)', () => {
    const { lines } = failure('store:\n  url: mysql://root:hunter2@db/x\n');
    expect(lines.join('\n')).toMatch(/:2:8: store\.url: unsupported store "mysql": only postgres:\/\/ \(PostgreSQL\) is supported/);
    expect(lines.join('\n')).not.toContain('hunter2');
    expect(() => loadConfig({}, { COUNTERSIGN_STORE_URL: 'not a url hunter2' }, dir)).toThrow(
      /^COUNTERSIGN_STORE_URL: not a URL: expected postgres:\/\//,
    );
    expect(() => loadConfig({}, { COUNTERSIGN_STORE_URL: 'not a url hunter2' }, dir)).not.toThrow(/hunter2/);
  });
});
