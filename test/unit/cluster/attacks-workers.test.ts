/**
 * Adversarial review of "several copies of the service at once keep one state": `serve --workers N`
 * (the change notices between workers, the metrics port of the primary) and replicas sharing one
 * PostgreSQL (revision counters, clock skew between replicas, two replicas writing the same thing
 * at once, a change heard but not yet re-read). Real SQLite files and the suite's real PostgreSQL
 * (a fresh database per test), the worker's IPC channel replaced by a recorder (as
 * test/unit/store/attacks-replicas.test.ts does), a fake registry where evidence is needed.
 *
 * The review found six defects, all fixed; their tests state the behaviour now. The "guard:"
 * tests are behaviour it checked and found correct. No timing assertions: counts and outcomes,
 * with bounded polling for events.
 */
import pg from 'pg';
import { AuditLog } from '../../../src/audit';
import { TokenStore } from '../../../src/auth';
import { attachWorker } from '../../../src/cluster/serve-cluster';
import { generateKek } from '../../../src/keys/crypto';
import { ManagedKeyStore } from '../../../src/keys/managed-key-store';
import { WorkerMetricsTotals, type WorkerMetrics } from '../../../src/metrics/aggregate';
import { PolicyStore } from '../../../src/policy-store';
import { setStoredPolicy } from '../../../src/policy-store/stored-policy';
import { DEFAULT_POLICY } from '../../../src/policy/schema';
import { RegistryClient } from '../../../src/registry/client';
import { ReferrerStore } from '../../../src/registry/referrer-store';
import { openDatabase, PostgresStore, SqliteStore, type SqlStore } from '../../../src/store';
import { EvidenceCache } from '../../../src/verification/evidence-cache';
import { EvidenceCollector } from '../../../src/verification/collector';
import { VerificationService } from '../../../src/verification/verification-service';
import type { App } from '../../../src/app';
import { Counter, Registry } from 'prom-client';
import { adminSession, collectChanges, commitThenLock, freshDatabase, waitFor } from '../../support/postgres';
import { parsePrometheusText, sampleValue } from '../../support/prometheus-text';
import { removeTempDirs, tempDatabaseFile } from '../../support/temp-dirs';
import { FakeRegistry } from '../registry/fake-registry';
import { signedReferrer, storeImage } from '../verification/bundle-fixtures';

jest.setTimeout(60_000);

const closers: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});
afterAll(removeTempDirs);

async function connect(url: string, options: Parameters<typeof PostgresStore.connect>[1] = {}): Promise<PostgresStore> {
  // No safety-net timer: the tests run the revision check themselves when they need it.
  const store = await PostgresStore.connect(url, { revisionCheckMs: 0, reconnectMs: 20, ...options });
  closers.push(() => store.close());
  return store;
}

interface Replica {
  store: SqlStore;
  audit: AuditLog;
  keys: ManagedKeyStore;
  tokens: TokenStore;
  policies: PolicyStore;
}

/** A replica (or a worker): keys, tokens and the stored policy on `store`, as app.ts composes them; `now` is its clock. */
async function replicaOn(store: SqlStore, kek: Buffer, now?: () => Date): Promise<Replica> {
  const audit = await AuditLog.open(store);
  const keys = await ManagedKeyStore.open(store, kek, audit, now ? { now } : {});
  const policies = await PolicyStore.open(undefined, { stored: { store, audit }, watch: false, pollMs: 0 });
  const tokens = await TokenStore.open(store, { audit, ...(now ? { now } : {}) });
  closers.push(() => {
    keys.close();
    tokens.close();
    policies.close();
  });
  return { store, audit, keys, tokens, policies };
}

const settle = (ms = 200): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A rejection as a value (the tests compare outcomes, not exceptions). */
async function outcome<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; code: string; message: string }> {
  try {
    return { ok: true, value: await p };
  } catch (err) {
    return { ok: false, code: String((err as { code?: unknown }).code), message: String((err as { message?: unknown }).message) };
  }
}

// ---- the worker's IPC channel ---------------------------------------------------------------

/**
 * Replaces process.send/connected (a worker's channel to its primary) with a recorder, so that
 * attachWorker runs as in a worker; `deliver` is a message from the primary.
 */
