/**
 * The `countersign` command as CI runs it: the built bin against a `countersign serve` process and
 * the suite's real registry. Needs dist/ (npm test builds it first).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/dev/local-registry';
import { pushSampleImage } from '../../src/dev/sample-image';
import { RegistryClient } from '../../src/registry';
import { testRegistryHost, uniqueRepo } from '../support/harness';
import { listReferrers } from '../support/independent-verify';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/countersign');
const VECTORS = path.resolve(ROOT, '../shared/vectors');

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let dir: string;
let server: ChildProcess;
let address: string;
let serverOutput = '';
let host: string;
let pusher: RegistryClient;

beforeAll(async () => {
  if (!existsSync(path.join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does)');
  host = testRegistryHost();
  pusher = new RegistryClient({});
  dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-cli-'));
  address = `127.0.0.1:${await freePort()}`;
  server = spawn(process.execPath, [BIN, 'serve', '--listen', address, '--data-dir', path.join(dir, 'data')], {
    env: { ...process.env, COUNTERSIGN_KEYS_DIR: path.join(dir, 'keys') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    server.stdout!.on('data', (d: Buffer) => {
      serverOutput += d.toString();
      if (serverOutput.includes('countersign serving')) resolve();
    });
    server.stderr!.on('data', (d: Buffer) => (serverOutput += d.toString()));
    server.once('exit', (code) => reject(new Error(`serve exited with ${String(code)}: ${serverOutput}`)));
  });
  const created = cli(['keys', 'create', 'ci', '--server', address]);
  expect(created.code).toBe(0);
});

afterAll(async () => {
  await pusher.close();
  if (server.exitCode === null) server.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('keys: create, import (cosign.pub and cosign.key), list, show, rotate, revoke — public material only', () => {
  const r = cli(['keys', 'create', 'second', '--server', address, '--owner', 'platform', '--scope', `${host}/team-a/*`]);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^ {2}id: +[A-Za-z0-9+/]{43}=$/m);
  expect(r.stdout).toContain('-----BEGIN PUBLIC KEY-----');
  expect(r.stdout).toContain('scopes:      ' + `${host}/team-a/*`);
  expect(r.stdout).not.toContain('PRIVATE');
  const again = cli(['keys', 'create', 'second', '--server', address]);
  expect(again.code).toBe(1);
  expect(again.stderr).toMatch(/^countersign: ALREADY_EXISTS: /);

  const pub = cli([
    'keys',
    'import',
    'pc-example',
    '--public-key',
    path.join(VECTORS, 'policy-controller/examples/keys/cosign.pub'),
    '--server',
    address,
    '--json',
  ]);
  expect(pub.code).toBe(0);
  expect(JSON.parse(pub.stdout)).toMatchObject({ name: 'pc-example', purpose: 'KEY_PURPOSE_VERIFICATION', state: 'KEY_STATE_ACTIVE' });
  const cosignKey = path.join(VECTORS, 'cosign/pkg/cosign/keys_test.go.extracted/pemcosignkey.key');
  const wrong = cli(['keys', 'import', 'from-cosign', '--cosign-key', cosignKey, '--server', address], { COSIGN_PASSWORD: 'nope' });
  expect(wrong.code).toBe(1);
  expect(wrong.stderr).toMatch(/wrong password/);
  const imported = cli(['keys', 'import', 'from-cosign', '--cosign-key', cosignKey, '--server', address, '--json'], {
    COSIGN_PASSWORD: 'hello',
  });
  expect(imported.code).toBe(0);
  expect((JSON.parse(imported.stdout) as { purpose: string }).purpose).toBe('KEY_PURPOSE_SIGNING');
  expect(imported.stdout).not.toContain('PRIVATE');

  const rotated = cli(['keys', 'rotate', 'second', '--overlap', '1h', '--reason', 'scheduled', '--server', address, '--json']);
  expect(rotated.code).toBe(0);
  const rot = JSON.parse(rotated.stdout) as { previous: { id: string; state: string }; current: unknown };
  expect(rot.previous.state).toBe('KEY_STATE_ROTATED');
  expect(rot.current).toMatchObject({ name: 'second', version: 2, state: 'KEY_STATE_ACTIVE', predecessorId: rot.previous.id });

  const revoked = cli(['keys', 'revoke', rot.previous.id, '--reason', 'retired early', '--server', address]);
  expect(revoked.code).toBe(0);
  expect(revoked.stdout).toMatch(/revoked \(retired early\)/);
  expect(cli(['keys', 'revoke', 'second', '--server', address]).code).toBe(2); // --reason is required

  const list = JSON.parse(cli(['keys', 'list', '--server', address, '--json']).stdout) as Array<{
    name: string;
    version: number;
    state: string;
  }>;
  expect(list.map((k) => `${k.name}:${k.version}:${k.state}`)).toEqual(
    expect.arrayContaining([
      'ci:1:KEY_STATE_ACTIVE',
      'second:1:KEY_STATE_REVOKED',
      'second:2:KEY_STATE_ACTIVE',
      'pc-example:1:KEY_STATE_ACTIVE',
      'from-cosign:1:KEY_STATE_ACTIVE',
    ]),
  );
  const show = cli(['keys', 'show', 'second', '--server', address]);
  expect(show.stdout).toMatch(/^second v2 {2}active/);
});

test('sign and attest through the CLI; --json output; COUNTERSIGN_SERVER is honoured', async () => {
  const repository = uniqueRepo('cli');
  const img = await pushSampleImage(pusher, { registry: host, repository }, 'v1');
  const ref = `${host}/${repository}:v1`;

  const signed = cli(['sign', ref, '--key', 'ci', '--server', address, '-a', 'pipeline=42']);
  expect(signed.code).toBe(0);
  expect(signed.stdout).toContain(img.digest);

  const json = cli(['sign', ref, '--key', 'ci', '--json'], { COUNTERSIGN_SERVER: address });
  expect(json.code).toBe(0);
  const parsed = JSON.parse(json.stdout) as { digest: string; bundle: { mediaType: string } };
  expect(parsed.digest).toBe(img.digest);
  expect(parsed.bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');

  const grype = path.join(VECTORS, 'grype/grype/presenter/json/testdata/snapshot/TestJsonImgsPresenter.golden');
  const refused = cli(['attest', ref, '--key', 'ci', '--type', 'vuln', '--predicate', grype, '--server', address]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/^countersign: INVALID_ARGUMENT: .*--scan-time/);
  expect(refused.stderr.trim().split('\n')).toHaveLength(1);
  const attested = cli([
    'attest',
    ref,
    '--key',
    'ci',
    '--type',
    'vuln',
    '--predicate',
    grype,
    '--scan-time',
    new Date().toISOString(),
    '--server',
    address,
  ]);
  expect(attested.code).toBe(0);
  expect(attested.stdout).toContain('https://cosign.sigstore.dev/attestation/vuln/v1');

  const { manifests } = await listReferrers(host, repository, img.digest);
  expect(manifests).toHaveLength(3);
});

test('verify: exit 0 allowed, 1 denied with reasons, 2 on error; --json', async () => {
  const repository = uniqueRepo('cli-verify');
  const signedImg = await pushSampleImage(pusher, { registry: host, repository }, 'signed');
  await pushSampleImage(pusher, { registry: host, repository }, 'unsigned');
  expect(cli(['sign', `${host}/${repository}:signed`, '--key', 'ci', '--server', address]).code).toBe(0);

  const allowed = cli(['verify', `${host}/${repository}:signed`, '--server', address, '--namespace', 'prod']);
  expect(allowed.code).toBe(0);
  expect(allowed.stdout).toMatch(/^ALLOWED /);
  expect(allowed.stdout).toContain(signedImg.digest);
  expect(allowed.stdout).toContain('verified (key ci)');

  const denied = cli(['verify', `${host}/${repository}:unsigned`, '--server', address, '--action', 'pull']);
  expect(denied.code).toBe(1);
  expect(denied.stdout).toMatch(/^DENIED /);
  expect(denied.stdout).toMatch(/FAIL signatures: /);

  const json = cli(['verify', `${host}/${repository}:signed`, '--server', address, '--json']);
  expect(json.code).toBe(0);
  const parsed = JSON.parse(json.stdout) as { policyRevision: string };
  expect(parsed).toMatchObject({ allowed: true, digest: signedImg.digest, rule: '(default)', mode: 'MODE_ENFORCE' });
  expect(parsed.policyRevision).toBe('default');

  const error = cli(['verify', `${host}/${repository}:signed`, '--server', '127.0.0.1:1', '--timeout', '3']);
  expect(error.code).toBe(2);
  expect(error.stderr).toMatch(/^countersign: /);
  expect(cli(['verify', `${host}/${repository}:signed`, '--action', 'launch', '--server', address]).code).toBe(2);
});

test('keys rotate --overlap 0: the CLI says the old version stopped verifying, and an image it signed is denied at once', async () => {
  const repository = uniqueRepo('cli-rot0');
  await pushSampleImage(pusher, { registry: host, repository }, 'v1');
  const ref = `${host}/${repository}:v1`;
  expect(cli(['keys', 'create', 'zero', '--server', address]).code).toBe(0);
  expect(cli(['sign', ref, '--key', 'zero', '--server', address]).code).toBe(0);
  expect(cli(['verify', ref, '--server', address]).code).toBe(0);

  const rotated = cli(['keys', 'rotate', 'zero', '--overlap', '0', '--reason', 'leak suspected', '--server', address]);
  expect(rotated.code).toBe(0);
  expect(rotated.stdout).toMatch(/^rotated zero: version 2 signs from now on; version 1 stopped verifying at once \(no overlap\)/);

  const denied = cli(['verify', ref, '--server', address]);
  expect(denied.code).toBe(1);
  expect(denied.stdout).toMatch(/^DENIED /);
  expect(denied.stdout).toMatch(/not verified: .*expired/);
});

test('every command answers --help with its usage and exit 0; package.json main is the library entry', () => {
  for (const command of [
    ['serve'],
    ['sign'],
    ['attest'],
    ['verify'],
    ['keys'],
    ['keys', 'rotate'],
    ['token'],
    ['token', 'create'],
    ['audit'],
    ['audit', 'verify'],
  ]) {
    const r = cli([...command, '--help']);
    expect({ command, code: r.code, stderr: r.stderr }).toEqual({ command, code: 0, stderr: '' });
    expect(r.stdout.startsWith(`usage: countersign ${command.join(' ')} `)).toBe(true);
  }
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { main: string };
  const lib = createRequire(__filename)(path.join(ROOT, pkg.main)) as Record<string, unknown>; // loaded as CommonJS consumers load it
  for (const name of ['createApp', 'loadConfig', 'defaultConfig', 'createLogger', 'main']) expect(typeof lib[name]).toBe('function');
});

test('failures exit non-zero with one actionable line', () => {
  const unknownKey = cli(['sign', `${host}/nowhere/app:v1`, '--key', 'nope', '--server', address]);
  expect(unknownKey.code).toBe(1);
  expect(unknownKey.stderr).toMatch(/^countersign: NOT_FOUND: .*nope/);
  expect(unknownKey.stderr.trim().split('\n')).toHaveLength(1);

  const noServer = cli(['sign', `${host}/a/b:v1`, '--key', 'ci', '--server', '127.0.0.1:1', '--timeout', '3']);
  expect(noServer.code).toBe(1);
  expect(noServer.stderr).toMatch(/^countersign: (UNAVAILABLE|DEADLINE_EXCEEDED): /);

  const missingFile = cli([
    'attest',
    `${host}/a/b:v1`,
    '--key',
    'ci',
    '--type',
    'spdx',
    '--predicate',
    '/nonexistent.json',
    '--server',
    address,
  ]);
  expect(missingFile.code).toBe(1);
  expect(missingFile.stderr).toContain('cannot read predicate file');

  const usage = cli(['sign', '--server', address]);
  expect(usage.code).toBe(2);
  expect(usage.stderr).toContain('expected exactly one IMAGE');
});

test('serve logs one JSON line per call and stops cleanly on SIGTERM', async () => {
  const repository = uniqueRepo('cli-log');
  await pushSampleImage(pusher, { registry: host, repository }, 'v1');
  expect(cli(['sign', `${host}/${repository}:v1`, '--key', 'ci', '--server', address]).code).toBe(0);
  expect(cli(['sign', `${host}/${repository}:v1`, '--key', 'absent', '--server', address]).code).toBe(1);
  await new Promise((r) => setTimeout(r, 200));
  const lines = serverOutput
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const calls = lines.filter((l) => l.method === 'countersign.v1.SigningService/Sign');
  if (calls.length < 2) throw new Error(`expected call log lines, got:\n${serverOutput}`);
  expect(calls.filter((c) => c.image === `${host}/${repository}:v1`).map((c) => c.status)).toEqual(['OK', 'NOT_FOUND']);
  for (const c of calls) {
    expect(typeof c.durationMs).toBe('number');
    expect(typeof c.status).toBe('string');
    expect(typeof c.image).toBe('string');
  }
  expect(serverOutput).not.toContain('PRIVATE KEY');
  const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
  server.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(serverOutput).toContain('"msg":"stopped"');
});

test('after a restart every key, state and audit entry is still there; audit verify detects a corrupted entry', async () => {
  expect(server.exitCode).not.toBeNull(); // stopped by the previous test
  const dataDir = path.join(dir, 'data');
  const before = cli(['audit', 'verify', '--data-dir', dataDir]);
  expect(before.code).toBe(0);
  const head = /head (\d+):([0-9a-f]{64})/.exec(before.stdout)!;
  expect(Number(head[1])).toBeGreaterThanOrEqual(6);
  const listed = cli(['audit', 'list', '--data-dir', dataDir, '--json']);
  const entries = JSON.parse(listed.stdout) as Array<{ action: string; target: string; actor: string }>;
  expect(entries.map((e) => `${e.action}:${e.target}`)).toEqual(
    expect.arrayContaining(['key.create:ci', 'key.create:second', 'key.import:pc-example', 'key.rotate:second', 'key.revoke:second']),
  );

  // Restart on the same data directory.
  const again = spawn(process.execPath, [BIN, 'serve', '--listen', address, '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      again.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('countersign serving')) resolve();
      });
      again.once('exit', (code) => reject(new Error(`serve exited with ${String(code)}: ${out}`)));
    });
    const list = JSON.parse(cli(['keys', 'list', '--server', address, '--json']).stdout) as Array<{
      name: string;
      version: number;
      state: string;
    }>;
    expect(list.map((k) => `${k.name}:${k.version}:${k.state}`).sort()).toEqual(
      [
        'ci:1:KEY_STATE_ACTIVE',
        'from-cosign:1:KEY_STATE_ACTIVE',
        'pc-example:1:KEY_STATE_ACTIVE',
        'second:1:KEY_STATE_REVOKED',
        'second:2:KEY_STATE_ACTIVE',
        'zero:1:KEY_STATE_ROTATED',
        'zero:2:KEY_STATE_ACTIVE',
      ].sort(),
    );
  } finally {
    again.kill('SIGTERM');
    await new Promise((r) => again.once('exit', r));
  }
  expect(cli(['audit', 'verify', '--data-dir', dataDir, '--expect-head', `${head[1]!}:${head[2]!}`]).code).toBe(0);

  // Tamper with one entry directly in the database (as someone with file access could).
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(path.join(dataDir, 'countersign.db'));
  const triggers = db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'").all() as Array<{
    name: string;
  }>;
  for (const t of triggers) db.exec(`DROP TRIGGER "${t.name}"`);
  db.prepare("UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 2").run();
  db.close();
  const broken = cli(['audit', 'verify', '--data-dir', dataDir]);
  expect(broken.code).toBe(1);
  expect(broken.stdout).toMatch(/AUDIT CHAIN BROKEN at entry 2/);
});
