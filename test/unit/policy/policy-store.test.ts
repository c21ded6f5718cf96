import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CountersignError } from '../../../src/shared/errors';
import { DEFAULT_POLICY, type Policy } from '../../../src/policy';
import { PolicyStore } from '../../../src/policy-store';
import { EXAMPLE_POLICY } from './fixtures';

const V1 = 'rules:\n  - name: v1\n    require: { signatures: {} }\n';
const V2 = 'rules:\n  - name: v2\n    require: { signatures: { minimum: 1 } }\n';
const V3 = 'rules:\n  - name: v3\n    deny: "frozen"\n';
const BROKEN = 'rules:\n  - name: v2\n    require: { signatures: { keys: [] } }\n';

function recordingLogger() {
  const entries: Array<{ level: 'warn' | 'info'; obj: Record<string, unknown>; msg: string }> = [];
  return {
    entries,
    warn: (obj: object, msg: string) => entries.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
    info: (obj: object, msg: string) => entries.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
  };
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const ruleName = (store: PolicyStore) => store.current().rules[0]?.name;

describe('PolicyStore', () => {
  let dir: string;
  let file: string;
  const stores: PolicyStore[] = [];
  const open = async (...args: Parameters<typeof PolicyStore.open>) => {
    const store = await PolicyStore.open(...args);
    stores.push(store);
    return store;
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'countersign-policy-'));
    file = path.join(dir, 'policy.yaml');
  });
  afterEach(() => {
    for (const s of stores.splice(0)) s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('uses the built-in default policy without a file', async () => {
    const store = await open(undefined);
    expect(store.current()).toBe(DEFAULT_POLICY);
    expect(await store.reload()).toBe(false);
  });

  it('loads the file at startup', async () => {
    fs.writeFileSync(file, EXAMPLE_POLICY);
    const logger = recordingLogger();
    const store = await open(file, { logger, pollMs: 0 });
    expect(store.current().rules.map((r) => r.name)).toEqual(['payments', 'approved-public-images', 'no-direct-public-pulls']);
    expect(store.current().source).toBe(file);
    expect(store.lastError()).toBeUndefined();
    expect(logger.entries).toEqual([
      { level: 'info', obj: expect.objectContaining({ policyRevision: store.current().revision }) as unknown, msg: 'policy loaded' },
    ]);
  });

  it('refuses to start with an invalid file, naming file, line and field', async () => {
    fs.writeFileSync(file, BROKEN);
    const err = await PolicyStore.open(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CountersignError);
    expect((err as CountersignError).code).toBe('INVALID_ARGUMENT');
    expect((err as CountersignError).message).toContain(`${file}:3:36: rules[0].require.signatures.keys: must not be an empty list`);
  });

  it('refuses to start with a missing file', async () => {
    const err = await PolicyStore.open(path.join(dir, 'nope.yaml')).catch((e: unknown) => e);
    expect((err as CountersignError).code).toBe('NOT_FOUND');
    expect((err as CountersignError).message).toContain('does not exist');
  });

  it('hot-reloads a valid change through the directory watch and tells listeners', async () => {
    fs.writeFileSync(file, V1);
    const store = await open(file, { pollMs: 0, debounceMs: 10 });
    const changes: Array<[string | undefined, string | undefined]> = [];
    store.onChange((p: Policy, prev: Policy) => changes.push([p.rules[0]?.name, prev.rules[0]?.name]));
    const before = store.current().revision;
    fs.writeFileSync(file, V2);
    await waitFor(() => ruleName(store) === 'v2', 'the reload');
    expect(store.current().revision).not.toBe(before);
    expect(changes).toEqual([['v2', 'v1']]);
  });

  it('keeps the last good policy when the new version is invalid, and records why', async () => {
    fs.writeFileSync(file, V1);
    const logger = recordingLogger();
    const store = await open(file, { logger, pollMs: 0, watch: false });
    const good = store.current();
    fs.writeFileSync(file, BROKEN);
    expect(await store.reload()).toBe(false);
    expect(store.current()).toBe(good);
    expect(store.lastError()).toBeInstanceOf(CountersignError);
    expect(store.lastError()!.message).toContain(`${file}:3:36: rules[0].require.signatures.keys`);
    const warning = logger.entries.find((e) => e.level === 'warn')!;
    expect(warning.msg).toBe('new policy is invalid; keeping the last good policy');
    expect(warning.obj.error).toContain(':3:36:');
    expect(warning.obj.policyRevision).toBe(good.revision);
    // The same broken content is not re-reported on every poll.
    expect(await store.reload()).toBe(false);
    expect(logger.entries.filter((e) => e.level === 'warn')).toHaveLength(1);
    // Fixing the file takes effect and clears the error.
    fs.writeFileSync(file, V2);
    expect(await store.reload()).toBe(true);
    expect(ruleName(store)).toBe('v2');
    expect(store.lastError()).toBeUndefined();
  });

  it('follows editors that replace the file by rename', async () => {
    fs.writeFileSync(file, V1);
    const store = await open(file, { pollMs: 0, debounceMs: 10 });
    for (const [version, name] of [
      [V2, 'v2'],
      [V3, 'v3'],
    ] as const) {
      const tmp = path.join(dir, `.policy.yaml.swp-${name}`);
      fs.writeFileSync(tmp, version);
      fs.renameSync(tmp, file);
      await waitFor(() => ruleName(store) === name, `reload to ${name}`);
    }
  });

  it('falls back to polling the content hash', async () => {
    fs.writeFileSync(file, V1);
    const store = await open(file, { pollMs: 25, watch: false });
    fs.writeFileSync(file, V2);
    await waitFor(() => ruleName(store) === 'v2', 'the poll');
  });

  it('keeps the policy while the file is briefly missing, then picks it up again', async () => {
    fs.writeFileSync(file, V1);
    const store = await open(file, { pollMs: 0, watch: false });
    fs.unlinkSync(file);
    expect(await store.reload()).toBe(false);
    expect(ruleName(store)).toBe('v1');
    expect(store.lastError()!.message).toContain('does not exist');
    fs.writeFileSync(file, V2);
    expect(await store.reload()).toBe(true);
    expect(ruleName(store)).toBe('v2');
  });

  it('does not signal a change for comment-only edits, and unsubscribes', async () => {
    fs.writeFileSync(file, V1);
    const store = await open(file, { pollMs: 0, watch: false });
    const seen: string[] = [];
    const off = store.onChange((p) => seen.push(p.revision));
    fs.writeFileSync(file, `# reviewed by alice\n${V1}`);
    expect(await store.reload()).toBe(false);
    expect(seen).toEqual([]);
    off();
    fs.writeFileSync(file, V2);
    expect(await store.reload()).toBe(true);
    expect(seen).toEqual([]);
  });

  describe('Notation trust store files', () => {
    const KEYS = path.resolve(__dirname, '../../../../shared/vectors/notation/test/e2e/testdata/config/localkeys');
    const NOTATION =
      'rules:\n  - name: n\n    require:\n      signatures: { notation: { trustStore: [certs/ca.pem], identities: ["*"] } }\n';
    const caSubject = (store: PolicyStore) => store.current().rules[0]!.require!.signatures!.notation!.trustStore[0]!.subject;
    const setup = () => {
      fs.mkdirSync(path.join(dir, 'certs'));
      fs.copyFileSync(path.join(KEYS, 'e2e.crt'), path.join(dir, 'certs/ca.pem'));
      fs.writeFileSync(file, NOTATION);
    };

    it('reloads when a trust store file changes, the policy file untouched', async () => {
      setup();
      const store = await open(file, { pollMs: 0, watch: false });
      const before = store.current().revision;
      expect(caSubject(store)).toContain('CN=e2e');
      expect(await store.reload()).toBe(false);
      fs.copyFileSync(path.join(KEYS, 'new_e2e.crt'), path.join(dir, 'certs/ca.pem'));
      expect(await store.reload()).toBe(true);
      expect(store.current().revision).not.toBe(before);
      expect(caSubject(store)).toContain('Internet Widgits');
    });

    it('a bad new trust store file keeps the last good policy, logged and reported once; fixing it reloads', async () => {
      setup();
      const logger = recordingLogger();
      const store = await open(file, { logger, pollMs: 0, watch: false });
      const good = store.current();
      fs.writeFileSync(path.join(dir, 'certs/ca.pem'), 'not a certificate');
      expect(await store.reload()).toBe(false);
      expect(store.current()).toBe(good);
      expect(store.lastError()!.message).toMatch(
        /signatures\.notation\.trustStore\[0\]: .*ca\.pem is neither PEM certificates nor one DER certificate/,
      );
      const warnings = logger.entries.filter((e) => e.level === 'warn');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.msg).toBe('a Notation trust store file changed and the policy is now invalid; keeping the last good policy');
      expect(await store.reload()).toBe(false);
      expect(logger.entries.filter((e) => e.level === 'warn')).toHaveLength(1);
      fs.copyFileSync(path.join(KEYS, 'new_e2e.crt'), path.join(dir, 'certs/ca.pem'));
      expect(await store.reload()).toBe(true);
      expect(store.lastError()).toBeUndefined();
      expect(caSubject(store)).toContain('Internet Widgits');
    });

    it('a policy naming a missing trust store file is picked up once the file appears', async () => {
      fs.writeFileSync(file, V1);
      const store = await open(file, { pollMs: 0, watch: false });
      fs.writeFileSync(file, NOTATION);
      expect(await store.reload()).toBe(false);
      expect(store.lastError()!.message).toMatch(/cannot read .*ca\.pem: ENOENT/);
      fs.mkdirSync(path.join(dir, 'certs'));
      fs.copyFileSync(path.join(KEYS, 'e2e.crt'), path.join(dir, 'certs/ca.pem'));
      expect(await store.reload()).toBe(true);
      expect(caSubject(store)).toContain('CN=e2e');
    });

    it("the watch follows a trust store file's folder", async () => {
      setup();
      const store = await open(file, { pollMs: 0, debounceMs: 10 });
      fs.copyFileSync(path.join(KEYS, 'new_e2e.crt'), path.join(dir, 'certs/ca.pem.tmp'));
      fs.renameSync(path.join(dir, 'certs/ca.pem.tmp'), path.join(dir, 'certs/ca.pem'));
      await waitFor(() => caSubject(store).includes('Internet Widgits'), 'the trust store change');
    });
  });

  it('stops reloading after close', async () => {
    fs.writeFileSync(file, V1);
    const store = await open(file, { pollMs: 25, debounceMs: 10 });
    store.close();
    fs.writeFileSync(file, V2);
    await new Promise((r) => setTimeout(r, 150));
    expect(ruleName(store)).toBe('v1');
  });
});

