/**
 * The HTTP(S) endpoint the Kubernetes API server calls:
 *   POST /validate   AdmissionReview in, AdmissionReview out (200), 400 for a body that is not one
 *   POST /mutate     the same, and an allowed answer pins each image to its verified digest (JSON Patch)
 *   GET  /healthz    200 "ok" (liveness/readiness probes)
 *
 * Kubernetes only calls webhooks over HTTPS, so `tls` is required on anything but loopback; plain
 * HTTP exists for tests and local development and is refused on any other address.
 *
 * Deadlines: the API server appends `?timeout=<timeoutSeconds>s` to the URL. The review must be
 * answered before then, so the internal deadline is that timeout minus a margin (for the response
 * to travel back), counted from the moment the request arrived. Without the parameter
 * `timeoutMs` (default 9 s, under the API server's default of 10 s) applies.
 */
import type { Observer } from '../shared/observer';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { GO_DURATION, parseDuration } from '../shared/duration';
import { isLoopbackAddress, parseListenAddress, type ListenAddress } from '../shared/net';
import { CountersignError } from '../shared/errors';
import { describeDepthViolation, JsonTooDeepError, parseJsonWithinDepth } from '../shared/json-depth';
import {
  AdmissionReviewError,
  DEFAULT_REVIEW_TIMEOUT_MS,
  handleAdmissionReview,
  type AdmissionLogger,
  type AdmissionVerifier,
} from './review';

export const DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024;

export interface AdmissionServerOptions {
  /** `host:port`, e.g. `0.0.0.0:8443`, `[::]:8443`, `127.0.0.1:0` (port 0 picks a free port). */
  listen: string;
  /** PEM certificate chain and key. Required unless `listen` is a loopback address. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  verifier: AdmissionVerifier;
  logger?: AdmissionLogger;
  /** Internal deadline when the request has no `?timeout=`; default 9000 ms. */
  timeoutMs?: number;
  /** Largest accepted request body; default 3 MiB (the API server's own request limit). */
  maxBodyBytes?: number;
  /** Metrics: one report per review answered (`allowed`, `denied`) or refused (`rejected`). */
  observer?: Pick<Observer, 'webhook'>;
}

export interface AdmissionServer {
  port: number;
  /** The bound address, e.g. `127.0.0.1`. */
  host: string;
  /** Base URL, e.g. `https://127.0.0.1:8443`. */
  url: string;
  /** Replace the serving certificate without restarting (e.g. after cert-manager rotated it). */
  reloadTls(tls: { cert: string | Buffer; key: string | Buffer }): void;
  /** Stops listening; in-flight reviews get `graceMs` (default 5 s), then their connections are closed. */
  close(graceMs?: number): Promise<void>;
}

/** `host:port` (`[v6]:port` for IPv6; an empty host means every interface): the one parser in shared/net. */
export function parseListen(listen: string): ListenAddress {
  return parseListenAddress(listen, 'admission listen address');
}

/** Loopback only (the project-wide rule in shared/net): plain HTTP is refused anywhere else. */
export const isLoopback = isLoopbackAddress;

/**
 * Parses a Go duration as sent by the API server (`10s`, `1m30s`, `500ms`) into milliseconds;
 * undefined when it is not one.
 */
export function parseGoDuration(text: string): number | undefined {
  const parsed = parseDuration(text, GO_DURATION);
  return 'ms' in parsed ? parsed.ms : undefined;
}

/** Time kept free before the API server's timeout for the answer to reach it. */
export function deadlineMarginMs(timeoutMs: number): number {
  return Math.min(1000, Math.max(100, Math.round(timeoutMs * 0.2)));
}

