import crypto from 'node:crypto';
import { readdirSync, readFileSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { keyIdOf } from '../keys/key-id';
import { scopeProblem } from '../shared/image-pattern';
import type { TrustedKey, TrustStore } from './types';

/**
 * Trusted public keys from a directory: every `NAME.pub` (PEM SPKI, e.g. a cosign.pub or the
 * public half of a service-held signing key), with optional `NAME.trust.json` holding
 * `{validFrom, validUntil, revokedAt, revocationReason, scopes}`. The directory is re-read when it
 * changes (watch, plus a poll as a fallback), and the revision changes with any key or state change.
 *
 * This is the embedded default until the managed key store replaces it behind TrustStore.
 */
export class KeyDirTrustStore implements TrustStore {
  private keys: TrustedKey[] = [];
  private byIdMap = new Map<string, TrustedKey>();
  private rev = '';
  private readonly listeners = new Set<() => void>();
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  /** Problems with individual files: reported, never fatal (one bad file must not untrust the rest). */
  readonly problems: string[] = [];

  constructor(
    private readonly dir: string,
    opts: { watch?: boolean; pollMs?: number } = {},
  ) {
    this.reload();
    if (opts.watch !== false) {
      try {
        this.watcher = watch(this.dir, { persistent: false }, () => this.reload());
      } catch {
        // The directory may not exist yet; the poll picks it up once it does.
      }
      this.timer = setInterval(() => this.reload(), opts.pollMs ?? 2000);
      this.timer.unref();
    }
  }

  revision(): string {
    return this.rev;
  }

  list(): TrustedKey[] {
    return [...this.keys];
  }

  byId(id: string): TrustedKey | undefined {
    return this.byIdMap.get(id);
  }

  find(nameOrId: string): TrustedKey | undefined {
    return this.byIdMap.get(nameOrId) ?? this.keys.find((k) => k.name === nameOrId);
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
  }

  /** Re-reads the directory; returns true when anything changed. */
  reload(): boolean {
    let files: string[];
    try {
      files = readdirSync(this.dir).sort();
    } catch {
      files = [];
    }
    const hash = crypto.createHash('sha256');
    const keys: TrustedKey[] = [];
    const problems: string[] = [];
    for (const file of files) {
      if (!file.endsWith('.pub')) continue;
      const name = file.slice(0, -'.pub'.length);
      try {
        const pem = readFileSync(path.join(this.dir, file));
        const publicKey = crypto.createPublicKey(pem);
        const key: TrustedKey = { id: keyIdOf(publicKey), name, publicKey };
        hash.update(`${name}\0${key.id}\0`);
        const sidecar = path.join(this.dir, `${name}.trust.json`);
        let meta: Record<string, unknown> | undefined;
        try {
          const text = readFileSync(sidecar, 'utf8');
          hash.update(text);
          meta = JSON.parse(text) as Record<string, unknown>;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
            // Unreadable trust metadata could hide a revocation: do not trust the key at all.
            problems.push(`${sidecar}: ${(err as Error).message}; key ${name} is not trusted`);
            continue;
          }
        }
        if (meta) applyMeta(key, meta);
        keys.push(key);
      } catch (err) {
        problems.push(`${file}: ${(err as Error).message}; key ${name} is not trusted`);
      }
    }
    const rev = hash.digest('hex').slice(0, 12);
    this.problems.splice(0, this.problems.length, ...problems);
    if (rev === this.rev) return false;
    this.keys = keys;
    this.byIdMap = new Map(keys.map((k) => [k.id, k]));
    this.rev = rev;
    for (const l of this.listeners) l();
    return true;
  }
}

function applyMeta(key: TrustedKey, meta: Record<string, unknown>): void {
  const date = (field: string): Date | undefined => {
    const v = meta[field];
    if (v === undefined || v === null) return undefined;
    const d = new Date(String(v));
    if (Number.isNaN(d.getTime())) throw new Error(`${field} is not a date`);
    return d;
  };
  const validFrom = date('validFrom');
  const validUntil = date('validUntil');
  const revokedAt = date('revokedAt');
  if (validFrom) key.validFrom = validFrom;
  if (validUntil) key.validUntil = validUntil;
  if (revokedAt) key.revokedAt = revokedAt;
  if (typeof meta.revocationReason === 'string') key.revocationReason = meta.revocationReason;
  if (meta.scopes !== undefined) {
    // A scope the matcher cannot mean (a typo) is refused loudly, with the key (fail closed),
    // rather than quietly matching nothing.
    if (!Array.isArray(meta.scopes)) throw new Error('scopes is not a list of repository patterns');
    for (const scope of meta.scopes) {
      const problem = scopeProblem(scope);
      if (problem !== undefined) throw new Error(problem);
    }
    if (meta.scopes.length > 0) key.scopes = meta.scopes as string[];
  }
}