describe('PolicyStore polling: the safety net while watched, the short interval while not', () => {
  let dir: string;
  const stores: PolicyStore[] = [];
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'countersign-policy-poll-'));
  });
  afterEach(() => {
    for (const s of stores.splice(0)) s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const open = async (...args: Parameters<typeof PolicyStore.open>) => {
    const store = await PolicyStore.open(...args);
    stores.push(store);
    return store;
  };
  type Internals = { pollMs: number | undefined; watcher: fs.FSWatcher | undefined };
  const internals = (s: PolicyStore) => s as unknown as Internals;

  it('a watched file is polled every 10 s (each wake-up of an idle service costs CPU); unwatched, every 2 s', async () => {
    const file = path.join(dir, 'policy.yaml');
    fs.writeFileSync(file, V1);
    expect(internals(await open(file)).pollMs).toBe(10_000);
    expect(internals(await open(file, { watch: false })).pollMs).toBe(2000);
    expect(internals(await open(file, { pollMs: 500 })).pollMs).toBe(500);
  });

  it('a watch that fails brings the short interval back', async () => {
    const file = path.join(dir, 'policy.yaml');
    fs.writeFileSync(file, V1);
    const store = await open(file, { logger: recordingLogger() });
    internals(store).watcher!.emit('error', new Error('watch lost'));
    expect(internals(store).pollMs).toBe(2000);
  });

  it('a change still arrives through the watch at once, not at the next poll', async () => {
    const file = path.join(dir, 'policy.yaml');
    fs.writeFileSync(file, V1);
    const store = await open(file, { debounceMs: 10 });
    fs.writeFileSync(file, V2);
    await waitFor(() => ruleName(store) === 'v2', 'the watched change', 5000);
  });
});
