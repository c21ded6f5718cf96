/**
 * Shutdown with a slow registry (issue 7 item 13), as an operator sees it: `countersign serve`
 * (the built bin, a real process) talks to the suite's real registry through a link that delivers
 * response bodies one byte per second. A Verify is in flight, waiting on such a body, when the
 * process gets SIGTERM: it must exit within its grace (plus a margin for process teardown),
 * because the registry requests still in flight are aborted when the grace is over. Before the
 * fix the process stayed up, waiting for the bodies to trickle in.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/dev/local-registry';
import { pushSampleImage } from '../../src/dev/sample-image';
import { RegistryClient } from '../../src/registry';
import { testRegistryHost, uniqueRepo } from '../support/harness';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/countersign');
const GRACE_MS = 1000;
/** Process start-up of the teardown (closing the database, flushing logs) is not the grace's job. */
const MARGIN_MS = 5000;

/** A reverse proxy to the real registry that sends headers at once and bodies one byte per second. */
class SlowLink {
  readonly trickling: Promise<void>;
  private startTrickle!: () => void;
  private readonly timers = new Set<NodeJS.Timeout>();
  private server!: http.Server;
  host = '';

  constructor(private readonly upstream: string) {
    this.trickling = new Promise<void>((resolve) => (this.startTrickle = resolve));
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const up = http.request(
        {
          host: this.upstream.split(':')[0],
          port: Number(this.upstream.split(':')[1]),
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: this.upstream },
        },
        (upRes) => {
          const chunks: Buffer[] = [];
          upRes.on('data', (c: Buffer) => chunks.push(c));
          upRes.on('end', () => {
            const body = Buffer.concat(chunks);
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            if (req.method === 'HEAD' || body.length === 0) {
              res.end();
              return;
            }
            res.flushHeaders();
            this.startTrickle();
            let i = 0;
            const tick = (): void => {
              if (res.destroyed) return;
              res.write(body.subarray(i, i + 1));
              if (++i >= body.length) return void res.end();
              const t = setTimeout(() => {
                this.timers.delete(t);
                tick();
              }, 1000);
              this.timers.add(t);
            };
            tick();
          });
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.host = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let dir: string;
let link: SlowLink;
let pusher: RegistryClient;
const children: ChildProcess[] = [];

beforeAll(async () => {
  if (!existsSync(path.join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does)');
  dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-shutdown-'));
  link = new SlowLink(testRegistryHost());
  await link.start();
  pusher = new RegistryClient({});
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await link.close();
  await pusher.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('SIGTERM during a Verify stuck on a 1 byte/s registry: the process exits within the grace', async () => {
  const repository = uniqueRepo('slow-shutdown');
  await pushSampleImage(pusher, { registry: testRegistryHost(), repository }, 'v1');

  // Neither the per-request timeout nor the Verify bound may end the wait: only shutdown can.
  const configFile = path.join(dir, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      shutdownGraceMs: GRACE_MS,
      registry: { timeoutMs: 300_000, maxRetries: 0 },
      verification: { maxDurationMs: 300_000 },
    }),
  );
  const address = `127.0.0.1:${await freePort()}`;
  const server = spawn(
    process.execPath,
    [BIN, 'serve', '--config', configFile, '--listen', address, '--data-dir', path.join(dir, 'data')],
    {
      env: { ...process.env, COUNTERSIGN_KEYS_DIR: path.join(dir, 'keys') },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(server);
  let output = '';
  const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    server.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      if (output.includes('countersign serving')) resolve();
    });
    server.stderr.on('data', (d: Buffer) => (output += d.toString()));
    void exited.then((code) => reject(new Error(`serve exited with ${String(code)}: ${output}`)));
  });

  const verify = spawn(process.execPath, [BIN, 'verify', `${link.host}/${repository}:v1`, '--server', address, '--timeout', '300'], {
    stdio: 'ignore',
  });
  children.push(verify);
  // The service is now reading a registry response body that takes minutes to arrive.
  await link.trickling;

  server.kill('SIGTERM');
  const outcome = await Promise.race([
    exited.then((code) => ({ exited: true, code })),
    new Promise<{ exited: false }>((resolve) => setTimeout(() => resolve({ exited: false }), GRACE_MS + MARGIN_MS)),
  ]);
  if (!outcome.exited)
    throw new Error(`countersign serve was still running ${GRACE_MS + MARGIN_MS} ms after SIGTERM (grace ${GRACE_MS} ms):\n${output}`);
  expect(outcome).toEqual({ exited: true, code: 0 });
  expect(output).toContain('"msg":"stopped"');
});
