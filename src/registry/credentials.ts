/**
 * Registry credentials. We read the same `config.json` the Docker CLI writes on `docker login`, so
 * that operators configure the service the way they already configure their tooling.
 *
 * Not supported: credential helpers (`credsStore`, `credHelpers`). Running arbitrary helper
 * binaries from a signing service is a decision for whoever deploys it, not a default; a host that
 * only has a helper entry is treated as having no credentials (anonymous access is tried, and a
 * registry that requires login answers with a clear PERMISSION_DENIED saying how to give credentials).
 *
 * Secrets read here never appear in errors, logs or `details`.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CountersignError } from '../shared/errors';

export type RegistryCredential = { username: string; password: string } | { identityToken: string };

export interface CredentialStore {
  /** Credentials for a registry host (as it appears in references, e.g. `ghcr.io`, `index.docker.io`). */
  get(registry: string): Promise<RegistryCredential | undefined>;
}

/**
 * The one spelling we key credentials by. `docker login` stores Docker Hub as
 * `https://index.docker.io/v1/`, other registries as bare hosts or URLs; all map to the lowercase host[:port].
 */
export function normalizeRegistryKey(key: string): string {
  let host = key.trim();
  host = host.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = host.indexOf('/');
  if (slash !== -1) host = host.slice(0, slash);
  host = host.toLowerCase();
  if (host === 'docker.io' || host === 'registry-1.docker.io' || host === 'registry.hub.docker.com') return 'index.docker.io';
  return host;
}

/** Fixed credentials held in memory: for tests, and for callers that get secrets from elsewhere. */
export class StaticCredentialStore implements CredentialStore {
  private readonly entries = new Map<string, RegistryCredential>();

  constructor(entries: Record<string, RegistryCredential> = {}) {
    for (const [key, cred] of Object.entries(entries)) this.entries.set(normalizeRegistryKey(key), cred);
  }

  async get(registry: string): Promise<RegistryCredential | undefined> {
    return this.entries.get(normalizeRegistryKey(registry));
  }
}

interface DockerAuthEntry {
  auth?: unknown;
  username?: unknown;
  password?: unknown;
  identitytoken?: unknown;
}

/** Where the Docker CLI looks: an explicit path, else `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function defaultDockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DOCKER_CONFIG) return path.join(env.DOCKER_CONFIG, 'config.json');
  return path.join(os.homedir(), '.docker', 'config.json');
}

/**
 * Credentials from a Docker `config.json`. The file is read once, on first use (a missing file
 * means "no credentials": anonymous pulls of public images must keep working).
 */
export class DockerConfigCredentialStore implements CredentialStore {
  readonly path: string;
  private loaded?: Promise<Map<string, RegistryCredential>>;

  /** `options` may be just the config path; undefined means the Docker CLI's default location. */
  constructor(options: string | { path?: string; env?: NodeJS.ProcessEnv } = {}) {
    const opts = typeof options === 'string' ? { path: options } : options;
    this.path = opts.path ?? defaultDockerConfigPath(opts.env);
  }

  async get(registry: string): Promise<RegistryCredential | undefined> {
    this.loaded ??= this.load();
    return (await this.loaded).get(normalizeRegistryKey(registry));
  }

  private async load(): Promise<Map<string, RegistryCredential>> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw new CountersignError('FAILED_PRECONDITION', `cannot read Docker config ${this.path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    let config: unknown;
    try {
      config = JSON.parse(text);
    } catch {
      // Do not attach the parser's message: it can quote file contents, i.e. secrets.
      throw new CountersignError(
        'FAILED_PRECONDITION',
        `Docker config ${this.path} is not valid JSON; fix or regenerate it with docker login`,
      );
    }
    const out = new Map<string, RegistryCredential>();
    const auths = (config as { auths?: unknown } | null)?.auths;
    if (auths === undefined || auths === null) return out;
    if (typeof auths !== 'object') {
      throw new CountersignError('FAILED_PRECONDITION', `Docker config ${this.path}: "auths" must be an object`);
    }
    for (const [key, raw] of Object.entries(auths as Record<string, unknown>)) {
      const cred = parseEntry(raw as DockerAuthEntry | null, key, this.path);
      // Several spellings of one host may exist; the first with usable credentials wins.
      const host = normalizeRegistryKey(key);
      if (cred && !out.has(host)) out.set(host, cred);
    }
    return out;
  }
}

function parseEntry(entry: DockerAuthEntry | null, key: string, file: string): RegistryCredential | undefined {
  if (!entry || typeof entry !== 'object') return undefined;
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') {
    return { identityToken: entry.identitytoken };
  }
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) {
      throw new CountersignError(
        'FAILED_PRECONDITION',
        `Docker config ${file}: the "auth" entry for ${key} is not base64 of user:password; run docker login ${normalizeRegistryKey(key)} again`,
      );
    }
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string' && entry.username !== '') {
    return { username: entry.username, password: entry.password };
  }
  return undefined;
}
