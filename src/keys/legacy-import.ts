/**
 * Keys made before the managed store (PEM files in the keys directory) are imported on first
 * start, not lost: `NAME.key` as signing keys, a lone `NAME.pub` as a trusted public key. Files
 * are left in place; a key already in the store (same id) is skipped.
 */
import crypto from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CountersignError } from '../shared/errors';
import { parsePublicKeyPem } from './crypto';
import { keyIdOf } from './key-id';
import type { KeyMaterial } from './key-rows';
import { validateKeyName } from './key-name';
import type { KeyInfo } from './types';

/** One legacy key: its name (the file name without `.key`/`.pub`) and the PEM it holds. */
export interface LegacyKeyFile {
  name: string;
  privatePem?: string;
  publicPem?: string;
}

/** What the import needs of the key store: whether a key id is stored, and the insertion of a new key under a name. */
export interface LegacyImportTarget {
  has(id: string): boolean;
  insert(name: string, material: KeyMaterial): Promise<KeyInfo>;
}

/**
 * `NAME.key` (PKCS#8) in the keys directory, and lone `NAME.pub` files in the keys and trust
 * directories. A directory that cannot be read contributes nothing.
 */
export function legacyKeyFiles(keysDir: string, trustDir: string | undefined): LegacyKeyFile[] {
  const out: LegacyKeyFile[] = [];
  for (const dir of [...new Set([keysDir, trustDir ?? keysDir])]) {
    let files: string[];
    try {
      files = readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const f of files) {
      const name = f.replace(/\.(key|pub)$/, '');
      if (f.endsWith('.key')) out.push({ name, privatePem: readFileSync(path.join(dir, f), 'utf8') });
      else if (f.endsWith('.pub') && !files.includes(`${name}.key`)) out.push({ name, publicPem: readFileSync(path.join(dir, f), 'utf8') });
    }
  }
  return out;
}

export async function importLegacyKeys(
  entries: readonly LegacyKeyFile[],
  target: LegacyImportTarget,
): Promise<{ imported: KeyInfo[]; problems: string[] }> {
  const imported: KeyInfo[] = [];
  const problems: string[] = [];
  for (const e of entries) {
    try {
      validateKeyName(e.name);
      if (e.privatePem) {
        const privateKey = crypto.createPrivateKey(e.privatePem);
        const publicKey = crypto.createPublicKey(privateKey);
        if (target.has(keyIdOf(publicKey))) continue;
        imported.push(await target.insert(e.name, { purpose: 'signing', publicKey, privateKey, source: 'pem' }));
      } else if (e.publicPem) {
        const publicKey = parsePublicKeyPem(e.publicPem);
        if (target.has(keyIdOf(publicKey))) continue;
        imported.push(await target.insert(e.name, { purpose: 'verification', publicKey, source: 'spki' }));
      }
    } catch (err) {
      // One unreadable file must not stop the service or the other imports; it is reported.
      // (Parse errors are not echoed: they can quote key bytes.)
      const why = err instanceof CountersignError ? err.message : 'not a readable PEM key';
      problems.push(`${e.name}: ${why}`);
    }
  }
  return { imported, problems };
}
