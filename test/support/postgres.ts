/**
 * PostgreSQL for the tests: the throwaway cluster (src/dev/local-postgres.ts, shared with the
 * bench), the suite's cluster that globalSetup starts, and fresh databases in it.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { ChangeSignal, PostgresStore } from '../../src/store';

export { startPostgres } from '../../src/dev/local-postgres';
export type { LocalPostgres } from '../../src/dev/local-postgres';

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

/** Resolves with the signals `store` announces, once `until` says enough has arrived. */
export function collectChanges(store: PostgresStore, until: (seen: ChangeSignal[]) => boolean): Promise<ChangeSignal[]> {
  const seen: ChangeSignal[] = [];
  return new Promise((resolve) => {
    const off = store.changes.subscribe((signal) => {
      seen.push(signal);
      if (until(seen)) {
        off();
        resolve(seen);
      }
    });
  });
}

/** Polls `condition` every 25 ms until it holds; throws naming `what` after `tries` polls. */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, tries = 800): Promise<void> {
  for (let i = 0; !(await condition()); i++) {
    if (i > tries) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A plain session on `url` (outside Countersign), ended by the caller's `closers`. */
export async function adminSession(url: string, closers: Array<() => unknown>): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  closers.push(() => c.end().catch(() => undefined));
  return c;
}

/**
 * Runs `write` so that the moment it commits, `table` is locked ACCESS EXCLUSIVE by another
 * session (as VACUUM FULL, a migration's ALTER TABLE or LOCK TABLE would): the row `rowWhere` is
 * held FOR UPDATE so the write waits inside its transaction, the LOCK TABLE queues behind the
 * write, and is granted at its COMMIT, before any replica hearing the NOTIFY can read. Returns the
 * session holding the table lock (ROLLBACK it to release). Sessions it opens go to `closers`.
 */
export async function commitThenLock(
  url: string,
  admin: pg.Client,
  table: string,
  rowWhere: string,
  write: () => Promise<unknown>,
  closers: Array<() => unknown>,
): Promise<pg.Client> {
  let done = false;
  const rowHolder = await adminSession(url, closers);
  await rowHolder.query('BEGIN');
  await rowHolder.query(`SELECT 1 FROM ${table} WHERE ${rowWhere} FOR UPDATE`);
  const writing = write();
  writing.then(
    () => (done = true),
    () => (done = true),
  );
  const waiting = async (where: string, params: unknown[] = []): Promise<boolean> =>
    (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE ${where}`, params)).rows[0]!.n > 0;
  await waitFor(
    () => waiting(`datname = current_database() AND application_name = 'countersign' AND wait_event_type = 'Lock'`),
    'the write to wait on the row lock',
  );
  const locker = await adminSession(url, closers);
  await locker.query('BEGIN');
  const lockerPid = (await locker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const locking = locker.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  await waitFor(() => waiting(`pid = $1 AND wait_event_type = 'Lock'`, [lockerPid]), 'LOCK TABLE to queue behind the write');
  await rowHolder.query('COMMIT');
  await locking; // granted at the write's COMMIT
  await waitFor(() => done, 'the write to commit');
  return locker;
}
