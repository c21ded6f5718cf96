/**
 * The registry gate: an OCI Distribution reverse proxy whose every manifest read and every tag
 * write is decided by Countersign's Verify. Thin: it parses the route, moves bytes, asks the
 * decision port (decision.ts) and enforces the answer. It decides nothing itself.
 *
 *   GET/HEAD /v2/<name>/manifests/<tag|digest>   PULL: the manifest is fetched from the upstream
 *       once (full Accept list), its digest is computed from the bytes, Verify judges THAT digest,
 *       and exactly those bytes are served (a tag that moves meanwhile cannot swap them).
 *       Evidence (manifests.ts) and children of an index just allowed (allowed-children.ts)
 *       are served without a new decision.
 *   PUT /v2/<name>/manifests/<tag>                PUSH: the digest is computed from the body; the
 *       manifest is first stored upstream by digest (content, so Countersign can read it), Verify
 *       judges the tag write with the pusher's identity and the tag's current target, and only
 *       an allowed write is tagged.
 *   Content writes (a manifest PUT by digest, an evidence tag, a blob upload's commit: monolithic
 *       POST ?digest=, a mount POST ?mount=, the closing PUT ?digest=) and DELETEs: PUSH with
 *       operation `content` or `delete`, judged on who writes (push.identities) and never on
 *       evidence, before the upstream sees them.
 *   blobs, uploads, tags/list, referrers, /v2/  pass through, streamed both ways.
 *
 * An allowed pull decision is reused for up to a second while the policy and trust revisions it
 * was made under are still in force (decision-cache.ts); the tag is still resolved and the bytes
 * hashed on every request, so a reused decision is only ever about the digest being served.
 * Tag writes are serialized per repository:tag by a WriteLock: in-process by default, across
 * gate replicas when they share a PostgreSQL (`store.url`).
 *
 * Fail closed: an unreachable or slow Countersign, or an answer about another digest, is a deny
 * (HTTP 403, OCI error code DENIED) with the reason. Unknown routes are refused, not forwarded.
 */
import type { Observer } from '../shared/observer';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline, Writable, type Readable } from 'node:stream';
import { Pool, request as undiciRequest, type Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'undici/types/header';
import { computeDigest, isDigest, splitDigest } from '../registry/digest';
import { baseMediaType } from '../registry/referrers-index';
import { InProcessWriteLock, type WriteLock } from '../registry/write-lock';
import { CountersignError } from '../shared/errors';
import { BodyBudget, listenHttp, refusePlainHttpOffLoopback, type BodyShare } from '../shared/http-server';
import { parseListenAddress, type ListenAddress } from '../shared/net';
import { AllowedChildren } from './allowed-children';
import { BlobRelay, BlobRelayError, type RelayHead } from './blob-relay';
import { DecisionCache, decisionKey, revisionOf } from './decision-cache';
import { GATE_LABELS, type GateVerifier, type GateVerifyResult } from './decision';
import { describeVerifierFailure } from './grpc-verifier';
import { pusherIdentity } from './identity';
import { ARCHIVE_HEAD_BYTES, isArchiveHead } from './archive-head';
import { MANIFEST_ACCEPT, evidenceKind, isIndexMediaType, parseManifest, type ParsedManifest } from './manifests';
import { parseRoute, type Route } from './routes';
import { parseGateUpstream } from './upstream';

export const DEFAULT_MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const DEFAULT_DECISION_TIMEOUT_MS = 9000;
export const DEFAULT_CHILD_TTL_MS = 5 * 60_000;
export const DEFAULT_DECISION_CACHE_TTL_MS = 1000;
export const DEFAULT_MANIFEST_TIMEOUT_MS = 30_000;
/**
 * Manifests held in memory at once, all requests together, by default: sixteen of the largest size,
 * or thousands of ordinary ones (a few KiB each). Beyond it a request is answered 429 with
 * Retry-After, as registries answer when busy (clients retry).
 */
export const DEFAULT_BODY_BUDGET_BYTES = 64 * 1024 * 1024;

export interface GateLogger {
  /** Allowed requests are logged here (per-request lines at info would cost more than the proxying). */
  debug?(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface GateServerOptions {
  /** Metrics: one report per enforced decision. */
  observer?: Pick<Observer, 'gate'>;
  /** `host:port`; port 0 picks a free port. */
  listen: string;
  /** Base URL of the registry behind the gate, e.g. `http://127.0.0.1:5000`. */
  upstream: string;
  /** PEM CA bundle for an https upstream with a private CA. */
  upstreamCa?: string | Buffer;
  /**
   * The registry host named in Verify requests (what policies match, and where Countersign reads
   * evidence). Default: the upstream's host:port, so Countersign reads the registry directly and
   * never through this gate.
   */
  registryName?: string;
  verifier: GateVerifier;
  /** PEM certificate chain and key; required unless `listen` is loopback or `allowPlainHttp`. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Plain HTTP beyond loopback (behind a TLS-terminating load balancer). */
  allowPlainHttp?: boolean;
  /** Time Countersign has to answer, per decision; default 9 s. */
  decisionTimeoutMs?: number;
  maxManifestBytes?: number;
  /** Bytes of manifests held in memory at once, all requests together (at least maxManifestBytes); default 64 MiB. */
  bodyBudgetBytes?: number;
  /**
   * How long a manifest may take to arrive, from the client (PUT) or the upstream (reads); default
   * 30 s. Manifests are small: one trickled a byte at a time (slow-loris) would otherwise hold its
   * request, and its socket, forever. Blobs have no such limit.
   */
  manifestTimeoutMs?: number;
  /** How long children of an allowed index stay pullable by digest without their own decision. */
  childTtlMs?: number;
  /** How long an allowed pull decision is reused (while its revisions are current); default 1 s, 0 = never. */
  decisionCacheTtlMs?: number;
  /**
   * The policy and trust revisions in force now (decision-cache.ts revisionOf), for a verifier
   * that does not report them itself (the in-process VerificationService). Without either, no
   * decision is reused.
   */
  currentRevision?: () => string | undefined;
  /**
   * Serializes "read the tag's current target → decide → write the tag" per repository:tag.
   * Default: inside this process only; a PostgreSQL WriteLock (src/coordination) makes it hold
   * across gate replicas, so two of them cannot both see a new immutable tag as unset.
   */
  tagLock?: WriteLock;
  logger?: GateLogger;
}

export interface GateServer {
  port: number;
  host: string;
  url: string;
  close(): Promise<void>;
}

/** The allowed pull of an index, as its children remember it: the question, to ask it again. */
interface ParentAllow {
  digest: string;
  image: string;
  context: { labels: Record<string, string> };
  /** Its decision-cache key. */
  key: string;
}

/** An upstream response read whole by fetchCapped. */
interface CappedResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  bytes: Buffer;
}

/**
 * Set on every manifest read the gate makes, whatever the client sent: the full Accept list
 * (manifests.ts), and the bytes themselves, uncompressed (they are hashed).
 */
const MANIFEST_READ_HEADERS: Record<string, string> = { accept: MANIFEST_ACCEPT, 'accept-encoding': 'identity' };

/**
 * Never forwarded on the gate's own manifest reads. A conditional or partial read is answered
 * 304/412/206 by the registry (Distribution honours If-None-Match): relayed, that would confirm a
 * client's cached copy of a manifest that is now denied, and on the read of a tag's current
 * target it would hide what an immutable tag points at. The gate always reads the whole manifest.
 */
const CONDITIONAL = new Set(['if-none-match', 'if-match', 'if-modified-since', 'if-unmodified-since', 'if-range', 'range']);

/**
 * Client sockets buffer up to 1 MiB before the upstream is paused: a relayed blob arrives in
 * 64 KiB reads, and at the default high-water mark every one of them would pause and resume the
 * upstream socket.
 */
const SOCKET_BUFFERS = { highWaterMark: 1024 * 1024 };

/**
 * At most this many payload layers of one evidence manifest are read (archive-head.ts); one with
 * more is decided like an image. cosign adds a layer per signature to a .sig tag: 64 is far more
 * than a tag sees in practice, and bounds the reads one request can cause.
 */
const MAX_PAYLOAD_LAYERS_READ = 64;
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'host',
  'content-length',
  'expect',
  // What a client says about where it came from is not the gate's to pass on: the registry builds
  // its Location URLs from X-Forwarded-Host/-Proto, and logs and rate-limits by -For. The gate
  // names the client's address itself (forwardHeaders).
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-real-ip',
]);

