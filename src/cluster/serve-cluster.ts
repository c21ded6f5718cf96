/**
 * `countersign serve --workers N`: N worker processes (Node cluster) sharing the listening sockets
 * (gRPC, admission webhook, registry gate, metrics: the primary accepts, each connection goes to
 * one worker, round-robin) and one SQLite data directory (WAL, busy timeout: src/store).
 *
 * Shared state: every worker holds in-memory copies of the trust store and token grants (see
 * src/store/store-changes.ts). A worker that changes keys or tokens tells the primary, the primary
 * tells every other worker (whose copies re-read the store: StoreChanges.markStale) and only then
 * acknowledges; the worker's answer to the call that made the change waits for that
 * acknowledgement. Connections reach workers through the same IPC channel the notice used, after
 * it, so a call made after the answer, on any connection, sees the change. Changes made by
 * another process (the CLI) are seen within the store's change-check interval, as with one process. The
 * policy file is watched by each worker.
 *
 * The primary restarts a worker that dies (and logs it). Before any worker has served, a worker
 * that fails to start is a startup error (a bad configuration, the store unreachable at boot: the
 * primary stops everything and exits 1). Once the service has served, a death or a replacement
 * that fails to start (the shared PostgreSQL is down: a new worker cannot open the store, while
 * the running ones keep answering from memory) is retried with a doubling delay instead: an outage
 * of the store must not leave the service without workers once it is back. SIGTERM/SIGINT drain
 * every worker (each stops as `serve` does: in-flight calls finish within the grace period).
 */
import cluster, { type Worker } from 'node:cluster';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { App } from '../app';
import type { Logger } from '../logging/logger';
import { WorkerMetricsTotals, isWorkerMetrics, startMetricsServer, type MetricsServer, type WorkerMetrics } from '../metrics';
import { CountersignError } from '../shared/errors';
import { CLUSTER_PRIMARY_ENV, isLockMessage, PrimaryLockTable } from './cluster-write-lock';
import { servingHeapFlags } from './heap-flags';

type Message =
  | { countersign: 'ready'; port: number }
  | { countersign: 'changed'; seq: number }
  | { countersign: 'changed-ack'; seq: number }
  // `id`: the sibling answers stale-ack once it has marked its copies stale (see `changed`).
  | { countersign: 'stale'; id?: number }
  | { countersign: 'stale-ack'; id: number }
  | { countersign: 'stop' }
  // The metrics port (served by the primary): readiness and, for /metrics, the worker's registry.
  | { countersign: 'report'; id: number; metrics: boolean }
  | { countersign: 'report-reply'; id: number; notReady?: string; metrics?: WorkerMetrics };

/** A worker asked for its report exited first. */
class WorkerGone extends Error {}

/**
 * Longest wait for the siblings' stale-ack before a writer's answer may leave anyway (a sibling
 * whose event loop is stuck must not hold every write; it is logged).
 */
const STALE_ACK_TIMEOUT_MS = 2_000;

/** Most workers accepted (more than cores buys nothing; a typo like 1000 must not fork-bomb). */
export const MAX_WORKERS = 64;
/**
 * Restart back-off: the first replacement starts at once, each further one after a doubling delay
 * (RESTART_DELAY_MS up to MAX_RESTART_DELAY_MS) until a worker has served for STABLE_MS. Past
 * LOUD_RESTARTS in a row the restarts are logged as errors (a crash loop or a long outage).
 */
const RESTART_DELAY_MS = 500;
const MAX_RESTART_DELAY_MS = 30_000;
const STABLE_MS = 60_000;
const LOUD_RESTARTS = 5;
/** How long the primary waits for a worker's report (a kubelet probe times out after 1 s by default). */
const REPORT_TIMEOUT_MS = 900;

/**
 * The cores this process may use: the CPUs it may run on, and no more than a cgroup v2 CPU quota
 * allows (a container limited to 2 CPUs on a 64-core node: 2, where availableParallelism says 64).
 */
export function availableCores(cpuMax: () => string | undefined = readCpuMax): number {
  const cpus = os.availableParallelism();
  const m = /^(\d+)\s+(\d+)\s*$/.exec(cpuMax() ?? ''); // "max 100000" (no quota) does not match
  if (!m) return cpus;
  const quota = Number(m[1]);
  const period = Number(m[2]);
  return period > 0 && quota > 0 ? Math.max(1, Math.min(cpus, Math.ceil(quota / period))) : cpus;
}

function readCpuMax(): string | undefined {
  try {
    return readFileSync('/sys/fs/cgroup/cpu.max', 'utf8');
  } catch {
    return undefined;
  }
}

