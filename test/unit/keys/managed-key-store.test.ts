import crypto from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuditLog } from '../../../src/audit';
import { generateKek } from '../../../src/keys/crypto';
import { ManagedKeyStore } from '../../../src/keys/managed-key-store';
import { checkSigningScope } from '../../../src/keys/scope';
import { openDatabase, SqliteStore } from '../../../src/store';
import { keyUsability } from '../../../src/trust/usability';

const VECTORS = path.resolve(__dirname, '../../../../shared/vectors');

async function open(dir: string): Promise<SqliteStore> {
  return SqliteStore.open(openDatabase(path.join(dir, 'countersign.db')), { changeCheckMs: 0 });
}

async function setup(opts: { now?: () => Date; kek?: Buffer; dir?: string } = {}) {
  const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'countersign-mks-'));
  const db = await open(dir);
  const audit = await AuditLog.open(db);
  const kek = opts.kek ?? generateKek();
  const store = await ManagedKeyStore.open(db, kek, audit, opts.now ? { now: opts.now } : {});
  return { dir, db, audit, kek, store };
}

async function close(db: SqliteStore, store: ManagedKeyStore) {
  store.close();
  await db.close();
}

describe('ManagedKeyStore', () => {
  test('create: a P-256 signing key whose signatures verify; audited; id is the cosign hint', async () => {
    const { store, audit } = await setup();
    const info = await store.createKey({ name: 'ci-release', ownerTeam: 'platform', scopes: ['reg.example.com/acmecorp/**'] }, 'alice');
    expect(info).toMatchObject({
      name: 'ci-release',
      version: 1,
      ownerTeam: 'platform',
      purpose: 'signing',
      state: 'active',
      createdBy: 'alice',
    });
    const key = await store.getSigningKey('ci-release');
    const sig = key.sign(Buffer.from('x'));
    expect(crypto.verify('sha256', Buffer.from('x'), crypto.createPublicKey(info.publicKeyPem), sig)).toBe(true);
    const spki = crypto.createPublicKey(info.publicKeyPem).export({ type: 'spki', format: 'der' });
    expect(info.id).toBe(crypto.createHash('sha256').update(spki).digest('base64'));
    expect((await audit.list())[0]).toMatchObject({ actor: 'alice', action: 'key.create', target: 'ci-release', outcome: 'success' });
    await expect(store.createKey({ name: 'ci-release' }, 'alice')).rejects.toThrow(/already exists/);
  });

  test('private keys are sealed at rest: the database file holds no private key bytes', async () => {
    const { store, dir, db } = await setup();
    const info = await store.createKey({ name: 'k' }, 'a');
    const key = await store.getSigningKey('k');
    // Recover the private scalar by exporting through the signing handle is impossible; check the
    // sealed column instead: it must not parse as a key, and the PEM marker never appears.
    const row = (await db.get('SELECT sealed_private_key FROM keys WHERE id = ?', info.id))!;
    expect(String(row.sealed_private_key)).toMatch(/^v1\./);
    db.db.exec('PRAGMA wal_checkpoint(FULL)');
    const bytes = readFileSync(path.join(dir, 'countersign.db')).toString('latin1');
    expect(bytes).not.toContain('PRIVATE KEY');
    expect(JSON.stringify(key)).not.toContain('sealed');
  });

  test('a wrong KEK is refused at startup; the right one reopens every key, state and audit entry', async () => {
    const { store, db, dir, kek } = await setup();
    await store.createKey({ name: 'a' }, 'x');
    await store.createKey({ name: 'b' }, 'x');
    await store.revoke('b', 'compromised', 'x');
    await close(db, store);
    const db2 = await open(dir);
    await expect(ManagedKeyStore.open(db2, generateKek(), await AuditLog.open(db2))).rejects.toThrow(/key-encryption key/);
    await db2.close();
    const again = await setup({ dir, kek });
    expect((await again.store.listKeys()).map((k) => [k.name, k.state])).toEqual([
      ['a', 'active'],
      ['b', 'revoked'],
    ]);
    expect((await again.store.getSigningKey('a')).sign(Buffer.from('y')).length).toBeGreaterThan(60);
    expect(await again.audit.verify()).toMatchObject({ ok: true, entries: 3 });
  });

  test('rotate: the successor signs at once, the old version verifies during the overlap only', async () => {
    let now = new Date('2026-11-01T00:00:00Z');
    const { store } = await setup({ now: () => now });
    const v1 = await store.createKey({ name: 'ci', scopes: ['reg/acme/**'] }, 'x');
    const { previous, current } = await store.rotate('ci', { overlapSeconds: 3600, reason: 'scheduled' }, 'x');
    expect(previous).toMatchObject({ id: v1.id, state: 'rotated', successorId: current.id, stateReason: 'scheduled' });
    expect(previous.validUntil!.toISOString()).toBe('2026-11-01T01:00:00.000Z');
    expect(current).toMatchObject({ name: 'ci', version: 2, state: 'active', predecessorId: v1.id, scopes: ['reg/acme/**'] });
    expect((await store.getSigningKey('ci')).id).toBe(current.id);
    await expect(store.getSigningKey(v1.id)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    const old = store.trust.byId(v1.id)!;
    expect(keyUsability(old, new Date('2026-11-01T00:59:59Z'))).toEqual({ usable: true });
    now = new Date('2026-11-01T01:00:00Z');
    expect(keyUsability(old, now)).toMatchObject({ usable: false });
    expect((await store.getKey('ci')).id).toBe(current.id);
  });

  test('revoke: the trust store marks it revoked with the reason, the revision changes, listeners fire', async () => {
    const { store } = await setup();
    const k = await store.createKey({ name: 'k' }, 'x');
    const rev = store.trust.revision();
    let fired = 0;
    store.trust.onChange(() => fired++);
    await expect(store.revoke('k', '', 'x')).rejects.toThrow(/reason/);
    const revoked = await store.revoke('k', 'key leaked', 'secops');
    expect(revoked).toMatchObject({ state: 'revoked', stateReason: 'key leaked' });
    expect(store.trust.revision()).not.toBe(rev);
    expect(fired).toBe(1);
    const trusted = store.trust.byId(k.id)!;
    expect(keyUsability(trusted, new Date())).toMatchObject({ usable: false });
    await expect(store.getSigningKey('k')).rejects.toThrow(/revoked/);
    await expect(store.revoke('k', 'again', 'x')).rejects.toThrow(/already revoked/);
  });

  test('import a cosign public key (verification only) and a cosign encrypted private key (password hello)', async () => {
    const { store } = await setup();
    const pub = readFileSync(path.join(VECTORS, 'policy-controller/examples/keys/cosign.pub'), 'utf8');
    const v = await store.importPublicKey({ name: 'pc-example' }, pub, 'x');
    expect(v.purpose).toBe('verification');
    await expect(store.getSigningKey('pc-example')).rejects.toThrow(/verification key/);
    const enc = readFileSync(path.join(VECTORS, 'cosign/pkg/cosign/keys_test.go.extracted/pemsigstorekey.key'), 'utf8');
    await expect(store.importCosignPrivateKey({ name: 'cosign-imported' }, enc, 'wrong', 'x')).rejects.toThrow(/wrong password/);
    const s = await store.importCosignPrivateKey({ name: 'cosign-imported' }, enc, 'hello', 'x');
    expect(s.purpose).toBe('signing');
    const key = await store.getSigningKey('cosign-imported');
    const sig = key.sign(Buffer.from('m'));
    expect(crypto.verify('sha256', Buffer.from('m'), crypto.createPublicKey(s.publicKeyPem), sig)).toBe(true);
    expect(
      store.trust
        .list()
        .map((k) => k.name)
        .sort(),
    ).toEqual(['cosign-imported', 'pc-example']);
  });

  test('legacy PEM files are imported once, not lost', async () => {
    const { store } = await setup();
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const trustedPub = crypto
      .generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const first = await store.importLegacy([
      { name: 'old-ci', privatePem },
      { name: 'partner', publicPem: trustedPub },
      { name: 'junk', privatePem: 'not a key' },
    ]);
    expect(first.problems).toEqual(['junk: not a readable PEM key']);
    expect(first.imported.map((k) => [k.name, k.purpose])).toEqual([
      ['old-ci', 'signing'],
      ['partner', 'verification'],
    ]);
    expect((await store.importLegacy([{ name: 'old-ci', privatePem }])).imported).toEqual([]);
    const key = await store.getSigningKey('old-ci');
    expect(crypto.verify('sha256', Buffer.from('z'), publicKey, key.sign(Buffer.from('z')))).toBe(true);
  });

  test('a change made by another process on the same file is seen once the store announces it', async () => {
    const a = await setup();
    const db2 = await open(a.dir);
    const b = await ManagedKeyStore.open(db2, a.kek, await AuditLog.open(db2));
    const k = await a.store.createKey({ name: 'shared' }, 'x');
    expect(b.trust.byId(k.id)).toBeUndefined();
    let changed = 0;
    b.trust.onChange(() => changed++);
    db2.poll(); // what the store's timer does: data_version moved, `all` is announced
    await b.refreshIfChanged(); // the refresh the announcement started (idempotent)
    expect(changed).toBe(1);
    expect(b.trust.revision()).toBe(a.store.trust.revision());
    expect(b.trust.byId(k.id)?.name).toBe('shared');
    b.close();
    await db2.close();
  });

  test('the trust view is held in memory: revision(), list() and byId() make no query', async () => {
    const a = await setup();
    const k = await a.store.createKey({ name: 'k' }, 'x');
    let queries = 0;
    const spied = a.db as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const method of ['get', 'all', 'run', 'transaction']) {
      const original = spied[method]!.bind(a.db);
      spied[method] = (...args: unknown[]) => (queries++, original(...args));
    }
    for (let i = 0; i < 100; i++) {
      a.store.trust.revision();
      a.store.trust.list();
      a.store.trust.byId(k.id);
    }
    expect(queries).toBe(0);
    // This store's own change is in force at once, before the call returns.
    const own = await a.store.createKey({ name: 'own' }, 'x');
    expect(a.store.trust.byId(own.id)?.name).toBe('own');
    expect(queries).toBeGreaterThan(0);
  });

  test('a failed change rolls back every write (key row, revision, audit entry) and changes nothing in memory', async () => {
    const { store, db, audit } = await setup();
    await store.createKey({ name: 'k' }, 'x');
    const rev = store.trust.revision();
    const before = await db.all('SELECT * FROM keys ORDER BY id');
    // The audit entry is the last write of a rotation: make it fail.
    db.db.exec(
      "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log WHEN NEW.action = 'key.rotate' BEGIN SELECT RAISE(ABORT, 'disk on fire'); END",
    );
    await expect(store.rotate('k', { overlapSeconds: 0 }, 'x')).rejects.toThrow(/disk on fire/);
    expect(await db.all('SELECT * FROM keys ORDER BY id')).toEqual(before);
    expect(store.trust.revision()).toBe(rev);
    expect((await store.listKeys()).map((k) => [k.name, k.version, k.state])).toEqual([['k', 1, 'active']]);
    expect(await audit.verify()).toMatchObject({ ok: true, entries: 1 });
  });

  test('KEK rotation: every private half sealed again, all at once; the old KEK refused after; a store still holding it cannot seal', async () => {
    const { store, db, dir, kek, audit } = await setup();
    await store.createKey({ name: 'a' }, 'x');
    await store.createKey({ name: 'b' }, 'x');
    const sealedBefore = await db.all('SELECT id, sealed_private_key FROM keys ORDER BY id');
    const next = generateKek();
    await expect(ManagedKeyStore.rotateKek(db, audit, generateKek(), next, 'ops')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    expect(await db.all('SELECT id, sealed_private_key FROM keys ORDER BY id')).toEqual(sealedBefore); // nothing changed
    expect(await ManagedKeyStore.rotateKek(db, audit, kek, next, 'ops')).toMatchObject({ resealed: 2 });
    const sealedAfter = await db.all('SELECT id, sealed_private_key FROM keys ORDER BY id');
    expect(sealedAfter.map((r) => r.id)).toEqual(sealedBefore.map((r) => r.id));
    for (const [i, row] of sealedAfter.entries()) expect(row.sealed_private_key).not.toBe(sealedBefore[i]!.sealed_private_key);
    // The store opened with the old KEK, still running, refuses to seal a new key under it.
    await expect(store.createKey({ name: 'c' }, 'x')).rejects.toThrow(/key-encryption key was rotated/);
    await close(db, store);
    const db2 = await open(dir);
    await expect(ManagedKeyStore.open(db2, kek, await AuditLog.open(db2))).rejects.toThrow(/does not match/);
    const reopened = await ManagedKeyStore.open(db2, next, await AuditLog.open(db2));
    for (const name of ['a', 'b']) expect((await reopened.getSigningKey(name)).sign(Buffer.from('m')).length).toBeGreaterThan(60);
    expect((await (await AuditLog.open(db2)).list({ action: 'kek.rotate' }))[0]).toMatchObject({ actor: 'ops', details: { resealed: 2 } });
    reopened.close();
    await db2.close();
  });

  test('scope check: a key for acmecorp/payments-* cannot sign acmecorp/billing', async () => {
    const { store } = await setup();
    const k = await store.createKey({ name: 'payments', scopes: ['acmecorp/payments-*'] }, 'x');
    expect(() => checkSigningScope(k, 'reg.example.com/acmecorp/payments-api')).not.toThrow();
    expect(() => checkSigningScope(k, 'reg.example.com/acmecorp/billing')).toThrow(/may only sign acmecorp\/payments-\*/);
  });

  test("a revocation and a rotation with no overlap count at once, by a clock behind the one that recorded them (another replica's)", async () => {
    const recordedBy = new Date('2026-11-01T00:10:00Z'); // the changing replica's clock, 10 minutes ahead
    const behind = new Date('2026-11-01T00:00:00Z'); // the judging replica's
    const { store } = await setup({ now: () => recordedBy });
    const revoked = await store.createKey({ name: 'leaked' }, 'x');
    await store.revoke('leaked', 'key leaked', 'secops');
    expect(store.trust.byId(revoked.id)!.revokedAt!.toISOString()).toBe(recordedBy.toISOString()); // kept, for display
    expect(keyUsability(store.trust.byId(revoked.id)!, behind)).toEqual({
      usable: false,
      reason: `key leaked was revoked at ${recordedBy.toISOString()}: key leaked`,
    });

    await store.createKey({ name: 'zero' }, 'x');
    const { previous } = await store.rotate('zero', { overlapSeconds: 0, reason: 'leak suspected' }, 'secops');
    expect(previous.validUntil!.toISOString()).toBe(recordedBy.toISOString());
    expect(keyUsability(store.trust.byId(previous.id)!, behind)).toEqual({
      usable: false,
      reason: `key zero expired at ${recordedBy.toISOString()} (rotated out with no overlap)`,
    });

    // A positive overlap is measured from the recorded rotation time, by the judging clock.
    await store.createKey({ name: 'hour' }, 'x');
    const hour = (await store.rotate('hour', { overlapSeconds: 3600 }, 'x')).previous;
    expect(keyUsability(store.trust.byId(hour.id)!, behind)).toEqual({ usable: true });
    expect(keyUsability(store.trust.byId(hour.id)!, new Date('2026-11-01T01:10:00Z'))).toMatchObject({ usable: false });
  });

  test('every change gets a trust revision of its own (a counter and a random part), even one that reuses the counter after a lost change', async () => {
    const { store, db } = await setup();
    await store.createKey({ name: 'a' }, 'x');
    expect(store.trust.revision()).toMatch(/^k1\.[0-9a-f]{12}$/);
    const before = await db.all(`SELECT name, value FROM key_store_meta WHERE name LIKE 'trust_revision%' ORDER BY name`);
    await store.createKey({ name: 'lost' }, 'x');
    const lost = store.trust.revision();
    expect(lost).toMatch(/^k2\./);
    // A failover to a standby without the last commit: the rows go back as they were before it.
    await db.transaction(async (tx) => {
      await tx.run(`DELETE FROM keys WHERE name = 'lost'`);
      for (const r of before) await tx.run(`UPDATE key_store_meta SET value = ? WHERE name = ?`, String(r.value), String(r.name));
      tx.changed('keys');
    });
    await store.createKey({ name: 'next' }, 'x');
    expect(store.trust.revision()).toMatch(/^k2\./); // the counter collides...
    expect(store.trust.revision()).not.toBe(lost); // ...the revision does not
  });

  test('a store written before the random part of the trust revision keeps its revision until the next change, then gets one', async () => {
    const { dir, db, store, kek } = await setup();
    await store.createKey({ name: 'a' }, 'x');
    await close(db, store);
    const old = await open(dir);
    await old.transaction(async (tx) => {
      await tx.run(`DELETE FROM key_store_meta WHERE name = 'trust_revision_nonce'`);
      await tx.run(`UPDATE key_store_meta SET value = '5' WHERE name = 'trust_revision'`);
    });
    const reopened = await ManagedKeyStore.open(old, kek, await AuditLog.open(old));
    expect(reopened.trust.revision()).toBe('k5');
    await reopened.createKey({ name: 'b' }, 'x');
    expect(reopened.trust.revision()).toMatch(/^k6\.[0-9a-f]{12}$/);
    expect((await reopened.listKeys()).map((k) => k.name)).toEqual(['a', 'b']);
    await close(old, reopened);
  });
});
