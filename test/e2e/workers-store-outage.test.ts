/**
 * `serve --workers 2` on a real PostgreSQL that stops while it serves, and comes back: an outage
 * after start-up is survived, not a crash loop.
 * - while PostgreSQL is down the service keeps answering Verify on every worker (denying, with a
 *   reason, what needs the store: onError deny), readiness is false, and no worker exits (so none
 *   needs restarting while the store cannot be reached);
 * - once PostgreSQL is back, readiness is true again and every worker allows again: the same two
 *   worker processes, both alive;
 * - PostgreSQL down at boot is a clear start-up error (the primary exits 1 naming the store).
 * Real PostgreSQL (its own throwaway cluster: stopping the suite's would disturb other tests), the
 * real registry, `countersign serve` as a separate process. Bounded polling, never a duration
 * asserted. Needs dist/ (npm test builds it first).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { call, keyClient, type UnaryClient } from '../../src/cli/client';
import { freePort } from '../../src/dev/local-registry';
import { serviceConstructor } from '../../src/grpc/proto';
import { pushSampleImage } from '../../src/dev/sample-image';
import { RegistryClient } from '../../src/registry';
import { testRegistryHost, uniqueRepo } from '../support/harness';
import { sharedKek, startPostgres, type LocalPostgres } from '../support/postgres';
import { startServeProcess, type ServeProcess } from '../support/serve-process';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/countersign');
const run = promisify(execFile);

interface VerifyResponse {
  allowed: boolean;
  reasons: string[];
}

let dir: string;
let postgres: LocalPostgres;
let pusher: RegistryClient;
const serves: ServeProcess[] = [];
const kek = sharedKek();
const clients: UnaryClient[] = [];

beforeAll(async () => {
  if (!existsSync(path.join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does)');
  dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-workers-outage-'));
  pusher = new RegistryClient({});
  postgres = await startPostgres();
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const serve of serves) {
    serve.signer.close();
    if (serve.process.exitCode === null && serve.process.signalCode === null) {
      const exited = new Promise((done) => serve.process.once('exit', done));
      serve.process.kill('SIGTERM');
      await exited;
    }
  }
  await pusher.close();
  await postgres.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A Verify client on a connection of its own (no subchannel shared with other clients). */
function ownConnection(address: string): UnaryClient {
  const Ctor = serviceConstructor('VerificationService');
  return new Ctor(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }) as unknown as UnaryClient;
}

/** The pids of `pid`'s live child processes (from /proc: the cluster's workers). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields[0]: state (Z: a zombie is not alive), fields[1]: ppid
      if (Number(fields[1]) === pid && fields[0] !== 'Z') out.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return out.sort((a, b) => a - b);
}

/**
 * The workers that serve: live children of the primary that it has logged as serving (a child
 * that is still starting, or failing to, is not one).
 */
function servingWorkers(serve: ServeProcess): number[] {
  const announced = new Set<number>();
  for (const line of serve.output.split('\n')) {
    const pid = line.includes('"msg":"worker serving"') ? /"pid":(\d+),/.exec(line)?.[1] : undefined;
    if (pid) announced.add(Number(pid));
  }
  return childrenOf(serve.process.pid!).filter((pid) => announced.has(pid));
}

async function readyz(port: number): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: res.status, body: await res.text() };
}

/**
 * Asks `ask` until `done` says yes, at most `attempts` times 100 ms apart; returns the last answer.
 * A rejected ask counts as not done (a connection to a killed worker fails once, then reconnects);
 * if the last one rejected, so does this.
 */
async function pollUntil<T>(ask: () => Promise<T>, done: (answer: T) => boolean, attempts = 150): Promise<T> {
  let last: { answer: T } | { error: unknown } = { error: new Error('never asked') };
  for (let i = 0; i < attempts; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 100));
    try {
      last = { answer: await ask() };
      if (done(last.answer)) break;
    } catch (error) {
      last = { error };
    }
  }
  if ('error' in last) throw last.error;
  return last.answer;
}

/** `serve --workers 2` on the test's PostgreSQL, with an image signed and allowed on every connection. */
async function serveOnPostgres(name: string) {
  const metricsPort = await freePort();
  const started = await startServeProcess(
    dir,
    name,
    { COUNTERSIGN_STORE_URL: postgres.url, COUNTERSIGN_KEK: kek, COUNTERSIGN_METRICS_LISTEN: `127.0.0.1:${metricsPort}` },
    ['--workers', '2', '--log-level', 'info'],
  );
  serves.push(started);
  const workers = await pollUntil(
    () => Promise.resolve(servingWorkers(started)),
    (pids) => pids.length === 2,
  );
  expect(workers).toHaveLength(2);
  const host = testRegistryHost();
  const repository = uniqueRepo(`workers-${name}`);
  const image = await pushSampleImage(pusher, { registry: host, repository }, 'v1');
  const ref = `${host}/${repository}@${image.digest}`;
  await call(started.signer, 'Sign', { image: ref, key: 'ci' }, 60_000);
  // Eight connections of their own: the primary hands connections to the workers round-robin, so
  // both workers answer some of them.
  const own = Array.from({ length: 8 }, () => ownConnection(started.address));
  clients.push(...own);
  const verifyOnEvery = () =>
    Promise.all(own.map((c) => call<VerifyResponse>(c, 'Verify', { image: ref, action: 'ACTION_DEPLOY' }, 10_000)));
  const allowedByAll = await pollUntil(verifyOnEvery, (answers) => answers.every((a) => a.allowed));
  expect(allowedByAll.map((a) => a.allowed)).toEqual(Array(8).fill(true));
  return { serve: started, workers, metricsPort, ref, verifyOnEvery };
}

