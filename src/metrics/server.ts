/**
 * The metrics port: `GET /metrics` (Prometheus text), `GET /healthz` (the process answers) and
 * `GET /readyz` (the service started, its store answers a trivial query, and it is not stopping).
 * Plain HTTP: nothing here is secret, and Prometheus and kubelet probes speak it.
 */
import { listenHttp } from '../shared/http-server';
import { parseListenAddress } from '../shared/net';

/** What /metrics serves: this process's registry, or (serve --workers N) the workers' added up. */
export interface MetricsSource {
  collect(): Promise<{ text: string; contentType: string }>;
}

export interface MetricsServerOptions {
  listen: string;
  metrics: MetricsSource;
  /** Why the service is not ready, or undefined when it is. */
  notReady: () => string | undefined | Promise<string | undefined>;
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Requests that arrive while a collection is under way share it: the port is unauthenticated, and
 * one collection can be a round trip to every worker (serve --workers) or a store query (readiness),
 * so a flood of scrapes or probes costs what one does.
 */
function coalesced<T>(fn: () => T | Promise<T>): () => Promise<T> {
  let flight: Promise<T> | undefined;
  return () =>
    (flight ??= Promise.resolve()
      .then(fn)
      .finally(() => {
        flight = undefined;
      }));
}

export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const address = parseListenAddress(opts.listen, 'metrics listen address');
  const collect = coalesced(() => opts.metrics.collect());
  const notReady = coalesced(() => opts.notReady());
  const listening = await listenHttp({ address, listen: opts.listen, name: 'metrics server' }, (req, res) => {
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
    };
    const url = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') send(405, 'method not allowed\n');
    else if (url === '/healthz') send(200, 'ok\n');
    else if (url === '/readyz') {
      notReady().then(
        (why) => (why === undefined ? send(200, 'ready\n') : send(503, `not ready: ${why}\n`)),
        (err: unknown) => send(503, `not ready: ${errorText(err)}\n`),
      );
    } else if (url === '/metrics') {
      collect().then(
        ({ text, contentType }) => send(200, text, contentType),
        (err: unknown) => send(500, `metrics collection failed: ${errorText(err)}\n`),
      );
    } else send(404, 'not found: /metrics, /healthz, /readyz\n');
  });
  return {
    port: listening.port,
    // No grace: a scrape or a probe in flight is not worth waiting for.
    close: () => listening.close(0),
  };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
