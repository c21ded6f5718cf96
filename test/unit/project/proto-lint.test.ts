/**
 * `buf lint` (buf.yaml: STANDARD + COMMENTS) is clean on proto/, so that the suite fails on a
 * proto change that breaks the style (a shared response message, an element without a comment)
 * even where .ci/run's `npm run lint:proto` is not run. The buf binary is the npm package's.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');

test('buf lint finds nothing in proto/', () => {
  const bin = path.join(ROOT, 'node_modules', '.bin', 'buf');
  let out: string;
  try {
    out = execFileSync(bin, ['lint'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    out = `${e.stdout ?? ''}${e.stderr ?? ''}` || String(err);
  }
  expect(out).toBe('');
});
