/**
 * The key store records what each key is (kind), the format it came in (source) and, for a
 * certificate, the certificate itself — on both backends (SQLite and the suite's real PostgreSQL),
 * read back from the database by a second store, and added by migration to a store written before.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuditLog } from '../../../src/audit';
import { encryptCosignPrivateKey, generateKek } from '../../../src/keys/crypto';
import { ManagedKeyStore } from '../../../src/keys/managed-key-store';
import { openDatabase, PostgresStore, SqliteStore, type SqlStore } from '../../../src/store';
import { freshDatabase } from '../../support/postgres';

function spki(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }) as string;
}

function certificate(privateKey: KeyObject, validity: string[]): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-kk-'));
  writeFileSync(path.join(dir, 'k.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-new',
      '-key',
      path.join(dir, 'k.pem'),
      '-subj',
      '/CN=ci-signer/O=Acme',
      ...validity,
      '-out',
      path.join(dir, 'c.pem'),
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return readFileSync(path.join(dir, 'c.pem'), 'utf8');
}

type Backend = { name: string; open(): Promise<() => Promise<SqlStore>> };
const backends: Backend[] = [
  {
    name: 'SQLite',
    async open() {
      const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'countersign-kk-')), 'countersign.db');
      return () => SqliteStore.open(openDatabase(file), { changeCheckMs: 0 });
    },
  },
  {
    name: 'PostgreSQL',
    async open() {
      const url = await freshDatabase('kinds');
      return () => PostgresStore.connect(url, { revisionCheckMs: 0 });
    },
  },
];

describe.each(backends)('$name', (backend) => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });
  async function openKeys(connect: () => Promise<SqlStore>, kek: Buffer, now?: () => Date) {
    const db = await connect();
    const keys = await ManagedKeyStore.open(db, kek, await AuditLog.open(db), now ? { now } : {});
    cleanup.push(async () => {
      keys.close();
      await db.close();
    });
    return { db, keys };
  }

  test('each kind and source is recorded, and read back from the database by another store', async () => {
    const connect = await backend.open();
    const kek = generateKek();
    const { keys, db } = await openKeys(connect, kek);
    const p384 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const ed = crypto.generateKeyPairSync('ed25519');
    const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 3072 });
    const p521 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-521' });
    const cosign = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await keys.createKey({ name: 'made-here' }, 'alice');
    await keys.importPublicKey({ name: 'p384' }, spki(p384.publicKey), 'alice');
    await keys.importPublicKey({ name: 'ed' }, spki(ed.publicKey), 'alice');
    await keys.importPublicKey({ name: 'rsa' }, spki(rsa.publicKey), 'alice');
    const cert = certificate(p521.privateKey, ['-days', '30']);
    await keys.importPublicKey({ name: 'p521-cert' }, cert, 'alice');
    await keys.importCosignPrivateKey({ name: 'cosign' }, encryptCosignPrivateKey(cosign.privateKey, 'pw'), 'pw', 'alice');

    const expected = {
      'made-here': { kind: 'ecdsa-p256', source: 'generated' },
      p384: { kind: 'ecdsa-p384', source: 'spki' },
      ed: { kind: 'ed25519', source: 'spki' },
      rsa: { kind: 'rsa-3072', source: 'spki' },
      'p521-cert': { kind: 'ecdsa-p521', source: 'x509' },
      cosign: { kind: 'ecdsa-p256', source: 'cosign' },
    };
    const other = await openKeys(connect, kek);
    for (const store of [keys, other.keys]) {
      const listed = Object.fromEntries((await store.listKeys()).map((k) => [k.name, { kind: k.kind, source: k.source }]));
      expect(listed).toEqual(expected);
    }
    const x = new crypto.X509Certificate(cert);
    const info = await other.keys.getKey('p521-cert');
    expect(info.certificate).toMatchObject({
      subject: x.subject,
      issuer: x.issuer,
      serialNumber: x.serialNumber,
      notAfter: new Date(x.validTo),
    });
    // The certificate's validity is the key's.
    expect(info.validFrom).toEqual(new Date(x.validFrom));
    expect(info.validUntil).toEqual(new Date(x.validTo));
    expect(other.keys.trust.byId(info.id)?.validUntil).toEqual(new Date(x.validTo));
    // Stored as columns, not derived: what a second reader of the table sees.
    const rows = await db.all('SELECT name, key_kind, key_source, certificate_pem FROM keys ORDER BY name');
    expect(rows.find((r) => r.name === 'rsa')).toMatchObject({ key_kind: 'rsa-3072', key_source: 'spki', certificate_pem: null });
    expect(String(rows.find((r) => r.name === 'p521-cert')?.certificate_pem)).toContain('BEGIN CERTIFICATE');
  });

  test('certificate validity: a narrower window asked for is kept; one outside it is refused', async () => {
    const connect = await backend.open();
    const { keys } = await openKeys(connect, generateKek());
    const pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const cert = certificate(pair.privateKey, ['-days', '30']);
    const x = new crypto.X509Certificate(cert);
    const notAfter = new Date(x.validTo);

    const until = new Date(notAfter.getTime() - 24 * 3600 * 1000);
    const narrow = await keys.importPublicKey({ name: 'narrow', validUntil: until }, cert, 'alice');
    expect(narrow.validUntil).toEqual(until);
    expect(narrow.validFrom).toEqual(new Date(x.validFrom));
    const other = certificate(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, ['-days', '30']);
    await expect(
      keys.importPublicKey({ name: 'outside', validFrom: new Date(notAfter.getTime() + 1000) }, other, 'alice'),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/outside the certificate's/) as unknown,
    });
  });

  test('an expired certificate is refused, naming subject, serial and expiry', async () => {
    const connect = await backend.open();
    const pair = crypto.generateKeyPairSync('ed25519');
    const cert = certificate(pair.privateKey, ['-days', '1']);
    const x = new crypto.X509Certificate(cert);
    const { keys } = await openKeys(connect, generateKek(), () => new Date(new Date(x.validTo).getTime() + 60_000));
    await expect(keys.importPublicKey({ name: 'old' }, cert, 'alice')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(
        new RegExp(`serial ${x.serialNumber}\\) expired at ${new Date(x.validTo).toISOString().replace(/\./g, '\\.')}`),
      ) as unknown,
    });
    expect(await keys.listKeys()).toEqual([]);
  });

  test('a store written before kinds were recorded is migrated: kinds derived, verification keys marked spki', async () => {
    const connect = await backend.open();
    const kek = generateKek();
    const first = await openKeys(connect, kek);
    await first.keys.createKey({ name: 'signer' }, 'alice');
    await first.keys.importPublicKey(
      { name: 'trusted' },
      spki(crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey),
      'alice',
    );
    // Back to schema v1: the columns and the migration record gone.
    for (const sql of [
      'ALTER TABLE keys DROP COLUMN key_kind',
      'ALTER TABLE keys DROP COLUMN key_source',
      'ALTER TABLE keys DROP COLUMN certificate_pem',
      `DELETE FROM schema_migrations WHERE component = 'keys' AND version >= 2`,
    ]) {
      await first.db.transaction((tx) => tx.exec(sql));
    }
    const again = await openKeys(connect, kek);
    const listed = Object.fromEntries((await again.keys.listKeys()).map((k) => [k.name, { kind: k.kind, source: k.source }]));
    expect(listed).toEqual({ signer: { kind: 'ecdsa-p256', source: undefined }, trusted: { kind: 'ecdsa-p384', source: 'spki' } });
    const versions = await again.db.all(`SELECT version FROM schema_migrations WHERE component = 'keys' ORDER BY version`);
    expect(versions.map((r) => Number(r.version))).toEqual([1, 2, 3]);
  });

  test('refusals store nothing and are INVALID_ARGUMENT', async () => {
    const connect = await backend.open();
    const { keys } = await openKeys(connect, generateKek());
    const weak = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    await expect(keys.importPublicKey({ name: 'weak' }, spki(weak), 'alice')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/at least 2048 bits/) as unknown,
    });
    const k1 = crypto.generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey;
    await expect(keys.importPublicKey({ name: 'k1' }, spki(k1), 'alice')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/secp256k1/) as unknown,
    });
    expect(await keys.listKeys()).toEqual([]);
  });
});
