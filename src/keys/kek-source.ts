import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CountersignError } from '../shared/errors';
import { isLoopbackListen } from '../shared/net';
import { generateKek, loadKek } from './crypto';

export interface KekSettings {
  /** File holding the KEK (32 raw bytes or base64). */
  kekFile?: string;
  /** The KEK as base64, from COUNTERSIGN_KEK. */
  kekBase64?: string;
  dataDir: string;
  /** host:port the service listens on; the generated development KEK is allowed on loopback only. */
  listen: string;
  /**
   * The keys live in a store other replicas share (PostgreSQL): never with a generated KEK, which
   * would sit in this one replica's (often ephemeral) data directory: losing it loses every key.
   */
  sharedStore?: boolean;
}

/**
 * The key-encryption key the private keys are sealed with. In production it comes from a file
 * (a mounted secret) or the environment; a missing one is a startup error. In local development
 * (the service listens on loopback only) a KEK is generated into the data directory, with a loud
 * warning, so that the quick start works; such a KEK sits next to the keys it protects.
 */
export function resolveKek(settings: KekSettings): { kek: Buffer; generated?: string; development: boolean; warnings: string[] } {
  if (settings.kekFile || settings.kekBase64) {
    const kek = loadKek({
      ...(settings.kekFile ? { file: settings.kekFile } : {}),
      ...(settings.kekBase64 ? { env: settings.kekBase64, envName: 'COUNTERSIGN_KEK' } : {}),
    });
    return { kek, development: false, warnings: settings.kekFile ? modeWarnings(settings.kekFile) : [] };
  }
  if (settings.sharedStore) {
    throw new CountersignError(
      'FAILED_PRECONDITION',
      'no key-encryption key: the keys live in a shared store (store.url), so set COUNTERSIGN_KEK_FILE (a file with 32 random bytes, e.g. from "openssl rand -base64 32") or COUNTERSIGN_KEK, the same on every replica. ' +
        "A generated development KEK would sit in this replica's data directory only.",
    );
  }
  if (!isLoopbackListen(settings.listen)) {
    throw new CountersignError(
      'FAILED_PRECONDITION',
      `no key-encryption key: set COUNTERSIGN_KEK_FILE (a file with 32 random bytes, e.g. from "openssl rand -base64 32") or COUNTERSIGN_KEK. ` +
        `A generated development KEK is only allowed when listening on loopback, and ${settings.listen} is not.`,
    );
  }
  const file = path.join(settings.dataDir, 'development-kek');
  if (!existsSync(file)) {
    writeFileSync(file, generateKek().toString('base64'), { mode: 0o600, flag: 'wx' });
    return { kek: loadKek({ file }), generated: file, development: true, warnings: [] };
  }
  readFileSync(file); // surfaces permission problems with the file named
  return { kek: loadKek({ file }), development: true, warnings: modeWarnings(file) };
}

/**
 * A KEK file group or others may read: said at start-up, not refused (Kubernetes mounts secret
 * volumes 0644 unless told otherwise, and the pod is the boundary there).
 */
function modeWarnings(file: string): string[] {
  try {
    const mode = statSync(file).mode;
    if ((mode & 0o044) === 0) return [];
    return [
      `the key-encryption key file ${file} is readable by group or others (mode ${(mode & 0o777).toString(8)}): restrict it to the service user (chmod 600), or set the secret volume's defaultMode`,
    ];
  } catch {
    return []; // it was just read: a stat that fails now changes nothing about the key
  }
}