/** Stops PostgreSQL and waits for readiness to say so; then every connection is answered with a denial that says why. */
async function stopPostgres(metricsPort: number, verifyOnEvery: () => Promise<VerifyResponse[]>): Promise<void> {
  await postgres.stop();
  const down = await pollUntil(
    () => readyz(metricsPort),
    (r) => r.status === 503,
  );
  expect(down).toMatchObject({ status: 503, body: expect.stringMatching(/store/) as unknown });
  const deniedByAll = await pollUntil(verifyOnEvery, (answers) => answers.every((a) => !a.allowed));
  for (const answer of deniedByAll) {
    expect(answer.allowed).toBe(false);
    expect(answer.reasons.join('\n')).toMatch(/store cannot be relied on.*onError: deny/s);
  }
}

/** Starts PostgreSQL again and waits until readiness is back and every connection allows again. */
async function startPostgresAgain(metricsPort: number, verifyOnEvery: () => Promise<VerifyResponse[]>): Promise<void> {
  await postgres.start();
  const up = await pollUntil(
    () => readyz(metricsPort),
    (r) => r.status === 200,
    300,
  );
  expect(up).toMatchObject({ status: 200 });
  const allowedAgain = await pollUntil(verifyOnEvery, (answers) => answers.every((a) => a.allowed));
  expect(allowedAgain.map((a) => a.allowed)).toEqual(Array(8).fill(true));
}

test('PostgreSQL stopped under serve --workers 2: every worker keeps answering (fail closed, not ready), none exits; all is back when it returns', async () => {
  const { serve, workers, metricsPort, ref, verifyOnEvery } = await serveOnPostgres('outage');
  await stopPostgres(metricsPort, verifyOnEvery);
  // What writes the store is refused with a reason, and kills nothing.
  const keys = keyClient(serve.address);
  clients.push(keys);
  await expect(call(keys, 'CreateKey', { name: 'during-outage' }, 10_000)).rejects.toMatchObject({
    code: grpc.status.UNAVAILABLE,
    details: expect.stringMatching(/PostgreSQL/) as unknown,
  });
  await expect(call(serve.signer, 'Sign', { image: ref, key: 'ci' }, 20_000)).rejects.toMatchObject({
    details: expect.stringMatching(/PostgreSQL|store/) as unknown,
  });
  // Longer than a revision check and a listener reconnect attempt: still the same two workers.
  await new Promise((r) => setTimeout(r, 4000));
  expect((await verifyOnEvery()).every((a) => !a.allowed)).toBe(true);
  expect(servingWorkers(serve)).toEqual(workers);
  expect(serve.process.exitCode).toBeNull();

  await startPostgresAgain(metricsPort, verifyOnEvery);
  expect(servingWorkers(serve)).toEqual(workers);
  expect(serve.process.exitCode).toBeNull();
  expect(serve.output).not.toMatch(/worker died|workers keep dying|failed to start/);
});

test('a worker that dies while PostgreSQL is down: the other keeps answering, its replacement waits for the store, both serve once it is back', async () => {
  const { serve, workers, metricsPort, verifyOnEvery } = await serveOnPostgres('replace');
  await stopPostgres(metricsPort, verifyOnEvery);
  const [killed, survivor] = workers as [number, number];
  process.kill(killed, 'SIGKILL');
  // The replacement cannot open the store: the primary keeps trying (backing off), the service stays up.
  const restartsFailing = await pollUntil(
    () => Promise.resolve((serve.output.match(/worker failed to start/g) ?? []).length),
    (n) => n >= 2,
  );
  expect(restartsFailing).toBeGreaterThanOrEqual(2);
  expect(serve.process.exitCode).toBeNull();
  expect(servingWorkers(serve)).toEqual([survivor]);
  // Answered by the survivor (connections to the killed worker fail once and reconnect to it).
  const answeredBySurvivor = await pollUntil(verifyOnEvery, (answers) => answers.every((a) => !a.allowed));
  expect(answeredBySurvivor.map((a) => a.allowed)).toEqual(Array(8).fill(false));

  await startPostgresAgain(metricsPort, verifyOnEvery);
  // Its replacement serves: two serving workers again, the survivor and a new one.
  const serving = await pollUntil(
    () => Promise.resolve(servingWorkers(serve)),
    (pids) => pids.length === 2,
    400, // the next restart may be a few doubled delays away
  );
  expect(serving).toHaveLength(2);
  expect(serving).toContain(survivor);
  expect(serving).not.toContain(killed);
  expect((await verifyOnEvery()).every((a) => a.allowed)).toBe(true);
  expect(serve.process.exitCode).toBeNull();
});

test('PostgreSQL down at boot: serve --workers 2 exits 1 with an error naming the store', async () => {
  const down = await startPostgres();
  const url = down.url;
  await down.destroy();
  const started = run(process.execPath, [BIN, 'serve', '--listen', `127.0.0.1:${await freePort()}`, '--workers', '2'], {
    env: {
      ...process.env,
      COUNTERSIGN_STORE_URL: url,
      COUNTERSIGN_KEK: sharedKek(),
      COUNTERSIGN_DATA_DIR: path.join(dir, 'boot', 'data'),
      COUNTERSIGN_KEYS_DIR: path.join(dir, 'boot', 'keys'),
    },
  });
  const failure = (await started.then(
    () => undefined,
    (err: unknown) => err,
  )) as { code?: number; stdout?: string; stderr?: string } | undefined;
  expect(failure?.code).toBe(1);
  expect(`${failure?.stdout ?? ''}${failure?.stderr ?? ''}`).toMatch(/PostgreSQL .*127\.0\.0\.1.*(connect|refused|does not answer)/is);
});
