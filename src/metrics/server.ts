/**
 * The metrics port: `GET /metrics` (Prometheus text), `GET /healthz` (the process answers) and
 * `GET /readyz` (the service started, its store answers a trivial query, and it is not stopping).
 * Plain HTTP: nothing here is secret, and Prometheus and kubelet probes speak it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
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

export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const { host, port } = parseListenAddress(opts.listen, 'metrics listen address');
  const server = http.createServer((req, res) => {
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
    };
    const url = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    if (url === '/healthz') return send(200, 'ok\n');
    if (url === '/readyz') {
      Promise.resolve(opts.notReady()).then(
        (why) => (why === undefined ? send(200, 'ready\n') : send(503, `not ready: ${why}\n`)),
        (err: unknown) => send(503, `not ready: ${errorText(err)}\n`),
      );
      return;
    }
    if (url === '/metrics') {
      opts.metrics.collect().then(
        ({ text, contentType }) => send(200, text, contentType),
        (err: unknown) => send(500, `metrics collection failed: ${errorText(err)}\n`),
      );
      return;
    }
    send(404, 'not found: /metrics, /healthz, /readyz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
