/**
 * The raw blob reader (src/gate/blob-relay.ts) against a real local upstream: mostly a `net` server
 * writing hand-crafted HTTP/1.1 answers (malformed and hostile ones included), an `http` server for
 * the ordinary cases. Destinations are in-memory Writables, or a real `http` server's response.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { BlobRelay, BlobRelayError, type BlobRelayOptions, type RelayHead, type RelayOutcome } from '../../../src/gate/blob-relay';

const BLOB_PATH = `/v2/library/app/blobs/sha256:${'a'.repeat(64)}`;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MiB = 1024 * 1024;

// Everything a test starts is ended after it, last started first (relays before their upstreams).
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Rejects when `p` has not settled within `ms` (a failing assertion instead of a hung test). */
/** The error `promise` rejects with (within `ms`); fails the test if it resolves or hangs. */
async function rejectionOf(promise: Promise<unknown>, ms: number): Promise<unknown> {
  return within(
    promise.then(
      () => {
        throw new Error('expected a rejection, got a result');
      },
      (e: unknown) => e,
    ),
    ms,
    'a rejection',
  );
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_r, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Upstreams

interface RawConn {
  socket: net.Socket;
  /** Request heads received on this connection (without their blank line). */
  requests: string[];
  closed: Promise<void>;
  isClosed: () => boolean;
}

interface RawUpstream {
  port: number;
  conns: RawConn[];
  /** Every request head, over all connections. */
  requests: string[];
  bytesReceived: () => number;
}

/** Called for each request head received; `n` counts the requests on this connection from 0. */
type Answer = (socket: net.Socket, request: string, n: number) => void;

/** A `net` server: whatever `answer` writes is the whole response, byte for byte. */
async function rawUpstream(answer: Answer): Promise<RawUpstream> {
  const conns: RawConn[] = [];
  const requests: string[] = [];
  let received = 0;
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => {}); // resets by the relay are expected
    let closed = false;
    const conn: RawConn = {
      socket,
      requests: [],
      closed: new Promise<void>((r) =>
        socket.once('close', () => {
          closed = true;
          r();
        }),
      ),
      isClosed: () => closed,
    };
    conns.push(conn);
    let pending = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      received += d.length;
      pending = Buffer.concat([pending, d]);
      let end: number;
      while ((end = pending.indexOf('\r\n\r\n')) >= 0) {
        const request = pending.subarray(0, end).toString('latin1');
        pending = pending.subarray(end + 4);
        conn.requests.push(request);
        requests.push(request);
        answer(socket, request, conn.requests.length - 1);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const c of conns) c.socket.destroy();
        server.close(() => r());
      }),
  );
  return { port: (server.address() as AddressInfo).port, conns, requests, bytesReceived: () => received };
}

interface HttpUpstream {
  port: number;
  connections: net.Socket[];
  requests: http.IncomingMessage[];
}