function fakeWorkerChannel(): { sent: unknown[]; deliver(m: unknown): void; restore(): void } {
  const sent: unknown[] = [];
  const proc = process as unknown as { send?: unknown; connected?: unknown };
  const saved = {
    send: Object.getOwnPropertyDescriptor(process, 'send'),
    connected: Object.getOwnPropertyDescriptor(process, 'connected'),
  };
  Object.defineProperty(process, 'send', { value: (m: unknown) => (sent.push(m), true), configurable: true, writable: true });
  Object.defineProperty(process, 'connected', { value: true, configurable: true, writable: true });
  return {
    sent,
    deliver: (m) => void (process.emit as (event: string, ...args: unknown[]) => boolean)('message', m, undefined),
    restore: () => {
      Object.defineProperty(process, 'connected', { value: false, configurable: true, writable: true });
      if (saved.send) Object.defineProperty(process, 'send', saved.send);
      else delete proc.send;
      if (saved.connected) Object.defineProperty(process, 'connected', saved.connected);
      else delete proc.connected;
    },
  };
}

/** attachWorker over `store`, with the recorder; returns the notices sent and the reply gate it installed. */
function attachedWorker(store: SqlStore): {
  notices: () => number;
  beforeReply: () => Promise<void> | undefined;
  deliver: (m: unknown) => void;
  sent: unknown[];
} {
  const channel = fakeWorkerChannel();
  let beforeReply: () => Promise<void> | undefined = () => undefined;
  const app = {
    grpc: { setBeforeReply: (fn: () => Promise<void> | undefined) => (beforeReply = fn) },
    store,
    report: () => Promise.resolve({}),
  } as unknown as App;
  const detach = attachWorker(app, 1, () => undefined);
  closers.push(() => {
    Object.defineProperty(process, 'connected', { value: false, configurable: true, writable: true });
    detach();
    channel.restore();
  });
  return {
    notices: () => channel.sent.filter((m) => (m as { countersign?: string }).countersign === 'changed').length,
    beforeReply: () => beforeReply(),
    deliver: (m) => channel.deliver(m),
    sent: channel.sent,
  };
}

// ---- policies and images ---------------------------------------------------------------------

function policyText(rules: string): string {
  return `rules:\n${rules}  - name: signed\n    match: { images: ["**"] }\n    require: { signatures: {} }\n`;
}
const IMAGE = `registry.example/team/app@sha256:${'a'.repeat(64)}`;
const ALLOW_APP = `  - name: legacy\n    match: { images: ["registry.example/team/app"] }\n    allow: "legacy exemption"\n`;
const DENY_APP = `  - name: frozen\n    match: { images: ["registry.example/team/app"] }\n    deny: "team/app is frozen: compromised build"\n`;

/** Verify as the service composes it, on `r`'s keys and policy; `now` is its clock. */
function verifier(r: Replica, client = new RegistryClient({ maxRetries: 0, retryBaseMs: 1 }), now?: () => Date): VerificationService {
  closers.push(() => client.close());
  return new VerificationService({
    registry: client,
    collector: new EvidenceCollector({ client, trust: r.keys.trust }),
    cache: new EvidenceCache(),
    trust: r.keys.trust,
    policies: r.policies,
    ...(now ? { now } : {}),
  });
}

// =============================================================================================