class GateError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function startGateServer(opts: GateServerOptions): Promise<GateServer> {
  const { host, port } = parseHostPort(opts.listen);
  refusePlainHttpOffLoopback({
    host,
    tls: opts.tls !== undefined,
    ...(opts.allowPlainHttp !== undefined ? { allowPlainHttp: opts.allowPlainHttp } : {}),
    serving: 'the registry gate',
    advice: 'configure a TLS certificate and key, or allow plain HTTP explicitly (behind a TLS-terminating load balancer)',
  });
  const upstream = parseGateUpstream(opts.upstream);
  const registryName = opts.registryName ?? upstream.host;
  const maxManifest = opts.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES;
  // Each manifest the gate holds whole (a client's PUT, an upstream read, a manifest-sized blob) is
  // capped; without a total, many concurrent ones of the largest size, each trickling its last
  // byte, exhaust the heap. A request's share goes back when its response ends (handle).
  const bodies = new BodyBudget(Math.max(opts.bodyBudgetBytes ?? DEFAULT_BODY_BUDGET_BYTES, maxManifest));
  const shares = new WeakMap<http.IncomingMessage, BodyShare>();
  /** Takes `bytes` from the request's share of the budget, or throws 429. */
  const hold = (req: http.IncomingMessage, bytes: number): void => {
    if (shares.get(req)?.take(bytes) === false) {
      throw new GateError(429, 'TOOMANYREQUESTS', 'the gate holds too many manifests in memory at once; retry shortly');
    }
  };
  const decisionTimeout = opts.decisionTimeoutMs ?? DEFAULT_DECISION_TIMEOUT_MS;
  const manifestTimeout = opts.manifestTimeoutMs ?? DEFAULT_MANIFEST_TIMEOUT_MS;
  const children = new AllowedChildren<ParentAllow>({ ttlMs: opts.childTtlMs ?? DEFAULT_CHILD_TTL_MS, maxEntries: 50_000 });
  const decisions = new DecisionCache({ ttlMs: opts.decisionCacheTtlMs ?? DEFAULT_DECISION_CACHE_TTL_MS, maxEntries: 10_000 });
  const currentRevision = opts.currentRevision ?? (() => opts.verifier.currentRevision?.());
  const logger = opts.logger;
  const debug = (obj: object, msg: string): void => logger?.debug?.(obj, msg);
  const poolOptions = {
    connections: 128,
    ...(opts.upstreamCa ? { connect: { ca: opts.upstreamCa } } : {}),
    // Blobs are large and uploads slow: no body timeout; a stalled peer is noticed by TCP.
    bodyTimeout: 0,
    headersTimeout: 60_000,
  };
  // Manifests, decisions' reads and tag writes on one pool; blobs, uploads and the rest of the
  // pass-through on another: a client that opens blob reads and never reads them holds
  // connections of the blob pool only, never the ones every manifest read needs.
  const pool = new Pool(upstream.origin, poolOptions);
  const blobPool = new Pool(upstream.origin, poolOptions);
  // Blob reads from a plain-HTTP registry go over raw sockets with large reads (blob-relay.ts);
  // over TLS, and for every response the raw reader does not take, through the pool.
  const rawBlobs =
    upstream.protocol === 'http:'
      ? new BlobRelay({
          host: upstream.hostname.replace(/^\[(.*)\]$/, '$1'),
          port: Number(upstream.port || 80),
          hostHeader: upstream.host,
        })
      : undefined;
  const scheme = opts.tls ? 'https' : 'http';
  const tagLock = opts.tagLock ?? new InProcessWriteLock();

  async function send(
    method: Dispatcher.HttpMethod,
    path: string,
    headers: Record<string, string | string[]>,
    body?: Readable | Buffer,
    signal?: AbortSignal,
    via: Pool = pool,
  ) {
    try {
      return await via.request({ method, path, headers, ...(body !== undefined ? { body } : {}), ...(signal ? { signal } : {}) });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new GateError(502, 'UNAVAILABLE', `the registry behind the gate is unreachable: ${(err as Error).message}`);
    }
  }

