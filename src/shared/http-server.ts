/**
 * What the project's HTTP(S) endpoints (the admission webhook, the registry gate, the metrics
 * port) share: the plain-HTTP rule, creating the server with or without TLS, listening (a bind
 * failure is a clear UNAVAILABLE), the URL it answers on, replacing the certificate, closing with
 * a grace period, and reading a request body under a byte cap. What each endpoint answers is its
 * own module's business.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { CountersignError } from './errors';
import { isLoopbackAddress, type ListenAddress } from './net';

/** A PEM certificate chain and its key. */
export interface TlsCredentials {
  cert: string | Buffer;
  key: string | Buffer;
}

/** An HTTP failure to answer with `status` (the endpoint chooses the body). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Response headers the status calls for (Retry-After with a 429). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/**
 * Plain HTTP only on loopback (or where the caller says a TLS-terminating proxy is in front):
 * FAILED_PRECONDITION otherwise, `advice` saying what to configure.
 */
export function refusePlainHttpOffLoopback(opts: {
  host: string;
  tls: boolean;
  allowPlainHttp?: boolean;
  serving: string;
  advice: string;
}): void {
  if (opts.tls || opts.allowPlainHttp || isLoopbackAddress(opts.host)) return;
  throw new CountersignError(
    'FAILED_PRECONDITION',
    `refusing to serve ${opts.serving} over plain HTTP on ${opts.host === '' ? 'every interface' : opts.host}: ${opts.advice}`,
  );
}

export interface HttpServerOptions {
  /** Where to listen (parsed by the caller with shared/net, which names its setting in a parse error). */
  address: ListenAddress;
  /** `host:port` as configured, quoted in a bind error. */
  listen: string;
  /** The server in messages: "admission server", "registry gate". */
  name: string;
  tls?: TlsCredentials;
  /** Node's defaults when absent. */
  headersTimeoutMs?: number;
  /** 0: none. */
  requestTimeoutMs?: number;
  /** A connection with no traffic either way for this long is closed (Node's server.timeout); absent: none. */
  idleTimeoutMs?: number;
  /** Errors of the server after it listens (they never reject anything). */
  onError?: (err: Error) => void;
  /** The sockets' stream buffer size in bytes (Node's default: 16 KiB); the gate relays blobs with larger ones. */
  highWaterMark?: number;
}

export interface ListeningHttpServer {
  readonly server: http.Server | https.Server;
  port: number;
  /** The bound address, e.g. `127.0.0.1`. */
  host: string;
  /** Base URL, e.g. `https://127.0.0.1:8443`. */
  url: string;
  scheme: 'http' | 'https';
  /** Replaces the serving certificate without restarting; FAILED_PRECONDITION on a server started without TLS. */
  reloadTls(tls: TlsCredentials): void;
  /**
   * Stops listening; requests in flight get `graceMs`, then their connections are closed (idle
   * keep-alive connections go at once). Calling it again returns the same promise.
   */
  close(graceMs: number): Promise<void>;
}

/** Creates the server (TLS 1.2 or later when `tls` is given) and listens on `listen`. */
export async function listenHttp(
  opts: HttpServerOptions,
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<ListeningHttpServer> {
  const { host, port } = opts.address;
  const buffers = opts.highWaterMark !== undefined ? { highWaterMark: opts.highWaterMark } : {};
  const server: http.Server | https.Server = opts.tls
    ? https.createServer({ ...buffers, cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2' }, handler)
    : http.createServer(buffers, handler);
  if (opts.headersTimeoutMs !== undefined) server.headersTimeout = opts.headersTimeoutMs;
  if (opts.requestTimeoutMs !== undefined) server.requestTimeout = opts.requestTimeoutMs;
  if (opts.idleTimeoutMs !== undefined) server.setTimeout(opts.idleTimeoutMs, (socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void =>
      reject(new CountersignError('UNAVAILABLE', `${opts.name} cannot listen on ${opts.listen}: ${err.message}`, { cause: err }));
    server.once('error', onError);
    server.listen({ host: host === '' ? undefined : host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => opts.onError?.(err));

  const addr = server.address() as AddressInfo;
  const scheme = opts.tls ? 'https' : 'http';
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  let closing: Promise<void> | undefined;
  return {
    server,
    port: addr.port,
    host: addr.address,
    url: `${scheme}://${shownHost}:${addr.port}`,
    scheme,
    reloadTls(tls) {
      if (!(server instanceof https.Server)) throw new CountersignError('FAILED_PRECONDITION', `the ${opts.name} was started without TLS`);
      server.setSecureContext({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' });
    },
    close(graceMs) {
      closing ??= new Promise<void>((resolve) => {
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
 * The bytes of request bodies a server holds in memory at once, across all requests. Each body
 * is capped on its own, but without a total, many concurrent bodies of the largest size (an
 * attacker needs only the port) exhaust the heap of the process that decides admission.
 */
export class BodyBudget {
  private held = 0;

  constructor(readonly limit: number) {}

  /** A share of the budget for one request: taken as its bytes arrive, given back at once by release(). */
  share(): BodyShare {
    let mine = 0;
    return {
      take: (bytes: number): boolean => {
        if (this.held + bytes > this.limit) return false;
        this.held += bytes;
        mine += bytes;
        return true;
      },
      release: (): void => {
        this.held -= mine;
        mine = 0;
      },
    };
  }

  /** Bytes held now (for tests and metrics). */
  get inUse(): number {
    return this.held;
  }
}

export interface BodyShare {
  take(bytes: number): boolean;
  release(): void;
}

/**
 * Reads a request body up to `max` bytes. A larger body (declared or sent) is an HttpError 413 at
 * once; the rest of it is drained (up to a bound) so that the client can read the answer instead
 * of seeing a reset. A body that breaks off is an HttpError 400. With a `share` of a BodyBudget,
 * the declared length (or each chunk, when none is declared) is taken from it first, and a body
 * that does not fit is an HttpError 429 (the caller releases the share when done with the body).
 */
export function readRequestBody(req: http.IncomingMessage, max: number, share?: BodyShare): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  const tooLarge = (): HttpError => new HttpError(413, `the request body exceeds ${max} bytes`);
  const busy = (): HttpError =>
    new HttpError(429, 'too many request bodies are held in memory at once; retry shortly', { 'retry-after': '1' });
  return new Promise<Buffer>((resolve, reject) => {
    let size = 0;
    let over = false;
    const chunks: Buffer[] = [];
    const overflow = (error: HttpError = tooLarge()): void => {
      over = true;
      chunks.length = 0;
      reject(error);
    };
    const hasLength = Number.isFinite(declared) && declared >= 0;
    if (hasLength && declared > max) overflow();
    else if (hasLength && share && !share.take(declared)) overflow(busy());
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (over) {
        if (size > 4 * max + 1024 * 1024) req.destroy();
        return;
      }
      if (size > max) overflow();
      else if (share && (!hasLength || size > declared) && !share.take(chunk.length)) overflow(busy());
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
