/**
 * Development and test tooling, not used by the service itself.
 *
 * A throwaway PostgreSQL cluster for the tests and the bench: Debian's `postgresql` package
 * (installed by scripts/ensure-setup.sh), initdb'd into a temporary directory and run as an
 * unprivileged user (PostgreSQL refuses to run as root), listening on a free 127.0.0.1 port with
 * its unix socket in the same directory. Tuned for speed, not durability: no fsync, nothing worth
 * keeping.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './local-registry';

/** Where Debian's postgresql packages install their server binaries, one folder per major version. */
const POSTGRES_ROOT = '/usr/lib/postgresql';

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

/** The newest /usr/lib/postgresql/<version>/bin that has initdb and postgres; undefined when none is installed. */
export function postgresBinDir(): string | undefined {
  const versions = existsSync(POSTGRES_ROOT)
    ? readdirSync(POSTGRES_ROOT).filter((v) => /^\d+$/.test(v) && existsSync(path.join(POSTGRES_ROOT, v, 'bin', 'postgres')))
    : [];
  versions.sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : path.join(POSTGRES_ROOT, versions[0], 'bin');
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
  if (bin === undefined)
    throw new Error(`no PostgreSQL server under ${POSTGRES_ROOT}: run scripts/ensure-setup.sh (installs Debian's postgresql)`);
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
  if (init.status !== 0) throw new Error(`initdb failed (${init.status ?? init.signal ?? '?'}): ${init.stderr}${init.stdout}`);
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