/** The internal deadline (absolute ms) for a request that arrived at `arrived`. */
export function reviewDeadline(timeoutParam: string | null, arrived: number, defaultTimeoutMs: number): number {
  const t = timeoutParam ? parseGoDuration(timeoutParam) : undefined;
  if (t === undefined || t <= 0) return arrived + defaultTimeoutMs;
  return arrived + Math.max(0, t - deadlineMarginMs(t));
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function startAdmissionServer(opts: AdmissionServerOptions): Promise<AdmissionServer> {
  const { host, port } = parseListen(opts.listen);
  if (!opts.tls && !isLoopback(host)) {
    throw new CountersignError(
      'FAILED_PRECONDITION',
      `refusing to serve admission reviews over plain HTTP on ${host === '' ? 'every interface' : host}: ` +
        'Kubernetes calls webhooks over HTTPS only; configure a TLS certificate and key, or listen on 127.0.0.1 for local testing',
    );
  }
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_REVIEW_TIMEOUT_MS;
  const logger = opts.logger;

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    void handle(req, res).catch((err: unknown) => {
      // Only reached through a bug; still answer, never leave the API server hanging.
      logger?.error({ err: err instanceof Error ? { name: err.name, message: err.message } : String(err) }, 'admission request failed');
      if (!res.headersSent) sendJson(res, 500, status(500, 'internal error in the Countersign admission webhook'));
      else res.destroy();
    });
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const arrived = Date.now();
    const url = new URL(req.url ?? '/', 'http://admission.invalid');
    try {
      if (url.pathname === '/healthz') {
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'use GET /healthz');
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : 'ok\n');
        return;
      }
      if (url.pathname !== '/validate' && url.pathname !== '/mutate')
        throw new HttpError(404, `no such endpoint ${url.pathname} (use POST /validate or POST /mutate)`);
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        throw new HttpError(405, `use POST ${url.pathname}`);
      }
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/json')
        throw new HttpError(415, `expected Content-Type application/json, got ${JSON.stringify(type || null)}`);
      const raw = await readBody(req, maxBody);
      let body: unknown;
      try {
        // Bounded: fields of the review are quoted in messages, and JSON.stringify overflows on deep nesting.
        body = parseJsonWithinDepth(raw.toString('utf8'));
      } catch (err) {
        throw new HttpError(
          400,
          err instanceof JsonTooDeepError ? `the body ${describeDepthViolation(err.violation)}` : 'the body is not valid JSON',
        );
      }
      const deadline = reviewDeadline(url.searchParams.get('timeout'), arrived, timeoutMs);
      const review = await handleAdmissionReview(body, opts.verifier, {
        deadline,
        mutate: url.pathname === '/mutate',
        ...(logger ? { logger } : {}),
      });
      sendJson(res, 200, review);
      opts.observer?.webhook((review as { response?: { allowed?: boolean } }).response?.allowed ? 'allowed' : 'denied');
    } catch (err) {
      if (err instanceof HttpError || err instanceof AdmissionReviewError) {
        const code = err instanceof HttpError ? err.status : err.httpStatus;
        logger?.warn(
          { status: code, method: req.method, path: url.pathname, reason: err.message, remote: req.socket.remoteAddress },
          'admission request rejected',
        );
        if (!res.headersSent) sendJson(res, code, status(code, err.message));
        opts.observer?.webhook('rejected');
        return;
      }
      throw err;
    }
  }

  const server: http.Server | https.Server = opts.tls
    ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2' }, handler)
    : http.createServer(handler);
  // A slow or stalled client must not hold a connection for long; the API server is never slow.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void =>
      reject(new CountersignError('UNAVAILABLE', `admission server cannot listen on ${opts.listen}: ${err.message}`, { cause: err }));
    server.once('error', onError);
    server.listen({ host: host === '' ? undefined : host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => logger?.error({ err: { name: err.name, message: err.message } }, 'admission server error'));

  const addr = server.address() as AddressInfo;
  const scheme = opts.tls ? 'https' : 'http';
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  logger?.info({ address: addr.address, port: addr.port, tls: Boolean(opts.tls) }, 'admission webhook listening');

  let closing: Promise<void> | undefined;
  return {
    port: addr.port,
    host: addr.address,
    url: `${scheme}://${shownHost}:${addr.port}`,
    reloadTls(tls) {
      if (!(server instanceof https.Server))
        throw new CountersignError('FAILED_PRECONDITION', 'the admission server was started without TLS');
      server.setSecureContext({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' });
    },
    close(graceMs = 5000) {
      closing ??= new Promise<void>((resolve) => {
        // In-flight reviews get a short grace period; idle keep-alive connections go at once.
        const force = setTimeout(() => server.closeAllConnections(), graceMs);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

/**
 * Reads the body up to `max` bytes. A larger body is answered 413 at once; the rest of it is
 * drained (up to a bound) so that the client can read the answer instead of seeing a reset.
 */
function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  const tooLarge = (): HttpError => new HttpError(413, `the request body exceeds ${max} bytes`);
  return new Promise<Buffer>((resolve, reject) => {
    let size = 0;
    let over = false;
    const chunks: Buffer[] = [];
    const overflow = (): void => {
      over = true;
      chunks.length = 0;
      reject(tooLarge());
    };
    if (Number.isFinite(declared) && declared > max) overflow();
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (over) {
        if (size > 4 * max + 1024 * 1024) req.destroy();
        return;
      }
      if (size > max) overflow();
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks, size));
    });
    req.on('error', (err) => {
      if (!over) reject(new HttpError(400, `the request body could not be read: ${err.message}`));
    });
  });
}

function status(code: number, message: string): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Status', status: 'Failure', code, message };
}

function sendJson(res: http.ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
