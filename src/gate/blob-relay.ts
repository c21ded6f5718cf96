import * as http from 'node:http';
import * as net from 'node:net';
import type { Writable } from 'node:stream';

/**
 * Blob reads relayed from a plain-HTTP registry over raw sockets, in reads of up to 1 MiB written
 * on as they are: what lets the gate come near a TCP pipe's throughput. Through an HTTP client (undici)
 * a blob arrives in 64 KiB reads, each parsed and handed on as a chunk of its own; the gate, the
 * registry and the client share two cores, and that per-chunk work is what the gate cost.
 *
 * Only the responses this reader can take whole are relayed by it: a status line, headers, and a
 * body of a declared Content-Length (or none: HEAD, 204, 304). Anything else (a chunked or
 * close-delimited body, an interim 1xx answer) and any failure before the first byte of an
 * answer is `unsupported`: nothing has reached the client yet, the request is a GET or HEAD, so
 * the caller makes it again through its HTTP client, which handles every case and reports
 * failures as it does for every other request.
 */

/** What the registry answered, before any body byte moves (header names lower-case; repeated ones as arrays). */
export interface RelayHead {
  statusCode: number;
  headers: Record<string, string | string[]>;
}

/** Failures of the raw reader that are answers for the client (not a reason to ask again). */
export class BlobRelayError extends Error {
  constructor(
    readonly code: 'TIMEOUT' | 'PROTOCOL',
    message: string,
  ) {
    super(message);
    this.name = 'BlobRelayError';
  }
}

export interface BlobRelayOptions {
  host: string;
  port: number;
  /** The Host header sent (the upstream's host:port, as the HTTP client sends it). */
  hostHeader: string;
  /** Blob reads relayed at once; beyond them `relay` answers `unsupported` (each holds a read buffer). */
  maxActive?: number;
  /** Kept-alive connections kept idle for the next read. */
  maxIdle?: number;
  /** Size of each read buffer (a connection holds a few while it relays). */
  readBytes?: number;
  /** How long the registry may take to send a response's head. */
  headTimeoutMs?: number;
}

const MAX_HEAD_BYTES = 64 * 1024;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-5]\d\d)(?: [^\r\n]*)?$/;
/**
 * What a header value may hold, in the request sent and in the response read (RFC 9110 5.5:
 * visible ASCII, space, tab, and obs-text). Checked on the JS string, which is sent as latin1: a
 * character above U+00FF would lose its high byte there (U+010D U+010A would become CR LF).
 */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** A request target: visible ASCII only (no space, control or non-latin1 character splits the request line). */
const REQUEST_TARGET = /^\/[\x21-\x7e]*$/;
/** Sent by the relay itself, never copied from the client's headers. */
const OWN_HEADERS = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'expect', 'upgrade', 'te', 'keep-alive']);

/** One connection and the read it is serving now (none while idle). */
interface Connection {
  socket: net.Socket;
  /** `bytes` lie in `owner`, a read buffer of the connection's: recycle() it once they are written. */
  onBytes: (bytes: Buffer, owner: Buffer) => void;
  /** Read buffers whose bytes were written out, for the next reads. */
  free: Buffer[];
  /** How many of them to keep: FREE_BUFFERS while it relays, one while idle (a burst leaves no pile behind). */
  keep: number;
  onEnd: (err?: Error) => void;
}

export type RelayOutcome = 'relayed' | 'unsupported';

export class BlobRelay {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private active = 0;
  private closed = false;
  /** Connections opened so far (tests: kept-alive reads reuse them). */
  opened = 0;
  private readonly maxActive: number;
  private readonly maxIdle: number;
  private readonly readBytes: number;
  private readonly headTimeoutMs: number;

  constructor(private readonly opts: BlobRelayOptions) {
    this.maxActive = opts.maxActive ?? 16;
    this.maxIdle = opts.maxIdle ?? 8;
    this.readBytes = opts.readBytes ?? 1024 * 1024;
    this.headTimeoutMs = opts.headTimeoutMs ?? 60_000;
  }

  /**
   * Sends `method path` with `headers` and relays the answer: `onHead` sees the status and headers
   * first and returns where the body goes (it may throw to refuse the answer; nothing was written
   * then). Resolves `relayed` once the body was written and ended (or cut off when the registry
   * failed midway: the destination is destroyed, as a proxy must), `unsupported` when nothing was
   * relayed and the caller should make the request itself.
   */
  async relay(
    method: 'GET' | 'HEAD',
    path: string,
    headers: Record<string, string | string[]>,
    onHead: (head: RelayHead) => Writable,
    signal: AbortSignal,
  ): Promise<RelayOutcome> {
    if (this.closed || this.active >= this.maxActive || signal.aborted) return 'unsupported';
    const request = this.requestBytes(method, path, headers);
    if (request === undefined) return 'unsupported';
    this.active++;
    try {
      return await this.exchange(method, request, onHead, signal);
    } finally {
      this.active--;
    }
  }

  /** Ends every connection (idle ones and the reads on the others). */
  close(): void {
    this.closed = true;
    for (const c of this.all) c.socket.destroy();
    this.all.clear();
    this.idle.length = 0;
  }

