/**
 * The service configuration file (`countersign serve --config FILE`, YAML or JSON), checked as
 * strictly as the policy and with the same reader (src/shared/checked-document.ts): an unknown
 * field at any level (`auth.mdoe`, `registry.insecureHost`) is a startup error with file, line,
 * column and "did you mean", and so is a value of the wrong type. A typo in security
 * configuration that is silently ignored leaves the default in force without anyone noticing.
 */
import path from 'node:path';
import type { Node } from 'yaml';
import { ROLES, validateGrant, type MtlsBinding, type Role } from '../auth';
import { CheckedDocument } from '../shared/checked-document';
import { CountersignError } from '../shared/errors';
import { scopeProblem } from '../shared/image-pattern';
import { hostForUrl, parseListenAddress } from '../shared/net';
import type { ServiceConfig } from './config';

/** The largest limits.heapHeadroomMb, from the config file or the environment alike (64 GB: beyond any heap). */
export const MAX_HEAP_HEADROOM_MB = 65_536;

/** The longest `gate.decisionCacheTtlMs` accepted. */
export const MAX_GATE_DECISION_CACHE_TTL_MS = 60_000;

/** The fields the config file accepts, per object (README "Configuration of `serve`"). */
export const CONFIG_FIELDS = {
  config: [
    'listen',
    'keysDir',
    'dataDir',
    'logLevel',
    'registry',
    'limits',
    'shutdownGraceMs',
    'policyFile',
    'trustDir',
    'kekFile',
    'verification',
    'metrics',
    'admission',
    'gate',
    'auth',
    'store',
  ],
  registry: ['insecureHosts', 'caFile', 'dockerConfig', 'timeoutMs', 'maxRetries', 'exclusiveReferrerWrites'],
  limits: ['maxPredicateBytes', 'returnMemoryWhenIdle', 'heapHeadroomMb'],
  verification: [
    'cacheTtlMs',
    'negativeCacheTtlMs',
    'maxDurationMs',
    'sigstoreTrustedRoot',
    'sigstoreTrustedRoots',
    'cacheMaxEntries',
    'cacheRefreshAfterMs',
  ],
  auth: ['mode', 'tls', 'mtlsBindings'],
  tls: ['certFile', 'keyFile', 'clientCaFile', 'requireClientCert'],
  mtlsBinding: ['subject', 'roles', 'scopes'],
  metrics: ['listen'],
  admission: ['listen', 'tlsCertFile', 'tlsKeyFile', 'timeoutMs'],
  store: ['url'],
  gate: [
    'listen',
    'upstream',
    'upstreamCaFile',
    'registryName',
    'tlsCertFile',
    'tlsKeyFile',
    'allowPlainHttp',
    'decisionTimeoutMs',
    'decisionCacheTtlMs',
    'manifestTimeoutMs',
  ],
} as const;

/** pino's levels. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export const AUTH_MODES = ['enforce', 'dev'] as const;

/** A config file is a few hundred bytes. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * Applies the settings of a config file's text to `config` (paths relative to `base`, the
 * file's directory). Throws CountersignError('INVALID_ARGUMENT') listing every problem as
 * `FILE:LINE:COL: field.path: what is wrong`, with the problems in `details.problems`; on error
 * nothing is applied.
 */
export function applyConfigText(config: ServiceConfig, text: string, file: string, base = path.dirname(file)): void {
  const reader = new ConfigReader(file, text, base);
  const next = structuredClone(config);
  reader.read(next);
  reader.throwIfProblems(`config file ${file} is invalid`);
  Object.assign(config, next);
}

class ConfigReader extends CheckedDocument {
  constructor(
    source: string,
    text: string,
    private readonly base: string,
  ) {
    super(source, text, { maxBytes: MAX_CONFIG_BYTES, noun: { singular: 'config file', plural: 'config files' } });
  }

