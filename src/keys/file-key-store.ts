import crypto, { type KeyObject } from 'node:crypto';
import { promises as fs, constants as fsc } from 'node:fs';
import path from 'node:path';
import { CountersignError } from '../shared/errors';
import { keyIdOf } from './key-id';
import type { KeyInfo, KeyStore, SigningKey } from './types';

/** Key names become file names, so they are restricted to a portable, unsurprising set. */
const KEY_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export function validateKeyName(name: string): void {
  if (!KEY_NAME.test(name)) {
    throw new CountersignError(
      'INVALID_ARGUMENT',
      `invalid key name ${JSON.stringify(name)}: use 1-63 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit`,
    );
  }
}

interface LoadedKey {
  info: KeyInfo;
  privateKey: KeyObject;
  publicKey: KeyObject;
  mtimeMs: number;
}

/**
 * Keys as PKCS#8 PEM files in a directory: `<name>.key` (mode 0600) and `<name>.pub`.
 * Files are written to a temporary name and linked into place, so a crash never leaves a
 * half-written key, and an existing key is never overwritten.
 */
export class FileKeyStore implements KeyStore {
  private readonly cache = new Map<string, LoadedKey>();

  constructor(private readonly dir: string) {}

  async create(name: string): Promise<KeyInfo> {
    validateKeyName(name);
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const publicPem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const keyPath = this.pathOf(name, '.key');
    if (await exists(keyPath)) {
      throw new CountersignError('ALREADY_EXISTS', `a key named ${name} already exists in ${this.dir}`);
    }
    await writeExclusive(this.pathOf(name, '.pub'), publicPem, 0o644, true);
    await writeExclusive(keyPath, privatePem, 0o600, false).catch((err: unknown) => {
      if (isErrno(err, 'EEXIST')) {
        throw new CountersignError('ALREADY_EXISTS', `a key named ${name} already exists in ${this.dir}`);
      }
      throw err;
    });
    const loaded = await this.load(name);
    return loaded.info;
  }

  async getSigningKey(nameOrId: string): Promise<SigningKey> {
    const loaded = await this.find(nameOrId);
    return toSigningKey(loaded);
  }

  async list(): Promise<KeyInfo[]> {
    let entries: string[];
    try {
      entries = await fs.readdir(this.dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
    const infos: KeyInfo[] = [];
    for (const file of entries.sort()) {
      if (!file.endsWith('.key')) continue;
      const name = file.slice(0, -'.key'.length);
      if (!KEY_NAME.test(name)) continue;
      try {
        infos.push((await this.load(name)).info);
      } catch {
        // An unreadable or foreign file in the directory must not break listing the others.
      }
    }
    return infos;
  }

  private async find(nameOrId: string): Promise<LoadedKey> {
    if (!nameOrId) throw new CountersignError('INVALID_ARGUMENT', 'a key name or id is required (--key NAME)');
    if (KEY_NAME.test(nameOrId) && (await exists(this.pathOf(nameOrId, '.key')))) {
      return this.load(nameOrId);
    }
    for (const info of await this.list()) {
      if (info.id === nameOrId) return this.load(info.name);
    }
    throw new CountersignError(
      'NOT_FOUND',
      `no signing key named or with id ${JSON.stringify(nameOrId)} in the key directory; create one with "countersign keys create NAME"`,
    );
  }

  private async load(name: string): Promise<LoadedKey> {
    const keyPath = this.pathOf(name, '.key');
    const stat = await fs.stat(keyPath);
    const cached = this.cache.get(name);
    if (cached && cached.mtimeMs === stat.mtimeMs) return cached;
    let privateKey: KeyObject;
    try {
      privateKey = crypto.createPrivateKey(await fs.readFile(keyPath));
    } catch (err) {
      // The parse error is not echoed: it can quote bytes of the file.
      throw new CountersignError('FAILED_PRECONDITION', `key file for ${name} is not a readable PKCS#8 PEM private key`, {
        cause: err instanceof Error ? new Error(err.name) : undefined,
      });
    }
    if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new CountersignError('FAILED_PRECONDITION', `key ${name} is not an ECDSA P-256 key; only P-256 is supported`);
    }
    const publicKey = crypto.createPublicKey(privateKey);
    const loaded: LoadedKey = {
      info: {
        id: keyIdOf(publicKey),
        name,
        algorithm: 'ecdsa-p256-sha256',
        publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
        createdAt: stat.birthtimeMs > 0 ? stat.birthtime : stat.mtime,
      },
      privateKey,
      publicKey,
      mtimeMs: stat.mtimeMs,
    };
    this.cache.set(name, loaded);
    return loaded;
  }

  private pathOf(name: string, ext: string): string {
    return path.join(this.dir, `${name}${ext}`);
  }
}

function toSigningKey(loaded: LoadedKey): SigningKey {
  const { privateKey } = loaded;
  const key: SigningKey = {
    ...loaded.info,
    publicKey: loaded.publicKey,
    sign: (data: Buffer) => crypto.sign('sha256', data, privateKey),
  };
  // Only the public facts serialize, whatever a caller does with the handle.
  Object.defineProperty(key, 'toJSON', { value: () => ({ ...loaded.info }), enumerable: false });
  return key;
}

async function writeExclusive(file: string, content: string, mode: number, replace: boolean): Promise<void> {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  const handle = await fs.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, mode);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    if (replace) await fs.rename(tmp, file);
    else await fs.link(tmp, file); // link() fails with EEXIST instead of replacing
  } finally {
    if (!replace) await fs.rm(tmp, { force: true });
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