describe('serve --workers: the change notices between workers', () => {
  test('guard: the primary\'s "stale" notice alone (no file watch, no timer) makes a worker refuse a token and a key revoked by a sibling on its very next check', async () => {
    const file = tempDatabaseFile();
    const kek = generateKek();
    // Two workers on one data directory; changeCheckMs 0: nothing but the IPC notice tells worker 2.
    const s1 = await SqliteStore.open(openDatabase(file), { changeCheckMs: 0 });
    const s2 = await SqliteStore.open(openDatabase(file), { changeCheckMs: 0 });
    closers.push(() => s1.close());
    closers.push(() => s2.close());
    const w1 = await replicaOn(s1, kek);
    const w2 = await replicaOn(s2, kek);
    const { token } = await w1.tokens.create({ name: 'ci-token', roles: ['verifier'], createdBy: 'x' });
    const k = await w1.keys.createKey({ name: 'ci' }, 'x');
    expect((await w2.tokens.check(token)).ok).toBe(true);
    await w2.keys.refreshIfChanged();
    expect(w2.keys.trust.byId(k.id)).toBeDefined();

    const channel = attachedWorker(s2);
    await w1.tokens.revoke('ci-token', { revokedBy: 'secops' });
    await w1.keys.revoke('ci', 'leaked', 'secops');
    // Control: without the notice worker 2 still answers from memory (so the notice is what matters).
    expect(await w2.tokens.check(token)).toMatchObject({ ok: true });
    expect(w2.keys.trust.byId(k.id)?.revokedAt).toBeUndefined();

    channel.deliver({ countersign: 'stale' });
    // At once (synchronously): the keys are being re-read (Verify waits) and the token check waits too.
    const settling = w2.keys.trust.settled?.();
    const check = w2.tokens.check(token);
    expect({ keysSettling: settling !== undefined, tokenFromMemory: !(check instanceof Promise) }).toEqual({
      keysSettling: true,
      tokenFromMemory: false,
    });
    expect(await check).toMatchObject({ ok: false, problem: 'revoked' });
    await settling;
    expect(w2.keys.trust.byId(k.id)?.revokedAt).toBeInstanceOf(Date);
  });

  test("on PostgreSQL a worker relays its own commits only: another replica's change, or a NOTIFY forged by any database user, sends no change notice and holds no reply", async () => {
    // Every worker hears those itself (its own LISTEN); relayed by each, one NOTIFY was N×(N−1)
    // full re-reads and replies held for acks (store-changes.ts: a change's origin, local or heard).
    const url = await freshDatabase('atkw_notice');
    const admin = await adminSession(url, closers);
    const store = await connect(url);
    const worker = attachedWorker(store);
    const before = worker.notices();
    const heard = collectChanges(store, (s) => s.includes('keys'));
    await admin.query(`SELECT pg_notify('countersign_changes', 'keys')`); // any database user may do this
    await heard;
    // And another replica's genuine commit.
    const other = await connect(url);
    const otherKeys = await ManagedKeyStore.open(other, generateKek(), await AuditLog.open(other));
    closers.push(() => otherKeys.close());
    const heardCommit = collectChanges(store, (s) => s.includes('keys'));
    await otherKeys.createKey({ name: 'elsewhere' }, 'x');
    await heardCommit;
    expect({ noticesSent: worker.notices() - before, repliesHeld: worker.beforeReply() !== undefined }).toEqual({
      noticesSent: 0,
      repliesHeld: false,
    });
  });

  test('a worker acknowledges a change notice only once its copies are marked stale (the primary holds the writer for that ack)', async () => {
    const file = tempDatabaseFile();
    const s = await SqliteStore.open(openDatabase(file), { changeCheckMs: 0 });
    closers.push(() => s.close());
    const w = await replicaOn(s, generateKek());
    const worker = attachedWorker(s);
    let settlingWhenAcked: boolean | undefined;
    const send = process.send!.bind(process);
    Object.defineProperty(process, 'send', {
      value: (m: unknown) => {
        if ((m as { countersign?: string }).countersign === 'stale-ack') settlingWhenAcked = w.keys.trust.settled?.() !== undefined;
        return send(m);
      },
      configurable: true,
      writable: true,
    });
    worker.deliver({ countersign: 'stale', id: 7 });
    expect(worker.sent).toContainEqual({ countersign: 'stale-ack', id: 7 });
    expect(settlingWhenAcked).toBe(true);
    // A notice without an id (a primary of the version before) is obeyed and not answered.
    const before = worker.sent.length;
    worker.deliver({ countersign: 'stale' });
    expect(worker.sent.length).toBe(before);
  });

  test("guard: a worker's own commit (SQLite) is announced once and its replies wait for the primary's ack", async () => {
    const file = tempDatabaseFile();
    const s = await SqliteStore.open(openDatabase(file), { changeCheckMs: 0 });
    closers.push(() => s.close());
    const w = await replicaOn(s, generateKek());
    const worker = attachedWorker(s);
    await w.keys.createKey({ name: 'ci' }, 'x');
    expect(worker.notices()).toBe(1);
    expect(worker.beforeReply()).toBeInstanceOf(Promise);
  });
});