  /** The client's request headers as sent upstream (hop-by-hop ones and `drop` removed), `extra` set over them. */
  function forwardHeaders(
    req: http.IncomingMessage,
    extra?: Record<string, string>,
    drop?: ReadonlySet<string>,
  ): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    const given = req.headers;
    for (const k in given) {
      const v = given[k];
      if (v === undefined || HOP_BY_HOP.has(k) || drop?.has(k)) continue;
      out[k] = v;
    }
    // A streamed body keeps its declared length, so the upstream sees a monolithic upload as one.
    if (given['content-length'] !== undefined) out['content-length'] = given['content-length'];
    const from = req.socket.remoteAddress;
    if (from !== undefined) out['x-forwarded-for'] = from;
    if (extra) for (const k in extra) out[k] = extra[k]!;
    return out;
  }

  /**
   * A manifest-sized upstream response, read whole (at most maxManifest bytes; a larger one is
   * aborted before anything reaches the client). Dispatched without a body stream: the warm pull
   * path is one socket write upstream, the bytes, one write to the client.
   */
  function fetchCapped(
    req: http.IncomingMessage,
    method: 'GET' | 'HEAD',
    path: string,
    headers: Record<string, string | string[]>,
    what: () => string,
    signal: AbortSignal,
  ): Promise<CappedResponse> {
    return new Promise<CappedResponse>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let statusCode = 0;
      let responseHeaders: IncomingHttpHeaders = {};
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        reject(err);
      };
      let controller: Dispatcher.DispatchController | undefined;
      const timer = setTimeout(() => {
        const err = new GateError(504, 'UNAVAILABLE', `the registry did not send ${what()} within ${manifestTimeout} ms`);
        controller?.abort(err);
        fail(err);
      }, manifestTimeout);
      const onAbort = (): void => controller?.abort(new Error('the client went away'));
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        pool.dispatch(
          { method, path, headers },
          {
            onRequestStart(c) {
              controller = c;
              if (signal.aborted) c.abort(new Error('the client went away'));
            },
            onResponseStart(c, status, h) {
              statusCode = status;
              responseHeaders = h;
              const declared = headerOf(h, 'content-length');
              if (declared !== undefined && Number(declared) > maxManifest) {
                const err = manifestTooLarge(what(), maxManifest, declared);
                c.abort(err);
                fail(err);
              }
            },
            onResponseData(c, chunk) {
              size += chunk.length;
              try {
                if (size > maxManifest) throw manifestTooLarge(what(), maxManifest);
                hold(req, chunk.length);
              } catch (err) {
                c.abort(err as Error);
                fail(err as Error);
                return;
              }
              chunks.push(chunk);
            },
            onResponseEnd() {
              if (settled) return;
              settled = true;
              clearTimeout(timer);
              signal.removeEventListener('abort', onAbort);
              resolve({ statusCode, headers: responseHeaders, bytes: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size) });
            },
            onResponseError(_c, err) {
              fail(
                signal.aborted || err instanceof GateError
                  ? err
                  : new GateError(502, 'UNAVAILABLE', `the registry behind the gate is unreachable: ${err.message}`),
              );
            },
          },
        );
      } catch (err) {
        fail(new GateError(502, 'UNAVAILABLE', `the registry behind the gate is unreachable: ${(err as Error).message}`));
      }
    });
  }

  /** The origin the client used to reach the gate, for rewriting absolute upstream URLs. */
  function gateOrigin(req: http.IncomingMessage): string {
    const h = req.headers.host;
    return h && /^[A-Za-z0-9.:[\]-]+$/.test(h)
      ? `${scheme}://${h}`
      : `${scheme}://${host || 'localhost'}:${server.address() ? (server.address() as AddressInfo).port : port}`;
  }

  /** Location / Link pointing at the upstream are rewritten to the gate; others pass unchanged. */
  function rewriteUrl(value: string, req: http.IncomingMessage): string {
    if (value.startsWith(upstream.origin + '/') || value === upstream.origin) return gateOrigin(req) + value.slice(upstream.origin.length);
    return value;
  }

  function relayHeaders(
    res: http.ServerResponse,
    upstreamHeaders: Record<string, string | string[] | undefined>,
    req: http.IncomingMessage,
  ): void {
    for (const [k, v] of Object.entries(upstreamHeaders)) {
      if (v === undefined || (HOP_BY_HOP.has(k) && k !== 'content-length')) continue;
      if (k === 'location') res.setHeader(k, rewriteUrl(String(v), req));
      else if (k === 'link')
        res.setHeader(
          k,
          (Array.isArray(v) ? v : [v]).map((l) => l.replace(/<([^>]*)>/g, (_m, u: string) => `<${rewriteUrl(u, req)}>`)),
        );
      else res.setHeader(k, v);
    }
  }

  /** Streams an upstream response to the client with back-pressure. */
  async function relay(up: Dispatcher.ResponseData, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    res.statusCode = up.statusCode;
    relayHeaders(res, up.headers, req);
    if (req.method === 'HEAD') {
      up.body.resume();
      res.end();
      return;
    }
    await new Promise<void>((resolve) => {
      pipeline(up.body, res, (err) => {
        if (err) res.destroy();
        resolve();
      });
    });
  }

  /**
   * The status and headers of an upstream answer to a request of the gate's own (a HEAD of a
   * tag, the /v2/ ping) as the answer to the client's request, which was another (a PUT, a
   * DELETE, a POST): with a small OCI error body of the gate's own, never the upstream's
   * Content-Length with no body after it (a client would wait for bytes that never come, and a
   * pipelining one would read the next response as this body).
   */
  function relayStatus(up: Dispatcher.ResponseData, req: http.IncomingMessage, res: http.ServerResponse, message: string): void {
    up.body.resume();
    res.statusCode = up.statusCode;
    relayHeaders(res, up.headers, req);
    for (const h of ['content-length', 'transfer-encoding', 'content-type', 'content-encoding']) res.removeHeader(h);
    const code =
      up.statusCode === 401 ? 'UNAUTHORIZED' : up.statusCode === 403 ? 'DENIED' : up.statusCode === 404 ? 'MANIFEST_UNKNOWN' : 'UNKNOWN';
    const body = JSON.stringify({ errors: [{ code, message }] });
    res.setHeader('content-type', 'application/json');
    res.setHeader('content-length', Buffer.byteLength(body));
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  /** An upstream response read whole (fetchCapped), relayed as it came. */
  function relayCapped(up: CappedResponse, req: http.IncomingMessage, res: http.ServerResponse): void {
    res.statusCode = up.statusCode;
    relayHeaders(res, up.headers, req);
    res.end(req.method === 'HEAD' ? undefined : up.bytes);
  }

  async function passThrough(req: http.IncomingMessage, res: http.ServerResponse, path: string, signal: AbortSignal): Promise<void> {
    opts.observer?.gate('passthrough');
    const hasBody = req.method === 'POST' || req.method === 'PATCH' || req.method === 'PUT';
    const body = hasBody ? req : undefined;
    const up = await send(req.method as Dispatcher.HttpMethod, path, forwardHeaders(req), body, signal, blobPool);
    await relay(up, req, res);
  }

  // Metrics: each decision the gate enforces, by action and outcome (fail-closed denials included).
  async function decide(...args: Parameters<typeof decideOnce>): ReturnType<typeof decideOnce> {
    const answer = await decideOnce(...args);
    opts.observer?.gate(`${args[0]}_${answer.allowed ? 'allowed' : 'denied'}`);
    return answer;
  }

  async function decideOnce(
    kind: 'pull' | 'push',
    image: string,
    digest: string,
    context: { identity?: string; labels?: Record<string, string> },
  ): Promise<GateVerifyResult | { allowed: false; reasons: string[] }> {
    let timer: NodeJS.Timeout | undefined;
    try {
      // The deadline is enforced here too, whatever the verifier does with it (in-process or gRPC).
      const asked = opts.verifier.verify({ image, action: kind, context, deadline: Date.now() + decisionTimeout });
      asked.catch(() => undefined);
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Countersign did not answer within ${decisionTimeout} ms`)), decisionTimeout);
      });
      const answer = await Promise.race([asked, late]);
      // Never enforce an answer about another manifest than the one served or stored.
      if (answer.digest !== digest) {
        return { allowed: false, reasons: [`Countersign answered about ${answer.digest || 'no digest'} instead of ${digest}: denied`] };
      }
      return answer;
    } catch (err) {
      return {
        allowed: false,
        reasons: [`Countersign could not decide (${describeVerifierFailure(err, logger)}): denied, the gate fails closed`],
      };
    } finally {
      clearTimeout(timer);
    }
  }

  /** A client's manifest body, whole: at most maxManifest bytes, within manifestTimeout. */
  async function readCapped(req: http.IncomingMessage, declared: string | undefined, what: string): Promise<Buffer> {
    const stream: Readable = req;
    const length = declared === undefined ? undefined : Number(declared);
    if (length !== undefined && length > maxManifest) {
      stream.resume();
      throw manifestTooLarge(what, maxManifest, declared);
    }
    // A declared length is held whole before any of it is read: a body that does not fit is
    // refused at once (the caller drains what it sends while the 429 goes out).
    if (length !== undefined && Number.isSafeInteger(length)) hold(req, length);
    return new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = (err?: Error): void => {
        clearTimeout(timer);
        stream.off('data', onData);
        stream.off('end', onEnd);
        stream.off('error', onError);
        if (err) reject(err);
        else resolve(Buffer.concat(chunks, size));
      };
      const onData = (chunk: Buffer): void => {
        size += chunk.length;
        try {
          if (size > maxManifest) throw manifestTooLarge(what, maxManifest);
          // Only what goes beyond the declared length (or all of it, undeclared) is taken per chunk.
          if (length === undefined || size > length) hold(req, Math.min(chunk.length, size - (length ?? 0)));
        } catch (err) {
          stream.destroy();
          done(err as Error);
          return;
        }
        chunks.push(chunk);
      };
      const onEnd = (): void => done();
      const onError = (err: Error): void => done(err);
      // Answered (408, then the connection is closed): the socket is not held for the rest.
      const timer = setTimeout(
        () => done(new GateError(408, 'BLOB_UPLOAD_INVALID', `${what} did not arrive within ${manifestTimeout} ms: refused`)),
        manifestTimeout,
      );
      stream.on('data', onData);
      stream.once('end', onEnd);
      stream.once('error', onError);
    });
  }

  /**
   * A blob, streamed as it arrives. Its bytes are not hashed here: blobs are content-addressed,
   * the registry checks every upload against its digest, and clients check what they receive
   * (the distribution spec requires it); hashing every byte would cap the gate at one core's
   * sha256 speed, below the loopback registry's. What the gate does check is what the upstream
   * says it is sending: a Docker-Content-Digest naming another digest than the one asked for is
   * refused before any byte is relayed.
   */
  async function blobRead(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    route: Extract<Route, { kind: 'blob' }>,
    path: string,
    signal: AbortSignal,
  ): Promise<void> {
    opts.observer?.gate('passthrough');
    const algorithm = route.digest.slice(0, route.digest.indexOf(':') + 1);
    const headers = forwardHeaders(req);
    const method = req.method as 'GET' | 'HEAD';
    // A blob no larger than a manifest may be one: registries that keep manifests and blobs in one
    // content store (an OCI layout) serve a manifest through the blob route too, and a denied image
    // would be read there undecided. Such a blob is collected (on the same kept-alive connection)
    // and judged before anything is sent (smallBlob); any other answer goes straight to `res`.
    let small: { head: RelayHead; chunks: Buffer[]; passed?: boolean } | undefined;
    const onHead = (head: RelayHead): Writable => {
      const { statusCode, headers: got } = head;
      const claimed = headerOf(got, 'docker-content-digest');
      // Compared within one algorithm (a registry may name a sha256 for a blob asked for by sha512).
      if (
        (statusCode === 200 || statusCode === 206) &&
        claimed !== undefined &&
        claimed !== route.digest &&
        claimed.startsWith(algorithm)
      ) {
        throw new GateError(502, 'DIGEST_INVALID', `the registry claims ${claimed} for blob ${route.digest}: refused`);
      }
      const declared = headerOf(got, 'content-length');
      if (statusCode === 200 && declared === undefined && method === 'GET') return sniffing(head);
      const length = Number(declared);
      if (statusCode !== 200 || !Number.isSafeInteger(length) || length > maxManifest) {
        res.statusCode = statusCode;
        relayHeaders(res, got, req);
        return res;
      }
      // Held until judged: from the budget (a 429 before anything is sent), the whole declared length at once.
      hold(req, length);
      const chunks: Buffer[] = [];
      small = { head, chunks };
      return new Writable({
        write(chunk: Buffer, _encoding, done) {
          chunks.push(chunk);
          done();
        },
      });
    };
    /**
     * A body of unknown length (chunked) is collected while it could still be a manifest; once it
     * is larger than any, what was collected and the rest go to the client as they come (with
     * back-pressure), undecided like any blob.
     */
    const sniffing = (head: RelayHead): Writable => {
      const sniff: { head: RelayHead; chunks: Buffer[]; passed: boolean } = { head, chunks: [], passed: false };
      small = sniff;
      let size = 0;
      const forward = (chunk: Buffer, done: (err?: Error | null) => void): void => {
        if (res.write(chunk)) done();
        else res.once('drain', () => done());
      };
      return new Writable({
        write(chunk: Buffer, _encoding, done) {
          if (sniff.passed) {
            forward(chunk, done);
            return;
          }
          size += chunk.length;
          if (size <= maxManifest) {
            try {
              hold(req, chunk.length);
            } catch (err) {
              done(err as Error);
              return;
            }
            sniff.chunks.push(chunk);
            done();
            return;
          }
          sniff.passed = true;
          res.statusCode = 200;
          relayHeaders(res, head.headers, req);
          for (const collected of sniff.chunks) res.write(collected);
          sniff.chunks.length = 0;
          forward(chunk, done);
        },
        final(done) {
          if (sniff.passed) res.end();
          done();
        },
      });
    };
    if (rawBlobs) {
      try {
        if ((await rawBlobs.relay(method, path, headers, onHead, signal)) === 'relayed') {
          if (small && !small.passed) await smallBlob(req, res, route, small.head, small.chunks, signal);
          return;
        }
      } catch (err) {
        if (err instanceof BlobRelayError)
          throw new GateError(502, 'UNAVAILABLE', `the registry behind the gate failed a blob read: ${err.message}`);
        throw err;
      }
    }
    await streamBlob(method, path, headers, onHead, signal, res);
    if (small && !small.passed) await smallBlob(req, res, route, small.head, small.chunks, signal);
  }

  /**
   * A blob no larger than a manifest, collected whole (`chunks`): when its bytes are a manifest, it
   * is decided like the pull of that manifest by digest (evidence passes, as on the manifest
   * route); else it is served as the blob it is.
   */
  async function smallBlob(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    route: Extract<Route, { kind: 'blob' }>,
    head: RelayHead,
    chunks: Buffer[],
    signal: AbortSignal,
  ): Promise<void> {
    // (What the registry claims for it was checked with its head, in blobRead.)
    if (req.method === 'HEAD') {
      // No content leaves on a HEAD (what it tells, that the digest exists, the client named):
      // push clients HEAD every blob, and that stays one request.
      res.statusCode = 200;
      relayHeaders(res, head.headers, req);
      res.end();
      return;
    }
    const bytes = Buffer.concat(chunks);
    const digest = computeDigest(bytes, splitDigest(route.digest)?.algorithm ?? 'sha256');
    if (digest !== route.digest) {
      throw new GateError(502, 'DIGEST_INVALID', `the registry returned bytes with digest ${digest} for blob ${route.digest}: refused`);
    }
    if (isManifestShaped(bytes)) {
      const parsed = parseManifest(bytes, undefined);
      if ((await inertEvidence(req, route.name, parsed, undefined, signal)) === undefined) {
        const image = `${registryName}/${route.name}@${digest}`;
        const answer = await decide('pull', image, digest, { labels: {} });
        if (!answer.allowed) {
          throw new GateError(
            403,
            'DENIED',
            `pull of ${image} (a manifest, read through the blob route) denied: ${answer.reasons.join('; ') || 'no reason given'}`,
          );
        }
      }
    }
    res.statusCode = 200;
    relayHeaders(res, head.headers, req);
    res.setHeader('content-length', bytes.length);
    res.end(bytes);
  }

  /** A blob read through the blob pool, straight from the upstream socket into `res`. */
  async function streamBlob(
    method: 'GET' | 'HEAD',
    path: string,
    headers: Record<string, string | string[]>,
    onHead: (head: RelayHead) => Writable,
    signal: AbortSignal,
    res: http.ServerResponse,
  ): Promise<void> {
    // Straight from the upstream socket into the response (undici stream): each chunk is written
    // as it arrives, the upstream is paused while the client's socket is full, and no body stream
    // or per-chunk work sits between them.
    try {
      await blobPool.stream({ method, path, headers, signal }, ({ statusCode, headers: got }) =>
        onHead({ statusCode, headers: got as RelayHead['headers'] }),
      );
    } catch (err) {
      if (err instanceof GateError || signal.aborted) throw err;
      // Before the first byte: the client gets an OCI error; after it, the response is cut off.
      if (!res.headersSent)
        throw new GateError(502, 'UNAVAILABLE', `the registry behind the gate is unreachable: ${(err as Error).message}`);
      res.destroy();
    }
  }

  async function manifestRead(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    route: Extract<Route, { kind: 'manifest' }>,
    signal: AbortSignal,
  ): Promise<void> {
    const path = `/v2/${route.name}/manifests/${route.reference}`;
    const what = (): string => `manifest ${route.name}:${route.reference}`;
    const up = await fetchCapped(req, 'GET', path, forwardHeaders(req, MANIFEST_READ_HEADERS, CONDITIONAL), what, signal);
    if (up.statusCode !== 200) {
      // 401 challenges, 404 unknown manifests, 429s and 5xx: the client sees the upstream's answer
      // unchanged. Any other answer (a 203 or 206 carrying the manifest, a redirect to where it
      // could be read directly) would hand over a manifest nothing decided: refused.
      if (up.statusCode < 400) {
        throw new GateError(
          502,
          'UNAVAILABLE',
          `the registry answered ${up.statusCode} for ${what()}, which the gate does not pass on (only 200 is decided)`,
        );
      }
      relayCapped(up, req, res);
      return;
    }
    const bytes = up.bytes;
    const digest = digestOfBytes(bytes, route);
    if (route.byDigest && route.reference !== digest) {
      throw new GateError(502, 'DIGEST_INVALID', `the registry returned bytes with digest ${digest} for ${route.reference}: refused`);
    }
    const claimed = headerOf(up.headers, 'docker-content-digest');
    if (claimed !== undefined && claimed !== digest && isDigest(claimed) && claimed.split(':')[0] === digest.split(':')[0]) {
      throw new GateError(502, 'DIGEST_INVALID', `the registry claims ${claimed} for bytes whose digest is ${digest}: refused`);
    }
    const contentType = headerOf(up.headers, 'content-type');
    const tag = route.byDigest ? undefined : route.reference;
    // Read once per request: every cache below is compared with the same revisions.
    const revision = currentRevision();
    const image = `${registryName}/${route.name}${tag ? `:${tag}` : ''}@${digest}`;
    const context: { labels: Record<string, string> } = { labels: tag ? { [GATE_LABELS.tag]: tag } : {} };
    // A child of an allowed index (a map lookup, no parse) is served as such, as before any reuse.
    const parent = route.byDigest ? children.parentOf(route.name, digest, revision) : undefined;
    // Then the warm path. The key holds the digest of the bytes just fetched and hashed: a reused
    // allow is about exactly them, whatever the body is (evidence, which is never decided, has none).
    const key = decisionKey('pull', image, context);
    const hit = parent ? undefined : decisions.get(key, revision);
    // Checked on every hit, as on every answer: never enforce an allow about other bytes.
    const reused = hit?.digest === digest ? hit : undefined;
    let parsed: ParsedManifest | undefined;
    let how: string;
    if (reused) {
      opts.observer?.gate('pull_allowed');
      how = 'allowed (decision reused)';
      // An index's children stay pullable while its allow is reused. Known by the declared type
      // here (no parse on the warm path): an upstream that mislabels an index only loses its
      // children this shortcut, never gains a pull.
      if (contentType !== undefined && isIndexMediaType(contentType)) {
        parsed = parseManifest(bytes, contentType);
        if (parsed?.isIndex) children.remember(route.name, { digest, image, context, key }, parsed.children, revisionOf(reused));
      }
    } else {
      parsed = parseManifest(bytes, contentType);
      const evidence = await inertEvidence(req, route.name, parsed, tag, signal);
      if (evidence) {
        how = `evidence (${evidence})`;
      } else if (parent && (await stillAllowed(parent, revision))) {
        how = `child of allowed index ${parent.digest}`;
      } else {
        const answer = await decide('pull', image, digest, context);
        if (!answer.allowed) {
          logger?.info(
            { action: 'pull', image, allowed: false, reasons: answer.reasons, ...('rule' in answer ? { rule: answer.rule } : {}) },
            'gate decision',
          );
          throw new GateError(403, 'DENIED', `pull of ${image} denied: ${answer.reasons.join('; ') || 'no reason given'}`);
        }
        debug({ action: 'pull', image, allowed: true, rule: answer.rule }, 'gate decision');
        // The revisions in force when the answer arrived, not those of before the question.
        decisions.remember(key, answer, currentRevision());
        if (parsed?.isIndex) children.remember(route.name, { digest, image, context, key }, parsed.children, revisionOf(answer));
        how = 'allowed';
      }
    }
    // Exactly the bytes hashed above, under the digest computed from them.
    res.writeHead(200, {
      'content-type': contentType ?? (parsed ?? parseManifest(bytes, undefined))?.mediaType ?? 'application/octet-stream',
      'content-length': bytes.length,
      'docker-content-digest': digest,
      etag: `"${digest}"`,
      'x-countersign-gate': how,
    });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  }

  /**
   * Why the manifest is evidence (manifests.ts evidenceKind), once the bytes of the layers that
   * are inert by their declared type only (under an image config: cosign's .sig / .att) are seen
   * not to be layers Docker's classic puller would apply (archive-head.ts); else undefined, and
   * the manifest is decided like an image. A layer that cannot be read counts as one: fail closed.
   */
  async function inertEvidence(
    req: http.IncomingMessage,
    name: string,
    parsed: ParsedManifest | undefined,
    tag: string | undefined,
    signal: AbortSignal,
  ): Promise<string | undefined> {
    const kind = evidenceKind(parsed, tag);
    if (kind === undefined || parsed!.payloadLayers.length === 0) return kind;
    const layers = parsed!.payloadLayers;
    if (layers.length > MAX_PAYLOAD_LAYERS_READ || !layers.every((d) => isDigest(d))) return undefined;
    const heads = await Promise.all(layers.map((digest) => blobHead(req, name, digest, signal)));
    const layer = heads.findIndex((head) => head === undefined || isArchiveHead(head));
    if (layer < 0) return kind;
    debug(
      { name, tag, layer: layers[layer], readable: heads[layer] !== undefined },
      'gate: payload layer is (or may be) an archive: not evidence',
    );
    return undefined;
  }

  /**
   * The first ARCHIVE_HEAD_BYTES of a blob (all of a shorter one), with the client's credentials,
   * following the redirects registries answer blob reads with (to storage: without the
   * credentials when the origin changes); undefined when it cannot be read.
   */
  async function blobHead(req: http.IncomingMessage, name: string, digest: string, signal: AbortSignal): Promise<Buffer | undefined> {
    const range = { range: `bytes=0-${ARCHIVE_HEAD_BYTES - 1}`, 'accept-encoding': 'identity' };
    // Only the credentials of the client's request (a manifest PUT's own headers are not a GET's).
    const own = req.headers.authorization === undefined ? range : { ...range, authorization: req.headers.authorization };
    let res = await send('GET', `/v2/${name}/blobs/${digest}`, own, undefined, signal);
    for (let hop = 0; hop < 3 && res.statusCode >= 301 && res.statusCode <= 308; hop++) {
      res.body.resume();
      const location = headerOf(res.headers, 'location');
      if (location === undefined) return undefined;
      let next: URL;
      try {
        next = new URL(location, upstream);
      } catch {
        return undefined;
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') return undefined;
      if (next.origin === upstream.origin) {
        res = await send('GET', `${next.pathname}${next.search}`, own, undefined, signal);
        continue;
      }
      try {
        res = await undiciRequest(next, { headers: range, signal });
      } catch {
        return undefined;
      }
    }
    if (res.statusCode !== 200 && res.statusCode !== 206) {
      res.body.resume();
      return undefined;
    }
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= ARCHIVE_HEAD_BYTES) break;
    }
    if (length >= ARCHIVE_HEAD_BYTES) res.body.destroy();
    return Buffer.concat(chunks).subarray(0, ARCHIVE_HEAD_BYTES);
  }

  /**
   * A child is served under its index's allow only while that allow would still be given: reused
   * under the decision cache's rules (so `decisionCacheTtlMs: 0` reuses nothing here either), else
   * asked about again. Remembering the parent alone for the children's 5 minutes would outlive a
   * revocation the gate has not heard of (over gRPC it learns revisions from answers) and any
   * time-bound part of the policy.
   */
  async function stillAllowed(parent: ParentAllow, revision: string | undefined): Promise<boolean> {
    if (decisions.get(parent.key, revision)?.digest === parent.digest) return true;
    const answer = await decideOnce('pull', parent.image, parent.digest, parent.context);
    if (answer.allowed) decisions.remember(parent.key, answer, currentRevision());
    return answer.allowed;
  }

  async function manifestWrite(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    route: Extract<Route, { kind: 'manifest' }>,
    signal: AbortSignal,
  ): Promise<void> {
    const bytes = await readCapped(req, req.headers['content-length'], `manifest ${route.name}:${route.reference}`);
    const digest = digestOfBytes(bytes, route);
    const headers = forwardHeaders(req, { 'content-length': String(bytes.length) });
    if (route.byDigest) {
      if (route.reference !== digest)
        throw new GateError(400, 'DIGEST_INVALID', `the manifest body has digest ${digest}, not ${route.reference}`);
      if (!(await allowContentWrite(req, res, route.name, digest, 'manifest by digest', signal))) return;
      await relay(await send('PUT', `/v2/${route.name}/manifests/${digest}`, headers, bytes, signal), req, res);
      return;
    }
    const tag = route.reference;
    const parsed = parseManifest(bytes, req.headers['content-type']);
    const evidence = await inertEvidence(req, route.name, parsed, tag, signal);
    if (evidence) {
      if (!(await allowContentWrite(req, res, route.name, digest, `evidence tag ${tag} (${evidence})`, signal, tag))) return;
      await relay(await send('PUT', `/v2/${route.name}/manifests/${tag}`, headers, bytes, signal), req, res);
      return;
    }
    // Read current target → decide → write, one at a time per tag: two concurrent pushes must not
    // both see "not set yet" and both be allowed under an immutable-tag rule. Across gate
    // replicas only when tagLock is shared by them (PostgreSQL); else per gate process.
    await underTagLock(route.name, tag, () => writeTag(req, res, route, tag, bytes, digest, headers, signal));
  }

  /**
   * A write that points no tag at an image (content: see the header) is still a write into the
   * repository, and whoever may write there can spoil what is there (an evidence tag overwritten
   * empty hides every signature of an image). So it is decided like any push, with operation
   * `content`: only who writes is judged (push.identities, deny rules), never evidence. False
   * when the request was answered (a challenge); throws the 403 to send when denied.
   */
  async function allowContentWrite(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    name: string,
    digest: string,
    what: string,
    signal: AbortSignal,
    tag?: string,
  ): Promise<boolean> {
    const who = pusherIdentity(req.headers.authorization);
    const image = `${registryName}/${name}@${digest}`;
    const answer = await decide('push', image, digest, {
      ...(who.identity ? { identity: who.identity } : {}),
      labels: { [GATE_LABELS.operation]: 'content', [GATE_LABELS.identitySource]: who.source, ...(tag ? { [GATE_LABELS.tag]: tag } : {}) },
    });
    if (answer.allowed) {
      debug({ action: 'push', operation: 'content', what, image, identity: who.identity }, 'gate decision');
      return true;
    }
    logger?.info(
      { action: 'push', operation: 'content', what, image, identity: who.identity, allowed: false, reasons: answer.reasons },
      'gate decision',
    );
    return challengeOrDeny(req, res, `write of ${what} ${image} denied: ${answer.reasons.join('; ') || 'no reason given'}`, signal);
  }

  /**
   * A denied request that carried no credentials may only be the client's first try: clients
   * authenticate when the registry challenges them, and a 403 here would stop them before they
   * ever could. So when the upstream wants credentials (its /v2/ ping answers 401 to none), the
   * client gets that challenge, unchanged; its authenticated retry is decided again. Otherwise
   * the 403 with the reasons.
   */
  async function challengeOrDeny(req: http.IncomingMessage, res: http.ServerResponse, denial: string, signal: AbortSignal): Promise<false> {
    if (req.headers.authorization === undefined) {
      const ping = await send('GET', '/v2/', {}, undefined, signal);
      if (ping.statusCode === 401) {
        req.resume();
        relayStatus(ping, req, res, 'authentication required');
        return false;
      }
      ping.body.resume();
    }
    throw new GateError(403, 'DENIED', denial);
  }

  /**
   * The blobs an upload request can make present in the repository: a monolithic POST
   * `?digest=`, a cross-repository mount POST `?mount=` (a registry that cannot mount falls back
   * to `digest=` when both are given, so both are decided), the closing PUT `?digest=`. PATCHes
   * and a POST that only opens a session make nothing readable yet. A parameter given twice, or a
   * value that is not a digest, is refused: the gate must decide about the very digest the
   * upstream commits, and two parsers may pick different copies.
   */
  function committedBlobs(method: string, route: Extract<Route, { kind: 'upload-start' | 'upload' }>, query: string): string[] {
    const names = route.kind === 'upload-start' ? (method === 'POST' ? ['mount', 'digest'] : []) : method === 'PUT' ? ['digest'] : [];
    if (names.length === 0 || query === '') return [];
    const params = new URLSearchParams(query);
    const out: string[] = [];
    for (const name of names) {
      const values = params.getAll(name);
      if (values.length === 0) continue;
      if (values.length > 1) throw new GateError(400, 'DIGEST_INVALID', `the upload names ${name}= ${values.length} times: give it once`);
      const value = values[0]!;
      if (!isDigest(value)) throw new GateError(400, 'DIGEST_INVALID', `${name}=${JSON.stringify(value.slice(0, 100))} is not a digest`);
      if (!out.includes(value)) out.push(value);
    }
    return out;
  }

  /** Runs `fn` holding the write lock of repository:tag; a lock that cannot be had refuses the write (fail closed). */
  async function underTagLock(name: string, tag: string, fn: () => Promise<void>): Promise<void> {
    // Set inside the locked section: an error after it is the write's own, not the lock's.
    const attempt = { ran: false };
    try {
      await tagLock.run(`gate-tag/${registryName}/${name}:${tag}`, () => {
        attempt.ran = true;
        return fn();
      });
    } catch (err) {
      if (attempt.ran || !(err instanceof CountersignError)) throw err;
      throw new GateError(
        403,
        'DENIED',
        `write of ${registryName}/${name}:${tag} denied: the gate could not take the tag's write lock (${err.message}); retry the push`,
      );
    }
  }

  async function writeTag(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    route: Extract<Route, { kind: 'manifest' }>,
    tag: string,
    bytes: Buffer,
    digest: string,
    headers: Record<string, string | string[]>,
    signal: AbortSignal,
  ): Promise<void> {
    // The content is stored by digest before the tag is decided (below). That store is a content
    // write like a PUT by digest, and decided as one first: else whoever may not write here at all
    // would store any manifest (a referrer of a production image, say) by sending it to a tag and
    // being refused the tag only.
    if (!(await allowContentWrite(req, res, route.name, digest, `manifest by digest (for tag ${tag})`, signal))) return;
    // The tag's current target, for immutable-tag rules (re-pushing the same digest is no change).
    const target = await currentTarget(req, route.name, tag, signal);
    if ('refused' in target) {
      relayStatus(target.refused, req, res, `the registry refused to say what tag ${tag} points at`);
      return;
    }
    const current = target.digest;
    // Stored by digest first: Countersign must be able to read what it judges.
    const stored = await send('PUT', `/v2/${route.name}/manifests/${digest}`, headers, bytes, signal);
    if (stored.statusCode !== 201) {
      await relay(stored, req, res);
      return;
    }
    stored.body.resume();
    const who = pusherIdentity(req.headers.authorization);
    const image = `${registryName}/${route.name}:${tag}@${digest}`;
    const answer = await decide('push', image, digest, {
      ...(who.identity ? { identity: who.identity } : {}),
      labels: { [GATE_LABELS.tag]: tag, [GATE_LABELS.currentDigest]: current, [GATE_LABELS.identitySource]: who.source },
    });
    logger?.info(
      { action: 'push', image, identity: who.identity, currentDigest: current, allowed: answer.allowed, reasons: answer.reasons },
      'gate decision',
    );
    if (!answer.allowed) throw new GateError(403, 'DENIED', `push of ${image} denied: ${answer.reasons.join('; ') || 'no reason given'}`);
    await relay(await send('PUT', `/v2/${route.name}/manifests/${tag}`, headers, bytes, signal), req, res);
  }

  /**
   * What `name:tag` points at now: its digest, '' when the registry says it does not exist (404),
   * or the upstream's refusal of the client's credentials (401/403) to relay. Anything else (an
   * error, a rate limit, a 200 that names no digest and whose bytes cannot be read) refuses the
   * write: under an immutable-tag rule an unknown target must never pass for "not set yet".
   */
  async function currentTarget(
    req: http.IncomingMessage,
    name: string,
    tag: string,
    signal: AbortSignal,
  ): Promise<{ digest: string; head: Dispatcher.ResponseData } | { refused: Dispatcher.ResponseData }> {
    const path = `/v2/${name}/manifests/${tag}`;
    const headers = forwardHeaders(req, MANIFEST_READ_HEADERS, CONDITIONAL);
    const head = await send('HEAD', path, headers, undefined, signal);
    head.body.resume();
    if (head.statusCode === 401 || head.statusCode === 403) return { refused: head };
    if (head.statusCode === 404) return { digest: '', head };
    const unknown = (why: string): GateError =>
      new GateError(502, 'UNAVAILABLE', `the gate cannot tell what ${name}:${tag} points at now (${why}): the write is refused, retry it`);
    if (head.statusCode !== 200) throw unknown(`the registry answered HTTP ${head.statusCode}`);
    const claimed = headerOf(head.headers, 'docker-content-digest');
    if (claimed !== undefined && isDigest(claimed)) return { digest: claimed, head };
    // Docker-Content-Digest is only a SHOULD: the digest of the bytes, then.
    const got = await fetchCapped(req, 'GET', path, headers, () => `manifest ${name}:${tag}`, signal);
    if (got.statusCode !== 200) throw unknown(`the registry answered the read of it with HTTP ${got.statusCode}`);
    return { digest: computeDigest(got.bytes, 'sha256'), head };
  }

  /** DELETE of a blob: a push decision with operation delete, like a manifest's by digest (immutable tags, identities). */
  async function allowBlobDelete(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    name: string,
    digest: string,
    signal: AbortSignal,
  ): Promise<boolean> {
    const who = pusherIdentity(req.headers.authorization);
    const image = `${registryName}/${name}@${digest}`;
    const answer = await decide('push', image, digest, {
      ...(who.identity ? { identity: who.identity } : {}),
      labels: { [GATE_LABELS.operation]: 'delete', [GATE_LABELS.currentDigest]: digest, [GATE_LABELS.identitySource]: who.source },
    });
    logger?.info(
      { action: 'delete', what: 'blob', image, identity: who.identity, allowed: answer.allowed, reasons: answer.reasons },
      'gate decision',
    );
    if (answer.allowed) return true;
    return challengeOrDeny(req, res, `delete of blob ${image} denied: ${answer.reasons.join('; ') || 'no reason given'}`, signal);
  }

  /** DELETE of a manifest (by tag or digest): a push decision with operation delete (immutable tags). */
  async function manifestDelete(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    route: Extract<Route, { kind: 'manifest' }>,
    signal: AbortSignal,
  ): Promise<void> {
    if (!route.byDigest) {
      await underTagLock(route.name, route.reference, () => deleteManifest(req, res, route, signal));
      return;
    }
    await deleteManifest(req, res, route, signal);
  }

  async function deleteManifest(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    route: Extract<Route, { kind: 'manifest' }>,
    signal: AbortSignal,
  ): Promise<void> {
    let digest = route.reference;
    let current = '';
    if (!route.byDigest) {
      const target = await currentTarget(req, route.name, route.reference, signal);
      if ('refused' in target || target.digest === '') {
        // The client must authenticate first, or there is nothing to delete: the upstream's answer, unchanged.
        if ('refused' in target) relayStatus(target.refused, req, res, `the registry refused to say what tag ${route.reference} points at`);
        else relayStatus(target.head, req, res, `no tag ${route.reference} in ${route.name}`);
        return;
      }
      current = target.digest;
      digest = current;
    }
    const who = pusherIdentity(req.headers.authorization);
    const image = `${registryName}/${route.name}${route.byDigest ? '' : `:${route.reference}`}@${digest}`;
    const answer = await decide('push', image, digest, {
      ...(who.identity ? { identity: who.identity } : {}),
      labels: {
        [GATE_LABELS.operation]: 'delete',
        [GATE_LABELS.currentDigest]: route.byDigest ? digest : current,
        [GATE_LABELS.identitySource]: who.source,
        ...(route.byDigest ? {} : { [GATE_LABELS.tag]: route.reference }),
      },
    });
    logger?.info({ action: 'delete', image, identity: who.identity, allowed: answer.allowed, reasons: answer.reasons }, 'gate decision');
    if (!answer.allowed) throw new GateError(403, 'DENIED', `delete of ${image} denied: ${answer.reasons.join('; ') || 'no reason given'}`);
    await relay(await send('DELETE', `/v2/${route.name}/manifests/${route.reference}`, forwardHeaders(req), undefined, signal), req, res);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const parsedRoute = parseRoute(method, req.url ?? '');
    if (!parsedRoute.ok) {
      opts.observer?.gate('rejected');
      req.resume();
      sendError(res, parsedRoute.status, parsedRoute.code, parsedRoute.message);
      return;
    }
    const { route, query } = parsedRoute;
    const path = (req.url ?? '').split('?')[0]! + (query ? `?${query}` : '');
    const abort = new AbortController();
    const share = bodies.share();
    shares.set(req, share);
    res.on('close', () => {
      share.release();
      if (!res.writableFinished) abort.abort();
    });
    try {
      if (route.kind === 'manifest' && (method === 'GET' || method === 'HEAD')) await manifestRead(req, res, route, abort.signal);
      else if (route.kind === 'manifest' && method === 'PUT') await manifestWrite(req, res, route, abort.signal);
      else if (route.kind === 'manifest' && method === 'DELETE') await manifestDelete(req, res, route, abort.signal);
      else if (route.kind === 'blob' && (method === 'GET' || method === 'HEAD')) await blobRead(req, res, route, path, abort.signal);
      else if (route.kind === 'blob' && method === 'DELETE') {
        if (await allowBlobDelete(req, res, route.name, route.digest, abort.signal)) await passThrough(req, res, path, abort.signal);
      } else if (route.kind === 'upload-start' || route.kind === 'upload') {
        // Distribution reads digest= and mount=/from= with Go's FormValue, which also parses a form
        // body (and prefers it to the query): such a body would commit or mount a blob the query
        // never named. Upload data is octet-stream; a form is refused.
        const type = baseMediaType(headerOf(req.headers, 'content-type'));
        if (type === 'application/x-www-form-urlencoded' || type === 'multipart/form-data') {
          throw new GateError(
            400,
            'UNSUPPORTED',
            `an upload request with a ${type} body is refused: send the data as application/octet-stream and name digest=, mount= and from= in the query`,
          );
        }
        let allowed = true;
        for (const blob of committedBlobs(method, route, query)) {
          allowed = await allowContentWrite(req, res, route.name, blob, 'blob', abort.signal);
          if (!allowed) break;
        }
        if (allowed) await passThrough(req, res, path, abort.signal);
      }
      // Upload data, tags lists, referrers, the ping: passed through unchanged, the upstream's
      // credentials govern them.
      else await passThrough(req, res, path, abort.signal);
    } catch (err) {
      if (abort.signal.aborted) return;
      if (err instanceof GateError) {
        if (err.status >= 500) logger?.warn({ method, path, status: err.status, reason: err.message }, 'gate request failed');
        req.resume();
        // A request whose body never came: answered, and its connection is not kept.
        if (err.status === 408) res.setHeader('connection', 'close');
        if (err.status === 429) res.setHeader('retry-after', '1');
        if (!res.headersSent) sendError(res, err.status, err.code, err.message);
        else res.destroy();
        return;
      }
      throw err;
    }
  }

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    void handle(req, res).catch((err: unknown) => {
      logger?.error({ err: err instanceof Error ? { name: err.name, message: err.message } : String(err) }, 'gate request failed');
      if (!res.headersSent) sendError(res, 500, 'UNKNOWN', 'internal error in the Countersign registry gate');
      else res.destroy();
    });
  };

  const listening = await listenHttp(
    {
      address: { host, port },
      listen: opts.listen,
      name: 'registry gate',
      ...(opts.tls ? { tls: opts.tls } : {}),
      headersTimeoutMs: 30_000,
      // Uploads of large layers take as long as they take, but a connection on which nothing
      // moves either way for 5 minutes (a client that stopped reading its blob, a stalled upload)
      // is closed: it would hold an upstream connection for good.
      requestTimeoutMs: 0,
      idleTimeoutMs: 5 * 60_000,
      highWaterMark: SOCKET_BUFFERS.highWaterMark,
      onError: (err) => logger?.error({ err: { name: err.name, message: err.message } }, 'gate server error'),
    },
    handler,
  );
  // Read by gateOrigin (requests arrive only once it is listening).
  const server = listening.server;
  logger?.info(
    { address: listening.host, port: listening.port, upstream: upstream.origin, registryName, tls: Boolean(opts.tls) },
    'registry gate listening',
  );

  let closing: Promise<void> | undefined;
  return {
    port: listening.port,
    host: listening.host,
    url: listening.url,
    close() {
      closing ??= (async () => {
        await listening.close(5000);
        rawBlobs?.close();
        await Promise.all([pool.close(), blobPool.close()]);
      })();
      return closing;
    },
  };
}