  read(config: ServiceConfig): void {
    const root = this.parse();
    if (root === undefined || root === null) return; // unreadable (reported) or empty (all defaults)
    const f = this.fields(root, '', CONFIG_FIELDS.config, '{ listen: 127.0.0.1:50051, registry: {…}, auth: {…} }');
    if (!f) return;
    const value = (name: string): Node | null | undefined => (f.has(name) ? f.get(name)!.value : undefined);
    const listen = this.listen(value('listen'), 'listen');
    if (listen !== undefined) config.listen = listen;
    this.path(value('keysDir'), 'keysDir', (p) => (config.keysDir = p));
    this.path(value('dataDir'), 'dataDir', (p) => (config.dataDir = p));
    if (f.has('logLevel')) {
      const level = this.oneOf(value('logLevel')!, 'logLevel', LOG_LEVELS);
      if (level) config.logLevel = level;
    }
    this.int(value('shutdownGraceMs'), 'shutdownGraceMs', 1, (n) => (config.shutdownGraceMs = n));
    this.path(value('policyFile'), 'policyFile', (p) => (config.policyFile = p));
    this.path(value('trustDir'), 'trustDir', (p) => (config.trustDir = p));
    this.path(value('kekFile'), 'kekFile', (p) => (config.kekFile = p));
    if (f.has('registry')) this.registry(value('registry')!, config.registry);
    if (f.has('limits')) this.limits(value('limits')!, config.limits);
    if (f.has('verification')) this.verification(value('verification')!, config.verification);
    if (f.has('auth')) this.auth(value('auth')!, config.auth);
    if (f.has('metrics')) this.metrics(value('metrics')!, config.metrics);
    if (f.has('admission')) this.admission(value('admission')!, config.admission);
    if (f.has('gate')) this.gate(value('gate')!, config.gate);
    if (f.has('store')) this.store(value('store')!, config);
  }

  /** `store.url`: PostgreSQL for everything the service stores, shared by replicas (README, Running several replicas). */
  private store(node: Node | null, config: ServiceConfig): void {
    const f = this.fields(node, 'store', CONFIG_FIELDS.store, '{ url: postgres://countersign@db:5432/countersign }');
    if (!f || !f.has('url')) return;
    const urlNode = f.get('url')!.value;
    const url = this.string(urlNode, 'store.url', 'postgres://USER:PASSWORD@HOST:PORT/DATABASE');
    if (url === undefined) return;
    const problem = storeUrlProblem(url);
    if (problem) this.problem(urlNode, 'store.url', problem);
    else config.store = { url };
  }

  private registry(node: Node | null, out: ServiceConfig['registry']): void {
    const f = this.fields(node, 'registry', CONFIG_FIELDS.registry, '{ insecureHosts: [], timeoutMs: 10000 }');
    if (!f) return;
    if (f.has('insecureHosts')) {
      const hosts = this.stringList(f.get('insecureHosts')!.value, 'registry.insecureHosts', { allowEmpty: true });
      if (hosts) out.insecureHosts = hosts;
    }
    this.path(f.get('caFile')?.value, 'registry.caFile', (p) => (out.caFile = p));
    this.path(f.get('dockerConfig')?.value, 'registry.dockerConfig', (p) => (out.dockerConfig = p));
    this.int(f.get('timeoutMs')?.value, 'registry.timeoutMs', 1, (n) => (out.timeoutMs = n));
    this.int(f.get('maxRetries')?.value, 'registry.maxRetries', 0, (n) => (out.maxRetries = n));
    if (f.has('exclusiveReferrerWrites')) {
      const exclusive = this.boolean(f.get('exclusiveReferrerWrites')!.value, 'registry.exclusiveReferrerWrites');
      if (exclusive !== undefined) out.exclusiveReferrerWrites = exclusive;
    }
  }

