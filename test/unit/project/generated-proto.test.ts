/**
 * src/grpc/generated/ is what `npm run generate:proto` (proto-loader-gen-types) makes of proto/:
 * this fails when a proto/ change was committed without regenerating, so the message types the
 * handlers and the CLI compile against are the wire's. The generator runs with the script's own
 * arguments (read from package.json) into a temporary folder, and both trees are compared file by
 * file. The script's flags must also match how the server and the CLI load the protos
 * (LOADER_OPTIONS), or the types would describe other values than the ones decoded.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LOADER_OPTIONS, PROTO_FILES } from '../../../src/grpc/proto';

const ROOT = path.resolve(__dirname, '../../..');
const COMMITTED = path.join(ROOT, 'src/grpc/generated');
const packageJson = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: { 'generate:proto': string } };
const script = packageJson.scripts['generate:proto'];
const generatorCommand = script.slice(script.indexOf('proto-loader-gen-types'));
const args = generatorCommand.split(/\s+/).slice(1);

function tree(dir: string, rel = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(path.join(dir, rel)).sort()) {
    const r = path.join(rel, name);
    if (statSync(path.join(dir, r)).isDirectory()) for (const [k, v] of tree(dir, r)) out.set(k, v);
    else out.set(r, readFileSync(path.join(dir, r), 'utf8'));
  }
  return out;
}

test('the generator flags are the loader options the server and the CLI decode with', () => {
  expect(LOADER_OPTIONS).toMatchObject({ keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
  expect(args).toEqual(expect.arrayContaining(['--longs=Number', '--enums=String', '--defaults', '--oneofs']));
  expect(args).not.toContain('--keepCase');
  // Every proto the server loads is generated.
  for (const f of PROTO_FILES) expect(args).toContain(f);
});

test('src/grpc/generated is up to date with proto/ (run `npm run generate:proto`)', () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'countersign-gen-'));
  try {
    const outIndex = args.indexOf('-O');
    expect(outIndex).toBeGreaterThan(0);
    const run = [...args];
    run[outIndex + 1] = out;
    execFileSync(path.join(ROOT, 'node_modules/.bin/proto-loader-gen-types'), run, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    const fresh = tree(out);
    const committed = tree(COMMITTED);
    expect([...committed.keys()]).toEqual([...fresh.keys()]);
    for (const [file, text] of fresh) expect({ file, text: committed.get(file) }).toEqual({ file, text });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