describe('a change heard but not yet re-read', () => {
  /**
   * Replica B allows IMAGE under an allow: exemption; the exemption is then turned into a deny:
   * through replica A, and B has heard it but its re-read is blocked behind a lock (as it would be
   * behind a round trip, a busy pool, a slow disk). ROLLBACK on the returned session lets it finish.
   */
  async function freezeHeardNotRead(
    name: string,
  ): Promise<{ b: Replica & { pg: PostgresStore }; verifyOnB: VerificationService; locker: pg.Client }> {
    const url = await freshDatabase(name);
    const admin = await adminSession(url, closers);
    const kek = generateKek();
    const a = await replica(url, kek);
    const b = await replica(url, kek);
    const heard = collectChanges(b.pg, (s) => s.includes('policy'));
    await a.policies.set({ text: policyText(ALLOW_APP), actor: 'policy-admin' });
    await heard;
    await waitFor(() => b.policies.current().revision === a.policies.current().revision, 'B to adopt the exemption');
    const verifyOnB = verifier(b);
    expect(await verifyOnB.verify({ image: IMAGE, action: 'deploy' })).toMatchObject({ allowed: true });
    // The writer writes as SetPolicy does (its own PolicyStore closed, so only B re-reads behind the lock).
    a.policies.close();
    const locker = await commitThenLock(
      url,
      admin,
      'stored_policy',
      'id = 1',
      () => setStoredPolicy(a.store, a.audit, { text: policyText(DENY_APP), actor: 'policy-admin' }),
      closers,
    );
    await waitFor(
      async () =>
        (
          await admin.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'countersign'
               AND wait_event_type = 'Lock' AND query ILIKE '%stored_policy%'`,
          )
        ).rows[0]!.n > 0,
      "B's re-read of the policy to be under way",
    );
    b.store.changes.markStale(); // and, as a worker, the primary's "stale" notice too
    return { b, verifyOnB, locker };
  }

  test('Verify waits for the re-read of an announced SetPolicy (as for a key re-read): a worker or replica that has heard the incident freeze does not admit by the policy it replaced', async () => {
    const { b, verifyOnB, locker } = await freezeHeardNotRead('atkw_polpend');
    const verdict = verifyOnB.verify({ image: IMAGE, action: 'deploy', deadline: Date.now() + 5000 });
    await Promise.race([verdict.catch(() => undefined), settle(1000)]);
    await locker.query('ROLLBACK'); // the re-read may finish now
    const r = await outcome(verdict);
    expect(r).toMatchObject({ ok: true, value: { allowed: false, rule: 'frozen' } });
    await waitFor(() => b.policies.current().rules.some((rule) => rule.name === 'frozen'), 'B to adopt the freeze');
  });

  test('a policy re-read that does not finish within the deadline decides nothing: UNAVAILABLE (fail closed), not the old policy nor its onError', async () => {
    const { verifyOnB, locker } = await freezeHeardNotRead('atkw_polslow');
    const r = await outcome(verifyOnB.verify({ image: IMAGE, action: 'deploy', deadline: Date.now() + 400 }));
    await locker.query('ROLLBACK');
    expect(r).toMatchObject({ ok: false, code: 'UNAVAILABLE', message: expect.stringMatching(/policy .*re-read/) as unknown });
  });

  test('guard: a Sign on a replica that has not heard of a revocation (its listener down, no reconnect yet) is still refused: getSigningKey reads the revision first', async () => {
    const url = await freshDatabase('atkw_signdeaf');
    const admin = await adminSession(url, closers);
    const kek = generateKek();
    const a = await replica(url, kek);
    const bStore = await connect(url, { reconnectMs: 60_000 });
    const b = await replicaOn(bStore, kek);
    await a.keys.createKey({ name: 'ci' }, 'x');
    await waitFor(async () => (await outcome(b.keys.getSigningKey('ci'))).ok, 'B to be able to sign with ci');
    await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'countersign-listen' AND datname = current_database()`,
    );
    await waitFor(() => bStore.staleness() !== undefined, 'B to notice its listener is gone');
    await a.keys.revoke('ci', 'leaked', 'secops');
    expect(await outcome(b.keys.getSigningKey('ci'))).toMatchObject({ ok: false, code: 'FAILED_PRECONDITION' });
  });
});