  private limits(node: Node | null, out: ServiceConfig['limits']): void {
    const f = this.fields(node, 'limits', CONFIG_FIELDS.limits, '{ maxPredicateBytes: 8388608 }');
    if (!f) return;
    this.int(f.get('maxPredicateBytes')?.value, 'limits.maxPredicateBytes', 1, (n) => (out.maxPredicateBytes = n));
    if (f.has('returnMemoryWhenIdle')) {
      const ret = this.boolean(f.get('returnMemoryWhenIdle')!.value, 'limits.returnMemoryWhenIdle');
      if (ret !== undefined) out.returnMemoryWhenIdle = ret;
    }
    this.int(f.get('heapHeadroomMb')?.value, 'limits.heapHeadroomMb', 0, (n) => (out.heapHeadroomMb = n), MAX_HEAP_HEADROOM_MB);
  }

  private verification(node: Node | null, out: ServiceConfig['verification']): void {
    const f = this.fields(node, 'verification', CONFIG_FIELDS.verification, '{ cacheTtlMs: 300000, maxDurationMs: 8000 }');
    if (!f) return;
    this.int(f.get('cacheTtlMs')?.value, 'verification.cacheTtlMs', 0, (n) => (out.cacheTtlMs = n));
    this.int(f.get('negativeCacheTtlMs')?.value, 'verification.negativeCacheTtlMs', 0, (n) => (out.negativeCacheTtlMs = n));
    this.int(f.get('maxDurationMs')?.value, 'verification.maxDurationMs', 1, (n) => (out.maxDurationMs = n));
    this.int(f.get('cacheMaxEntries')?.value, 'verification.cacheMaxEntries', 1, (n) => (out.cacheMaxEntries = n));
    this.int(f.get('cacheRefreshAfterMs')?.value, 'verification.cacheRefreshAfterMs', 0, (n) => (out.cacheRefreshAfterMs = n));
    this.path(f.get('sigstoreTrustedRoot')?.value, 'verification.sigstoreTrustedRoot', (p) => (out.sigstoreTrustedRoot = p));
    if (f.has('sigstoreTrustedRoots')) {
      // `public-good` names the root shipped with Countersign; anything else is a file.
      const roots = this.stringList(f.get('sigstoreTrustedRoots')!.value, 'verification.sigstoreTrustedRoots', { allowEmpty: true });
      if (roots) out.sigstoreTrustedRoots = roots.map((r) => (r === 'public-good' ? r : path.resolve(this.base, r)));
    }
  }

  private auth(node: Node | null, out: ServiceConfig['auth']): void {
    const f = this.fields(node, 'auth', CONFIG_FIELDS.auth, '{ mode: enforce, tls: {…}, mtlsBindings: [...] }');
    if (!f) return;
    if (f.has('mode')) {
      const mode = this.oneOf(f.get('mode')!.value, 'auth.mode', AUTH_MODES);
      if (mode) out.mode = mode;
    }
    if (f.has('tls')) {
      const tlsNode = f.get('tls')!.value;
      const t = this.fields(
        tlsNode,
        'auth.tls',
        CONFIG_FIELDS.tls,
        '{ certFile: server.pem, keyFile: server.key, clientCaFile: clients-ca.pem }',
      );
      if (t) {
        const certFile = this.required(t, tlsNode!, 'auth.tls', 'certFile', 'the PEM certificate chain of the gRPC server');
        const keyFile = this.required(t, tlsNode!, 'auth.tls', 'keyFile', 'the PEM private key of the gRPC server');
        let clientCaFile: string | undefined;
        this.path(t.get('clientCaFile')?.value, 'auth.tls.clientCaFile', (p) => (clientCaFile = p));
        const requireClientCert = t.has('requireClientCert')
          ? this.boolean(t.get('requireClientCert')!.value, 'auth.tls.requireClientCert')
          : false;
        if (certFile !== undefined && keyFile !== undefined && requireClientCert !== undefined) {
          out.tls = {
            certFile: path.resolve(this.base, certFile),
            keyFile: path.resolve(this.base, keyFile),
            requireClientCert,
            ...(clientCaFile !== undefined ? { clientCaFile } : {}),
          };
        }
      }
    }
    if (f.has('mtlsBindings')) {
      out.mtlsBindings = this.list(f.get('mtlsBindings')!.value, 'auth.mtlsBindings', (n, p) => this.binding(n, p));
    }
  }

