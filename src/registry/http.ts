/**
 * The HTTP layer under the registry client: one undici dispatcher, per-request timeouts, bounded
 * retries for idempotent requests, redirects for reads, size-limited body reads, and translation of
 * transport failures into CountersignErrors that name the registry (never credentials or signed URLs).
 * It knows nothing about OCI; client.ts does.
 *
 * Deadlines: every attempt, from connecting to the last body byte, lives at most `timeoutMs` (undici's
 * own timeouts only bound each gap, so a registry trickling one byte a second would otherwise hold a
 * request forever). The caller's AbortSignal and the transport's own (aborted when the client
 * closes) cancel the request, its body and any retry wait at once; the failure is the error the
 * signal carries (see shared/cancellation).
 */
import type { Observer } from '../shared/observer';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { AddressGuard } from './address-guard';
import { cancellation, linkedSignal, throwIfAborted, untilAborted } from '../shared/cancellation';
import { CountersignError } from '../shared/errors';
import { backoffDelay, parseRetryAfter, RETRYABLE_ERROR_CODES, RETRYABLE_STATUSES } from './retry';

export type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

export interface HttpRequest {
  method: HttpMethod;
  url: URL;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /**
   * Whether sending the request twice is harmless. Only such requests are retried: replaying,
   * say, a tag update could overwrite a write made by someone else in between.
   */
  idempotent: boolean;
  /** Registry name for error messages (the reference's host, not necessarily the URL's). */
  registry: string;
  /** Cancels the request (connecting, waiting, reading the body, retry waits). */
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The URL that answered (after redirects): relative `Location`/`Link` values resolve against it. */
  url: URL;
  body: Dispatcher.ResponseData['body'];
}

export interface TransportOptions {
  dispatcher: Dispatcher;
  timeoutMs: number;
  maxRetries: number;
  retryBaseMs: number;
  /** The longest we wait between attempts, whatever Retry-After says. */
  maxRetryDelayMs: number;
  userAgent: string;
  /** Cancels every request sent through this transport (the client closing). */
  signal?: AbortSignal;
  /** Metrics: each attempt's method, response status (`error`: none) and seconds to the headers. */
  observer?: Pick<Observer, 'registryRequest'>;
  /** Hosts plain HTTP is acceptable for (loopback, insecureHosts): a redirect from HTTPS may go to HTTP only there. */
  allowsPlainHttp?: (host: string) => boolean;
  /** Which hosts a registry may send a request to (token realms, redirects, upload Locations): see AddressGuard. */
  guard?: AddressGuard;
  /** Where a hop the guard confines is sent (its connections resolve through guard.confinedLookup); `dispatcher` when absent. */
  confinedDispatcher?: Dispatcher;
}

const MAX_REDIRECTS = 5;
/** How much of an error body we read for a message; registries sometimes answer with whole HTML pages. */
const ERROR_BODY_LIMIT = 16 * 1024;

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** A URL for messages: no query string (upload URLs carry opaque state and sometimes signatures). */
export function displayUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

function errorCode(err: unknown): string | undefined {
  // undici wraps socket errors; the useful code can sit a level or two down the cause chain.
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

function describeTransportError(code: string | undefined, timeoutMs: number): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
      return 'host name not found (DNS)';
    case 'EAI_AGAIN':
      return 'DNS lookup failed temporarily';
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `connection not established within ${timeoutMs} ms`;
    case 'UND_ERR_HEADERS_TIMEOUT':
      return `no response within ${timeoutMs} ms`;
    case 'UND_ERR_BODY_TIMEOUT':
      return `response body stalled for ${timeoutMs} ms`;
    case 'EADDRINTERNAL':
      return 'the host it named resolves to a loopback, private or link-local address (refused)';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return 'connection closed unexpectedly';
    default:
      if (code && /CERT|TLS|SSL/i.test(code)) {
        return `TLS verification failed (${code}); configure the registry's CA (ca option) or, for a test registry only, list it in insecureHosts`;
      }
      return code ? `network error ${code}` : 'network error';
  }
}

/** Turns a transport-level failure into UNAVAILABLE naming the registry. */
export function transportError(err: unknown, req: Pick<HttpRequest, 'method' | 'url' | 'registry'>, timeoutMs: number): CountersignError {
  if (err instanceof CountersignError) return err;
  const code = errorCode(err);
  return new CountersignError(
    'UNAVAILABLE',
    `registry ${req.registry} is unavailable: ${describeTransportError(code, timeoutMs)} (${req.method} ${displayUrl(req.url)})`,
    { cause: err, details: { registry: req.registry, ...(code ? { errorCode: code } : {}) } },
  );
}

/** Stops reading a body we will not use (undici reports the abort as an error event: swallow it). */
function abortBody(res: HttpResponse): void {
  res.body.on('error', () => {});
  res.body.destroy();
}

/** Reads and drops a body we do not need, so the connection goes back to the pool. */
export async function discardBody(res: HttpResponse): Promise<void> {
  try {
    await res.body.dump({ limit: ERROR_BODY_LIMIT });
  } catch {
    /* the connection is simply not reused */
  }
}

