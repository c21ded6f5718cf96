/**
 * Adversarial review of start-up, as whole `countersign serve` processes: a configuration mistake
 * (or a hostile mounted file) must make the process exit non-zero with one clear line, never hang
 * and never keep serving half-configured; no secret may appear in what it prints.
 * The review found five holes here, closed since. Needs dist/ (`npm run build`).
 */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/dev/local-registry';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/countersign');
const SECRET = 'hunter2-S3cr3t';
/** How long a process gets to either exit or say it serves; beyond that it is reported as hung. */
const PATIENCE_MS = 15_000;

let dir: string;
beforeAll(() => {
  if (!existsSync(path.join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does)');
  dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-attacks-e2e-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Outcome {
  /** The exit code, or 'still running' when it neither exited nor printed `until` in time (then killed). */
  code: number | 'still running' | 'serving';
  output: string;
}

let n = 0;

/**
 * Runs `serve` with a fresh data directory; resolves when it exits, when its output contains
 * `until` ('serving'), or after PATIENCE_MS ('still running'); the process is killed in the last two cases.
 */
function serve(args: string[], env: Record<string, string> = {}, until?: string): Promise<Outcome> {
  const name = `p${n++}`;
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--data-dir', path.join(dir, name, 'data'), '--keys-dir', path.join(dir, name, 'keys'), '--workers', '1', ...args],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  return new Promise<Outcome>((resolve) => {
    let done = false;
    const finish = (code: Outcome['code']): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
      resolve({ code, output });
    };
    const onData = (d: Buffer): void => {
      output += d.toString();
      if (until !== undefined && output.includes(until)) finish('serving');
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => finish(code ?? -1));
    const timer = setTimeout(() => finish('still running'), PATIENCE_MS);
  });
}

function kekFile(): string {
  const file = path.join(dir, `kek-${n++}`);
  writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600 });
  return file;
}

function fifo(): string {
  const file = path.join(dir, `fifo-${n++}`);
  execFileSync('mkfifo', [file]);
  return file;
}

test('a listener refused after the gRPC port is bound (plain-HTTP admission on 0.0.0.0) ends the process', async () => {
  const grpcPort = await freePort();
  const r = await serve(['--listen', `127.0.0.1:${grpcPort}`, '--admission-listen', '0.0.0.0:0', '--log-level', 'warn']);
  expect(r.output).toMatch(/refusing to serve admission reviews over plain HTTP/);
  // Today it prints the error and keeps serving gRPC (development mode, here) indefinitely.
  expect(r.code).toBe(1);
}, 30_000);

test('a metrics port that cannot be bound ends the process (not gRPC left serving alone)', async () => {
  const grpcPort = await freePort();
  const r = await serve(['--listen', `127.0.0.1:${grpcPort}`, '--metrics-listen', 'not-an-address', '--log-level', 'warn']);
  expect(r.output).toMatch(/metrics listen address/);
  expect(r.code).toBe(1);
}, 30_000);

test('a config file that is a FIFO is refused, not waited on forever', async () => {
  const r = await serve(['--listen', '127.0.0.1:0', '--config', fifo()]);
  expect(r.code).toBe(1);
}, 30_000);

test('a KEK file that is a FIFO is refused, not waited on forever', async () => {
  const r = await serve(['--listen', '127.0.0.1:0'], { COUNTERSIGN_KEK_FILE: fifo() });
  expect(r.code).toBe(1);
}, 30_000);

test('the gate upstream’s credentials never reach the log', async () => {
  const r = await serve(
    [
      '--listen',
      '127.0.0.1:0',
      '--gate-listen',
      '127.0.0.1:0',
      '--gate-upstream',
      `https://robot:${SECRET}@127.0.0.1:1`,
      '--log-level',
      'info',
    ],
    { COUNTERSIGN_KEK_FILE: kekFile() },
    'registry gate serving',
  );
  // Refusing such an upstream at start-up is fine too; printing the password is not.
  expect(r.output).not.toContain(SECRET);
}, 30_000);

test('no KEK beyond loopback: exit 1 with one actionable line', async () => {
  const r = await serve(['--listen', '0.0.0.0:0']);
  expect(r.code).toBe(1);
  expect(r.output).toMatch(/no key-encryption key: set COUNTERSIGN_KEK_FILE/);
}, 30_000);

test('COUNTERSIGN_AUTH_MODE=dev beyond loopback: exit 1', async () => {
  const r = await serve(['--listen', '0.0.0.0:0'], { COUNTERSIGN_AUTH_MODE: 'dev', COUNTERSIGN_KEK_FILE: kekFile() });
  expect(r.code).toBe(1);
  expect(r.output).toMatch(/development mode .* only allowed on a loopback address/);
}, 30_000);

test('an unreachable store: exit 1, and the password is in no line it printed', async () => {
  const port = await freePort();
  const r = await serve(['--listen', '127.0.0.1:0', '--log-level', 'trace'], {
    COUNTERSIGN_STORE_URL: `postgres://countersign:${SECRET}@127.0.0.1:${port}/countersign`,
    COUNTERSIGN_KEK_FILE: kekFile(),
  });
  expect(r.code).toBe(1);
  expect(r.output).toMatch(/unreachable/);
  expect(r.output).not.toContain(SECRET);
}, 30_000);

test('a wrong COUNTERSIGN_KEK: exit 1 without printing it', async () => {
  const kek = randomBytes(24).toString('base64');
  const r = await serve(['--listen', '127.0.0.1:0', '--log-level', 'trace'], { COUNTERSIGN_KEK: kek });
  expect(r.code).toBe(1);
  expect(r.output).not.toContain(kek);
}, 30_000);

test('a config file with a misspelled security setting: exit 1 naming it', async () => {
  const file = path.join(dir, 'typo.yaml');
  writeFileSync(file, 'listen: 0.0.0.0:0\nauth:\n  tls: { certFile: s.crt, keyFile: s.key, clientCA: ca.crt }\n');
  const r = await serve(['--config', file]);
  expect(r.code).toBe(1);
  expect(r.output).toMatch(/auth\.tls\.clientCA: unknown field/);
}, 30_000);
