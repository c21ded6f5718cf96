/**
 * The cross-replica write lock against the suite's real PostgreSQL: two lock objects (two pools,
 * as two replicas have) serialize holders of one key, leave other keys alone, and a wait that
 * exceeds the lock timeout is UNAVAILABLE naming the store; bad store URLs fail at connect with
 * a message that says which problem it is.
 */
import pg from 'pg';
import { PostgresWriteLock, advisoryKeys, describeStoreUrl } from '../../../src/coordination';
import { CountersignError } from '../../../src/shared/errors';
import { testPostgresUrl } from '../../support/postgres';

const locks: PostgresWriteLock[] = [];
afterAll(async () => {
  await Promise.all(locks.map((l) => l.close()));
});

async function connect(options: Parameters<typeof PostgresWriteLock.connect>[1] = {}): Promise<PostgresWriteLock> {
  const lock = await PostgresWriteLock.connect(testPostgresUrl(), options);
  locks.push(lock);
  return lock;
}

/** A promise with its resolver, to hold a lock until the test lets go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

test('two replicas holding one key run one after the other; another key does not wait', async () => {
  const [a, b] = [await connect(), await connect()];
  const key = `test/${Math.random()}`;
  const events: string[] = [];
  const release = gate();
  const entered = gate();
  const first = a.run(key, async () => {
    events.push('a:in');
    entered.open();
    await release.promise;
    events.push('a:out');
  });
  await entered.promise;
  const second = b.run(key, async () => {
    events.push('b:in');
  });
  // A different key is not blocked by the held one.
  await b.run(`${key}/other`, async () => {
    events.push('other');
  });
  expect(events).toEqual(['a:in', 'other']);
  release.open();
  await Promise.all([first, second]);
  expect(events).toEqual(['a:in', 'other', 'a:out', 'b:in']);
});

test('a holder that throws releases the lock', async () => {
  const [a, b] = [await connect(), await connect()];
  const key = `test/${Math.random()}`;
  await expect(a.run(key, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  await expect(b.run(key, async () => 'got it')).resolves.toBe('got it');
});

test('waiting longer than the lock timeout is UNAVAILABLE naming the store, and fn never runs', async () => {
  const a = await connect();
  const b = await connect({ lockTimeoutMs: 200 });
  const key = `test/${Math.random()}`;
  const release = gate();
  const entered = gate();
  const holder = a.run(key, async () => {
    entered.open();
    await release.promise;
  });
  await entered.promise;
  let ran = false;
  const err = await b
    .run(key, async () => {
      ran = true;
    })
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(CountersignError);
  expect((err as CountersignError).code).toBe('UNAVAILABLE');
  expect((err as CountersignError).message).toMatch(
    /timed out after 200 ms waiting for the referrers-index write lock .* in PostgreSQL countersign@127\.0\.0\.1:\d+\/postgres/,
  );
  expect(ran).toBe(false);
  release.open();
  await holder;
  // The failed waiter left nothing behind: the key is free again for it.
  await expect(b.run(key, async () => 'after')).resolves.toBe('after');
});

test('a holder whose session dies is told it is no longer exclusive, and another replica can take the key', async () => {
  const [a, b] = [await connect(), await connect({ lockTimeoutMs: 10_000 })];
  const key = `test/${Math.random()}`;
  const [k1, k2] = advisoryKeys(key);
  const admin = new pg.Client({ connectionString: testPostgresUrl() });
  await admin.connect();
  try {
    const states: boolean[] = [];
    await a.run(key, async (held) => {
      states.push(held.exclusiveAcrossProcesses);
      // The server ends the holder's session (as a restart or a network cut would).
      await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1::int::oid AND objid = $2::int::oid AND objsubid = 2`,
        [k1, k2],
      );
      for (let i = 0; held.exclusiveAcrossProcesses; i++) {
        if (i > 400) throw new Error('the holder was never told');
        await new Promise((r) => setTimeout(r, 25));
      }
      states.push(held.exclusiveAcrossProcesses);
      // Released with the session: the other replica gets the key while we still "hold" it.
      await expect(b.run(key, async () => 'b got it')).resolves.toBe('b got it');
    });
    expect(states).toEqual([true, false]);
    // And the broken connection was not put back: the next holder works.
    await expect(a.run(key, async (held) => held.exclusiveAcrossProcesses)).resolves.toBe(true);
  } finally {
    await admin.end();
  }
});

test('wrong credentials: a startup error that says so, without the password', async () => {
  const url = new URL(testPostgresUrl());
  url.password = 'not-the-password';
  const err = await PostgresWriteLock.connect(url.toString()).catch((e: unknown) => e);
  expect((err as CountersignError).code).toBe('UNAVAILABLE');
  expect((err as CountersignError).message).toMatch(/refused the credentials in store\.url .*check the user and password/);
  expect((err as CountersignError).message).not.toContain('not-the-password');
});

test('unreachable server: a startup error that says so', async () => {
  const url = new URL(testPostgresUrl());
  url.port = '1'; // nothing listens on port 1
  const err = await PostgresWriteLock.connect(url.toString(), { connectTimeoutMs: 2000 }).catch((e: unknown) => e);
  expect((err as CountersignError).code).toBe('UNAVAILABLE');
  expect((err as CountersignError).message).toMatch(/PostgreSQL countersign@127\.0\.0\.1:1\/postgres is unreachable .*check store\.url/);
});

test('lock keys are stable per key and differ between keys; URLs are described without passwords', () => {
  expect(advisoryKeys('r/x@sha256:1')).toEqual(advisoryKeys('r/x@sha256:1'));
  expect(advisoryKeys('r/x@sha256:1')).not.toEqual(advisoryKeys('r/x@sha256:2'));
  expect(describeStoreUrl('postgres://u:secret@db.example:5432/cs')).toBe('PostgreSQL u@db.example:5432/cs');
});
