/**
 * The policy managed through the API (no policy file): SetPolicy's validation, compare-and-set,
 * audit entry and "nothing stored on bad input", and the switch of every PolicyStore sharing the
 * store, over a real (temporary) SQLite store; and PolicyService through a real gRPC server.
 */
import { copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { AuditLog } from '../../../src/audit';
import { call, policyClient, type UnaryClient } from '../../../src/cli/client';
import { policyHandlers } from '../../../src/grpc/policy-handlers';
import { serviceConstructor } from '../../../src/grpc/proto';
import { InFlightTracker } from '../../../src/grpc/unary';
import { createLogger } from '../../../src/logging/logger';
import { DEFAULT_POLICY, parsePolicy } from '../../../src/policy';
import { PolicyStore } from '../../../src/policy-store';
import { CountersignError } from '../../../src/shared/errors';
import { openDatabase, SqliteStore } from '../../../src/store';

const DENY_ALL = 'rules:\n  - name: frozen\n    deny: "deployments are frozen"\n';
const SIGNED = 'rules:\n  - name: signed\n    require: { signatures: { minimum: 1 } }\n';
const BROKEN = 'rules:\n  - name: broken\n    require: { signatures: { keys: [] } }\n';

let dir: string;
let db: SqliteStore;
let audit: AuditLog;
const opened: PolicyStore[] = [];

async function policyStore(file?: string): Promise<PolicyStore> {
  const ps = await PolicyStore.open(file, { stored: { store: db, audit }, pollMs: 0, watch: false });
  opened.push(ps);
  return ps;
}

async function rejection(p: Promise<unknown>): Promise<CountersignError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CountersignError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

/** What a failed attempt must leave untouched: the stored row, the audit chain and the policy revision counter. */
async function snapshot(): Promise<unknown> {
  return {
    stored: await db.all('SELECT * FROM stored_policy'),
    audit: await audit.head(),
    revision: await db.get("SELECT revision FROM store_revisions WHERE kind = 'policy'"),
  };
}

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-stored-policy-'));
  db = await SqliteStore.open(openDatabase(path.join(dir, 'countersign.db')), { changeCheckMs: 0 });
  audit = await AuditLog.open(db);
});