  /** `{ subject: CN=ci-team-a, roles: [signer], scopes: [registry.example.com/team-a/*] }` (see src/auth/mtls.ts). */
  private binding(node: Node, path: string): MtlsBinding | undefined {
    const f = this.fields(
      node,
      path,
      CONFIG_FIELDS.mtlsBinding,
      '{ subject: "CN=ci-team-a", roles: [signer], scopes: ["registry.example.com/team-a/*"] }',
    );
    if (!f) return undefined;
    const subject = this.required(f, node, path, 'subject', '"CN=<common name>", "URI:<uri pattern>" or "DNS:<name pattern>"');
    if (subject !== undefined && !/^(?:CN=|URI:|DNS:).+$/.test(subject)) {
      this.problem(
        f.get('subject')!.value,
        `${path}.subject`,
        `"${subject}" must be "CN=<common name>", "URI:<uri pattern>" or "DNS:<name pattern>"`,
      );
      return undefined;
    }
    let roles: Role[] | undefined;
    if (!f.has('roles')) this.problem(node, `${path}.roles`, `is required: a list of ${ROLES.join(', ')}`);
    else roles = this.enumList(f.get('roles')!.value, `${path}.roles`, ROLES);
    const scopes = f.has('scopes')
      ? this.stringList(f.get('scopes')!.value, `${path}.scopes`, { allowEmpty: true, check: (s) => scopeProblem(s) })
      : [];
    if (subject === undefined || roles === undefined || scopes === undefined) return undefined;
    try {
      // The rules that span fields (a signer needs a scope) live with the grants themselves.
      const grant = validateGrant(`${path} (${subject})`, roles, scopes);
      return { subject, roles: grant.roles, scopes: grant.scopes };
    } catch (err) {
      this.problem(node, path, err instanceof CountersignError ? err.message : String(err));
      return undefined;
    }
  }

  private metrics(node: Node | null, out: ServiceConfig['metrics']): void {
    const f = this.fields(node, 'metrics', CONFIG_FIELDS.metrics, '{ listen: 0.0.0.0:9090 }');
    if (!f || !f.has('listen')) return;
    const listen = this.string(f.get('listen')!.value, 'metrics.listen', 'host:port of the metrics port');
    if (listen !== undefined) out.listen = listen;
  }

  private admission(node: Node | null, out: ServiceConfig['admission']): void {
    const f = this.fields(node, 'admission', CONFIG_FIELDS.admission, '{ listen: 0.0.0.0:8443, tlsCertFile: …, tlsKeyFile: … }');
    if (!f) return;
    if (f.has('listen')) {
      const listen = this.string(f.get('listen')!.value, 'admission.listen', 'host:port of the webhook');
      if (listen !== undefined) out.listen = listen;
    }
    this.path(f.get('tlsCertFile')?.value, 'admission.tlsCertFile', (p) => (out.tlsCertFile = p));
    this.path(f.get('tlsKeyFile')?.value, 'admission.tlsKeyFile', (p) => (out.tlsKeyFile = p));
    this.int(f.get('timeoutMs')?.value, 'admission.timeoutMs', 1, (n) => (out.timeoutMs = n));
  }

