#!/usr/bin/env node
// Runs `countersign verify-bundle` as a sigstore-conformance client on every `bundle-verify` case,
// one process per case, following the harness contract (shared/vectors/INDEX.md §1):
//   bundle = CASE/bundle.sigstore.json; artifact = CASE/artifact or bundle-verify/a.txt;
//   trusted root = CASE/trusted_root.json or the Sigstore production root;
//   CASE/key.pub => --key, else --certificate-identity/--certificate-oidc-issuer (CASE/identity,
//   CASE/issuer or the conformance beacon defaults); a folder name ending in _fail must be rejected.
//
// usage: node scripts/conformance.mjs (or npm run conformance) [--cases DIR] [--production-root FILE] [--bin FILE] [--json]
// exit 0 when every case gives its expected verdict, 1 otherwise. Needs dist/ (npm run build).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = path.resolve(ROOT, '..', 'shared', 'vectors');
const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: path.join(SHARED, 'sigstore-conformance/test/assets/bundle-verify') },
    'production-root': {
      type: 'string',
      default: path.join(SHARED, 'sigstore-python/sigstore/_store/tuf-repo-cdn.sigstore.dev/trusted_root.json'),
    },
    bin: { type: 'string', default: path.join(ROOT, 'bin/countersign') },
    json: { type: 'boolean', default: false },
  },
});

const DEFAULT_IDENTITY =
  'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const DEFAULT_ISSUER = 'https://token.actions.githubusercontent.com';

// Countersign needs Node 24: the project installs it (node_modules/.bin/node) for older system Nodes.
const NODE = Number(process.versions.node.split('.')[0]) >= 24 ? process.execPath : path.join(ROOT, 'node_modules/.bin/node');

if (!existsSync(path.join(ROOT, 'dist/cli/main.js'))) {
  process.stderr.write('conformance: dist/ is missing; run `npm run build` first\n');
  process.exit(2);
}
const casesDir = values.cases;
const cases = readdirSync(casesDir)
  .filter((d) => statSync(path.join(casesDir, d)).isDirectory())
  .sort();
const results = [];
for (const name of cases) {
  const at = (f) => path.join(casesDir, name, f);
  const read = (f) => readFileSync(at(f), 'utf8').trim();
  const artifact = existsSync(at('artifact')) ? at('artifact') : path.join(casesDir, 'a.txt');
  const root = existsSync(at('trusted_root.json')) ? at('trusted_root.json') : values['production-root'];
  const who = existsSync(at('key.pub'))
    ? ['--key', at('key.pub')]
    : [
        '--certificate-identity',
        existsSync(at('identity')) ? read('identity') : DEFAULT_IDENTITY,
        '--certificate-oidc-issuer',
        existsSync(at('issuer')) ? read('issuer') : DEFAULT_ISSUER,
      ];
  const args = ['verify-bundle', '--bundle', at('bundle.sigstore.json'), ...who, '--trusted-root', root, artifact];
  const run = spawnSync(NODE, [values.bin, ...args], { encoding: 'utf8', timeout: 60_000 });
  const expected = name.endsWith('_fail') ? 'reject' : 'accept';
  // Exit 0 = verified; 1 = not verified (with a reason). Anything else (usage error, crash,
  // signal) is a harness failure whatever the case expects.
  const got = run.status === 0 ? 'accept' : run.status === 1 ? 'reject' : `error (exit ${run.status ?? run.signal})`;
  const reason = (run.status === 0 ? run.stdout : run.stderr).trim().split('\n').pop() ?? '';
  results.push({ name, expected, got, ok: got === expected, reason });
}

const failed = results.filter((r) => !r.ok);
if (values.json) {
  process.stdout.write(`${JSON.stringify({ total: results.length, passed: results.length - failed.length, results }, null, 2)}\n`);
} else {
  for (const r of results)
    process.stdout.write(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}: ${r.got}${r.ok ? '' : ` (expected ${r.expected})`} — ${r.reason}\n`);
  process.stdout.write(`${results.length - failed.length}/${results.length} conformance cases as expected\n`);
}
process.exit(failed.length === 0 && results.length > 0 ? 0 : 1);