/**
 * Reads a whole body, refusing more than `limit` bytes. The declared Content-Length is checked
 * first so an oversized manifest is rejected without downloading it; the streamed count is checked
 * too, because the header can be absent (chunked) or wrong.
 */
export async function readBody(
  res: HttpResponse,
  limit: number,
  what: string,
  req: Pick<HttpRequest, 'method' | 'url' | 'registry'>,
  timeoutMs: number,
): Promise<Buffer> {
  const tooBig = (size: string): CountersignError =>
    new CountersignError('RESOURCE_EXHAUSTED', `${what} from registry ${req.registry} is ${size}, over the ${limit}-byte limit`, {
      details: { registry: req.registry, limit },
    });
  const declared = header(res.headers, 'content-length');
  if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) > limit) {
    abortBody(res);
    throw tooBig(`${declared} bytes`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body) {
      const buf = chunk as Buffer;
      total += buf.length;
      if (total > limit) {
        abortBody(res);
        throw tooBig('larger');
      }
      chunks.push(buf);
    }
  } catch (err) {
    if (err instanceof CountersignError) throw err;
    throw transportError(err, req, timeoutMs);
  }
  const body = Buffer.concat(chunks, total);
  if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) !== body.length) {
    // A connection cut short: a transport failure (retry may work), not a fact about the content.
    throw new CountersignError(
      'UNAVAILABLE',
      `${what} from registry ${req.registry} was truncated: got ${body.length} of ${declared} bytes`,
      {
        details: { registry: req.registry },
      },
    );
  }
  return body;
}

/** Best-effort text of an error response, bounded and single-line, for messages. */
export async function errorText(res: HttpResponse): Promise<string> {
  let raw: string;
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of res.body) {
      total += (chunk as Buffer).length;
      if (total > ERROR_BODY_LIMIT) {
        abortBody(res);
        break;
      }
      chunks.push(chunk as Buffer);
    }
    raw = Buffer.concat(chunks).toString('utf8');
  } catch {
    return '';
  }
  // The OCI error envelope. Prefer it over raw text.
  const errors = ociErrors(raw);
  if (errors !== undefined && errors.length > 0) {
    return errors
      .map((e) => [e.code, e.message].filter((x) => typeof x === 'string' && x !== '').join(': '))
      .filter((s) => s !== '')
      .join('; ')
      .slice(0, 300);
  }
  return raw.replace(/\s+/g, ' ').trim().slice(0, 200);
}

/**
 * The entries of an OCI error envelope, `{"errors":[{"code","message","detail"}]}`, with their
 * fields unchecked; undefined when the text is not one (not JSON, or no `errors` list). A
 * registry writes it: every field may be of any type.
 */
export function ociErrors(raw: string): Array<{ code?: unknown; message?: unknown }> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const errors = typeof parsed === 'object' && parsed !== null ? (parsed as { errors?: unknown }).errors : undefined;
  if (!Array.isArray(errors)) return undefined;
  return errors.map((e: unknown) => (typeof e === 'object' && e !== null ? (e as { code?: unknown; message?: unknown }) : {}));
}

export class HttpTransport {
  constructor(private readonly opts: TransportOptions) {}

  get timeoutMs(): number {
    return this.opts.timeoutMs;
  }

  /**
   * Sends a request; retries idempotent ones on 429/502/503/504 and on connection failures. The
   * last response is returned whatever its status (status handling belongs to the caller); the
   * body must be consumed or discarded by the caller.
   */
  async send(req: HttpRequest): Promise<HttpResponse> {
    const maxRetries = req.idempotent ? this.opts.maxRetries : 0;
    for (let attempt = 0; ; attempt++) {
      let res: HttpResponse;
      try {
        res = await this.sendOnce(req);
      } catch (err) {
        const code = errorCode(err);
        if (attempt < maxRetries && !(err instanceof CountersignError) && code !== undefined && RETRYABLE_ERROR_CODES.has(code)) {
          await this.pause(req, backoffDelay(attempt, this.opts.retryBaseMs, this.opts.maxRetryDelayMs));
          continue;
        }
        throw transportError(err, req, this.opts.timeoutMs);
      }
      if (!RETRYABLE_STATUSES.has(res.status) || attempt >= maxRetries) return res;

      const retryAfter = parseRetryAfter(res.headers['retry-after']);
      if (retryAfter !== undefined && retryAfter > this.opts.maxRetryDelayMs) {
        // Waiting longer than the cap would hold the caller hostage; retrying sooner than the
        // registry asked only earns another 429. Give up now and say when to come back.
        await discardBody(res);
        throw new CountersignError(
          'UNAVAILABLE',
          `registry ${req.registry} answered ${res.status} and asked to retry after ${Math.ceil(retryAfter / 1000)} s (more than we wait); try again later`,
          { details: { registry: req.registry, status: res.status, retryAfterMs: retryAfter } },
        );
      }
      await discardBody(res);
      await this.pause(req, retryAfter ?? backoffDelay(attempt, this.opts.retryBaseMs, this.opts.maxRetryDelayMs));
    }
  }

