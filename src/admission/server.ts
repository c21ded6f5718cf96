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
import type * as http from 'node:http';
import { GO_DURATION, parseDuration } from '../shared/duration';
import { BodyBudget, HttpError, listenHttp, readRequestBody, refusePlainHttpOffLoopback, type TlsCredentials } from '../shared/http-server';
import { isLoopbackAddress, parseListenAddress, type ListenAddress } from '../shared/net';
import { describeDepthViolation, JsonTooDeepError, parseJsonWithinDepth } from '../shared/json-depth';
import {
  AdmissionReviewError,
  DEFAULT_REVIEW_TIMEOUT_MS,
  handleAdmissionReview,
  type AdmissionLogger,
  type AdmissionVerifier,
} from './review';

/**
 * The largest AdmissionReview accepted by default: an UPDATE carries the object and oldObject,
 * each up to the API server's own 3 MiB request limit, plus the review around them. A cap of
 * 3 MiB refused (and, under `failurePolicy: Fail`, denied) updates of large legitimate objects.
 */
export const DEFAULT_MAX_BODY_BYTES = 7 * 1024 * 1024;

/**
 * The request bodies held in memory at once, by default: nine reviews of the largest size, or
 * thousands of ordinary ones (a few KiB each). Beyond it a review is answered 429 with
 * Retry-After: the API server retries or applies the webhook's failurePolicy (Fail: denied).
 */
export const DEFAULT_BODY_BUDGET_BYTES = 64 * 1024 * 1024;

export interface AdmissionServerOptions {
  /** `host:port`, e.g. `0.0.0.0:8443`, `[::]:8443`, `127.0.0.1:0` (port 0 picks a free port). */
  listen: string;
  /** PEM certificate chain and key. Required unless `listen` is a loopback address. */
  tls?: TlsCredentials;
  verifier: AdmissionVerifier;
  logger?: AdmissionLogger;
  /** Internal deadline when the request has no `?timeout=`; default 9000 ms. */
  timeoutMs?: number;
  /** Largest accepted request body; default 7 MiB (see DEFAULT_MAX_BODY_BYTES). */
  maxBodyBytes?: number;
  /** Request bodies held in memory at once, all reviews together; default 64 MiB (see DEFAULT_BODY_BUDGET_BYTES). */
  bodyBudgetBytes?: number;
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
  reloadTls(tls: TlsCredentials): void;
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

export async function startAdmissionServer(opts: AdmissionServerOptions): Promise<AdmissionServer> {
  const address = parseListen(opts.listen);
  refusePlainHttpOffLoopback({
    host: address.host,
    tls: opts.tls !== undefined,
    serving: 'admission reviews',
    advice: 'Kubernetes calls webhooks over HTTPS only; configure a TLS certificate and key, or listen on 127.0.0.1 for local testing',
  });
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const bodies = new BodyBudget(Math.max(opts.bodyBudgetBytes ?? DEFAULT_BODY_BUDGET_BYTES, maxBody));
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
      // Held until the review is answered: the parsed review lives as long as the raw body.
      const share = bodies.share();
      let review: unknown;
      try {
        const raw = await readRequestBody(req, maxBody, share);
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
        review = await handleAdmissionReview(body, opts.verifier, {
          deadline,
          mutate: url.pathname === '/mutate',
          ...(logger ? { logger } : {}),
        });
      } finally {
        share.release();
      }
      sendJson(res, 200, review);
      opts.observer?.webhook((review as { response?: { allowed?: boolean } }).response?.allowed ? 'allowed' : 'denied');
    } catch (err) {
      if (err instanceof HttpError || err instanceof AdmissionReviewError) {
        const code = err instanceof HttpError ? err.status : err.httpStatus;
        logger?.warn(
          { status: code, method: req.method, path: url.pathname, reason: err.message, remote: req.socket.remoteAddress },
          'admission request rejected',
        );
        if (!res.headersSent) sendJson(res, code, status(code, err.message), err instanceof HttpError ? err.headers : {});
        opts.observer?.webhook('rejected');
        return;
      }
      throw err;
    }
  }

  const listening = await listenHttp(
    {
      address,
      listen: opts.listen,
      name: 'admission server',
      ...(opts.tls ? { tls: opts.tls } : {}),
      // A slow or stalled client must not hold a connection for long; the API server is never slow.
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      onError: (err) => logger?.error({ err: { name: err.name, message: err.message } }, 'admission server error'),
    },
    handler,
  );
  logger?.info({ address: listening.host, port: listening.port, tls: Boolean(opts.tls) }, 'admission webhook listening');

  return {
    port: listening.port,
    host: listening.host,
    url: listening.url,
    reloadTls: (tls) => listening.reloadTls(tls),
    // In-flight reviews get a short grace period; idle keep-alive connections go at once.
    close: (graceMs = 5000) => listening.close(graceMs),
  };
}

function status(code: number, message: string): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Status', status: 'Failure', code, message };
}

function sendJson(res: http.ServerResponse, code: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(code, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}
