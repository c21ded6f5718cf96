import { existsSync, readFileSync, writeFileSync } from 'node:fs';
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
}

/**
 * The key-encryption key the private keys are sealed with. In production it comes from a file
 * (a mounted secret) or the environment; a missing one is a startup error. In local development
 * (the service listens on loopback only) a KEK is generated into the data directory, with a loud
 * warning, so that the quick start works; such a KEK sits next to the keys it protects.
 */
export function resolveKek(settings: KekSettings): { kek: Buffer; generated?: string; development: boolean } {
  if (settings.kekFile || settings.kekBase64) {
    return {
      kek: loadKek({
        ...(settings.kekFile ? { file: settings.kekFile } : {}),
        ...(settings.kekBase64 ? { env: settings.kekBase64, envName: 'COUNTERSIGN_KEK' } : {}),
      }),
      development: false,
    };
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
    return { kek: loadKek({ file }), generated: file, development: true };
  }
  readFileSync(file); // surfaces permission problems with the file named
  return { kek: loadKek({ file }), development: true };
}
