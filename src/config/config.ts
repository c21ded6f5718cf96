import path from 'node:path';
import type { MtlsBinding } from '../auth';
import { BoundedFileError, readBoundedFileSync } from '../shared/bounded-file';
import { CountersignError } from '../shared/errors';
import { parseListenAddress } from '../shared/net';
import { applyConfigText, MAX_CONFIG_BYTES, MAX_HEAP_HEADROOM_MB, parseListen, storeUrlProblem } from './config-file';
import { parseGateUpstream } from '../gate/upstream';

/** Everything `countersign serve` can be told. Precedence: defaults < config file < environment < flags. */
export interface ServiceConfig {
  /** host:port the gRPC server listens on. */
  listen: string;
  /** Directory of signing keys (PKCS#8 PEM). */
  keysDir: string;
  /** Directory where the service keeps its state. */
  dataDir: string;
  logLevel: string;
  registry: {
    /** Hosts reached over plain HTTP (loopback registries always are, as with Docker). */
    insecureHosts: string[];
    /** PEM file of extra CA certificates trusted for registry TLS. */
    caFile?: string;
    /** Docker config.json with registry credentials (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json). */
    dockerConfig?: string;
    timeoutMs: number;
    maxRetries: number;
    /**
     * The operator's word that this service is the only writer of the referrers fallback tags
     * (`sha256-<hex>`) of the repositories it signs in: no other replica without `store.url`, no
     * other tool. Sign then skips the settle delay that guards against another process writing
     * between its read and its write. Honoured by one process, by `serve --workers N` (the
     * primary holds the lock for its workers) and with store.url; refused at startup where the
     * lock cannot be had (a cluster worker of another primary). Default false.
     */
    exclusiveReferrerWrites: boolean;
  };
  limits: {
    /** Largest predicate (SBOM, scan report) accepted by Attest. */
    maxPredicateBytes: number;
    /** Once load stops, one memory-reducing GC gives the memory it left behind back (src/shared/idle-memory.ts). */
    returnMemoryWhenIdle: boolean;
    /**
     * How far the V8 old generation may grow between two full GCs, in MB (src/shared/heap-headroom.ts);
     * 0: V8's own growth (up to 4x the live heap).
     */
    heapHeadroomMb: number;
  };
  /** How long in-flight calls get to finish on SIGTERM before they are cancelled. */
  shutdownGraceMs: number;
  /** Policy document (YAML or JSON), hot-reloaded; none = every image needs a trusted signature. */
  policyFile?: string;
  /** Directory of trusted public keys (`NAME.pub`) imported at first start; default: the keys directory. */
  trustDir?: string;
  /** File with the key-encryption key that seals private keys at rest (or COUNTERSIGN_KEK, base64). */
  kekFile?: string;
  /**
   * The shared store of several replicas: `url: postgres://…` (or COUNTERSIGN_STORE_URL). Keys,
   * tokens, the audit chain and revisions live there instead of the SQLite file in dataDir, and
   * referrer-index and gate tag writes are serialized across replicas by advisory locks.
   */
  store?: { url: string };
  /** Access control on every RPC. */
  auth: {
    /**
     * 'enforce' or 'dev' (no authentication; loopback only). Unset: 'dev' only when listening on
     * loopback with no credentials configured, 'enforce' otherwise.
     */
    mode?: 'enforce' | 'dev';
    /** gRPC over TLS; with clientCaFile, client certificates (mTLS) are requested and verified. */
    tls?: { certFile: string; keyFile: string; clientCaFile?: string; requireClientCert: boolean };
    /** Roles of client certificates: [{ subject: 'CN=ci-team-a' | 'URI:…' | 'DNS:…', roles, scopes }]. */
    mtlsBindings: MtlsBinding[];
  };
  /** The metrics port (plain HTTP: /metrics, /healthz, /readyz); off unless `listen` is set. */
  metrics: { listen?: string };
  /** The Kubernetes validating admission webhook (HTTPS); off unless `listen` is set. */
  admission: {
    listen?: string;
    tlsCertFile?: string;
    tlsKeyFile?: string;
    /** Internal deadline when the API server sends no ?timeout= (default 9000, below its 10 s). */
    timeoutMs: number;
  };
  /** The registry gate (an OCI proxy in front of a registry, deciding pulls and tag pushes); off unless `listen` is set. */
  gate: GateConfig;
  verification: {
    /** How long verified evidence is reused (policy is re-evaluated on every call regardless). */
    cacheTtlMs: number;
    /** How long evidence that led to a deny is reused. */
    negativeCacheTtlMs: number;
    /** Upper bound for one Verify when the caller sets no deadline. */
    maxDurationMs: number;
    /** Digests whose evidence (and manifest facts) are kept, LRU. Default 10,000. */
    cacheMaxEntries?: number;
    /** A cache hit older than this re-lists the referrers in the background (0: never). Default 30,000. */
    cacheRefreshAfterMs?: number;
    /** Sigstore trusted_root.json: lets bundles with Rekor entries / timestamps (cosign's default) verify. */
    sigstoreTrustedRoot?: string;
    /** More trusted roots (several Sigstore instances at once); `public-good` = the shipped root. */
    sigstoreTrustedRoots?: string[];
  };
}

