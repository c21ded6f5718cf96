/**
 * `countersign verify-bundle` as a sigstore-conformance client: scripts/conformance.mjs drives the
 * built command once per `bundle-verify` case (the harness contract of shared/vectors/INDEX.md §1)
 * and must report every case with its expected verdict. Needs dist/ (npm test builds it first).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/countersign');

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  if (!existsSync(path.join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does)');
});

test('the conformance script runs all 70 cases through the command: 70/70', () => {
  const run = spawnSync(process.execPath, [path.join(ROOT, 'scripts/conformance.mjs'), '--json'], { encoding: 'utf8', timeout: 600_000 });
  const report = JSON.parse(run.stdout) as {
    total: number;
    passed: number;
    results: Array<{ name: string; ok: boolean; got: string; reason: string }>;
  };
  expect(report.results.filter((r) => !r.ok)).toEqual([]);
  expect({ total: report.total, passed: report.passed, exit: run.status }).toEqual({ total: 70, passed: 70, exit: 0 });
  // Every rejection carries a reason, every acceptance names the signer.
  for (const r of report.results) expect(r.reason).toMatch(r.got === 'accept' ? /^OK: signed by / : /NOT VERIFIED: \S/);
}, 600_000);

test('usage errors exit 2; an unverifiable bundle exits 1 with the reason', () => {
  expect(cli(['verify-bundle', '--bundle', 'b.json', 'artifact']).code).toBe(2);
  expect(
    cli(['verify-bundle', '--bundle', 'b.json', '--key', 'k.pub', '--certificate-identity', 'x', '--certificate-oidc-issuer', 'y', 'a'])
      .code,
  ).toBe(2);
  const missing = cli(['verify-bundle', '--bundle', '/nonexistent.json', '--key', '/nonexistent.pub', 'sha256:' + '0'.repeat(64)]);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/NOT VERIFIED: cannot read the bundle \/nonexistent\.json/);
});

test('through the full CLI entry too (countersign help lists the command)', () => {
  const help = cli(['help']);
  expect(help.stdout).toContain('verify-bundle --bundle FILE');
});