/** The --workers value: a whole number 1..MAX_WORKERS; absent: the cores available (availableCores). */
export function parseWorkers(value: string | undefined): number {
  if (value === undefined) return Math.min(MAX_WORKERS, availableCores());
  const n = /^[0-9]+$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS) {
    throw new CountersignError(
      'INVALID_ARGUMENT',
      `--workers must be a whole number from 1 to ${MAX_WORKERS}, got ${JSON.stringify(value)} (1: one process)`,
    );
  }
  return n;
}

function isMessage(m: unknown): m is Message {
  return typeof m === 'object' && m !== null && typeof (m as { countersign?: unknown }).countersign === 'string';
}

/**
 * The primary: forks `workers` workers (the first alone, so that first-start set-up such as
 * database migrations and a development KEK happens once), relays change notices, restarts the
 * dead, serves the metrics port for all of them (`metricsListen`), and drains on SIGTERM/SIGINT.
 * Resolves with the exit code.
 */
export async function runPrimary(opts: { workers: number; logger: Logger; graceMs: number; metricsListen?: string }): Promise<number> {
  const { workers, logger } = opts;
  const live = new Set<Worker>();
  const ready = new Set<Worker>();
  const reports = new Map<number, (reply: Extract<Message, { countersign: 'report-reply' }>) => void>();
  let reportSeq = 0;
  let metricsServer: MetricsServer | undefined;
  const totals = new WorkerMetricsTotals();
  /** When each serving worker began to serve (a death after STABLE_MS of it resets the back-off). */
  const servingSince = new Map<Worker, number>();
  /** Some worker has served: from then on a failure to start is retried, not a startup error. */
  let served = false;
  /** Restarts since a worker last served for STABLE_MS (the back-off exponent). */
  let consecutiveRestarts = 0;
  const restartTimers = new Set<NodeJS.Timeout>();
  let stopping = false as boolean; // set by stopAll, from signal and worker callbacks, while this function awaits
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  // Workers run with a small young generation unless the operator chose one (heap-flags.ts).
  const heapFlags = servingHeapFlags({ execArgv: process.execArgv, nodeOptions: process.env.NODE_OPTIONS });
  if (heapFlags.length > 0) cluster.setupPrimary({ execArgv: [...process.execArgv, ...heapFlags] });

  // The referrer-index write lock the workers share under registry.exclusiveReferrerWrites (cluster-write-lock.ts).
  const writeLocks = new PrimaryLockTable<Worker>((w, id, exclusive) => {
    if (w.isConnected()) w.send({ countersign: 'lock-granted', id, exclusive });
  });

  /**
   * Change notices whose writer waits for the siblings to acknowledge them: id → the siblings not
   * yet heard from, and what releases the writer.
   */
  const staleNotices = new Map<number, { waitingFor: Set<Worker>; release: () => void }>();
  let staleSeq = 0;
  const staleAcked = (id: number, w: Worker): void => {
    const notice = staleNotices.get(id);
    if (!notice) return;
    notice.waitingFor.delete(w);
    if (notice.waitingFor.size === 0) notice.release();
  };

  const stopAll = (code: number): void => {
    if (stopping) return;
    stopping = true;
    for (const timer of restartTimers) clearTimeout(timer);
    restartTimers.clear();
    // A serving worker drains; one still starting is not serving anything yet and just ends.
    for (const w of live) {
      if (ready.has(w) && w.isConnected()) w.send({ countersign: 'stop' } satisfies Message);
      else w.process.kill('SIGTERM');
    }
    // Workers stop within their grace period; one that hangs beyond it is killed.
    const killTimer = setTimeout(() => {
      for (const w of live) w.process.kill('SIGKILL');
    }, opts.graceMs + 10_000);
    killTimer.unref();
    const done = (): void => {
      if (live.size > 0) return;
      clearTimeout(killTimer);
      void (metricsServer?.close() ?? Promise.resolve()).then(() => finish(code));
    };
    cluster.on('exit', done);
    done();
  };

  const fork = (): Promise<void> =>
    new Promise((resolve) => {
      const w = cluster.fork({ [CLUSTER_PRIMARY_ENV]: String(process.pid) });
      live.add(w);
      w.on('message', (m: unknown) => {
        if (isLockMessage(m)) {
          writeLocks.handle(w, m);
          return;
        }
        if (!isMessage(m)) return;
        if (m.countersign === 'ready') {
          ready.add(w);
          servingSince.set(w, Date.now());
          served = true;
          // Ready after the stop began (its SIGTERM raced its start-up): it drains at once.
          if (stopping && w.isConnected()) w.send({ countersign: 'stop' } satisfies Message);
          logger.info({ worker: w.id, pid: w.process.pid, port: m.port }, 'worker serving');
          resolve();
        } else if (m.countersign === 'report-reply') {
          reports.get(m.id)?.(m);
          reports.delete(m.id);
        } else if (m.countersign === 'changed') {
          // The writer's answer leaves once every other worker has marked its copies stale, not
          // merely been sent the notice: a call on a connection kept alive to a sibling (the API
          // server's to the webhook, a gRPC channel) could otherwise be served from the old copy
          // before the sibling reads its channel.
          const others = [...live].filter((o) => o !== w && o.isConnected());
          const ack = (): void => {
            if (w.isConnected()) w.send({ countersign: 'changed-ack', seq: m.seq } satisfies Message);
          };
          // Only serving workers answer (one still starting has no listener yet; what it reads at
          // start, its file watch or NOTIFY covers): the writer waits for those.
          const serving = others.filter((o) => ready.has(o));
          for (const other of others) if (!ready.has(other)) other.send({ countersign: 'stale' } satisfies Message);
          if (serving.length === 0) {
            ack();
            return;
          }
          const id = ++staleSeq;
          const timer = setTimeout(() => {
            const notice = staleNotices.get(id);
            if (!notice) return;
            logger.warn(
              { worker: w.id, silent: [...notice.waitingFor].map((o) => o.id) },
              'workers did not acknowledge a change notice in time; the writer answers anyway',
            );
            notice.release();
          }, STALE_ACK_TIMEOUT_MS);
          timer.unref();
          staleNotices.set(id, {
            waitingFor: new Set(serving),
            release: () => {
              staleNotices.delete(id);
              clearTimeout(timer);
              ack();
            },
          });
          for (const other of serving) other.send({ countersign: 'stale', id } satisfies Message);
        } else if (m.countersign === 'stale-ack') {
          staleAcked(m.id, w);
        }
      });
      w.on('exit', (code, signal) => {
        live.delete(w);
        // A sibling gone does not hold a writer: it serves nothing from a stale copy any more.
        for (const id of [...staleNotices.keys()]) staleAcked(id, w);
        // What it counted stays in the totals (a summed counter that went down would read as a reset).
        totals.retire(w.id);
        writeLocks.workerGone(w);
        const servedSince = servingSince.get(w);
        servingSince.delete(w);
        ready.delete(w);
        resolve();
        if (stopping) return;
        if (!served) {
          logger.error({ worker: w.id, pid: w.process.pid, code, signal }, 'worker failed to start; stopping');
          stopAll(1);
          return;
        }
        if (servedSince !== undefined && Date.now() - servedSince >= STABLE_MS) consecutiveRestarts = 0;
        const delayMs = consecutiveRestarts === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, RESTART_DELAY_MS * 2 ** (consecutiveRestarts - 1));
        consecutiveRestarts++;
        const fields = { worker: w.id, pid: w.process.pid, code, signal, restartInMs: delayMs, restarts: consecutiveRestarts };
        const what = servedSince === undefined ? 'worker failed to start' : 'worker died';
        if (consecutiveRestarts > LOUD_RESTARTS) logger.error(fields, `${what}; workers keep dying, starting another after a delay`);
        else logger.warn(fields, `${what}; starting another`);
        const timer = setTimeout(() => {
          restartTimers.delete(timer);
          if (!stopping) void fork();
        }, delayMs);
        restartTimers.add(timer);
      });
    });

  process.once('SIGTERM', () => {
    logger.info({ signal: 'SIGTERM' }, 'shutting down: draining every worker');
    stopAll(0);
  });
  process.once('SIGINT', () => {
    logger.info({ signal: 'SIGINT' }, 'shutting down: draining every worker');
    stopAll(0);
  });

  /** One worker's report, or a rejection naming it when it does not answer in time (at once when it is gone or goes). */
  const ask = (w: Worker, metrics: boolean): Promise<Extract<Message, { countersign: 'report-reply' }>> =>
    new Promise((resolve, reject) => {
      const id = ++reportSeq;
      const done = (): void => {
        clearTimeout(timer);
        reports.delete(id);
        w.off('exit', onExit);
      };
      const onExit = (): void => {
        done();
        reject(new WorkerGone(`worker ${w.id} (pid ${String(w.process.pid)}) exited before it answered`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`worker ${w.id} (pid ${String(w.process.pid)}) did not answer within ${REPORT_TIMEOUT_MS} ms`));
      }, REPORT_TIMEOUT_MS);
      reports.set(id, (reply) => {
        done();
        resolve(reply);
      });
      w.once('exit', onExit);
      if (w.isConnected()) w.send({ countersign: 'report', id, metrics } satisfies Message);
      else onExit();
    });
  const serving = (): Worker[] => [...ready].filter((w) => w.isConnected());

  await fork();
  if (opts.metricsListen && !stopping) {
    metricsServer = await startMetricsServer({
      listen: opts.metricsListen,
      // Every worker's counters: a worker that misses this scrape (hangs, is dying, answers
      // garbage) is counted with its last ones, and a dead one's stay (WorkerMetricsTotals).
      metrics: {
        collect: async () => {
          const workersNow = serving();
          const replies = await Promise.allSettled(workersNow.map((w) => ask(w, true)));
          const answered: Array<{ worker: number; metrics: WorkerMetrics }> = [];
          replies.forEach((r, i) => {
            if (r.status === 'fulfilled' && isWorkerMetrics(r.value.metrics))
              answered.push({ worker: workersNow[i]!.id, metrics: r.value.metrics });
          });
          return totals.aggregate(answered);
        },
      },
      // Ready while at least one worker serves and none reports a problem (they share one store).
      notReady: async () => {
        if (stopping) return 'shutting down';
        const workersNow = serving();
        if (workersNow.length === 0) return 'no worker is serving';
        const replies = await Promise.allSettled(workersNow.map((w) => ask(w, false)));
        let answered = 0;
        for (const [i, r] of replies.entries()) {
          // A worker that went away meanwhile is not serving (it is being replaced): not a problem it reports.
          if (r.status === 'rejected' && r.reason instanceof WorkerGone) continue;
          if (r.status === 'rejected') return r.reason instanceof Error ? r.reason.message : String(r.reason);
          if (r.value.notReady !== undefined) return `worker ${workersNow[i]!.id}: ${r.value.notReady}`;
          answered++;
        }
        return answered === 0 ? 'no worker is serving' : undefined;
      },
    });
    logger.info(
      { listen: opts.metricsListen, port: metricsServer.port },
      'metrics of every worker serving on /metrics (and /healthz, /readyz)',
    );
  }
  if (!stopping) await Promise.all(Array.from({ length: workers - 1 }, () => fork()));
  if (!stopping) logger.info({ workers: live.size, pid: process.pid }, 'countersign serving with workers');
  const code = await finished;
  logger.info({ code }, 'stopped');
  logger.flush();
  return code;
}