/** Bytes a client would take for a manifest: a JSON object with a schemaVersion and layers, manifests or fsLayers. */
function isManifestShaped(bytes: Buffer): boolean {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
  if (bytes[i] !== 0x7b) return false; // '{'
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    return false;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return false;
  const m = doc as Record<string, unknown>;
  // Keys as a Go client matches them: case-insensitively.
  const keys = new Map(Object.keys(m).map((k) => [k.toLowerCase(), m[k]]));
  return keys.has('schemaversion') && ['layers', 'manifests', 'fslayers'].some((k) => Array.isArray(keys.get(k)));
}

/** The digest of manifest bytes, in the algorithm of the digest asked for (sha256 for tags). */
function digestOfBytes(bytes: Buffer, route: Extract<Route, { kind: 'manifest' }>): string {
  if (!route.byDigest) return computeDigest(bytes, 'sha256');
  const parts = splitDigest(route.reference);
  if (!parts) throw new GateError(400, 'DIGEST_INVALID', `${route.reference} is not a sha256 or sha512 digest`);
  return computeDigest(bytes, parts.algorithm);
}

/** The refusal of a manifest over the cap: by its announced length, or found while reading it. */
function manifestTooLarge(what: string, max: number, declared?: string): GateError {
  return new GateError(
    413,
    'SIZE_INVALID',
    declared !== undefined
      ? `${what} is ${declared} bytes; the gate accepts manifests of at most ${max} bytes`
      : `${what} is larger than ${max} bytes, the gate's manifest limit`,
  );
}

function headerOf(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function sendError(res: http.ServerResponse, status: number, code: string, message: string): void {
  const body = JSON.stringify({ errors: [{ code, message: message.slice(0, 4000) }] });
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

/** The one listen-address parser (shared/net). */
export function parseHostPort(listen: string): ListenAddress {
  return parseListenAddress(listen, 'gate listen address');
}