async function httpUpstream(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<HttpUpstream> {
  const connections: net.Socket[] = [];
  const requests: http.IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  server.on('connection', (s: net.Socket) => connections.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { port: (server.address() as AddressInfo).port, connections, requests };
}

/** A response head (and body) as bytes; header lines are given verbatim. */
function response(statusLine: string, lines: string[], body: Buffer | string = ''): Buffer {
  return Buffer.concat([Buffer.from(`${statusLine}\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`, 'latin1'), Buffer.from(body)]);
}
const ok = (body: Buffer | string, extra: string[] = []): Buffer =>
  response('HTTP/1.1 200 OK', [`Content-Length: ${Buffer.byteLength(body)}`, ...extra], body);

function newRelay(port: number, extra: Partial<BlobRelayOptions> = {}): BlobRelay {
  const relay = new BlobRelay({ host: '127.0.0.1', port, hostHeader: `127.0.0.1:${port}`, ...extra });
  cleanups.push(() => relay.close());
  return relay;
}

/** A port nothing listens on (listened on, then closed). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

// ---------------------------------------------------------------------------------------------
// Destinations

/** Collects what is written; `delayMs` makes each write complete later (a slow client). */
class Sink extends Writable {
  readonly chunks: Buffer[] = [];
  writes = 0;
  /** The most bytes ever buffered in this Writable (the chunk being written included). */
  maxQueued = 0;
  constructor(
    private readonly delayMs?: number,
    highWaterMark?: number,
  ) {
    super(highWaterMark !== undefined ? { highWaterMark } : {});
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.writes++;
    this.maxQueued = Math.max(this.maxQueued, this.writableLength);
    // A copy, as a socket makes one: the relay reuses a chunk's memory once its write completed.
    this.chunks.push(Buffer.from(chunk));
    if (this.delayMs === undefined) cb();
    else setTimeout(() => cb(), this.delayMs);
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
  /** Ended and every write completed. */
  async done(): Promise<void> {
    if (this.writableFinished) return;
    await new Promise<void>((resolve, reject) => {
      this.once('finish', resolve);
      this.once('close', () => (this.writableFinished ? resolve() : reject(new Error('destroyed before finish'))));
    });
  }
}

const expectUntouched = (sink: Sink): void => {
  expect(sink.writes).toBe(0);
  expect(sink.writableEnded).toBe(false);
  expect(sink.destroyed).toBe(false);
};

interface Run {
  outcome: RelayOutcome;
  sink: Sink;
  onHead: jest.Mock<Writable, [RelayHead]>;
  /** The one head onHead saw (throws when it saw none or several). */
  head: () => RelayHead;
}

function start(
  relay: BlobRelay,
  opts: { method?: 'GET' | 'HEAD'; path?: string; headers?: Record<string, string | string[]>; sink?: Sink; signal?: AbortSignal } = {},
): { promise: Promise<Run>; sink: Sink; onHead: jest.Mock<Writable, [RelayHead]> } {
  const sink = opts.sink ?? new Sink();
  const onHead = jest.fn<Writable, [RelayHead]>(() => sink);
  const head = (): RelayHead => {
    expect(onHead).toHaveBeenCalledTimes(1);
    return onHead.mock.calls[0]![0];
  };
  const promise = relay
    .relay(opts.method ?? 'GET', opts.path ?? BLOB_PATH, opts.headers ?? {}, onHead, opts.signal ?? new AbortController().signal)
    .then((outcome) => ({ outcome, sink, onHead, head }));
  return { promise, sink, onHead };
}

const run = (relay: BlobRelay, opts: Parameters<typeof start>[1] = {}): Promise<Run> => start(relay, opts).promise;

// ---------------------------------------------------------------------------------------------

describe('a 200 with a Content-Length', () => {
  test('a body of a few MiB is relayed byte-exact, in several reads, and the request carries host and the forwarded headers', async () => {
    const body = randomBytes(3 * MiB + 12345);
    const up = await httpUpstream((_req, res) => {
      res.writeHead(200, {
        'Content-Length': String(body.length),
        'Docker-Content-Digest': `sha256:${sha256(body)}`,
        'X-Mixed-Case': 'Value',
      });
      res.end(body);
    });
    const relay = newRelay(up.port);
    const r = await run(relay, {
      headers: {
        accept: 'application/octet-stream',
        authorization: 'Bearer t0ken',
        'X-Custom': 'kept as given',
        'x-multi': ['one', 'two'],
        // Sent by the relay itself, never copied from the client's headers.
        Host: 'evil.example',
        Connection: 'close',
        'content-length': '5',
        'Transfer-Encoding': 'chunked',
        expect: '100-continue',
        upgrade: 'h2c',
        te: 'trailers',
        'keep-alive': 'timeout=1',
      },
    });
    await r.sink.done();
    expect(r.outcome).toBe('relayed');
    const got = r.sink.bytes();
    expect(got.length).toBe(body.length);
    expect(sha256(got)).toBe(sha256(body));
    expect(got.equals(body)).toBe(true);
    // A 1 MiB read buffer: more than 3 MiB cannot come in fewer than 4 reads (each one write).
    expect(r.sink.writes).toBeGreaterThanOrEqual(4);

    const head = r.head();
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe(String(body.length));
    expect(head.headers['docker-content-digest']).toBe(`sha256:${sha256(body)}`);
    expect(head.headers['x-mixed-case']).toBe('Value');
    expect(Object.keys(head.headers).every((k) => k === k.toLowerCase())).toBe(true);

    expect(up.requests).toHaveLength(1);
    const req = up.requests[0]!;
    expect(req.method).toBe('GET');
    expect(req.url).toBe(BLOB_PATH);
    expect(req.httpVersion).toBe('1.1');
    expect(req.headers.host).toBe(`127.0.0.1:${up.port}`);
    expect(req.headers.accept).toBe('application/octet-stream');
    expect(req.headers.authorization).toBe('Bearer t0ken');
    expect(req.headers['x-custom']).toBe('kept as given');
    expect(req.headers['x-multi']).toBe('one, two');
    expect(req.headers.connection).toBe('keep-alive');
    for (const own of ['content-length', 'transfer-encoding', 'expect', 'upgrade', 'te', 'keep-alive'])
      expect(req.headers[own]).toBeUndefined();
    // One host line and one connection line: the client's were not added.
    const names = req.rawHeaders.filter((_v, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(names.filter((n) => n === 'host')).toHaveLength(1);
    expect(names.filter((n) => n === 'connection')).toHaveLength(1);
  });

  test('the request is exactly one well-formed head on the wire', async () => {
    const up = await rawUpstream((s) => s.write(ok('x')));
    const relay = newRelay(up.port, { hostHeader: 'registry.internal:5000' });
    const r = await run(relay, { headers: { 'x-a': 'b', 'x-list': ['1', '2'] } });
    expect(r.outcome).toBe('relayed');
    expect(up.requests).toEqual([
      `GET ${BLOB_PATH} HTTP/1.1\r\nhost: registry.internal:5000\r\nconnection: keep-alive\r\nx-a: b\r\nx-list: 1\r\nx-list: 2`,
    ]);
    // Nothing but that head (and its blank line) was sent.
    expect(up.bytesReceived()).toBe(Buffer.byteLength(up.requests[0]!) + 4);
  });

  test('head and body in separate TCP writes (the body itself in several)', async () => {
    const body = randomBytes(300_000);
    const up = await rawUpstream((s) => {
      s.write(response('HTTP/1.1 200 OK', [`Content-Length: ${body.length}`]));
      void (async () => {
        await sleep(30);
        s.write(body.subarray(0, 1000));
        await sleep(30);
        s.write(body.subarray(1000, 200_000));
        await sleep(30);
        s.write(body.subarray(200_000));
      })();
    });
    const relay = newRelay(up.port);
    const r = await run(relay);
    await r.sink.done();
    expect(r.outcome).toBe('relayed');
    expect(r.sink.bytes().equals(body)).toBe(true);
    expect(r.sink.writes).toBeGreaterThanOrEqual(3);
    expect(r.head().headers['content-length']).toBe(String(body.length));
  });

  test('a head split across several writes (the blank line too) is put together', async () => {
    const parts = ['HTT', 'P/1.1 200 OK\r\nContent-Le', 'ngth: 5\r\nX-Split: y', 'es\r\n\r', '\nhel', 'lo'];
    const up = await rawUpstream((s) => {
      void (async () => {
        for (const p of parts) {
          s.write(p);
          await sleep(20);
        }
      })();
    });
    const relay = newRelay(up.port);
    const r = await run(relay);
    await r.sink.done();
    expect(r.outcome).toBe('relayed');
    expect(r.sink.bytes().toString()).toBe('hello');
    expect(r.head()).toEqual({ statusCode: 200, headers: expect.objectContaining({ 'content-length': '5', 'x-split': 'yes' }) as unknown });
  });

  test('a status line without a reason phrase, and other statuses (404) with a body, are relayed', async () => {
    const up = await rawUpstream((s, _req, n) =>
      s.write(
        n === 0
          ? response('HTTP/1.1 200', ['Content-Length: 2'], 'ok')
          : response('HTTP/1.1 404 Not Found', ['Content-Length: 7'], 'missing'),
      ),
    );
    const relay = newRelay(up.port);
    const a = await run(relay);
    expect(a.outcome).toBe('relayed');
    expect(a.head().statusCode).toBe(200);
    expect(a.sink.bytes().toString()).toBe('ok');
    const b = await run(relay);
    expect(b.outcome).toBe('relayed');
    expect(b.head().statusCode).toBe(404);
    expect(b.sink.bytes().toString()).toBe('missing');
    expect(relay.opened).toBe(1);
  });

  test('duplicate Content-Length values that agree are taken (and given on as one value)', async () => {
    const up = await rawUpstream((s, _r, n) =>
      s.write(
        n === 0
          ? response('HTTP/1.1 200 OK', ['Content-Length: 5', 'Content-Length: 5'], 'hello')
          : response('HTTP/1.1 200 OK', ['Content-Length: 5, 5'], 'world'),
      ),
    );
    const relay = newRelay(up.port);
    const a = await run(relay);
    expect(a.outcome).toBe('relayed');
    expect(a.head().headers['content-length']).toBe('5');
    expect(a.sink.bytes().toString()).toBe('hello');
    const b = await run(relay);
    expect(b.outcome).toBe('relayed');
    expect(b.head().headers['content-length']).toBe('5');
    expect(b.sink.bytes().toString()).toBe('world');
  });

  test('readBytes sizes the read buffer: no write is larger than it', async () => {
    const body = randomBytes(200_000);
    const up = await rawUpstream((s) => s.write(ok(body)));
    const relay = newRelay(up.port, { readBytes: 4096 });
    const r = await run(relay);
    await r.sink.done();
    expect(r.outcome).toBe('relayed');
    expect(r.sink.bytes().equals(body)).toBe(true);
    expect(Math.max(...r.sink.chunks.map((c) => c.length))).toBeLessThanOrEqual(4096);
    expect(r.sink.writes).toBeGreaterThanOrEqual(Math.ceil(body.length / 4096));
  });

  // Read buffers are reused once a write's callback ran: only a socket (or a response on one) is
  // done with a chunk by then. Any other destination (a PassThrough read later) must get copies.
  test('a destination that keeps the chunks it was given (a PassThrough read afterwards) gets the body', async () => {
    const body = randomBytes(256 * 1024);
    const up = await rawUpstream((s) => s.write(ok(body)));
    const relay = newRelay(up.port, { readBytes: 4096 });
    const pass = new PassThrough({ highWaterMark: 1024 * 1024 });
    const outcome = await relay.relay('GET', BLOB_PATH, {}, () => pass, new AbortController().signal);
    expect(outcome).toBe('relayed');
    const chunks: Buffer[] = [];
    for await (const c of pass) chunks.push(c as Buffer);
    const got = Buffer.concat(chunks);
    expect(got.length).toBe(body.length);
    expect(sha256(got)).toBe(sha256(body));
  });

  test('into a real http server response: the client downloads the exact bytes', async () => {
    const body = randomBytes(2 * MiB + 7);
    const up = await httpUpstream((_req, res) => {
      res.writeHead(200, { 'content-length': String(body.length), 'content-type': 'application/octet-stream' });
      res.end(body);
    });
    const relay = newRelay(up.port);
    const outcomes: RelayOutcome[] = [];
    const front = http.createServer((req, res) => {
      const ac = new AbortController();
      void relay
        .relay(
          'GET',
          req.url ?? '/',
          {},
          ({ statusCode, headers }) => {
            res.writeHead(statusCode, headers);
            return res;
          },
          ac.signal,
        )
        .then((o) => outcomes.push(o));
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    cleanups.push(
      () =>
        new Promise<void>((r) => {
          front.closeAllConnections();
          front.close(() => r());
        }),
    );
    const port = (front.address() as AddressInfo).port;
    const { status, type, bytes } = await new Promise<{ status: number; type: string | undefined; bytes: Buffer }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: BLOB_PATH, agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], bytes: Buffer.concat(chunks) }));
          res.on('error', reject);
        })
        .on('error', reject);
    });
    expect(status).toBe(200);
    expect(type).toBe('application/octet-stream');
    expect(bytes.equals(body)).toBe(true);
    expect(outcomes).toEqual(['relayed']);
  });
});