/** A replica on `url` (its own PostgreSQL pool and listener). */
async function replica(url: string, kek: Buffer, now?: () => Date): Promise<Replica & { pg: PostgresStore }> {
  const store = await connect(url);
  return { ...(await replicaOn(store, kek, now)), pg: store };
}

describe('clock skew between replicas', () => {
  const SKEW_MS = 10 * 60_000; // replica A's clock is 10 minutes ahead (no NTP on one node)
  const ahead = (): Date => new Date(Date.now() + SKEW_MS);

  let fake: FakeRegistry;
  let client: RegistryClient;
  beforeEach(async () => {
    fake = await FakeRegistry.start({ referrersApi: true });
    client = new RegistryClient({ maxRetries: 0, retryBaseMs: 1 });
  });
  afterEach(async () => {
    await fake.close();
    await client.close();
  });

  /** Replicas A (clock ahead) and B on one store, an image signed by A's key `ci`, allowed on B. */
  async function signedOnTwoReplicas(prefix: string) {
    const url = await freshDatabase(prefix);
    const kek = generateKek();
    const a = await replica(url, kek, ahead);
    const b = await replica(url, kek);
    const k = await a.keys.createKey({ name: 'ci' }, 'x');
    const image = storeImage(fake, 'team/app', `skew ${prefix}`, 'v1');
    const repo = { registry: fake.host, repository: 'team/app' };
    await new ReferrerStore(client).attach(repo, await signedReferrer(await a.keys.getSigningKey('ci'), image));
    await waitFor(() => b.keys.trust.byId(k.id) !== undefined, 'B to know the key');
    const ref = `${fake.host}/team/app@${image.digest}`;
    const verifyOnA = verifier(a, new RegistryClient({ maxRetries: 0, retryBaseMs: 1 }), ahead);
    const verifyOnB = verifier(b, new RegistryClient({ maxRetries: 0, retryBaseMs: 1 }));
    expect((await verifyOnB.verify({ image: ref, action: 'deploy' })).allowed).toBe(true);
    return { a, b, k, ref, verifyOnA, verifyOnB };
  }

  test('a key revoked through a replica whose clock is ahead is refused by the others at once, whatever their clocks say of the revocation time', async () => {
    // The revoking replica stamps state_changed_at with its own clock (src/keys/managed-key-store.ts
    // revoke); src/keys/key-rows.ts anchorState keeps it as revokedAt, for display only:
    // src/trust/usability.ts refuses a revoked key by its state, never by comparing that time with
    // the judging replica's clock (a revocation is never scheduled, so a future time is skew).
    // Tokens are revoked the same way (see the guard below).
    const { a, b, k, ref, verifyOnA, verifyOnB } = await signedOnTwoReplicas('atkw_skewrev');
    await a.keys.revoke('ci', 'leaked', 'secops');
    await waitFor(() => b.keys.trust.byId(k.id)?.revokedAt !== undefined, 'B to have the revocation');
    expect(b.keys.trust.stale?.()).toBeUndefined(); // B is current: it has the revoked row
    const onA = await verifyOnA.verify({ image: ref, action: 'deploy' });
    const onB = await verifyOnB.verify({ image: ref, action: 'deploy' });
    expect({ onA: onA.allowed, onB: onB.allowed }).toEqual({ onA: false, onB: false });
  });

  test('`keys rotate --overlap 0` through a replica whose clock is ahead stops the old version verifying on the others at once ("0: none, the old version stops verifying at once")', async () => {
    // rotate() records valid_until = the rotating replica's now + overlap (0 here: the rotation
    // time itself). src/keys/key-rows.ts anchorState marks a 'rotated' row whose valid_until is no
    // later than its state_changed_at as expired on rotation, and src/trust/usability.ts refuses it
    // whatever the judging clock says; a positive overlap is measured from the recorded rotation time.
    const { a, ref, verifyOnA, verifyOnB, b } = await signedOnTwoReplicas('atkw_skewrot');
    const { previous } = await a.keys.rotate('ci', { overlapSeconds: 0, reason: 'suspected leak' }, 'secops');
    await waitFor(() => b.keys.trust.byId(previous.id)?.validUntil !== undefined, 'B to have the rotation');
    const onA = await verifyOnA.verify({ image: ref, action: 'deploy' });
    const onB = await verifyOnB.verify({ image: ref, action: 'deploy' });
    expect({ onA: onA.allowed, onB: onB.allowed }).toEqual({ onA: false, onB: false });
  });

  test('guard: a token revoked through a replica whose clock is ahead is refused by the others at once (revocation by state, not by time)', async () => {
    const url = await freshDatabase('atkw_skewtok');
    const kek = generateKek();
    const a = await replica(url, kek, ahead);
    const b = await replica(url, kek);
    const { token } = await a.tokens.create({ name: 'ci', roles: ['verifier'], createdBy: 'x' });
    expect((await b.tokens.check(token)).ok).toBe(true);
    const heard = collectChanges(b.pg, (s) => s.includes('tokens'));
    await a.tokens.revoke('ci', { revokedBy: 'secops' });
    await heard;
    expect(await b.tokens.check(token)).toMatchObject({ ok: false, problem: 'revoked' });
  });
});