  private requestBytes(method: string, path: string, headers: Record<string, string | string[]>): Buffer | undefined {
    // The path comes from a parsed route; a request line must still never be split by it.
    if (!REQUEST_TARGET.test(path)) return undefined;
    let head = `${method} ${path} HTTP/1.1\r\nhost: ${this.opts.hostHeader}\r\nconnection: keep-alive\r\n`;
    for (const name in headers) {
      const lower = name.toLowerCase();
      if (OWN_HEADERS.has(lower)) continue;
      if (!TOKEN.test(name)) return undefined;
      const value = headers[name]!;
      for (const v of Array.isArray(value) ? value : [value]) {
        if (!FIELD_VALUE.test(v)) return undefined;
        head += `${name}: ${v}\r\n`;
      }
    }
    return Buffer.from(`${head}\r\n`, 'latin1');
  }

  private connection(): Connection {
    const kept = this.idle.pop();
    if (kept) {
      kept.keep = FREE_BUFFERS;
      return kept;
    }
    const conn: Connection = {
      socket: undefined as unknown as net.Socket,
      onBytes: () => {},
      onEnd: () => {},
      free: [],
      keep: FREE_BUFFERS,
    };
    const size = this.readBytes;
    conn.socket = net.connect({
      host: this.opts.host,
      port: this.opts.port,
      // Each read lands in a buffer of its own, written out as it is and recycled once written:
      // no copy of the body, and no garbage per read (a 256 MiB blob made of 1 MiB copies raised
      // the gate's RSS by more than 64 MiB before the collector caught up with them).
      onread: {
        buffer: () => conn.free.pop() ?? Buffer.allocUnsafeSlow(size),
        callback: (n: number, buf: Uint8Array) => {
          const owner = buf as Buffer;
          conn.onBytes(owner.subarray(0, n), owner);
          return true; // back-pressure pauses the socket itself (socket.pause())
        },
      },
    });
    conn.socket.setNoDelay(true);
    const gone = (err?: Error): void => {
      this.all.delete(conn);
      const i = this.idle.indexOf(conn);
      if (i >= 0) this.idle.splice(i, 1);
      conn.onEnd(err ?? new Error('the registry closed the connection'));
    };
    conn.socket.on('error', gone);
    conn.socket.on('close', () => gone());
    conn.socket.on('end', () => conn.socket.destroy());
    this.all.add(conn);
    this.opened++;
    return conn;
  }

  private release(conn: Connection, reusable: boolean): void {
    conn.onBytes = () => conn.socket.destroy(); // bytes nobody asked for: the connection is not trusted again
    conn.onEnd = () => {};
    if (reusable && !this.closed && this.idle.length < this.maxIdle && this.all.has(conn)) {
      conn.keep = 1;
      conn.free.length = Math.min(conn.free.length, 1);
      this.idle.push(conn);
    } else conn.socket.destroy();
  }

