/**
 * Runs a snippet of JavaScript in a separate Node process that can `require` the project's
 * TypeScript sources. Node 24 strips types natively, but this project imports without file
 * extensions ('../shared/errors'), which Node does not resolve to '.ts'; a synchronous resolve hook
 * (module.registerHooks) retries relative specifiers with '.ts'. The sources must therefore use
 * only erasable TypeScript syntax (no enums, namespaces or constructor parameter properties).
 *
 * Used by the tests that need a real second process: a writer killed with SIGKILL mid-write, and
 * two writers appending to the same audit log at once.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';

export const SRC = path.resolve(__dirname, '../../../src');

const PRELUDE = `
const { registerHooks } = require('node:module');
registerHooks({
  resolve(specifier, context, next) {
    try {
      return next(specifier, context);
    } catch (err) {
      if (/^\\.\\.?\\//.test(specifier)) return next(specifier + '.ts', context);
      throw err;
    }
  },
});
const SRC = ${JSON.stringify(SRC)};
`;

/** Starts `node -e PRELUDE + body`; `process.argv.slice(1)` in the body are `args`. */
export function spawnTs(body: string, args: string[] = []): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--no-warnings', '-e', PRELUDE + body, '--', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Waits for the child to exit; resolves with its exit code, signal, stdout and stderr. */
export function collect(
  child: ChildProcessWithoutNullStreams,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