  /** Waits between attempts; a cancelled caller (or a closing client) stops waiting at once. */
  private async pause(req: HttpRequest, ms: number): Promise<void> {
    const linked = linkedSignal([req.signal, this.opts.signal]);
    try {
      await sleep(ms, undefined, { signal: linked.signal });
    } catch {
      throw cancellation(linked.signal);
    } finally {
      linked.release();
    }
  }

  /**
   * One attempt, following redirects for reads (blob GETs commonly 307 to object storage). The
   * attempt's deadline covers every hop and the body: it is released when the body is closed
   * (consumed, discarded or destroyed), and a body nobody reads is cut off when it passes.
   */
  private async sendOnce(req: HttpRequest): Promise<HttpResponse> {
    throwIfAborted(req.signal);
    throwIfAborted(this.opts.signal);
    let headersArrived = false;
    const { timeoutMs } = this.opts;
    const attempt = linkedSignal([req.signal, this.opts.signal], {
      ms: timeoutMs,
      reason: () =>
        new CountersignError(
          'UNAVAILABLE',
          `registry ${req.registry} is unavailable: ${headersArrived ? `response not complete within ${timeoutMs} ms` : `no response within ${timeoutMs} ms`} (${req.method} ${displayUrl(req.url)})`,
          // Before the headers this is exactly undici's headers timeout (whichever fires first), so it keeps its code.
          { details: { registry: req.registry, errorCode: headersArrived ? 'RESPONSE_DEADLINE' : 'UND_ERR_HEADERS_TIMEOUT' } },
        ),
    });
    try {
      const t0 = performance.now();
      const res = await this.follow(req, attempt.signal).catch((err: unknown) => {
        this.opts.observer?.registryRequest(req.method, 'error', (performance.now() - t0) / 1000);
        throw err;
      });
      this.opts.observer?.registryRequest(req.method, String(res.status), (performance.now() - t0) / 1000);
      headersArrived = true;
      // A HEAD answer is complete with its headers (no body follows): release its timer and its
      // listeners now instead of when a caller closes a body there is no reason to read.
      if (req.method === 'HEAD' || res.body.destroyed) attempt.release();
      else res.body.once('close', attempt.release);
      return res;
    } catch (err) {
      attempt.release();
      // Whatever undici reports when the signal fired, the signal's reason says why.
      if (attempt.signal.aborted) throw cancellation(attempt.signal);
      throw err;
    }
  }

  private async follow(req: HttpRequest, signal: AbortSignal): Promise<HttpResponse> {
    let url = req.url;
    let headers: Record<string, string> = { 'user-agent': this.opts.userAgent, ...req.headers };
    for (let hop = 0; ; hop++) {
      const confinement = this.opts.guard?.confinement(req.registry, url) ?? false;
      // The name's resolution is shared (one lookup per host, remembered): the call's deadline
      // releases this caller, not the lookup others may be waiting on.
      const confined = confinement !== false && (await untilAborted(confinement, signal));
      const dispatcher = confined ? (this.opts.confinedDispatcher ?? this.opts.dispatcher) : this.opts.dispatcher;
      const data = await dispatcher.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: req.method,
        headers,
        body: req.body ?? null,
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: this.opts.timeoutMs,
        idempotent: req.idempotent,
        // undici closes the connection after every HEAD (in case a broken server sends a body
        // anyway) unless told otherwise: a tag resolution per Verify would then cost a new TCP
        // (and TLS) connection. Registries answer HEAD correctly; a connection to one origin
        // only ever carries that registry's own responses, and what it sends is checked anyway.
        ...(req.method === 'HEAD' ? { reset: false } : {}),
        signal,
      });
      const res: HttpResponse = { status: data.statusCode, headers: data.headers, url, body: data.body };
      const location = header(res.headers, 'location');
      const redirect = [301, 302, 303, 307, 308].includes(res.status) && location !== undefined;
      if (!redirect || (req.method !== 'GET' && req.method !== 'HEAD')) return res;
      if (hop >= MAX_REDIRECTS) {
        await discardBody(res);
        throw new CountersignError(
          'UNAVAILABLE',
          `registry ${req.registry} redirected more than ${MAX_REDIRECTS} times (${req.method} ${displayUrl(req.url)})`,
        );
      }
      await discardBody(res);
      const next = new URL(location, url);
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw new CountersignError('DATA_LOSS', `registry ${req.registry} redirected to an unsupported URL scheme ${next.protocol}`);
      }
      // HTTPS unless a host is listed (endpoint.ts): a redirect must not take a read off it, or a
      // man in the middle on the plain leg answers it (picking, say, the digest a tag resolves to).
      if (url.protocol === 'https:' && next.protocol === 'http:' && !(this.opts.allowsPlainHttp?.(next.host) ?? false)) {
        throw new CountersignError(
          'DATA_LOSS',
          `registry ${req.registry} redirected an HTTPS read to plain HTTP (${displayUrl(next)}); refused (list the host in insecureHosts if this is intended)`,
        );
      }
      if (next.origin !== url.origin) {
        // Credentials for the registry must not leak to storage backends or other hosts.
        headers = { ...headers };
        delete headers.authorization;
      }
      url = next;
    }
  }
}
