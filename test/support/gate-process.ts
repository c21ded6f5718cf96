/**
 * `countersign gate` as its own process (the built bin), in front of the suite's registry,
 * asking the Countersign at `server`. Needs dist/ (npm test builds it first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { freePort } from '../../src/dev/local-registry';

const BIN = path.resolve(__dirname, '../../bin/countersign');

export interface GateProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** Starts it and resolves once it says it is serving; `env` is added to this process's environment. */
export async function startGateProcess(upstream: string, server: string, env: Record<string, string> = {}): Promise<GateProcess> {
  const port = await freePort();
  let output = '';
  const child = spawn(process.execPath, [BIN, 'gate', '--listen', `127.0.0.1:${port}`, '--upstream', upstream, '--server', server], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      if (output.includes('registry gate serving')) resolve();
    });
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('exit', (code) => reject(new Error(`gate exited with ${String(code)}: ${output}`)));
  });
  return { child, url: `http://127.0.0.1:${port}`, output: () => output };
}

export async function stopGateProcess(g: GateProcess | undefined): Promise<void> {
  if (!g || g.child.exitCode !== null) return;
  const exited = new Promise((r) => g.child.once('exit', r));
  g.child.kill('SIGTERM');
  await exited;
}