/**
 * In a worker, once `app` serves: report ready, send a change notice after every commit that
 * changes keys, tokens or the stored policy (the call's answer waits for the primary's acknowledgement), mark the in-memory copies
 * stale on notices from other workers, and stop on the primary's word. Returns a detach function
 * (closes the IPC channel so the process can exit).
 */
export function attachWorker(app: App, port: number, stop: (why: string) => void): () => void {
  let seq = 0;
  const waiting = new Map<number, () => void>();
  const notify = (): void => {
    if (!process.connected) return;
    const n = ++seq;
    const acked = new Promise<void>((resolve) => waiting.set(n, resolve));
    pending.add(acked);
    void acked.then(() => pending.delete(acked));
    process.send!({ countersign: 'changed', seq: n } satisfies Message);
  };
  const pending = new Set<Promise<void>>();
  // Every commit of this worker that changes a kind (keys, tokens, the stored policy: whatever
  // method made it) is announced by the store as that kind, synchronously at commit and before
  // the call answers, with origin `local`. So no list of writing methods is kept here (one was,
  // and SetPolicy and CA bundle imports were missing from it). What the store hears of other
  // processes (a NOTIFY any database user can send, a moved revision) every sibling hears itself.
  const unsubscribeCommits = app.store.changes.subscribe((_signal, origin) => {
    if (origin === 'local') notify();
  });
  app.grpc.setBeforeReply(() => (pending.size === 0 ? undefined : Promise.all([...pending]).then(() => undefined)));
  const onMessage = (m: unknown): void => {
    if (!isMessage(m)) return;
    // Every in-memory copy re-reads the store now (not at the next data_version poll).
    if (m.countersign === 'stale') {
      app.store.changes.markStale();
      // Marked (synchronously): from here every call this worker serves waits for the re-read.
      if (m.id !== undefined && process.connected) process.send!({ countersign: 'stale-ack', id: m.id } satisfies Message);
    } else if (m.countersign === 'report') {
      const { id } = m;
      app.report(m.metrics).then(
        (r) => process.connected && process.send!({ countersign: 'report-reply', id, ...r } satisfies Message),
        (err: unknown) =>
          process.connected &&
          process.send!({ countersign: 'report-reply', id, notReady: `report failed: ${String(err)}` } satisfies Message),
      );
    } else if (m.countersign === 'changed-ack') {
      waiting.get(m.seq)?.();
      waiting.delete(m.seq);
    } else if (m.countersign === 'stop') stop('primary');
  };
  process.on('message', onMessage);
  // The primary went away (killed): nobody relays notices or restarts us; stop serving.
  const onDisconnect = (): void => {
    for (const resolve of waiting.values()) resolve();
    waiting.clear();
    stop('primary gone');
  };
  process.once('disconnect', onDisconnect);
  process.send!({ countersign: 'ready', port } satisfies Message);
  return () => {
    unsubscribeCommits();
    process.off('message', onMessage);
    process.off('disconnect', onDisconnect);
    if (process.connected) process.disconnect();
  };
}