export interface GateConfig {
  listen?: string;
  /** Base URL of the registry behind the gate. */
  upstream?: string;
  /** PEM CA bundle for an https upstream. */
  upstreamCaFile?: string;
  /** Registry host named in Verify requests (default: the upstream's host:port). */
  registryName?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** Plain HTTP beyond loopback (behind a TLS-terminating load balancer). */
  allowPlainHttp: boolean;
  /** Time Countersign has to answer each decision. */
  decisionTimeoutMs: number;
  /** How long an allowed pull decision is reused while its revisions are current (gate/decision-cache.ts); 0: never. */
  decisionCacheTtlMs?: number;
  /** How long a manifest body may take to arrive, from the client or the upstream; default 30 s. */
  manifestTimeoutMs?: number;
}

export const DEFAULT_LISTEN = '127.0.0.1:50051';
/**
 * limits.heapHeadroomMb: with 100,000 cached digests ~200 MB RSS under load instead of 330–390, for
 * ~0–10% more CPU per warm call with a small heap (README, Benchmarks: RSS rows).
 */
export const DEFAULT_HEAP_HEADROOM_MB = 24;

export function defaultConfig(cwd = process.cwd()): ServiceConfig {
  return {
    listen: DEFAULT_LISTEN,
    keysDir: path.resolve(cwd, 'keys'),
    dataDir: path.resolve(cwd, '.data'),
    logLevel: 'info',
    registry: { insecureHosts: [], timeoutMs: 10_000, maxRetries: 3, exclusiveReferrerWrites: false },
    limits: { maxPredicateBytes: 8 * 1024 * 1024, returnMemoryWhenIdle: true, heapHeadroomMb: DEFAULT_HEAP_HEADROOM_MB },
    shutdownGraceMs: 10_000,
    verification: { cacheTtlMs: 5 * 60_000, negativeCacheTtlMs: 10_000, maxDurationMs: 8000 },
    metrics: {},
    admission: { timeoutMs: 9000 },
    gate: { allowPlainHttp: false, decisionTimeoutMs: 9000 },
    auth: { mtlsBindings: [] },
  };
}

