/**
 * The PostgreSQL store against the suite's real PostgreSQL (a fresh database per test): startup
 * errors an operator can act on, all-or-nothing writes, change announcements across replicas
 * (LISTEN/NOTIFY), hostile notifications, and the safety net when the listening connection drops.
 */
import pg from 'pg';
import { AuditLog } from '../../../src/audit';
import { TokenStore } from '../../../src/auth';
import { generateKek } from '../../../src/keys/crypto';
import { storedTrustRevision } from '../../../src/keys/key-rows';
import { ManagedKeyStore } from '../../../src/keys/managed-key-store';
import { freePort } from '../../../src/dev/local-registry';
import { CHANGES_CHANNEL, PostgresStore, type ChangeSignal } from '../../../src/store';
import { collectChanges, freshDatabase, testPostgresUrl } from '../../support/postgres';

const opened: PostgresStore[] = [];
async function connect(url: string, options: Parameters<typeof PostgresStore.connect>[1] = {}): Promise<PostgresStore> {
  // No timer: the tests run the safety-net check themselves, so nothing depends on time.
  const store = await PostgresStore.connect(url, { revisionCheckMs: 0, reconnectMs: 20, ...options });
  opened.push(store);
  return store;
}
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});

async function waitFor(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; !(await condition()); i++) {
    if (i > 400) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('startup errors', () => {
  test('an unreachable server: UNAVAILABLE, "is unreachable", naming where', async () => {
    const port = await freePort();
    const url = `postgres://countersign:secret-pw@127.0.0.1:${port}/postgres`;
    const err = await PostgresStore.connect(url, { connectTimeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(new RegExp(`PostgreSQL countersign@127\\.0\\.0\\.1:${port}/postgres is unreachable`)) as unknown,
    });
    expect((err as Error).message).not.toContain('secret-pw');
  });

  test('wrong credentials: "refused the credentials", the password never printed', async () => {
    const url = new URL(testPostgresUrl());
    url.password = 'not-the-password';
    const err = await PostgresStore.connect(url.toString()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/refused the credentials in store\.url/) as unknown });
    expect((err as Error).message).not.toContain('not-the-password');
  });

  test('a schema newer than this code: refused, naming both versions', async () => {
    const url = await freshDatabase('newer');
    const store = await connect(url);
    await AuditLog.open(store);
    // What a later Countersign would have left behind.
    await store.run(
      'INSERT INTO schema_migrations (component, version, applied_at) VALUES (?, ?, ?)',
      'audit',
      7,
      new Date().toISOString(),
    );
    await expect(AuditLog.open(store)).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringMatching(/its audit schema is at version 7, this version of Countersign knows up to 1/) as unknown,
    });
  });
});

describe('writes', () => {
  test('a failed multi-statement write rolls back every statement', async () => {
    const store = await connect(await freshDatabase('rollback'));
    const keys = await ManagedKeyStore.open(store, generateKek(), await AuditLog.open(store));
    await keys.createKey({ name: 'k' }, 'x');
    const before = await store.all('SELECT * FROM keys ORDER BY id');
    const rev = keys.trust.revision();
    // The audit entry is the rotation's last write: make the server refuse it.
    await store.transaction(async (tx) => {
      await tx.exec(`
        CREATE FUNCTION refuse_rotate() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$;
        CREATE TRIGGER refuse_rotate BEFORE INSERT ON audit_log FOR EACH ROW WHEN (NEW.action = 'key.rotate') EXECUTE FUNCTION refuse_rotate();
      `);
    });
    await expect(keys.rotate('k', { overlapSeconds: 0 }, 'x')).rejects.toThrow(/disk on fire/);
    expect(await store.all('SELECT * FROM keys ORDER BY id')).toEqual(before);
    expect(await storedTrustRevision(store)).toBe(rev);
    expect(keys.trust.revision()).toBe(rev);
    expect(await (await AuditLog.open(store)).verify()).toMatchObject({ ok: true, entries: 1 });
  });

  test('private halves are stored sealed: no PEM private key in the table', async () => {
    const store = await connect(await freshDatabase('sealed'));
    const keys = await ManagedKeyStore.open(store, generateKek(), await AuditLog.open(store));
    const info = await keys.createKey({ name: 'k' }, 'x');
    const row = await store.get('SELECT sealed_private_key FROM keys WHERE id = ?', info.id);
    expect(String(row?.sealed_private_key)).toMatch(/^v1\./);
    expect(JSON.stringify(await store.all('SELECT * FROM keys'))).not.toContain('PRIVATE KEY');
  });

  test('appends from several replicas at once form one chain', async () => {
    const url = await freshDatabase('chain');
    const replicas = await Promise.all([connect(url), connect(url), connect(url)]);
    const logs = [];
    for (const r of replicas) logs.push(await AuditLog.open(r));
    await Promise.all(
      logs.flatMap((log, r) =>
        Array.from({ length: 20 }, (_, i) => log.append({ actor: `r${r}`, action: 'key.rotate', target: `t${i}`, outcome: 'success' })),
      ),
    );
    expect(await logs[0]!.verify()).toMatchObject({ ok: true, entries: 60 });
  });
});

