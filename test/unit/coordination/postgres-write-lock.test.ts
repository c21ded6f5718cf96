/**
 * The cross-replica write lock against the suite's real PostgreSQL: two lock objects (two pools,
 * as two replicas have) serialize holders of one key, leave other keys alone, and a wait that
 * exceeds the lock timeout is UNAVAILABLE naming the store; bad store URLs fail at connect with
 * a message that says which problem it is.
 */
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
  expect((err as CountersignError).message).toMatch(/timed out after 200 ms waiting for the referrers-index write lock .* in PostgreSQL countersign@127\.0\.0\.1:\d+\/postgres/);
  expect(ran).toBe(false);
  release.open();
  await holder;
  // The failed waiter left nothing behind: the key is free again for it.
  await expect(b.run(key, async () => 'after')).resolves.toBe('after');
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
