/**
 * Trust store files are read at every policy (re)load, and an operator's volume is not always
 * tidy: a trust store file replaced by a symlink to /dev/zero, a FIFO, a 1 GiB file, a directory,
 * or removed. The read must end (no hang on a device or a FIFO), stay bounded in memory (nothing
 * past the size limit is read), name the problem, and a reload must keep the last good policy.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { PolicyStore } from '../../../src/policy-store';
import { readTrustStoreFile } from '../../../src/policy/notation-trust-store';

const KEYS = path.resolve(__dirname, '../../../../shared/vectors/notation/test/e2e/testdata/config/localkeys');
const NOTATION = 'rules:\n  - name: n\n    require:\n      signatures: { notation: { trustStore: [certs/ca.pem], identities: ["*"] } }\n';

let dir: string;
const stores: PolicyStore[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'countersign-truststore-'));
  fs.mkdirSync(path.join(dir, 'certs'));
  fs.copyFileSync(path.join(KEYS, 'e2e.crt'), path.join(dir, 'certs/ca.pem'));
  fs.writeFileSync(path.join(dir, 'policy.yaml'), NOTATION);
});
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const ca = () => path.join(dir, 'certs/ca.pem');
function replaceWith(kind: 'dev-zero' | 'fifo' | 'huge' | 'directory' | 'removed'): void {
  fs.rmSync(ca(), { force: true });
  if (kind === 'dev-zero') fs.symlinkSync('/dev/zero', ca());
  else if (kind === 'fifo') execFileSync('mkfifo', [ca()]);
  else if (kind === 'huge') fs.truncateSync((fs.writeFileSync(ca(), ''), ca()), 1024 ** 3);
  else if (kind === 'directory') fs.mkdirSync(ca());
}

test.each([
  ['dev-zero', /not a regular file/],
  ['fifo', /not a regular file/],
  ['huge', /ca\.pem is 1073741824 bytes; the limit is 1048576/],
  ['directory', /not a regular file/],
  ['removed', /cannot read .*ca\.pem: ENOENT/],
] as const)('reading a trust store file that is %s ends with a named error', (kind, why) => {
  replaceWith(kind);
  expect(() => readTrustStoreFile(ca())).toThrow(why);
});

test.each(['dev-zero', 'fifo', 'huge', 'directory', 'removed'] as const)(
  'a trust store file replaced by %s: the reload keeps the last good policy and says why',
  async (kind) => {
    const store = await PolicyStore.open(path.join(dir, 'policy.yaml'), { pollMs: 0, watch: false });
    stores.push(store);
    const good = store.current();
    replaceWith(kind);
    expect(await store.reload()).toBe(false);
    expect(store.current()).toBe(good);
    expect(store.lastError()?.message).toMatch(/signatures\.notation\.trustStore\[0\]: .*ca\.pem/);
    // Putting a good file back reloads (to the same trust, so the same revision: nothing to swap).
    fs.rmSync(ca(), { recursive: true, force: true });
    fs.copyFileSync(path.join(KEYS, 'new_e2e.crt'), ca());
    expect(await store.reload()).toBe(true);
    expect(store.lastError()).toBeUndefined();
  },
);

test('the policy file itself replaced by a symlink to /dev/zero: the reload ends, the last good policy stays', async () => {
  const file = path.join(dir, 'policy.yaml');
  const store = await PolicyStore.open(file, { pollMs: 0, watch: false });
  stores.push(store);
  const good = store.current();
  fs.rmSync(file);
  fs.symlinkSync('/dev/zero', file);
  expect(await store.reload()).toBe(false);
  expect(store.current()).toBe(good);
  expect(store.lastError()?.message).toMatch(/not a regular file/);
});