/** The environment variables `serve` reads, documented in the README. */
export const ENVIRONMENT = {
  COUNTERSIGN_CONFIG: 'path of a YAML or JSON config file',
  COUNTERSIGN_LISTEN: 'host:port to listen on',
  COUNTERSIGN_KEYS_DIR: 'signing key directory',
  COUNTERSIGN_DATA_DIR: 'state directory',
  COUNTERSIGN_LOG_LEVEL: 'trace|debug|info|warn|error',
  COUNTERSIGN_INSECURE_REGISTRIES: 'comma-separated hosts reached over plain HTTP',
  COUNTERSIGN_REGISTRY_CA_FILE: 'PEM file of CA certificates for registry TLS',
  COUNTERSIGN_REGISTRY_TIMEOUT_MS: 'per-request registry timeout',
  COUNTERSIGN_EXCLUSIVE_REFERRER_WRITES:
    'true: this service is the only writer of the referrers fallback tags (Sign skips its settle delay)',
  COUNTERSIGN_MAX_PREDICATE_BYTES: 'largest accepted predicate',
  COUNTERSIGN_RETURN_MEMORY_WHEN_IDLE: 'false: keep the memory a burst of load left behind (no memory-reducing GC once idle)',
  COUNTERSIGN_HEAP_HEADROOM_MB: "MB the V8 heap may grow between full GCs (0: V8's own growth, up to 4x the live heap)",
  COUNTERSIGN_POLICY: 'policy file (YAML or JSON)',
  COUNTERSIGN_TRUST_DIR: 'directory of trusted public keys imported at first start',
  COUNTERSIGN_KEK_FILE: 'file with the key-encryption key (32 bytes, raw or base64)',
  COUNTERSIGN_KEK: 'the key-encryption key itself, base64',
  COUNTERSIGN_SIGSTORE_TRUSTED_ROOT: 'Sigstore trusted_root.json, to verify bundles with Rekor entries',
  COUNTERSIGN_AUTH_MODE: 'enforce | dev (dev: no authentication, loopback only)',
  COUNTERSIGN_TLS_CERT_FILE: 'gRPC server certificate chain (PEM)',
  COUNTERSIGN_TLS_KEY_FILE: 'gRPC server private key (PEM)',
  COUNTERSIGN_TLS_CLIENT_CA_FILE: 'CA (PEM) of client certificates: enables mTLS',
  COUNTERSIGN_METRICS_LISTEN: 'host:port of the metrics port (Prometheus /metrics, /healthz, /readyz; plain HTTP)',
  COUNTERSIGN_ADMISSION_LISTEN: 'host:port of the Kubernetes admission webhook (HTTPS)',
  COUNTERSIGN_ADMISSION_TLS_CERT: 'PEM certificate chain of the admission webhook',
  COUNTERSIGN_ADMISSION_TLS_KEY: 'PEM private key of the admission webhook',
  COUNTERSIGN_STORE_URL: 'postgres://… shared by replicas (keys, tokens, audit chain, revisions; serialized registry writes)',
  COUNTERSIGN_GATE_LISTEN: 'host:port of the registry gate',
  COUNTERSIGN_GATE_UPSTREAM: 'URL of the registry behind the gate',
  COUNTERSIGN_GATE_UPSTREAM_CA_FILE: 'PEM CA bundle of an https upstream',
  COUNTERSIGN_GATE_REGISTRY_NAME: "registry host named in the gate's Verify requests (default: the upstream host)",
  COUNTERSIGN_GATE_TLS_CERT: 'PEM certificate chain of the gate',
  COUNTERSIGN_GATE_TLS_KEY: 'PEM private key of the gate',
} as const;

export interface ConfigOverrides {
  configFile?: string;
  listen?: string;
  keysDir?: string;
  dataDir?: string;
  logLevel?: string;
  policyFile?: string;
  admissionListen?: string;
  metricsListen?: string;
  gateListen?: string;
  gateUpstream?: string;
}