  private gate(node: Node | null, out: ServiceConfig['gate']): void {
    const f = this.fields(node, 'gate', CONFIG_FIELDS.gate, '{ listen: 0.0.0.0:5000, upstream: http://127.0.0.1:5001 }');
    if (!f) return;
    if (f.has('listen')) {
      const listen = this.string(f.get('listen')!.value, 'gate.listen', 'host:port of the registry gate');
      if (listen !== undefined) out.listen = listen;
    }
    if (f.has('upstream')) {
      const upstream = this.string(f.get('upstream')!.value, 'gate.upstream', 'URL of the registry behind the gate');
      if (upstream !== undefined) out.upstream = upstream;
    }
    if (f.has('registryName')) {
      const name = this.string(f.get('registryName')!.value, 'gate.registryName', 'registry host named in Verify requests');
      if (name !== undefined) out.registryName = name;
    }
    this.path(f.get('upstreamCaFile')?.value, 'gate.upstreamCaFile', (p) => (out.upstreamCaFile = p));
    this.path(f.get('tlsCertFile')?.value, 'gate.tlsCertFile', (p) => (out.tlsCertFile = p));
    this.path(f.get('tlsKeyFile')?.value, 'gate.tlsKeyFile', (p) => (out.tlsKeyFile = p));
    if (f.has('allowPlainHttp')) {
      const plain = this.boolean(f.get('allowPlainHttp')!.value, 'gate.allowPlainHttp');
      if (plain !== undefined) out.allowPlainHttp = plain;
    }
    this.int(f.get('decisionTimeoutMs')?.value, 'gate.decisionTimeoutMs', 1, (n) => (out.decisionTimeoutMs = n));
    // Bounded: an allow is reused while its revisions are current, but a signature deleted from the
    // registry (or a scan that turned bad) is only seen by the next decision.
    this.int(
      f.get('decisionCacheTtlMs')?.value,
      'gate.decisionCacheTtlMs',
      0,
      (n) => (out.decisionCacheTtlMs = n),
      MAX_GATE_DECISION_CACHE_TTL_MS,
    );
    // A manifest (a client's PUT body, or the upstream's answer) that has not arrived by then is
    // refused (408 / 504): a trickled body must not hold a request and its socket forever.
    this.int(f.get('manifestTimeoutMs')?.value, 'gate.manifestTimeoutMs', 1, (n) => (out.manifestTimeoutMs = n));
  }

  // ---------------------------------------------------------------------------------------------
  // Setting kinds

  private listen(node: Node | null | undefined, path: string): string | undefined {
    if (node === undefined) return undefined;
    const text = this.string(node, path, 'HOST:PORT');
    if (text === undefined) return undefined;
    try {
      parseListen(text);
    } catch (err) {
      this.problem(node, path, (err as Error).message);
      return undefined;
    }
    return text;
  }

  /** A file or directory, relative to the config file's directory. */
  private path(node: Node | null | undefined, fieldPath: string, set: (resolved: string) => void): void {
    if (node === undefined) return;
    const text = this.string(node, fieldPath, 'a path, relative to this file');
    if (text !== undefined) set(path.resolve(this.base, text));
  }

  private int(node: Node | null | undefined, path: string, min: number, set: (n: number) => void, max?: number): void {
    if (node === undefined) return;
    const n = this.integer(node, path, min, max);
    if (n !== undefined) set(n);
  }
}

/** Why `url` is not a usable store URL (undefined when it is). Never echoes the URL: it may hold a password. */
export function storeUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'not a URL: expected postgres://USER:PASSWORD@HOST:PORT/DATABASE';
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    return `unsupported store ${JSON.stringify(parsed.protocol.replace(/:$/, ''))}: only postgres:// (PostgreSQL) is supported; leave store unset for the embedded SQLite`;
  }
  if (!parsed.hostname) return 'the URL names no host: expected postgres://USER:PASSWORD@HOST:PORT/DATABASE';
  // A password with an unescaped "/" ends the authority early: what follows (the rest of the
  // password) lands in the path, where it would be shown as the database name.
  if (parsed.pathname.includes('@'))
    return 'the URL has an "@" after the host: percent-encode "/", "@" and ":" in the password (%2F, %40, %3A)';
  return undefined;
}

/**
 * The gRPC listen address, checked by the one parser (shared/net), with the host as grpc-js binds
 * it (`[::1]`). An empty host is refused here only: grpc-js cannot bind `:50051` (the HTTP
 * listeners take it as every interface).
 */
export function parseListen(listen: string): { host: string; port: number } {
  const { host, port } = parseListenAddress(listen, 'listen address');
  if (host === '') {
    throw new CountersignError(
      'INVALID_ARGUMENT',
      `listen address ${JSON.stringify(listen)} has no host: the gRPC server needs one, e.g. 0.0.0.0:${port} or [::]:${port} for every interface`,
    );
  }
  return { host: hostForUrl(host), port };
}