describe('revision counters', () => {
  /**
   * What a failover to a standby that had not received the last commit does to the data (async
   * streaming replication: the promoted standby lacks the tail): `undo` puts the rows back as they
   * were before it, and the counters go back by one. The standby sends no notification.
   */
  async function loseTheLastCommit(admin: pg.Client, kind: 'keys' | 'tokens', undo: string[]): Promise<void> {
    await admin.query('BEGIN');
    // The lost commit's audit entry goes with it (the append-only trigger is for Countersign's users, not for a failover).
    await admin.query(`SET LOCAL session_replication_role = replica`);
    for (const sql of undo) await admin.query(sql);
    await admin.query(`DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)`);
    await admin.query(`UPDATE store_revisions SET revision = revision - 1 WHERE kind = $1`, [kind]);
    await admin.query('COMMIT');
  }

  test('after a failover that lost the last key change, the next key change (a revocation) gets a trust revision of its own, though the same counter value: a replica that had seen the lost change re-reads, refuses the revoked key and does not sign with it', async () => {
    // src/keys/key-trust-view.ts re-reads only when the stored revision string differs from the
    // one held. The counter of the revision (`k<n>`) goes back by one with the failover and the
    // next change reuses its number, so every change also writes a random part (key-rows.ts
    // bumpTrustRevision: `k<n>.<random>`, in the change's transaction): B, which holds the lost
    // change's revision, hears the NOTIFY, reads a different string and re-reads every key. The
    // evidence cache and decision memos are keyed by the same string.
    const url = await freshDatabase('atkw_collide');
    const admin = await adminSession(url, closers);
    const kek = generateKek();
    const a = await replica(url, kek);
    const b = await replica(url, kek);
    const k = await a.keys.createKey({ name: 'ci' }, 'x');
    // What the promoted standby has: the revision rows as they were before the lost commit.
    const meta = (await admin.query(`SELECT name, value FROM key_store_meta WHERE name LIKE 'trust_revision%'`)).rows as Array<{
      name: string;
      value: string;
    }>;
    const tail = await a.keys.createKey({ name: 'tail' }, 'x'); // the commit the failover loses
    await waitFor(() => b.keys.trust.byId(tail.id) !== undefined, 'B to see the last change');
    expect(b.keys.trust.revision()).toBe(a.keys.trust.revision());
    const lost = b.keys.trust.revision();
    await loseTheLastCommit(admin, 'keys', [
      `DELETE FROM keys WHERE name = 'tail'`,
      ...meta.map((m) => `UPDATE key_store_meta SET value = '${m.value}' WHERE name = '${m.name}'`),
    ]);
    const heard = collectChanges(b.pg, (s) => s.includes('keys'));
    await a.keys.revoke('ci', 'leaked', 'secops'); // the incident response, right after the failover
    await heard;
    await b.pg.checkRevisions(); // the safety net, as the timer runs it
    await b.keys.refreshIfChanged();
    await settle();
    expect(a.keys.trust.byId(k.id)?.revokedAt).toBeInstanceOf(Date);
    // The counter did collide: only the random part tells the two changes apart.
    const counter = (rev: string): string => rev.split('.')[0]!;
    expect(counter(a.keys.trust.revision())).toBe(counter(lost));
    expect(a.keys.trust.revision()).not.toBe(lost);
    const sign = await outcome(b.keys.getSigningKey('ci'));
    expect({
      revokedOnB: b.keys.trust.byId(k.id)?.revokedAt instanceof Date,
      lostKeyGoneOnB: b.keys.trust.byId(tail.id) === undefined,
      bSigns: sign.ok,
      sameRevision: b.keys.trust.revision() === a.keys.trust.revision(),
    }).toEqual({ revokedOnB: true, lostKeyGoneOnB: true, bSigns: false, sameRevision: true });
  });

  test('guard: a counter that went back (the failover lost the last key change, nothing written since) is noticed by the revision check: the lost key is dropped', async () => {
    const url = await freshDatabase('atkw_back');
    const admin = await adminSession(url, closers);
    const kek = generateKek();
    const a = await replica(url, kek);
    const b = await replica(url, kek);
    await a.keys.createKey({ name: 'ci' }, 'x');
    const tail = await a.keys.createKey({ name: 'tail' }, 'x');
    await waitFor(() => b.keys.trust.byId(tail.id) !== undefined, 'B to see the last change');
    await loseTheLastCommit(admin, 'keys', [
      `DELETE FROM keys WHERE name = 'tail'`,
      `UPDATE key_store_meta SET value = CAST(CAST(value AS INTEGER) - 1 AS TEXT) WHERE name = 'trust_revision'`,
    ]);
    await b.pg.checkRevisions();
    await waitFor(() => b.keys.trust.byId(tail.id) === undefined, 'B to drop the key the failover lost');
    expect(b.keys.trust.list().map((key) => key.name)).toEqual(['ci']);
  });

  test('guard: tokens after the same kind of lost tail: every announcement re-reads every row, so a token revoked right after the failover is refused by the other replica', async () => {
    const url = await freshDatabase('atkw_collidetok');
    const admin = await adminSession(url, closers);
    const kek = generateKek();
    const a = await replica(url, kek);
    const b = await replica(url, kek);
    const { token } = await a.tokens.create({ name: 'ci', roles: ['verifier'], createdBy: 'x' });
    const created = collectChanges(b.pg, (s) => s.includes('tokens'));
    await a.tokens.create({ name: 'tail', roles: ['verifier'], createdBy: 'x' });
    await created;
    expect((await b.tokens.check(token)).ok).toBe(true);
    await loseTheLastCommit(admin, 'tokens', [`DELETE FROM auth_tokens WHERE name = 'tail'`]);
    const heard = collectChanges(b.pg, (s) => s.includes('tokens'));
    await a.tokens.revoke('ci', { revokedBy: 'secops' });
    await heard;
    expect(await b.tokens.check(token)).toMatchObject({ ok: false, problem: 'revoked' });
  });
});