describe('requests that cannot be sent as given: unsupported, and not a byte to the upstream', () => {
  test.each<[string, string, Record<string, string | string[]>]>([
    ['a header value with CR LF', BLOB_PATH, { 'x-a': 'ok\r\nx-injected: 1' }],
    ['a header value with a bare LF', BLOB_PATH, { 'x-a': 'ok\nx-injected: 1' }],
    ['a header value with a bare CR', BLOB_PATH, { 'x-a': 'ok\rx-injected: 1' }],
    ['a header value with NUL', BLOB_PATH, { 'x-a': 'ok\0' }],
    ['one value of a repeated header with CR LF', BLOB_PATH, { 'x-a': ['fine', 'bad\r\nx-injected: 1'] }],
    ['a header name that is not a token', BLOB_PATH, { 'x a': 'b' }],
    ['a header name with a colon', BLOB_PATH, { 'x-a:b': 'c' }],
    ['a header name with CR LF', BLOB_PATH, { 'x-a\r\nx-injected': '1' }],
    ['a path with a space', '/v2/a b/blobs/x', {}],
    ['a path with a request line smuggled in', '/v2/a HTTP/1.1\r\nx-injected: 1\r\n\r\nGET /other', {}],
    ['a path with a tab', '/v2/a\tb', {}],
    ['a path with NUL', '/v2/a\0b', {}],
    ['a path not starting with /', 'v2/a/blobs/x', {}],
    ['an absolute URL as path', 'http://elsewhere/v2/', {}],
  ])('%s', async (_what, path, headers) => {
    const up = await rawUpstream((s) => s.write(ok('x')));
    const relay = newRelay(up.port);
    const r = await run(relay, { path, headers });
    expect(r.outcome).toBe('unsupported');
    expect(r.onHead).not.toHaveBeenCalled();
    expectUntouched(r.sink);
    expect(relay.opened).toBe(0);
    await sleep(30);
    expect(up.conns).toHaveLength(0);
    expect(up.bytesReceived()).toBe(0);
  });

  // The request head goes out as latin1, which keeps only the low byte of each UTF-16 code unit:
  // U+010D U+010A would become CR LF, so characters above U+00FF are refused like a literal CR LF.
  test.each<[string, string, Record<string, string>]>([
    ['a header value', BLOB_PATH, { 'x-a': 'ok\u010d\u010ax-injected: 1' }],
    ['the path', '/v2/a\u0120HTTP/1.1\u010d\u010ax-injected:\u01201\u010d\u010a\u010d\u010aGET\u0120/x', {}],
  ])('characters above U+00FF whose low byte is CR/LF/space cannot split the request: %s', async (_what, path, headers) => {
    const up = await rawUpstream((s) => s.write(ok('x')));
    const relay = newRelay(up.port);
    const r = await run(relay, { path, headers });
    await sleep(30);
    expect(up.requests.join('\n')).not.toMatch(/x-injected/i);
    expect(r.outcome).toBe('unsupported');
    expect(up.bytesReceived()).toBe(0);
  });
});