afterEach(async () => {
  for (const ps of opened.splice(0)) ps.close();
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

test('without a file or a stored policy, the built-in default is in force (source none)', async () => {
  const ps = await policyStore();
  expect(ps.current()).toBe(DEFAULT_POLICY);
  expect(ps.info()).toEqual({ policy: DEFAULT_POLICY, source: 'none' });
});

test('a valid policy is stored, in force before set resolves, and audited with its revisions', async () => {
  const ps = await policyStore();
  const revision = parsePolicy(DENY_ALL, 'x').revision;
  const r = await ps.set({ text: DENY_ALL, actor: 'token:alice' });
  expect(r.previousRevision).toBe('default');
  expect(ps.current().revision).toBe(revision);
  expect(ps.current().rules.map((rule) => rule.name)).toEqual(['frozen']);
  expect(r.info).toMatchObject({ source: 'store', text: DENY_ALL, setBy: 'token:alice' });
  expect(r.info.setAt).toBeInstanceOf(Date);
  const [entry] = await audit.list({ action: 'policy.set' });
  expect(entry).toMatchObject({
    actor: 'token:alice',
    target: 'policy',
    outcome: 'success',
    details: { revision, previousRevision: 'default', rules: 1 },
  });
  expect(await audit.verify()).toMatchObject({ ok: true });
});

test('an invalid policy is INVALID_ARGUMENT naming the field, and nothing is stored', async () => {
  const ps = await policyStore();
  const before = await snapshot();
  const err = await rejection(ps.set({ text: BROKEN, actor: 'token:alice' }));
  expect(err.code).toBe('INVALID_ARGUMENT');
  expect(err.message).toMatch(/rules\[0\]\.require\.signatures\.keys|rules\.0\.require\.signatures\.keys/);
  for (const text of ['', '   \n', 'rules: [', 'x'.repeat(1024 * 1024 + 1)]) {
    expect((await rejection(ps.set({ text, actor: 'token:alice' }))).code).toBe('INVALID_ARGUMENT');
  }
  expect(await snapshot()).toEqual(before);
  expect(ps.current()).toBe(DEFAULT_POLICY);
});

test('compare-and-set: a stale expected revision is FAILED_PRECONDITION and stores nothing; the current one succeeds', async () => {
  const ps = await policyStore();
  await ps.set({ text: SIGNED, actor: 'token:alice', expectedRevision: 'default' });
  const signed = ps.current().revision;
  // Bob read "default" before Alice's change.
  const before = await snapshot();
  const err = await rejection(ps.set({ text: DENY_ALL, actor: 'token:bob', expectedRevision: 'default' }));
  expect(err.code).toBe('FAILED_PRECONDITION');
  expect(err.message).toContain(`revision ${signed}, not default`);
  expect(err.message).toContain('token:alice');
  expect(await snapshot()).toEqual(before);
  expect(ps.current().revision).toBe(signed);
  // An empty expected revision is a mistake, not "unconditional".
  expect((await rejection(ps.set({ text: DENY_ALL, actor: 'token:bob', expectedRevision: '' }))).code).toBe('INVALID_ARGUMENT');
  const r = await ps.set({ text: DENY_ALL, actor: 'token:bob', expectedRevision: signed });
  expect(r.previousRevision).toBe(signed);
  expect(ps.current().rules[0]?.name).toBe('frozen');
});

test('another PolicyStore on the same store switches on the change; a new one starts with the stored policy', async () => {
  const a = await policyStore();
  const b = await policyStore();
  const changes: string[] = [];
  b.onChange((p) => changes.push(p.revision));
  await a.set({ text: DENY_ALL, actor: 'token:alice' });
  // The commit announced `policy`; b re-reads once the read it queued has run.
  for (let i = 0; i < 100 && b.current().revision !== a.current().revision; i++) await new Promise((r) => setTimeout(r, 10));
  expect(b.current().revision).toBe(a.current().revision);
  expect(changes).toEqual([a.current().revision]);
  expect(b.info()).toMatchObject({ source: 'store', setBy: 'token:alice' });
  const c = await policyStore();
  expect(c.info()).toMatchObject({ source: 'store', text: DENY_ALL, policy: { revision: a.current().revision } });
});

describe("Notation trust store files a stored policy names (this replica's files, re-read as a policy file's are)", () => {
  const KEYS = path.resolve(__dirname, '../../../../shared/vectors/notation/test/e2e/testdata/config/localkeys');
  const notation = (ca: string) =>
    `rules:\n  - name: n\n    require:\n      signatures: { notation: { trustStore: [${JSON.stringify(ca)}], identities: ["*"] } }\n`;
  const caSubject = (ps: PolicyStore) => ps.current().rules[0]!.require!.signatures!.notation!.trustStore[0]!.subject;
  const setup = (): string => {
    mkdirSync(path.join(dir, 'certs'));
    const ca = path.join(dir, 'certs', 'ca.pem');
    copyFileSync(path.join(KEYS, 'e2e.crt'), ca);
    return ca;
  };
  function recordingLogger() {
    const warnings: string[] = [];
    return { warnings, warn: (_obj: object, msg: string) => warnings.push(msg), info: () => undefined };
  }

  test('a changed trust store file is read into the stored policy in force (new revision), the stored text untouched', async () => {
    const ca = setup();
    const ps = await policyStore();
    await ps.set({ text: notation(ca), actor: 'token:alice' });
    const before = ps.current().revision;
    expect(caSubject(ps)).toContain('CN=e2e');
    expect(await ps.reload()).toBe(false); // nothing changed
    copyFileSync(path.join(KEYS, 'new_e2e.crt'), ca);
    expect(await ps.reload()).toBe(true);
    expect(ps.current().revision).not.toBe(before);
    expect(caSubject(ps)).toContain('Internet Widgits');
    expect(ps.info()).toMatchObject({ source: 'store', text: notation(ca), setBy: 'token:alice' });
  });

  test('compare-and-set with the revision in force after a trust store file changed: accepted (it names the stored text this replica holds)', async () => {
    const ca = setup();
    const ps = await policyStore();
    const first = await ps.set({ text: notation(ca), actor: 'token:alice' });
    copyFileSync(path.join(KEYS, 'new_e2e.crt'), ca);
    expect(await ps.reload()).toBe(true);
    const shown = ps.info().policy.revision; // what GetPolicy shows here
    expect(shown).not.toBe(first.info.policy.revision); // the stored row still holds the first revision
    await ps.set({ text: SIGNED, expectedRevision: shown, actor: 'token:bob' });
    expect(ps.current().rules[0]?.name).toBe('signed');
    // And a revision that was never in force here nor stored is still refused.
    const before = await snapshot();
    const stale = await rejection(ps.set({ text: DENY_ALL, expectedRevision: shown, actor: 'token:carol' }));
    expect(stale.code).toBe('FAILED_PRECONDITION');
    expect(await snapshot()).toEqual(before);
  });

  test('a policy store opened on a stored policy watches its trust store files too', async () => {
    const ca = setup();
    await (await policyStore()).set({ text: notation(ca), actor: 'token:alice' });
    const ps = await PolicyStore.open(undefined, { stored: { store: db, audit }, pollMs: 0, debounceMs: 10 });
    opened.push(ps);
    expect(caSubject(ps)).toContain('CN=e2e');
    copyFileSync(path.join(KEYS, 'new_e2e.crt'), `${ca}.tmp`);
    renameSync(`${ca}.tmp`, ca); // replaced by rename, as editors and ConfigMap volumes do
    for (let i = 0; i < 250 && !caSubject(ps).includes('Internet Widgits'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(caSubject(ps)).toContain('Internet Widgits');
  });

  test('a bad new trust store file keeps the last good policy, warned once; fixing it takes effect', async () => {
    const ca = setup();
    const logger = recordingLogger();
    const ps = await PolicyStore.open(undefined, { stored: { store: db, audit }, pollMs: 0, watch: false, logger });
    opened.push(ps);
    await ps.set({ text: notation(ca), actor: 'token:alice' });
    const good = ps.current();
    writeFileSync(ca, 'not a certificate');
    expect(await ps.reload()).toBe(false);
    expect(ps.current()).toBe(good);
    expect(ps.lastError()!.message).toMatch(/trustStore\[0\]: .*ca\.pem is neither PEM certificates nor one DER certificate/);
    expect(await ps.reload()).toBe(false);
    expect(logger.warnings).toEqual([
      'a Notation trust store file changed and the stored policy is now invalid; keeping the last good policy',
    ]);
    copyFileSync(path.join(KEYS, 'new_e2e.crt'), ca);
    expect(await ps.reload()).toBe(true);
    expect(ps.lastError()).toBeUndefined();
    expect(caSubject(ps)).toContain('Internet Widgits');
  });

  test("a stored policy another replica set switches here, read with this replica's trust store files; a change of one re-reads it", async () => {
    const ca = setup();
    const a = await policyStore();
    const b = await policyStore();
    await a.set({ text: notation(ca), actor: 'token:alice' });
    for (let i = 0; i < 100 && b.current().revision !== a.current().revision; i++) await new Promise((r) => setTimeout(r, 10));
    expect(caSubject(b)).toContain('CN=e2e');
    copyFileSync(path.join(KEYS, 'new_e2e.crt'), ca);
    expect(await b.reload()).toBe(true);
    expect(caSubject(b)).toContain('Internet Widgits');
  });
});

test('with a policy file, SetPolicy is refused (the file is the one source of truth) and the file stays in force', async () => {
  const file = path.join(dir, 'policy.yaml');
  writeFileSync(file, SIGNED);
  const ps = await policyStore(file);
  const before = await snapshot();
  const err = await rejection(ps.set({ text: DENY_ALL, actor: 'token:alice' }));
  expect(err.code).toBe('FAILED_PRECONDITION');
  expect(err.message).toContain(`managed by the file ${file}`);
  expect(await snapshot()).toEqual(before);
  expect(ps.info()).toMatchObject({ source: 'file', file, text: SIGNED, policy: { rules: [expect.objectContaining({ name: 'signed' })] } });
});

describe('PolicyService over gRPC', () => {
  let server: grpc.Server;
  let client: UnaryClient;
  let ps: PolicyStore;

  beforeEach(async () => {
    ps = await policyStore();
    const logger = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    server = new grpc.Server();
    server.addService(
      serviceConstructor('PolicyService').service,
      policyHandlers(ps, { logger, tracker: new InFlightTracker() }, () => 'token:carol'),
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    client = policyClient(`127.0.0.1:${port}`);
  });

  afterEach(async () => {
    client.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  });

  async function failure(p: Promise<unknown>): Promise<{ code: string; details: string }> {
    try {
      await p;
    } catch (err) {
      const e = err as grpc.ServiceError;
      const name = (grpc.status as Record<number, string | undefined>)[e.code]; // undefined for a code outside the enum
      return { code: name ?? String(e.code), details: e.details };
    }
    throw new Error('expected the call to fail');
  }

  test('GetPolicy, SetPolicy and compare-and-set on the wire (an absent expected_revision is unconditional)', async () => {
    expect(await call(client, 'GetPolicy', {}, 10_000)).toEqual({
      policy: { revision: 'default', source: 'POLICY_SOURCE_NONE', text: '', file: '', setBy: '', setTime: null },
    });
    const set = await call<{
      policy: { revision: string; source: string; setBy: string; setTime: { seconds: number } };
      previousRevision: string;
    }>(client, 'SetPolicy', { text: SIGNED }, 10_000);
    expect(set).toMatchObject({
      previousRevision: 'default',
      policy: { source: 'POLICY_SOURCE_STORE', setBy: 'token:carol', text: SIGNED },
    });
    expect(set.policy.setTime.seconds).toBeGreaterThan(0);
    expect(await call(client, 'GetPolicy', {}, 10_000)).toMatchObject({ policy: { revision: set.policy.revision, text: SIGNED } });
    const stale = await failure(call(client, 'SetPolicy', { text: DENY_ALL, expectedRevision: 'default' }, 10_000));
    expect(stale.code).toBe('FAILED_PRECONDITION');
    expect((await failure(call(client, 'SetPolicy', { text: BROKEN }, 10_000))).code).toBe('INVALID_ARGUMENT');
    expect(await call(client, 'SetPolicy', { text: DENY_ALL, expectedRevision: set.policy.revision }, 10_000)).toMatchObject({
      previousRevision: set.policy.revision,
    });
    expect(ps.current().rules[0]?.name).toBe('frozen');
  });
});