describe('changes across replicas', () => {
  test('a key revoked through one replica is revoked in the other once announced; the revoking one at once', async () => {
    const url = await freshDatabase('revoke');
    const kek = generateKek();
    const a = await connect(url);
    const keysA = await ManagedKeyStore.open(a, kek, await AuditLog.open(a));
    const k = await keysA.createKey({ name: 'shared' }, 'x');
    const b = await connect(url);
    const keysB = await ManagedKeyStore.open(b, kek, await AuditLog.open(b));
    expect(keysB.trust.byId(k.id)?.revokedAt).toBeUndefined();
    const changed = new Promise<void>((resolve) => keysB.trust.onChange(resolve));
    await keysA.revoke('shared', 'leaked', 'secops');
    expect(keysA.trust.byId(k.id)?.revokedAt).toBeInstanceOf(Date);
    await changed; // NOTIFY → B re-reads (no timer involved: revisionCheckMs is 0)
    expect(keysB.trust.byId(k.id)?.revokedAt).toBeInstanceOf(Date);
    expect(keysB.trust.revision()).toBe(keysA.trust.revision());
  });

  test('a token revoked through one replica is refused by the other once announced', async () => {
    const url = await freshDatabase('tokens');
    const a = await connect(url);
    const tokensA = await TokenStore.open(a);
    const b = await connect(url);
    const tokensB = await TokenStore.open(b);
    // The create's own announcement is awaited first: arriving late (after the revoke began), it
    // would otherwise be the one awaited below, and its re-read may predate the revocation.
    const created = collectChanges(b, (seen) => seen.includes('tokens'));
    const { token } = await tokensA.create({ name: 'ci', roles: ['verifier'], createdBy: 'x' });
    await created;
    expect((await tokensB.check(token)).ok).toBe(true);
    const announced = collectChanges(b, (seen) => seen.includes('tokens'));
    await tokensA.revoke('ci', { revokedBy: 'secops' });
    await announced;
    // No refresh here: the check waits for the re-read the announcement started.
    expect(await tokensB.check(token)).toMatchObject({ ok: false, problem: 'revoked' });
  });

  test("a replica's own commit is announced once, at commit: its own NOTIFY coming back is skipped; another replica's is heard", async () => {
    const url = await freshDatabase('own');
    const a = await connect(url);
    const b = await connect(url);
    const seenByA: ChangeSignal[] = [];
    a.changes.subscribe((signal) => seenByA.push(signal));
    for (let i = 0; i < 3; i++) {
      await a.transaction(async (tx) => {
        await tx.run('UPDATE store_revisions SET revision = revision WHERE kind = ?', 'keys');
        tx.changed('keys');
      });
    }
    expect(seenByA).toEqual(['keys', 'keys', 'keys']); // announced at commit, before transaction resolved
    // The marker: B's commit is delivered to A's listener after A's own three (commit order), so
    // once A hears it, A's own notifications have come back and were skipped.
    const heard = collectChanges(a, (seen) => seen.includes('tokens'));
    await b.transaction(async (tx) => {
      await tx.run('UPDATE store_revisions SET revision = revision WHERE kind = ?', 'tokens');
      tx.changed('tokens');
    });
    expect(await heard).toEqual(['tokens']);
    expect(seenByA).toEqual(['keys', 'keys', 'keys', 'tokens']);
    // A rolled-back write sends nothing and leaves no note behind: A still hears B's next 'keys'.
    await expect(
      a.transaction(async (tx) => {
        tx.changed('keys');
        await tx.run('SELECT no_such_column FROM store_revisions');
      }),
    ).rejects.toThrow();
    const heardKeys = collectChanges(a, (seen) => seen.includes('keys'));
    await b.transaction(async (tx) => {
      await tx.run('UPDATE store_revisions SET revision = revision WHERE kind = ?', 'keys');
      tx.changed('keys');
    });
    expect(await heardKeys).toEqual(['keys']);
  });

  test('unknown kinds and malformed payloads, from any database user, are ignored; a forged known kind costs a re-read only', async () => {
    const url = await freshDatabase('hostile');
    const kek = generateKek();
    const store = await connect(url);
    const keys = await ManagedKeyStore.open(store, kek, await AuditLog.open(store));
    await keys.createKey({ name: 'k' }, 'x');
    const rev = keys.trust.revision();
    let fired = 0;
    keys.trust.onChange(() => fired++);
    const seen = collectChanges(store, (s) => s.includes('tokens'));
    const other = new pg.Client({ connectionString: url });
    await other.connect();
    try {
      for (const payload of ['bogus', '{"kind":"keys"}', '', 'keys; DROP TABLE keys', 'x'.repeat(7000)]) {
        await other.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, payload]);
      }
      await other.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, 'keys']); // forged, but a known kind
      await other.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, 'tokens']); // the marker: everything before it arrived
    } finally {
      await other.end();
    }
    expect(await seen).toEqual(['keys', 'tokens']);
    await keys.refreshIfChanged();
    expect(keys.trust.revision()).toBe(rev);
    expect(fired).toBe(0);
    expect((await keys.listKeys()).map((k) => k.name)).toEqual(['k']);
  });

  test('the listening connection dropped: health says so, the revision check catches up, and it reconnects', async () => {
    const url = await freshDatabase('dropped');
    const kek = generateKek();
    const a = await connect(url);
    const keysA = await ManagedKeyStore.open(a, kek, await AuditLog.open(a));
    const b = await connect(url);
    const keysB = await ManagedKeyStore.open(b, kek, await AuditLog.open(b));
    expect(b.health()).toBeUndefined();
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      // Every listening session of this database (a's and b's) is cut, as a failover would.
      await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'countersign-listen' AND datname = current_database()`,
      );
      await waitFor(() => b.health() !== undefined, 'b to notice');
      expect(b.health()).toMatch(/connection that receives other replicas' changes .* was lost/);
      const k = await keysA.createKey({ name: 'while-deaf' }, 'x');
      // The safety net (its timer is off here) finds the revision moved and announces it.
      const announced = collectChanges(b, (s) => s.includes('keys') || s.includes('all'));
      await b.checkRevisions();
      await announced;
      await keysB.refreshIfChanged();
      expect(keysB.trust.byId(k.id)?.name).toBe('while-deaf');
      await waitFor(() => b.health() === undefined, 'b to reconnect');
      // Listening again: the next change arrives by notification.
      const changed = new Promise<void>((resolve) => keysB.trust.onChange(resolve));
      await keysA.revoke('while-deaf', 'test', 'x');
      await changed;
      expect(keysB.trust.byId(k.id)?.revokedAt).toBeInstanceOf(Date);
    } finally {
      await admin.end();
    }
  });
});