describe('keep-alive', () => {
  test('sequential relays reuse one connection', async () => {
    const up = await httpUpstream((req, res) => {
      res.writeHead(200, { 'content-length': '3' });
      res.end(req.url === '/one' ? 'one' : 'two');
    });
    const relay = newRelay(up.port);
    const a = await run(relay, { path: '/one' });
    const b = await run(relay, { path: '/two' });
    expect([a.outcome, b.outcome]).toEqual(['relayed', 'relayed']);
    expect(a.sink.bytes().toString()).toBe('one');
    expect(b.sink.bytes().toString()).toBe('two');
    expect(relay.opened).toBe(1);
    expect(up.connections).toHaveLength(1);
    expect(up.requests.map((r) => r.socket)).toEqual([up.connections[0], up.connections[0]]);
  });

  test.each<[string, string, string[], number]>([
    ['HTTP/1.1 with Connection: close: not reused', 'HTTP/1.1 200 OK', ['Connection: close'], 2],
    ['HTTP/1.1 with close among other tokens: not reused', 'HTTP/1.1 200 OK', ['Connection: x-foo, Close'], 2],
    ['HTTP/1.0 without keep-alive: not reused', 'HTTP/1.0 200 OK', [], 2],
    ['HTTP/1.0 with Connection: keep-alive: reused', 'HTTP/1.0 200 OK', ['Connection: keep-alive'], 1],
    ['HTTP/1.1 with Connection: keep-alive: reused', 'HTTP/1.1 200 OK', ['Connection: keep-alive'], 1],
  ])('%s', async (_what, statusLine, lines, connections) => {
    // The upstream itself never closes: whether a connection is kept is the relay's decision.
    const up = await rawUpstream((s) => s.write(response(statusLine, ['Content-Length: 2', ...lines], 'ok')));
    const relay = newRelay(up.port);
    const a = await run(relay);
    const b = await run(relay);
    expect([a.outcome, b.outcome]).toEqual(['relayed', 'relayed']);
    expect(b.sink.bytes().toString()).toBe('ok');
    expect(relay.opened).toBe(connections);
    expect(up.conns).toHaveLength(connections);
    if (connections === 2) await within(up.conns[0]!.closed, 2000, 'the first connection closed by the relay');
    else expect(up.conns[0]!.isClosed()).toBe(false);
  });

  test('bytes beyond the Content-Length: only the declared ones are relayed, and the connection is dropped', async () => {
    const up = await rawUpstream((s) => s.write(ok('hello').toString('latin1') + 'EXTRA HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil'));
    const relay = newRelay(up.port);
    const a = await run(relay);
    await a.sink.done();
    expect(a.outcome).toBe('relayed');
    expect(a.sink.bytes().toString()).toBe('hello');
    await within(up.conns[0]!.closed, 2000, 'the connection closed by the relay');
    const b = await run(relay);
    expect(b.sink.bytes().toString()).toBe('hello');
    expect(relay.opened).toBe(2);
  });

  test('bytes beyond the Content-Length arriving in a later read, mid-body', async () => {
    const body = randomBytes(100_000);
    const up = await rawUpstream((s) => {
      s.write(Buffer.concat([response('HTTP/1.1 200 OK', [`Content-Length: ${body.length}`]), body.subarray(0, 50_000)]));
      setTimeout(() => s.write(Buffer.concat([body.subarray(50_000), Buffer.from('TRAILING JUNK')])), 30);
    });
    const relay = newRelay(up.port);
    const a = await run(relay);
    await a.sink.done();
    expect(a.sink.bytes().equals(body)).toBe(true);
    await within(up.conns[0]!.closed, 2000, 'the connection closed by the relay');
    await run(relay);
    expect(relay.opened).toBe(2);
  });

  test('bytes sent on an idle connection: it is dropped, the next read gets a new one', async () => {
    const up = await rawUpstream((s, _r, n) => {
      s.write(ok(`answer${n}`));
      if (n === 0) setTimeout(() => s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil'), 30);
    });
    const relay = newRelay(up.port);
    const a = await run(relay);
    expect(a.sink.bytes().toString()).toBe('answer0');
    await within(up.conns[0]!.closed, 2000, 'the idle connection closed by the relay');
    const b = await run(relay);
    expect(b.outcome).toBe('relayed');
    expect(b.sink.bytes().toString()).toBe('answer0'); // a fresh connection's first answer, not "evil"
    expect(relay.opened).toBe(2);
  });

  test('an idle connection the upstream closed (and the relay saw closing) is not used again', async () => {
    const up = await rawUpstream((s, _r, n) => {
      s.write(ok(`answer${n}`));
      setTimeout(() => s.end(), 20);
    });
    const relay = newRelay(up.port);
    const a = await run(relay);
    expect(a.outcome).toBe('relayed');
    await within(up.conns[0]!.closed, 2000, 'the upstream closing its side');
    // Until the relay has seen the close too (its idle list empties), not a fixed wait.
    const idle = (relay as unknown as { idle: unknown[] }).idle;
    await within(
      (async () => {
        while (idle.length > 0) await sleep(5);
      })(),
      2000,
      'the relay seeing the close',
    );
    const b = await run(relay);
    expect(b.outcome).toBe('relayed');
    expect(b.sink.bytes().toString()).toBe('answer0');
    expect(relay.opened).toBe(2);
    expect(up.conns[1]!.requests).toHaveLength(1);
  });

  test('a kept-alive connection the upstream drops on the next request: unsupported (the caller asks again), nothing written', async () => {
    // The race where the upstream closed an idle connection just as the next request went out.
    const up = await rawUpstream((s, _r, n) => {
      if (n === 0) s.write(ok('first'));
      else s.destroy();
    });
    const relay = newRelay(up.port);
    const a = await run(relay);
    expect(a.outcome).toBe('relayed');
    const b = await run(relay);
    expect(b.outcome).toBe('unsupported');
    expect(b.onHead).not.toHaveBeenCalled();
    expectUntouched(b.sink);
    expect(relay.opened).toBe(1);
    expect(up.conns[0]!.requests).toHaveLength(2);
    // And the one after that opens a new connection and works.
    const c = await run(relay);
    expect(c.outcome).toBe('relayed');
    expect(c.sink.bytes().toString()).toBe('first');
    expect(relay.opened).toBe(2);
  });

  test('maxIdle bounds the connections kept', async () => {
    const up = await rawUpstream((s) => setTimeout(() => s.write(ok('ok')), 20));
    const relay = newRelay(up.port, { maxIdle: 1 });
    const first = await Promise.all([run(relay), run(relay)]);
    expect(first.map((r) => r.outcome)).toEqual(['relayed', 'relayed']);
    expect(relay.opened).toBe(2);
    await within(Promise.race(up.conns.map((c) => c.closed)), 2000, 'one of the two connections closed');
    expect(up.conns.filter((c) => c.isClosed())).toHaveLength(1);
    await Promise.all([run(relay), run(relay)]);
    expect(relay.opened).toBe(3);
  });
});

describe('answers without a body', () => {
  test('HEAD: the declared length is not read, the destination is ended, the connection kept', async () => {
    const up = await rawUpstream((s, req) =>
      s.write(
        req.startsWith('HEAD ') ? response('HTTP/1.1 200 OK', ['Content-Length: 1000', 'Docker-Content-Digest: sha256:x']) : ok('after'),
      ),
    );
    const relay = newRelay(up.port);
    const r = await within(run(relay, { method: 'HEAD' }), 2000, 'HEAD relayed');
    await r.sink.done();
    expect(r.outcome).toBe('relayed');
    expect(r.sink.writes).toBe(0);
    expect(r.sink.writableFinished).toBe(true);
    expect(r.head()).toEqual({ statusCode: 200, headers: expect.objectContaining({ 'content-length': '1000' }) as unknown });
    expect(up.requests[0]).toMatch(/^HEAD \/v2\/library\/app\/blobs\/sha256:a{64} HTTP\/1\.1\r\n/);
    const next = await run(relay);
    expect(next.sink.bytes().toString()).toBe('after');
    expect(relay.opened).toBe(1);
  });

  test('HEAD answered with Transfer-Encoding: chunked (and no body) is relayed', async () => {
    const up = await rawUpstream((s) => s.write(response('HTTP/1.1 200 OK', ['Transfer-Encoding: chunked'])));
    const relay = newRelay(up.port);
    const r = await within(run(relay, { method: 'HEAD' }), 2000, 'HEAD relayed');
    expect(r.outcome).toBe('relayed');
    expect(r.sink.writableEnded).toBe(true);
    expect(r.sink.writes).toBe(0);
  });

  test.each<[string, string[]]>([
    ['HTTP/1.1 204 No Content', []],
    ['HTTP/1.1 304 Not Modified', ['Content-Length: 5000', 'ETag: "x"']],
  ])('%s: nothing read, destination ended, connection kept', async (statusLine, lines) => {
    const up = await rawUpstream((s, _r, n) => s.write(n === 0 ? response(statusLine, lines) : ok('next')));
    const relay = newRelay(up.port);
    const r = await within(run(relay), 2000, 'relayed');
    await r.sink.done();
    expect(r.outcome).toBe('relayed');
    expect(r.sink.writes).toBe(0);
    expect(r.sink.writableFinished).toBe(true);
    expect(r.head().statusCode).toBe(Number(statusLine.split(' ')[1]));
    const next = await run(relay);
    expect(next.sink.bytes().toString()).toBe('next');
    expect(relay.opened).toBe(1);
  });

  test('a 204 followed by stray bytes: relayed, but the connection is not kept', async () => {
    const up = await rawUpstream((s) => s.write(response('HTTP/1.1 204 No Content', [], 'stray')));
    const relay = newRelay(up.port);
    const r = await run(relay);
    expect(r.outcome).toBe('relayed');
    expect(r.sink.writes).toBe(0);
    await within(up.conns[0]!.closed, 2000, 'connection closed by the relay');
    await run(relay);
    expect(relay.opened).toBe(2);
  });
});

describe('answers the reader does not take: unsupported, nothing written, onHead not called', () => {
  const cases: [string, string][] = [
    ['Transfer-Encoding: chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    [
      'Transfer-Encoding with a Content-Length too',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    ],
    ['no Content-Length (close-delimited)', 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello'],
    ['no headers at all', 'HTTP/1.1 200 OK\r\n\r\nhello'],
    ['100 Continue before the answer', 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'],
    ['103 Early Hints', 'HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'],
    ['a four-digit status', 'HTTP/1.1 2000 OK\r\nContent-Length: 5\r\n\r\nhello'],
    ['a status above 599', 'HTTP/1.1 600 Odd\r\nContent-Length: 5\r\n\r\nhello'],
    ['HTTP/2 in the status line', 'HTTP/2 200 OK\r\nContent-Length: 5\r\n\r\nhello'],
    ['HTTP/1.2', 'HTTP/1.2 200 OK\r\nContent-Length: 5\r\n\r\nhello'],
    ['a lower-case protocol name', 'http/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'],
    ['no space before the reason', 'HTTP/1.1 200OK\r\nContent-Length: 5\r\n\r\nhello'],
    ['not HTTP at all', 'SSH-2.0-OpenSSH_9.6\r\n\r\nhello'],
    ['a header line without a colon', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nNoColonHere\r\n\r\nhello'],
    ['a header line with an empty name', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n: value\r\n\r\nhello'],
    ['obs-fold (a line starting with a space)', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: a\r\n b\r\n\r\nhello'],
    ['obs-fold (a line starting with a tab)', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: a\r\n\tb\r\n\r\nhello'],
    ['a space before the colon', 'HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello'],
    ['whitespace before the first header', 'HTTP/1.1 200 OK\r\n Content-Length: 5\r\n\r\nhello'],
    ['NUL in a header value', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: a\0b\r\n\r\nhello'],
    ['conflicting Content-Length lines', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'],
    ['conflicting Content-Length in one list', 'HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!'],
    ['Content-Length with a letter', 'HTTP/1.1 200 OK\r\nContent-Length: 5a\r\n\r\nhello'],
    ['a negative Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhello'],
    ['Content-Length with a plus sign', 'HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello'],
    ['a hexadecimal Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\nhello'],
    ['Content-Length in exponent notation', 'HTTP/1.1 200 OK\r\nContent-Length: 5e0\r\n\r\nhello'],
    ['a fractional Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 5.0\r\n\r\nhello'],
    ['an empty Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\nhello'],
    ['a 16-digit Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000\r\n\r\nhello'],
  ];
  test.each(cases)('%s', async (_what, raw) => {
    const up = await rawUpstream((s) => s.write(raw));
    const relay = newRelay(up.port);
    const r = await within(run(relay), 5000, 'an outcome');
    expect(r.outcome).toBe('unsupported');
    expect(r.onHead).not.toHaveBeenCalled();
    expectUntouched(r.sink);
    // The connection's state is unknown after such an answer: never used again.
    await within(up.conns[0]!.closed, 2000, 'the connection closed by the relay');
    await sleep(10);
    expectUntouched(r.sink);
  });

  test('connection refused', async () => {
    const port = await closedPort();
    const relay = newRelay(port);
    const r = await within(run(relay), 5000, 'an outcome');
    expect(r.outcome).toBe('unsupported');
    expect(r.onHead).not.toHaveBeenCalled();
    expectUntouched(r.sink);
    expect(relay.opened).toBe(1);
    // And it keeps answering so (no broken connection left behind as idle).
    const again = await within(run(relay), 5000, 'an outcome');
    expect(again.outcome).toBe('unsupported');
    expect(relay.opened).toBe(2);
  });

  test('the upstream closes without answering', async () => {
    const up = await rawUpstream((s) => s.end());
    const relay = newRelay(up.port);
    const r = await within(run(relay), 5000, 'an outcome');
    expect(r.outcome).toBe('unsupported');
    expectUntouched(r.sink);
  });

  test('the upstream closes after half a head', async () => {
    const up = await rawUpstream((s) => s.end('HTTP/1.1 200 OK\r\nContent-Len'));
    const relay = newRelay(up.port);
    const r = await within(run(relay), 5000, 'an outcome');
    expect(r.outcome).toBe('unsupported');
    expect(r.onHead).not.toHaveBeenCalled();
    expectUntouched(r.sink);
  });

  // A bare CR or LF, or another control character, in a response header value is not a value
  // (RFC 9112 2.2, RFC 9110 5.5): the answer is left to the HTTP client, which refuses it, instead of
  // reaching onHead (where setHeader would throw ERR_INVALID_CHAR).
  test.each<[string, string]>([
    ['a bare CR', '\r'],
    ['a bare LF', '\n'],
    ['a control character', '\x01'],
    ['DEL', '\x7f'],
  ])('a header value with %s is not handed on', async (_what, char) => {
    const up = await rawUpstream((s) => s.write(`HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: a${char}b\r\n\r\nhello`));
    const relay = newRelay(up.port);
    const r = await within(run(relay), 5000, 'an outcome');
    const seen = r.onHead.mock.calls.map(([h]) => h.headers['x-a']);
    expect(seen).toEqual([]);
    expect(r.outcome).toBe('unsupported');
  });
});

describe('hostile heads', () => {
  test.each<[string, number]>([
    ['in one write', 70 * 1024],
    ['in many small writes', 8 * 1024],
  ])('a head above 64 KiB without its end: PROTOCOL (%s)', async (_what, writeSize) => {
    const big = Buffer.from(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70 * 1024)}`);
    const up = await rawUpstream((s) => {
      void (async () => {
        for (let i = 0; i < big.length && !s.destroyed; i += writeSize) {
          s.write(big.subarray(i, i + writeSize));
          await sleep(2);
        }
      })();
    });
    const relay = newRelay(up.port, { maxActive: 1 });
    const { promise, sink, onHead } = start(relay);
    const err = await rejectionOf(promise, 5000);
    expect(err).toBeInstanceOf(BlobRelayError);
    expect(err).toMatchObject({ code: 'PROTOCOL', name: 'BlobRelayError' });
    expect(onHead).not.toHaveBeenCalled();
    expectUntouched(sink);
    await within(up.conns[0]!.closed, 2000, 'the connection closed by the relay');
    // Its slot was given back (maxActive 1): the next read is tried (and refused alike), not unsupported.
    await expect(within(run(relay), 5000, 'an outcome')).rejects.toMatchObject({ code: 'PROTOCOL' });
    expect(relay.opened).toBe(2);
  });

  test('a large head (60 KiB) that does end, in many writes, is taken', async () => {
    const value = 'v'.repeat(60 * 1024);
    const whole = response('HTTP/1.1 200 OK', ['Content-Length: 2', `X-Large: ${value}`], 'ok');
    const up = await rawUpstream((s) => {
      void (async () => {
        for (let i = 0; i < whole.length; i += 4096) {
          s.write(whole.subarray(i, i + 4096));
          await sleep(1);
        }
      })();
    });
    const relay = newRelay(up.port);
    const r = await run(relay);
    expect(r.outcome).toBe('relayed');
    expect(r.head().headers['x-large']).toBe(value);
    expect(r.sink.bytes().toString()).toBe('ok');
  });

  test('__proto__, constructor and friends are plain headers: no prototype pollution', async () => {
    const up = await rawUpstream((s) =>
      s.write(
        response(
          'HTTP/1.1 200 OK',
          ['Content-Length: 2', '__proto__: polluted', 'Constructor: ctor', 'hasOwnProperty: own', 'toString: str', '__proto__: twice'],
          'ok',
        ),
      ),
    );
    const relay = newRelay(up.port);
    const r = await run(relay);
    expect(r.outcome).toBe('relayed');
    const { headers } = r.head();
    expect(Object.hasOwn(headers, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(headers, '__proto__')?.value).toEqual(['polluted', 'twice']);
    expect(Object.getOwnPropertyDescriptor(headers, 'constructor')?.value).toBe('ctor');
    expect(Object.getOwnPropertyDescriptor(headers, 'hasownproperty')?.value).toBe('own');
    expect(Object.getOwnPropertyDescriptor(headers, 'tostring')?.value).toBe('str');
    expect(Object.keys(headers).sort()).toEqual(['__proto__', 'constructor', 'content-length', 'hasownproperty', 'tostring']);
    // Nothing reached any prototype.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect(Object.prototype).not.toHaveProperty('twice');
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  });

  test('a header value that is a content-length lookalike under __proto__ does not frame the body', async () => {
    const up = await rawUpstream((s) => s.write('HTTP/1.1 200 OK\r\n__proto__: {"content-length":"3"}\r\n\r\nhello'));
    const relay = newRelay(up.port);
    const r = await within(run(relay), 5000, 'an outcome');
    expect(r.outcome).toBe('unsupported');
    expect(r.onHead).not.toHaveBeenCalled();
  });

  test('repeated headers arrive as an array, in order, whatever their case', async () => {
    const up = await rawUpstream((s) =>
      s.write(
        response(
          'HTTP/1.1 200 OK',
          [
            'Link: </v2/a/blobs/x?n=1>; rel="next"',
            'Content-Length: 2',
            'LINK: </b>; rel=b',
            'link: </c>; rel=c',
            'Set-Cookie: a=1',
            'Set-Cookie: b=2',
          ],
          'ok',
        ),
      ),
    );
    const relay = newRelay(up.port);
    const r = await run(relay);
    const { headers } = r.head();
    expect(headers.link).toEqual(['</v2/a/blobs/x?n=1>; rel="next"', '</b>; rel=b', '</c>; rel=c']);
    expect(headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(headers['content-length']).toBe('2');
    expect(headers.LINK).toBeUndefined();
  });

  test('header values are trimmed of surrounding whitespace', async () => {
    const up = await rawUpstream((s) =>
      s.write('HTTP/1.1 200 OK\r\nContent-Length:  2 \r\nX-A:\t spaced \t\r\nX-Empty:\r\nX-Tab: a\tb\r\n\r\nok'),
    );
    const relay = newRelay(up.port);
    const r = await run(relay);
    expect(r.outcome).toBe('relayed');
    expect(r.head().headers).toMatchObject({ 'content-length': '2', 'x-a': 'spaced', 'x-empty': '', 'x-tab': 'a\tb' });
  });
});

describe('onHead refuses', () => {
  test('the relay rejects with the same error, nothing is written, the connection is dropped', async () => {
    const up = await rawUpstream((s) => s.write(ok(up.conns.length === 1 ? 'refused body' : 'fine')));
    const relay = newRelay(up.port, { maxActive: 1 });
    const sink = new Sink();
    const refusal = new Error('digest mismatch');
    const onHead = jest.fn((_h: RelayHead): Writable => {
      throw refusal;
    });
    await expect(relay.relay('GET', BLOB_PATH, {}, onHead, new AbortController().signal)).rejects.toBe(refusal);
    expect(onHead).toHaveBeenCalledTimes(1);
    expect(onHead.mock.calls[0]![0].statusCode).toBe(200);
    expectUntouched(sink);
    await within(up.conns[0]!.closed, 2000, 'the connection closed by the relay');
    // Its slot is free again (maxActive 1), on a new connection.
    const next = await run(relay);
    expect(next.outcome).toBe('relayed');
    expect(next.sink.bytes().toString()).toBe('fine');
    expect(relay.opened).toBe(2);
  });

  test('a refusal of a body-less answer (HEAD) is also the same error', async () => {
    const up = await rawUpstream((s) => s.write(response('HTTP/1.1 200 OK', ['Content-Length: 10'])));
    const relay = newRelay(up.port);
    const refusal = new TypeError('no');
    await expect(
      relay.relay(
        'HEAD',
        BLOB_PATH,
        {},
        () => {
          throw refusal;
        },
        new AbortController().signal,
      ),
    ).rejects.toBe(refusal);
    await within(up.conns[0]!.closed, 2000, 'the connection closed by the relay');
  });
});

describe('cut off midway', () => {
  test.each<[string, (s: net.Socket) => void]>([
    ['the upstream ends its side', (s) => s.end()],
    ['the upstream destroys its socket', (s) => s.destroy()],
    ['the upstream resets the connection', (s) => s.resetAndDestroy()],
  ])('%s after half the body: destination destroyed, relayed, not reused', async (_what, cut) => {
    const body = randomBytes(MiB);
    const up = await rawUpstream((s, _r, n) => {
      if (n > 0 || up.conns.length > 1) {
        s.write(ok('whole'));
        return;
      }
      s.write(Buffer.concat([response('HTTP/1.1 200 OK', [`Content-Length: ${body.length}`]), body.subarray(0, body.length / 2)]), () =>
        setTimeout(() => cut(s), 30),
      );
    });
    const relay = newRelay(up.port);
    const r = await within(run(relay), 5000, 'an outcome');
    expect(r.outcome).toBe('relayed');
    expect(r.sink.destroyed).toBe(true);
    expect(r.sink.writableFinished).toBe(false);
    expect(r.sink.bytes().length).toBeLessThan(body.length);
    expect(body.subarray(0, r.sink.bytes().length).equals(r.sink.bytes())).toBe(true);
    const next = await run(relay);
    expect(next.sink.bytes().toString()).toBe('whole');
    expect(relay.opened).toBe(2);
  });

  test('the destination closing midway: relayed, the rest is not read, the connection dropped', async () => {
    const body = randomBytes(4 * MiB);
    const up = await rawUpstream((s) => s.write(ok(body)));
    const relay = newRelay(up.port);
    const sink = new Sink(5, 1024);
    const onHead = (): Writable => {
      setTimeout(() => sink.destroy(), 20);
      return sink;
    };
    const outcome = await within(relay.relay('GET', BLOB_PATH, {}, onHead, new AbortController().signal), 5000, 'an outcome');
    expect(outcome).toBe('relayed');
    expect(sink.bytes().length).toBeLessThan(body.length);
    await within(up.conns[0]!.closed, 2000, 'the connection closed by the relay');
  });
});

describe('timeouts', () => {
  test('no head within headTimeoutMs: TIMEOUT, the connection dropped', async () => {
    const up = await rawUpstream(() => {}); // reads the request, never answers
    const relay = newRelay(up.port, { headTimeoutMs: 200 });
    const t0 = Date.now();
    const { promise, sink, onHead } = start(relay);
    const err = await rejectionOf(promise, 5000);
    const elapsed = Date.now() - t0;
    expect(err).toBeInstanceOf(BlobRelayError);
    expect(err).toMatchObject({ code: 'TIMEOUT' });
    expect(elapsed).toBeGreaterThanOrEqual(150);
    expect(elapsed).toBeLessThan(3000);
    expect(onHead).not.toHaveBeenCalled();
    expectUntouched(sink);
    await within(up.conns[0]!.closed, 2000, 'the connection closed by the relay');
  });

  test('the head timeout does not cover the body: a body paused longer than it is still relayed', async () => {
    const up = await rawUpstream((s) => {
      s.write(response('HTTP/1.1 200 OK', ['Content-Length: 10'], 'hello'));
      setTimeout(() => s.write('world'), 500);
    });
    const relay = newRelay(up.port, { headTimeoutMs: 200 });
    const r = await within(run(relay), 5000, 'an outcome');
    expect(r.outcome).toBe('relayed');
    await r.sink.done();
    expect(r.sink.bytes().toString()).toBe('helloworld');
    expect(r.sink.writableFinished).toBe(true);
  });

  test('an idle kept-alive connection is not timed out, and is armed again for the next head', async () => {
    const up = await rawUpstream((s, _r, n) => {
      if (n < 1) s.write(ok('one'));
      // the second request is never answered
    });
    const relay = newRelay(up.port, { headTimeoutMs: 200 });
    await run(relay);
    await sleep(400);
    expect(up.conns[0]!.isClosed()).toBe(false);
    await expect(within(run(relay), 5000, 'an outcome')).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(relay.opened).toBe(1);
  });

  // headTimeoutMs bounds the whole head, not the silence between its bytes: an upstream trickling
  // one header line every 100 ms is not waited on beyond it.
  test('a head trickled slowly is still bound by headTimeoutMs', async () => {
    const up = await rawUpstream((s) => {
      void (async () => {
        s.write('HTTP/1.1 200 OK\r\n');
        for (let i = 0; i < 15 && !s.destroyed; i++) {
          await sleep(100);
          s.write(`X-Drip-${i}: x\r\n`);
        }
        if (!s.destroyed) s.write('Content-Length: 2\r\n\r\nok');
      })();
    });
    const relay = newRelay(up.port, { headTimeoutMs: 300 });
    const got = await within(
      run(relay).then(
        (r) => r.outcome,
        (e: unknown) => e,
      ),
      5000,
      'an outcome',
    );
    // Under an idle timeout the head would complete after 1.5 s and be relayed.
    expect(got).toMatchObject({ code: 'TIMEOUT' });
  });

  test('15 relays on one connection, one AbortSignal: no MaxListenersExceededWarning, listeners do not pile up', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      const up = await httpUpstream((req, res) => {
        res.writeHead(200, { 'content-length': String(Buffer.byteLength(req.url ?? '')) });
        res.end(req.url);
      });
      const relay = newRelay(up.port, { headTimeoutMs: 200 });
      const ac = new AbortController();
      // The relay's own sockets (private): how many listeners each holds after each read.
      const sockets = (): net.Socket[] => [...(relay as unknown as { all: Set<{ socket: net.Socket }> }).all].map((c) => c.socket);
      const counts: number[][] = [];
      for (let i = 0; i < 15; i++) {
        const r = await run(relay, { path: `/n/${i}`, signal: ac.signal });
        expect(r.outcome).toBe('relayed');
        expect(r.sink.bytes().toString()).toBe(`/n/${i}`);
        const [s] = sockets();
        counts.push(['timeout', 'data', 'close', 'error', 'end', 'drain'].map((e) => s!.listenerCount(e)));
      }
      await new Promise((r) => setImmediate(r));
      expect(relay.opened).toBe(1);
      expect(up.connections).toHaveLength(1);
      expect(sockets()).toHaveLength(1);
      expect(counts.every((c) => JSON.stringify(c) === JSON.stringify(counts[0]))).toBe(true);
      expect(counts[0]![0]).toBeLessThanOrEqual(1);
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
      // Idle for longer than the head timeout between reads: the timeout is disarmed then.
      await sleep(300);
      expect((await run(relay, { path: '/after-idle', signal: ac.signal })).outcome).toBe('relayed');
      expect(relay.opened).toBe(1);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('abort', () => {
  test('aborted while the head is awaited: rejects with the signal reason, the connection dropped', async () => {
    const up = await rawUpstream(() => {});
    const relay = newRelay(up.port);
    const ac = new AbortController();
    const reason = new Error('client went away');
    const { promise, sink, onHead } = start(relay, { signal: ac.signal });
    await within(
      (async () => {
        while (up.requests.length === 0) await sleep(5);
      })(),
      2000,
      'the request reaching the upstream',
    );
    ac.abort(reason);
    await expect(within(promise, 2000, 'an outcome')).rejects.toBe(reason);
    expect(onHead).not.toHaveBeenCalled();
    expectUntouched(sink);
    await within(up.conns[0]!.closed, 2000, 'the connection closed by the relay');
  });

  test('an abort reason that is not an Error is rejected as an Error carrying it', async () => {
    const up = await rawUpstream(() => {});
    const relay = newRelay(up.port);
    const ac = new AbortController();
    const { promise } = start(relay, { signal: ac.signal });
    await within(
      (async () => {
        while (up.requests.length === 0) await sleep(5);
      })(),
      2000,
      'the request reaching the upstream',
    );
    ac.abort('bye');
    const err = await rejectionOf(promise, 2000);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe('bye');
  });

  test('aborted before the call: unsupported, no connection opened', async () => {
    const up = await rawUpstream((s) => s.write(ok('x')));
    const relay = newRelay(up.port);
    const ac = new AbortController();
    ac.abort(new Error('already'));
    const r = await run(relay, { signal: ac.signal });
    expect(r.outcome).toBe('unsupported');
    expect(r.onHead).not.toHaveBeenCalled();
    expectUntouched(r.sink);
    expect(relay.opened).toBe(0);
    await sleep(30);
    expect(up.conns).toHaveLength(0);
  });

  test('aborted midway through the body: rejects with the reason, the connection dropped', async () => {
    const up = await rawUpstream((s) => s.write(response('HTTP/1.1 200 OK', ['Content-Length: 100'], 'partial')));
    const relay = newRelay(up.port);
    const ac = new AbortController();
    const { promise, sink } = start(relay, { signal: ac.signal });
    await within(
      (async () => {
        while (sink.writes === 0) await sleep(5);
      })(),
      2000,
      'the first body bytes',
    );
    const reason = new Error('stop');
    ac.abort(reason);
    await expect(within(promise, 2000, 'an outcome')).rejects.toBe(reason);
    expect(sink.bytes().toString()).toBe('partial');
    await within(up.conns[0]!.closed, 2000, 'the connection closed by the relay');
  });
});

describe('back-pressure', () => {
  test.each<[string, number | undefined]>([
    ['1 MiB reads', undefined],
    ['64 KiB reads', 64 * 1024],
  ])('a slow destination with a small highWaterMark gets all of an 8 MiB body, in order (%s)', async (_what, readBytes) => {
    const body = randomBytes(8 * MiB);
    const up = await rawUpstream((s) => s.write(ok(body)));
    const relay = newRelay(up.port, readBytes !== undefined ? { readBytes } : {});
    const sink = new Sink(2, 16 * 1024);
    const r = await within(run(relay, { sink }), 30_000, 'an outcome');
    await sink.done();
    expect(r.outcome).toBe('relayed');
    const got = sink.bytes();
    expect(got.length).toBe(body.length);
    expect(got.equals(body)).toBe(true);
    // The socket was paused while the destination was full: never more than one read buffered.
    expect(sink.maxQueued).toBeLessThanOrEqual(readBytes ?? MiB);
    // Reused afterwards (the connection was resumed and left clean).
    const next = await run(relay);
    expect(next.outcome).toBe('relayed');
    expect(relay.opened).toBe(1);
  });
});

describe('limits and close', () => {
  test('maxActive 1: a second concurrent relay is unsupported at once; the slot is given back afterwards', async () => {
    let answerFirst: (() => void) | undefined;
    const up = await rawUpstream((s, _r, n) => {
      if (n === 0 && up.conns.length === 1) answerFirst = () => s.write(ok('first'));
      else s.write(ok('later'));
    });
    const relay = newRelay(up.port, { maxActive: 1 });
    const first = start(relay);
    await within(
      (async () => {
        while (answerFirst === undefined) await sleep(5);
      })(),
      2000,
      'the first request reaching the upstream',
    );
    let firstDone = false;
    void first.promise.then(() => (firstDone = true));
    const second = await within(run(relay), 500, 'the second outcome');
    expect(second.outcome).toBe('unsupported');
    expect(second.onHead).not.toHaveBeenCalled();
    expectUntouched(second.sink);
    expect(firstDone).toBe(false);
    expect(relay.opened).toBe(1);
    expect(up.requests).toHaveLength(1);
    answerFirst!();
    const a = await first.promise;
    expect(a.outcome).toBe('relayed');
    expect(a.sink.bytes().toString()).toBe('first');
    const third = await run(relay);
    expect(third.outcome).toBe('relayed');
    expect(third.sink.bytes().toString()).toBe('later');
  });

  test('close() destroys idle connections, and later relays are unsupported without connecting', async () => {
    const up = await rawUpstream((s) => s.write(ok('x')));
    const relay = newRelay(up.port);
    await Promise.all([run(relay), run(relay)]);
    expect(relay.opened).toBe(2);
    expect(up.conns.some((c) => c.isClosed())).toBe(false);
    relay.close();
    await within(Promise.all(up.conns.map((c) => c.closed)), 2000, 'the upstream seeing both connections close');
    const r = await run(relay);
    expect(r.outcome).toBe('unsupported');
    expectUntouched(r.sink);
    expect(relay.opened).toBe(2);
    await sleep(20);
    expect(up.conns).toHaveLength(2);
  });

  test('close() during a relay awaiting its head: unsupported; during a body: relayed and the destination destroyed', async () => {
    const up = await rawUpstream((s, req) => {
      if (req.includes('/body')) s.write(response('HTTP/1.1 200 OK', ['Content-Length: 100'], 'part'));
    });
    const relay = newRelay(up.port);
    const waiting = start(relay, { path: '/head' });
    const midway = start(relay, { path: '/body' });
    await within(
      (async () => {
        while (up.requests.length < 2 || midway.sink.writes === 0) await sleep(5);
      })(),
      2000,
      'both requests sent, the body begun',
    );
    relay.close();
    const [a, b] = await within(Promise.all([waiting.promise, midway.promise]), 2000, 'both outcomes');
    expect(a.outcome).toBe('unsupported');
    expectUntouched(a.sink);
    expect(b.outcome).toBe('relayed');
    expect(b.sink.destroyed).toBe(true);
    expect(b.sink.bytes().toString()).toBe('part');
  });
});

describe('memory', () => {
  test('an idle connection keeps at most one read buffer: a burst leaves no pile of them behind', async () => {
    const body = randomBytes(8 * MiB);
    const up = await httpUpstream((_req, res) => {
      res.writeHead(200, { 'Content-Length': String(body.length) });
      res.end(body);
    });
    // A socket as the destination: its reads are written in place, and their buffers come back
    // only when the socket's writes complete.
    let received = 0;
    let ended = 0;
    const drain = net.createServer((s) => {
      s.on('data', (d: Buffer) => (received += d.length));
      s.on('end', () => ended++);
    });
    await new Promise<void>((r) => drain.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => drain.close(() => r())));
    const relay = newRelay(up.port, { readBytes: 256 * 1024 });
    const idle = (relay as unknown as { idle: Array<{ free: Buffer[] }> }).idle;
    for (let i = 0; i < 2; i++) {
      const dest = net.connect((drain.address() as AddressInfo).port, '127.0.0.1');
      await new Promise<void>((r) => dest.once('connect', () => r()));
      const outcome = await relay.relay('GET', BLOB_PATH, {}, () => dest, new AbortController().signal);
      expect(outcome).toBe('relayed');
      await new Promise<void>((r) => (dest.writableFinished ? r() : dest.once('finish', () => r())));
      await new Promise((r) => setTimeout(r, 20));
      // The relay's idle connection (private): what it keeps for its next read.
      expect(idle).toHaveLength(1);
      expect(idle[0]!.free.length).toBeLessThanOrEqual(1);
    }
    // Every byte reached the other end before each destination ended (no fixed wait: CI is slow).
    await within(
      (async () => {
        while (ended < 2) await new Promise((r) => setTimeout(r, 5));
      })(),
      10_000,
      'both destinations ended at the other end',
    );
    expect(received).toBe(2 * body.length);
    expect(relay.opened).toBe(1);
  });
});