export function loadConfig(overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): ServiceConfig {
  const config = defaultConfig(cwd);
  const file = overrides.configFile ?? env.COUNTERSIGN_CONFIG;
  if (file) applyFile(config, path.resolve(cwd, file));
  if (env.COUNTERSIGN_LISTEN) config.listen = env.COUNTERSIGN_LISTEN;
  if (env.COUNTERSIGN_KEYS_DIR) config.keysDir = path.resolve(cwd, env.COUNTERSIGN_KEYS_DIR);
  if (env.COUNTERSIGN_DATA_DIR) config.dataDir = path.resolve(cwd, env.COUNTERSIGN_DATA_DIR);
  if (env.COUNTERSIGN_LOG_LEVEL) config.logLevel = env.COUNTERSIGN_LOG_LEVEL;
  if (env.COUNTERSIGN_INSECURE_REGISTRIES) {
    config.registry.insecureHosts = env.COUNTERSIGN_INSECURE_REGISTRIES.split(',')
      .map((h) => h.trim())
      .filter(Boolean);
  }
  if (env.COUNTERSIGN_REGISTRY_CA_FILE) config.registry.caFile = path.resolve(cwd, env.COUNTERSIGN_REGISTRY_CA_FILE);
  if (env.COUNTERSIGN_REGISTRY_TIMEOUT_MS) {
    config.registry.timeoutMs = envInt('COUNTERSIGN_REGISTRY_TIMEOUT_MS', env.COUNTERSIGN_REGISTRY_TIMEOUT_MS, 1);
  }
  if (env.COUNTERSIGN_EXCLUSIVE_REFERRER_WRITES) {
    config.registry.exclusiveReferrerWrites = booleanValue(
      'COUNTERSIGN_EXCLUSIVE_REFERRER_WRITES',
      env.COUNTERSIGN_EXCLUSIVE_REFERRER_WRITES,
    );
  }
  if (env.COUNTERSIGN_MAX_PREDICATE_BYTES) {
    config.limits.maxPredicateBytes = envInt('COUNTERSIGN_MAX_PREDICATE_BYTES', env.COUNTERSIGN_MAX_PREDICATE_BYTES, 1);
  }
  if (env.COUNTERSIGN_RETURN_MEMORY_WHEN_IDLE) {
    config.limits.returnMemoryWhenIdle = booleanValue('COUNTERSIGN_RETURN_MEMORY_WHEN_IDLE', env.COUNTERSIGN_RETURN_MEMORY_WHEN_IDLE);
  }
  if (env.COUNTERSIGN_HEAP_HEADROOM_MB) {
    config.limits.heapHeadroomMb = envInt('COUNTERSIGN_HEAP_HEADROOM_MB', env.COUNTERSIGN_HEAP_HEADROOM_MB, 0, MAX_HEAP_HEADROOM_MB);
  }
  if (env.COUNTERSIGN_POLICY) config.policyFile = path.resolve(cwd, env.COUNTERSIGN_POLICY);
  if (env.COUNTERSIGN_TRUST_DIR) config.trustDir = path.resolve(cwd, env.COUNTERSIGN_TRUST_DIR);
  if (env.COUNTERSIGN_KEK_FILE) config.kekFile = path.resolve(cwd, env.COUNTERSIGN_KEK_FILE);
  if (env.COUNTERSIGN_METRICS_LISTEN) config.metrics.listen = env.COUNTERSIGN_METRICS_LISTEN;
  if (env.COUNTERSIGN_ADMISSION_LISTEN) config.admission.listen = env.COUNTERSIGN_ADMISSION_LISTEN;
  if (env.COUNTERSIGN_SIGSTORE_TRUSTED_ROOT)
    config.verification.sigstoreTrustedRoot = path.resolve(cwd, env.COUNTERSIGN_SIGSTORE_TRUSTED_ROOT);
  if (env.COUNTERSIGN_AUTH_MODE) config.auth.mode = authMode('COUNTERSIGN_AUTH_MODE', env.COUNTERSIGN_AUTH_MODE);
  if (env.COUNTERSIGN_TLS_CERT_FILE || env.COUNTERSIGN_TLS_KEY_FILE) {
    if (!env.COUNTERSIGN_TLS_CERT_FILE || !env.COUNTERSIGN_TLS_KEY_FILE) {
      throw new CountersignError('INVALID_ARGUMENT', 'set both COUNTERSIGN_TLS_CERT_FILE and COUNTERSIGN_TLS_KEY_FILE');
    }
    // Field by field over the file's auth.tls: a rotated certificate given through the
    // environment must not silently drop the file's client CA and requireClientCert (mTLS off).
    config.auth.tls = {
      ...config.auth.tls,
      certFile: path.resolve(cwd, env.COUNTERSIGN_TLS_CERT_FILE),
      keyFile: path.resolve(cwd, env.COUNTERSIGN_TLS_KEY_FILE),
      requireClientCert: config.auth.tls?.requireClientCert ?? false,
    };
  }
  if (env.COUNTERSIGN_TLS_CLIENT_CA_FILE) {
    if (!config.auth.tls) {
      throw new CountersignError(
        'INVALID_ARGUMENT',
        'COUNTERSIGN_TLS_CLIENT_CA_FILE needs a server certificate to verify clients over TLS: set COUNTERSIGN_TLS_CERT_FILE and COUNTERSIGN_TLS_KEY_FILE (or auth.tls in the config file)',
      );
    }
    config.auth.tls = { ...config.auth.tls, clientCaFile: path.resolve(cwd, env.COUNTERSIGN_TLS_CLIENT_CA_FILE) };
  }
  if (env.COUNTERSIGN_ADMISSION_TLS_CERT) config.admission.tlsCertFile = path.resolve(cwd, env.COUNTERSIGN_ADMISSION_TLS_CERT);
  if (env.COUNTERSIGN_ADMISSION_TLS_KEY) config.admission.tlsKeyFile = path.resolve(cwd, env.COUNTERSIGN_ADMISSION_TLS_KEY);
  if (env.COUNTERSIGN_STORE_URL) {
    const problem = storeUrlProblem(env.COUNTERSIGN_STORE_URL);
    if (problem) throw new CountersignError('INVALID_ARGUMENT', `COUNTERSIGN_STORE_URL: ${problem}`);
    config.store = { url: env.COUNTERSIGN_STORE_URL };
  }
  if (env.COUNTERSIGN_GATE_LISTEN) config.gate.listen = env.COUNTERSIGN_GATE_LISTEN;
  if (env.COUNTERSIGN_GATE_UPSTREAM) config.gate.upstream = env.COUNTERSIGN_GATE_UPSTREAM;
  if (env.COUNTERSIGN_GATE_UPSTREAM_CA_FILE) config.gate.upstreamCaFile = path.resolve(cwd, env.COUNTERSIGN_GATE_UPSTREAM_CA_FILE);
  if (env.COUNTERSIGN_GATE_REGISTRY_NAME) config.gate.registryName = env.COUNTERSIGN_GATE_REGISTRY_NAME;
  if (env.COUNTERSIGN_GATE_TLS_CERT) config.gate.tlsCertFile = path.resolve(cwd, env.COUNTERSIGN_GATE_TLS_CERT);
  if (env.COUNTERSIGN_GATE_TLS_KEY) config.gate.tlsKeyFile = path.resolve(cwd, env.COUNTERSIGN_GATE_TLS_KEY);
  if (overrides.gateListen) config.gate.listen = overrides.gateListen;
  if (overrides.gateUpstream) config.gate.upstream = overrides.gateUpstream;
  checkGate(config.gate);
  if (overrides.listen) config.listen = overrides.listen;
  if (overrides.policyFile) config.policyFile = path.resolve(cwd, overrides.policyFile);
  if (overrides.admissionListen) config.admission.listen = overrides.admissionListen;
  if (overrides.metricsListen) config.metrics.listen = overrides.metricsListen;
  if (Boolean(config.admission.tlsCertFile) !== Boolean(config.admission.tlsKeyFile)) {
    throw new CountersignError(
      'INVALID_ARGUMENT',
      'the admission webhook needs both a TLS certificate and its key (admission.tlsCertFile and admission.tlsKeyFile)',
    );
  }
  if (overrides.keysDir) config.keysDir = path.resolve(cwd, overrides.keysDir);
  if (overrides.dataDir) config.dataDir = path.resolve(cwd, overrides.dataDir);
  if (overrides.logLevel) config.logLevel = overrides.logLevel;
  parseListen(config.listen);
  // Every address is checked here, before anything binds: a bad one found only after the gRPC port
  // is listening left a process serving without the webhook or metrics it was asked for.
  if (config.metrics.listen) parseListenAddress(config.metrics.listen, 'metrics listen address');
  if (config.admission.listen) parseListenAddress(config.admission.listen, 'admission listen address');
  if (config.gate.listen) parseListenAddress(config.gate.listen, 'gate listen address');
  return config;
}