describe('two replicas writing the same thing at once', () => {
  test('guard: SetPolicy with the same expectedRevision through two replicas at once: exactly one wins, the other is told it conflicts, both end on the winner', async () => {
    const url = await freshDatabase('atkw_cas');
    const kek = generateKek();
    const a = await replica(url, kek);
    const b = await replica(url, kek);
    const expected = DEFAULT_POLICY.revision;
    const results = await Promise.all([
      outcome(a.policies.set({ text: policyText(ALLOW_APP), expectedRevision: expected, actor: 'a' })),
      outcome(b.policies.set({ text: policyText(DENY_APP), expectedRevision: expected, actor: 'b' })),
    ]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok)).toMatchObject([{ code: 'FAILED_PRECONDITION' }]);
    const winner = results.findIndex((r) => r.ok) === 0 ? a : b;
    await waitFor(
      () =>
        a.policies.current().revision === winner.policies.current().revision &&
        b.policies.current().revision === winner.policies.current().revision,
      'both replicas to hold the winning policy',
    );
    expect(a.policies.current().revision).not.toBe(expected);
  });

  test('guard: one key revoked through two replicas at once, and one rotated by id through both: one success each, one audit entry each', async () => {
    const url = await freshDatabase('atkw_race');
    const admin = await adminSession(url, closers);
    const kek = generateKek();
    const a = await replica(url, kek);
    const b = await replica(url, kek);
    const k = await a.keys.createKey({ name: 'ci' }, 'x');
    const r = await a.keys.createKey({ name: 'release' }, 'x');
    await waitFor(() => b.keys.trust.byId(r.id) !== undefined, 'B to know both keys');
    const revokes = await Promise.all([outcome(a.keys.revoke('ci', 'leaked', 'a')), outcome(b.keys.revoke('ci', 'leaked', 'b'))]);
    const rotations = await Promise.all([
      outcome(a.keys.rotate(r.id, { overlapSeconds: 60 }, 'a')),
      outcome(b.keys.rotate(r.id, { overlapSeconds: 60 }, 'b')),
    ]);
    const counts = async (action: string): Promise<number> =>
      (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE action = $1`, [action])).rows[0]!.n;
    const versions = (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM keys WHERE name = 'release'`)).rows[0]!.n;
    expect({
      revokeSuccesses: revokes.filter((x) => x.ok).length,
      revokeRefusals: revokes.flatMap((x) => (x.ok ? [] : [x.code])),
      rotateSuccesses: rotations.filter((x) => x.ok).length,
      rotateRefusals: rotations.flatMap((x) => (x.ok ? [] : [x.code])),
      revokeEntries: await counts('key.revoke'),
      rotateEntries: await counts('key.rotate'),
      releaseVersions: versions,
    }).toEqual({
      revokeSuccesses: 1,
      revokeRefusals: ['FAILED_PRECONDITION'],
      rotateSuccesses: 1,
      rotateRefusals: ['FAILED_PRECONDITION'],
      revokeEntries: 1,
      rotateEntries: 1,
      releaseVersions: 2,
    });
    await waitFor(() => b.keys.trust.byId(k.id)?.revokedAt !== undefined, 'B to have the revocation');
  });
});