  private exchange(
    method: 'GET' | 'HEAD',
    request: Buffer,
    onHead: (head: RelayHead) => Writable,
    signal: AbortSignal,
  ): Promise<RelayOutcome> {
    return new Promise<RelayOutcome>((resolve, reject) => {
      const conn = this.connection();
      const { socket } = conn;
      let head: Buffer | undefined; // bytes of the head so far
      let out: Writable | undefined;
      let remaining = 0;
      let reusable = true;
      let settled = false;
      /**
       * A socket, or a response on one, is done with a chunk when its write callback runs (the
       * bytes went to the kernel, or into TLS records): the read buffer is reused after that. Any
       * other destination (a Transform may keep chunks) is given copies.
       */
      let inPlace = false;
      const headTimer = setTimeout(
        () =>
          settle(
            () => reject(new BlobRelayError('TIMEOUT', `the registry did not answer within ${Math.round(this.headTimeoutMs / 1000)} s`)),
            false,
          ),
        this.headTimeoutMs,
      );
      const settle = (how: () => void, keep: boolean): void => {
        if (settled) return;
        settled = true;
        clearTimeout(headTimer);
        signal.removeEventListener('abort', onAbort);
        out?.removeListener('close', onOutClose);
        this.release(conn, keep);
        how();
      };
      const onAbort = (): void => {
        // Whatever was written of the body is not a whole one.
        out?.destroy();
        settle(() => reject(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason))), false);
      };
      const onOutClose = (): void => {
        // The client went away before the body was written: the rest of it is not read.
        if (remaining > 0) settle(() => resolve('relayed'), false);
      };
      signal.addEventListener('abort', onAbort, { once: true });

      const finishBody = (): void => {
        out!.end();
        settle(() => resolve('relayed'), reusable);
      };
      const writeBody = (bytes: Buffer, owner: Buffer | undefined): void => {
        if (bytes.length === 0) {
          recycle(conn, owner);
          return;
        }
        if (bytes.length > remaining) {
          // More than the declared length: relay what was declared, and never reuse the connection.
          reusable = false;
          bytes = bytes.subarray(0, remaining);
        }
        remaining -= bytes.length;
        let room: boolean;
        if (inPlace) room = out!.write(bytes, () => recycle(conn, owner));
        else {
          room = out!.write(Buffer.from(bytes));
          recycle(conn, owner);
        }
        if (!room && remaining > 0) {
          socket.pause();
          out!.once('drain', () => socket.resume());
        }
        if (remaining === 0) finishBody();
      };
      const startBody = (parsed: ParsedHead, rest: Buffer, owner: Buffer | undefined): void => {
        const bodyless = method === 'HEAD' || parsed.statusCode === 204 || parsed.statusCode === 304;
        let length = 0;
        if (!bodyless) {
          if (parsed.headers['transfer-encoding'] !== undefined || parsed.contentLength === undefined) {
            // A body this reader does not frame: asked again by the caller, nothing written yet.
            settle(() => resolve('unsupported'), false);
            return;
          }
          length = parsed.contentLength;
        }
        reusable = parsed.keepAlive && rest.length <= length;
        try {
          out = onHead({ statusCode: parsed.statusCode, headers: parsed.headers });
        } catch (err) {
          settle(() => reject(err), false);
          return;
        }
        out.once('close', onOutClose);
        inPlace = out instanceof http.ServerResponse || out instanceof net.Socket;
        remaining = length;
        if (remaining === 0) {
          finishBody();
          return;
        }
        clearTimeout(headTimer);
        writeBody(rest, owner);
      };
      conn.onBytes = (bytes, owner) => {
        if (out !== undefined) {
          writeBody(bytes, owner);
          return;
        }
        // Usually the whole head and the body's start come in the first read: nothing is copied then.
        const seen = head === undefined ? bytes : Buffer.concat([head, bytes]);
        // Bytes copied out of the read buffer (into `seen` or `head`) leave it free at once.
        const holder = head === undefined ? owner : (recycle(conn, owner), undefined);
        const end = seen.indexOf('\r\n\r\n');
        if (end < 0) {
          if (seen.length > MAX_HEAD_BYTES)
            settle(() => reject(new BlobRelayError('PROTOCOL', `the registry sent a response head above ${MAX_HEAD_BYTES} bytes`)), false);
          else head = Buffer.from(seen);
          recycle(conn, holder);
          return;
        }
        const parsed = parseHead(seen.subarray(0, end).toString('latin1'));
        if (parsed === 'interim' || parsed === undefined) {
          // An interim answer (1xx) or a head this reader does not take: the HTTP client reads it.
          settle(() => resolve('unsupported'), false);
          return;
        }
        startBody(parsed, seen.subarray(end + 4), holder);
      };
      conn.onEnd = () => {
        if (out === undefined) {
          // No answer yet: a kept-alive connection the registry had closed, or the registry is
          // unreachable. Either way nothing was relayed; the caller asks again (and reports).
          settle(() => resolve('unsupported'), false);
          return;
        }
        // Cut off midway: the client must not take a short body for a whole one.
        out.destroy();
        settle(() => resolve('relayed'), false);
      };
      socket.write(request);
    });
  }
}

/** Read buffers kept per connection for its next reads (about what one write in flight and one read need). */
const FREE_BUFFERS = 2;

function recycle(conn: Connection, owner: Buffer | undefined): void {
  if (owner !== undefined && conn.free.length < conn.keep) conn.free.push(owner);
}

interface ParsedHead {
  statusCode: number;
  headers: Record<string, string | string[]>;
  contentLength: number | undefined;
  keepAlive: boolean;
}

/** A response head (without its blank line): undefined when it is not one this reader takes. */
function parseHead(text: string): ParsedHead | 'interim' | undefined {
  const lines = text.split('\r\n');
  const status = STATUS_LINE.exec(lines[0]!);
  if (!status) return undefined;
  const statusCode = Number(status[2]);
  if (statusCode < 200) return 'interim';
  // No prototype: a header named __proto__ is a header like any other.
  const headers = Object.create(null) as Record<string, string | string[]>;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return undefined; // also refuses obsolete line folding (a leading space)
    const value = line.slice(colon + 1).trim();
    if (!FIELD_VALUE.test(value)) return undefined; // a bare CR or LF, a control character
    const key = name.toLowerCase();
    const had = headers[key];
    headers[key] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  let contentLength: number | undefined;
  const declared = headers['content-length'];
  if (declared !== undefined) {
    // Repeated lengths must agree (RFC 9112 6.3); anything but digits is not a length.
    const values = new Set((Array.isArray(declared) ? declared : [declared]).flatMap((v) => v.split(',').map((s) => s.trim())));
    if (values.size !== 1) return undefined;
    const [only] = values;
    if (!/^\d{1,15}$/.test(only!)) return undefined;
    contentLength = Number(only);
    headers['content-length'] = only!;
  }
  const connection = headers['connection'];
  const tokens = (Array.isArray(connection) ? connection.join(',') : (connection ?? '')).toLowerCase();
  const keepAlive = status[1] === '1' ? !/(^|,)\s*close\s*(,|$)/.test(tokens) : /(^|,)\s*keep-alive\s*(,|$)/.test(tokens);
  return { statusCode, headers, contentLength, keepAlive };
}
