/**
 * A local HTTP server (node:http on 127.0.0.1) for deadline tests: each test says how to answer
 * (hang before the headers, trickle a body a byte at a time, answer at once), and every request
 * records when its connection closed, so a test can see that the client really let go.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Resolves when the client's connection for this request closed. */
  closed: Promise<void>;
  /** True once `closed` resolved. */
  isClosed: () => boolean;
}

export type SlowHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

export class SlowServer {
  readonly requests: SeenRequest[] = [];
  host = '';
  private server!: http.Server;
  private readonly timers = new Set<NodeJS.Timeout>();
  private waiters: Array<() => void> = [];

  private constructor(private handler: SlowHandler) {}

  static async start(handler: SlowHandler): Promise<SlowServer> {
    const s = new SlowServer(handler);
    s.server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://slow.invalid');
      let closed = false;
      const seen: SeenRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        headers: req.headers,
        closed: new Promise<void>((resolve) =>
          req.socket.once('close', () => {
            closed = true;
            resolve();
          }),
        ),
        isClosed: () => closed,
      };
      s.requests.push(seen);
      for (const w of s.waiters.splice(0)) w();
      req.resume();
      req.once('end', () => s.handler(req, res, url));
    });
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    s.host = `127.0.0.1:${(s.server.address() as AddressInfo).port}`;
    return s;
  }

  /** Changes how later requests are answered. */
  setHandler(handler: SlowHandler): void {
    this.handler = handler;
  }

  /** The first request (from index `from`) matching, once it has arrived. */
  async waitFor(method: string, path: RegExp, from = 0): Promise<SeenRequest> {
    for (;;) {
      const found = this.requests.slice(from).find((r) => r.method === method && path.test(r.path));
      if (found) return found;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Sends `body` one byte every `intervalMs` (after the headers), until done or the client goes. */
  trickle(res: ServerResponse, status: number, headers: Record<string, string>, body: Buffer, intervalMs = 1000): void {
    res.writeHead(status, { ...headers, 'content-length': String(body.length) });
    res.flushHeaders();
    let i = 0;
    const tick = (): void => {
      if (res.destroyed) return;
      res.write(body.subarray(i, i + 1));
      i++;
      if (i >= body.length) {
        res.end();
        return;
      }
      const t = setTimeout(() => {
        this.timers.delete(t);
        tick();
      }, intervalMs);
      this.timers.add(t);
    };
    tick();
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A 404 in the OCI error envelope, answered at once. */
export function notFound(res: ServerResponse): void {
  const body = JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] });
  res.writeHead(404, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}
