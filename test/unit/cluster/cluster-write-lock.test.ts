/**
 * The referrer-index write lock of `serve --workers N` (src/cluster/cluster-write-lock.ts): the
 * primary's table and the workers' locks, joined by an in-memory channel that delivers messages
 * asynchronously as the IPC channel does.
 */
import {
  ClusterWriteLock,
  DEAD_HOLDER_GRACE_MS,
  PrimaryLockTable,
  type LockMessage,
  type WorkerChannel,
} from '../../../src/cluster/cluster-write-lock';
import { CountersignError } from '../../../src/shared/errors';
import { expectCode } from '../registry/helpers';

/** One worker's end of the channel, the primary's table on the other end. */
class FakeWorker implements WorkerChannel {
  private readonly messageListeners = new Set<(m: unknown) => void>();
  private readonly disconnectListeners = new Set<() => void>();
  private open = true;
  readonly sent: LockMessage[] = [];

  constructor(private readonly table: () => PrimaryLockTable<FakeWorker>) {}

  send(message: LockMessage): void {
    this.sent.push(message);
    setImmediate(() => this.table().handle(this, message));
  }
  connected(): boolean {
    return this.open;
  }
  onMessage(listener: (m: unknown) => void): () => void {
    this.messageListeners.add(listener);
    return () => this.messageListeners.delete(listener);
  }
  onDisconnect(listener: () => void): () => void {
    this.disconnectListeners.add(listener);
    return () => this.disconnectListeners.delete(listener);
  }
  /** The primary's message to this worker. */
  deliver(m: unknown): void {
    if (this.open) setImmediate(() => this.messageListeners.forEach((l) => l(m)));
  }
  /** The primary went away. */
  disconnect(): void {
    this.open = false;
    this.disconnectListeners.forEach((l) => l());
  }
}

let now = 0;
let table: PrimaryLockTable<FakeWorker>;
const grants: Array<{ worker: FakeWorker; exclusive: boolean }> = [];

function worker(): FakeWorker {
  return new FakeWorker(() => table);
}

beforeEach(() => {
  now = 1_000_000;
  grants.length = 0;
  table = new PrimaryLockTable<FakeWorker>(
    (w, id, exclusive) => {
      grants.push({ worker: w, exclusive });
      w.deliver({ countersign: 'lock-granted', id, exclusive });
    },
    () => now,
  );
});

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
/** Turns of the event loop until `condition` holds (messages take a few). */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await tick();
  expect(condition()).toBe(true);
}

test('two workers writing one key run one after the other, each exclusive; other keys do not wait', async () => {
  const a = new ClusterWriteLock(worker());
  const b = new ClusterWriteLock(worker());
  const events: string[] = [];
  let releaseA!: () => void;
  const aHolds = new Promise<void>((r) => (releaseA = r));
  const first = a.run('reg/app@sha256:1', async (held) => {
    events.push(`a in ${held.exclusiveAcrossProcesses}`);
    await aHolds;
    events.push('a out');
  });
  await tick();
  await tick();
  const second = b.run('reg/app@sha256:1', async (held) => void events.push(`b in ${held.exclusiveAcrossProcesses}`));
  const other = b.run('reg/app@sha256:2', async () => void events.push('b other key'));
  await other;
  expect(events).toEqual(['a in true', 'b other key']);
  releaseA();
  await Promise.all([first, second]);
  expect(events).toEqual(['a in true', 'b other key', 'a out', 'b in true']);
  await tick();
  expect(table.size).toBe(0); // every lock released
});

test('callers of one key inside a worker queue locally: one request on the channel at a time', async () => {
  const channel = worker();
  const lock = new ClusterWriteLock(channel);
  let inside = 0;
  let most = 0;
  await Promise.all(
    Array.from({ length: 5 }, () =>
      lock.run('k', async () => {
        most = Math.max(most, ++inside);
        await tick();
        inside--;
      }),
    ),
  );
  expect(most).toBe(1);
  expect(channel.sent.filter((m) => m.countersign === 'lock')).toHaveLength(5);
  expect(grants).toHaveLength(5);
});

test('a holder that died: the next holder is granted a non-exclusive hold (settle delay) until the grace is over', async () => {
  const dying = worker();
  const a = new ClusterWriteLock(dying);
  const b = new ClusterWriteLock(worker());
  void a.run('k', () => new Promise(() => undefined)).catch(() => undefined); // never finishes: the worker dies
  await tick();
  await tick();
  const waits: boolean[] = [];
  const second = b.run('k', async (held) => void waits.push(held.exclusiveAcrossProcesses));
  await tick();
  await tick();
  table.workerGone(dying);
  await second;
  expect(waits).toEqual([false]);
  // Alone again on the key, still within the grace: not exclusive either.
  await b.run('k', async (held) => void waits.push(held.exclusiveAcrossProcesses));
  now += DEAD_HOLDER_GRACE_MS;
  await b.run('k', async (held) => void waits.push(held.exclusiveAcrossProcesses));
  expect(waits).toEqual([false, false, true]);
});

test('the primary gone while holding: no longer exclusive; while waiting or after: UNAVAILABLE', async () => {
  const channel = worker();
  const lock = new ClusterWriteLock(channel);
  const seen: boolean[] = [];
  let blocker!: () => void;
  const blocked = new Promise<void>((r) => (blocker = r));
  const holding = lock.run('k', async (held) => {
    seen.push(held.exclusiveAcrossProcesses);
    await blocked;
    seen.push(held.exclusiveAcrossProcesses);
  });
  await until(() => seen.length === 1);
  const other = lock.run('other', async () => 'ran');
  const otherOutcome = other.then(
    () => undefined,
    (err: unknown) => err,
  );
  channel.disconnect(); // before the grant of `other` arrives
  blocker();
  await holding;
  expect(seen).toEqual([true, false]);
  const otherError = await otherOutcome;
  expect(otherError).toBeInstanceOf(CountersignError);
  expect((otherError as CountersignError).code).toBe('UNAVAILABLE');
  expect((otherError as CountersignError).message).toMatch(/write lock of other .*primary is gone/);
  await expect(lock.run('k', async () => 'ran')).rejects.toBeInstanceOf(CountersignError);
});

test('a wait that times out is UNAVAILABLE, leaves the queue, and a late grant is given back', async () => {
  const holderChannel = worker();
  const holder = new ClusterWriteLock(holderChannel);
  const waiterChannel = worker();
  const waiter = new ClusterWriteLock(waiterChannel, { lockTimeoutMs: 20 });
  let release!: () => void;
  const held = holder.run('k', () => new Promise<void>((r) => (release = r)));
  await tick();
  await tick();
  await expectCode(
    waiter.run('k', async () => 'ran'),
    'UNAVAILABLE',
    /write lock of k .*not granted within 20 ms/,
  );
  release();
  await held;
  await tick();
  await tick();
  expect(table.size).toBe(0); // the timed-out request is not left holding the key
  expect(waiterChannel.sent.map((m) => m.countersign)).toEqual(['lock', 'lock-release']);
});