describe('the metrics port of serve --workers', () => {
  async function workerScrape(calls: number): Promise<WorkerMetrics> {
    const r = new Registry();
    new Counter({ name: 'countersign_rpc_requests_total', help: 'h', labelNames: ['status'], registers: [r] }).inc({ status: 'OK' }, calls);
    return r.getMetricsAsJSON();
  }

  test('a worker that dies after answering a scrape but before the other workers have is counted once, by that reply, and the sum never goes down', async () => {
    // src/cluster/serve-cluster.ts (collect) awaits the replies together, so the exit handler
    // (totals.retire) of a worker that already replied can run before the scrape is put together:
    // WorkerMetricsTotals (src/metrics/aggregate.ts) then takes that reply as the gone worker's
    // newest figures, not as a serving worker's.
    const totals = new WorkerMetricsTotals();
    const total = async (reports: Array<{ worker: number; metrics: WorkerMetrics }>): Promise<number> =>
      sampleValue(parsePrometheusText((await totals.aggregate(reports)).text), 'countersign_rpc_requests_total', { status: 'OK' });
    const first = await total([
      { worker: 1, metrics: await workerScrape(5) },
      { worker: 2, metrics: await workerScrape(3) },
    ]);
    // Scrape 2: worker 1 answers (7 calls), then exits (the primary's exit handler runs) while worker 2's answer (4) is on its way.
    const reply1 = await workerScrape(7);
    totals.retire(1);
    const second = await total([
      { worker: 1, metrics: reply1 },
      { worker: 2, metrics: await workerScrape(4) },
    ]);
    // Scrape 3: worker 2 alone (its replacement has not served yet).
    const third = await total([{ worker: 2, metrics: await workerScrape(4) }]);
    expect([first, second, third]).toEqual([8, 11, 11]);
  });

  test('guard: a worker that dies before answering is counted with its last figures, once, and the sum never goes down', async () => {
    const totals = new WorkerMetricsTotals();
    const total = async (reports: Array<{ worker: number; metrics: WorkerMetrics }>): Promise<number> =>
      sampleValue(parsePrometheusText((await totals.aggregate(reports)).text), 'countersign_rpc_requests_total', { status: 'OK' });
    const first = await total([
      { worker: 1, metrics: await workerScrape(5) },
      { worker: 2, metrics: await workerScrape(3) },
    ]);
    totals.retire(1); // died before this scrape asked it
    const second = await total([{ worker: 2, metrics: await workerScrape(4) }]);
    const third = await total([
      { worker: 2, metrics: await workerScrape(6) },
      { worker: 3, metrics: await workerScrape(1) },
    ]);
    expect([first, second, third]).toEqual([8, 9, 12]);
  });
});
