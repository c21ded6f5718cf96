/**
 * A throwaway PostgreSQL cluster for the tests: Debian's `postgresql` package (installed by
 * scripts/ensure-setup.sh), initdb'd into a temporary directory and run as an unprivileged user
 * (PostgreSQL refuses to run as root), listening on a free 127.0.0.1 port with its unix socket in
 * the same directory. Tuned for speed, not durability: no fsync, nothing worth keeping.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/dev/local-registry';

export interface LocalPostgres {
  /** postgres://USER:PASSWORD@127.0.0.1:PORT/postgres */
  url: string;
  port: number;
  user: string;
  password: string;
  /** Stops the server (fast shutdown) and keeps the data directory, so start() can bring it back. */
  stop(): Promise<void>;
  /** Starts the server again on the same port after stop(). */
  start(): Promise<void>;
  /** Stops the server and removes its directory. */
  destroy(): Promise<void>;
}

/** The newest /usr/lib/postgresql/<version>/bin that has initdb and postgres. */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => /^\d+$/.test(v) && existsSync(path.join(root, v, 'bin', 'postgres')))
    : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0)
    throw new Error(`no PostgreSQL server under ${root}: run scripts/ensure-setup.sh (installs Debian's postgresql)`);
  return path.join(root, versions[0]!, 'bin');
}

/** uid/gid of the unprivileged user the cluster runs as when we are root (`nobody`). */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(spawnSync('id', [flag, 'nobody'], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  const gid = id('-g');
  if (!Number.isInteger(uid) || !Number.isInteger(gid))
    throw new Error('running as root and there is no `nobody` user to run PostgreSQL as');
  return { uid, gid };
}

export async function startPostgres(): Promise<LocalPostgres> {
  const bin = postgresBinDir();
  const user = runAs();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-pg-'));
  const data = path.join(dir, 'data');
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const pwfile = path.join(dir, 'pwfile');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (user) {
    chownSync(dir, user.uid, user.gid);
    chownSync(pwfile, user.uid, user.gid);
  }
  const as = { ...(user ?? {}), cwd: dir, env: { ...process.env, LC_ALL: 'C', HOME: dir } };
  const init = spawnSync(
    path.join(bin, 'initdb'),
    ['-D', data, '--no-sync', '-U', 'countersign', `--pwfile=${pwfile}`, '--auth-host=scram-sha-256', '--auth-local=trust', '-E', 'UTF8'],
    { ...as, encoding: 'utf8' },
  );
  if (init.status !== 0) throw new Error(`initdb failed (${String(init.status)}): ${init.stderr}${init.stdout}`);
  const port = await freePort();
  let child: ChildProcess | undefined;

  const start = async (): Promise<void> => {
    const proc = spawn(
      path.join(bin, 'postgres'),
      [
        '-D',
        data,
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-k',
        dir,
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'max_connections=200',
      ],
      { ...as, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child = proc;
    let output = '';
    proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
    for (let i = 0; ; i++) {
      if (proc.exitCode !== null) throw new Error(`postgres exited with ${proc.exitCode}: ${output}`);
      if (/ready to accept connections/.test(output)) return;
      if (i > 300) throw new Error(`postgres did not become ready: ${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGINT'); // fast shutdown: disconnects clients, no wait for them
    await exited;
  };
  await start();
  return {
    url: `postgres://countersign:${password}@127.0.0.1:${port}/postgres`,
    port,
    user: 'countersign',
    password,
    stop,
    start,
    destroy: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The suite's cluster (globalSetup starts it and sets COUNTERSIGN_TEST_POSTGRES). */
export function testPostgresUrl(): string {
  const url = process.env.COUNTERSIGN_TEST_POSTGRES;
  if (!url) throw new Error('COUNTERSIGN_TEST_POSTGRES is not set: run the suite through jest (globalSetup starts PostgreSQL)');
  return url;
}

/**
 * A new, empty database in the suite's cluster (so each test file, or test, has a store of its own:
 * keys sealed under its own KEK, its own audit chain); returns its URL.
 */
export async function freshDatabase(prefix = 'cs'): Promise<string> {
  const base = testPostgresUrl();
  const name = `${prefix.replace(/[^a-z0-9_]/g, '_')}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A KEK (base64) for replicas that share one store: they must all seal and open with the same one. */
export function sharedKek(): string {
  return randomBytes(32).toString('base64');
}