/** A gate needs its upstream, and TLS needs both halves. */
export function checkGate(gate: GateConfig): void {
  if (gate.listen && !gate.upstream) {
    throw new CountersignError(
      'INVALID_ARGUMENT',
      'the registry gate needs the registry it protects: set gate.upstream (--gate-upstream URL / COUNTERSIGN_GATE_UPSTREAM)',
    );
  }
  if (gate.upstream) parseGateUpstream(gate.upstream);
  if (Boolean(gate.tlsCertFile) !== Boolean(gate.tlsKeyFile)) {
    throw new CountersignError(
      'INVALID_ARGUMENT',
      'the registry gate needs both a TLS certificate and its key (gate.tlsCertFile and gate.tlsKeyFile)',
    );
  }
}

function applyFile(config: ServiceConfig, file: string): void {
  let bytes: Buffer;
  try {
    // A regular file only (a FIFO would block start-up forever), at most the config size limit.
    bytes = readBoundedFileSync(file, MAX_CONFIG_BYTES, `config file ${file}`);
  } catch (err) {
    const why = err instanceof BoundedFileError && (err.code === 'NOT_REGULAR' || err.code === 'TOO_LARGE') ? err.message : undefined;
    throw new CountersignError(
      'INVALID_ARGUMENT',
      why ?? `cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new CountersignError('INVALID_ARGUMENT', `config file ${file} is not UTF-8 text`);
  }
  applyConfigText(config, text, file);
}

function authMode(where: string, v: unknown): 'enforce' | 'dev' {
  if (v !== 'enforce' && v !== 'dev')
    throw new CountersignError('INVALID_ARGUMENT', `${where} must be "enforce" or "dev", got ${JSON.stringify(v)}`);
  return v;
}

function booleanValue(field: string, v: string): boolean {
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new CountersignError('INVALID_ARGUMENT', `${field} must be "true" or "false", got ${JSON.stringify(v)}`);
}

/**
 * A whole number from an environment variable, within [min, max] (the bounds the config file's
 * field has, so both ways of setting it agree). Digits only: "1e3", "0x10" or "10ms" are refused
 * rather than read as something the operator may not have meant.
 */
function envInt(field: string, v: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = /^[0-9]+$/.test(v.trim()) ? Number(v.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `${min} to ${max}`;
    throw new CountersignError('INVALID_ARGUMENT', `${field} must be a whole number (${range}), got ${JSON.stringify(v)}`);
  }
  return n;
}
