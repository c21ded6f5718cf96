/**
 * The gate's unit tests' registry: a plain HTTP server whose handler each test sets, recording
 * every request line and its headers, and the gate started in front of it.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateServer, type GateServer, type GateServerOptions, type GateVerifier } from '../../../src/gate';

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export interface FakeUpstream {
  /** Answers every request (set by each test). */
  handler: Handler;
  readonly url: string;
  /** `METHOD /path?query` of every request, this test's only (cleared before each). */
  readonly seen: string[];
  readonly headers: http.IncomingHttpHeaders[];
  /** A gate in front of it (registry name `registry.example`), closed after `fn`. */
  withGate: (verifier: GateVerifier, fn: (gate: GateServer) => Promise<void>, extra?: Partial<GateServerOptions>) => Promise<void>;
}

/** Starts the fake registry for the test file (beforeAll/afterAll) and clears its records before each test. */
export function useFakeUpstream(): FakeUpstream {
  let server: http.Server;
  let url = '';
  const seen: string[] = [];
  const headers: http.IncomingHttpHeaders[] = [];
  const fake: FakeUpstream = {
    handler: (_req, res) => {
      res.writeHead(404, { 'content-length': '0' });
      res.end();
    },
    get url() {
      return url;
    },
    seen,
    headers,
    withGate: async (verifier, fn, extra = {}) => {
      const gate = await startGateServer({ listen: '127.0.0.1:0', upstream: url, verifier, registryName: 'registry.example', ...extra });
      try {
        await fn(gate);
      } finally {
        await gate.close();
      }
    },
  };
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push(`${req.method ?? ''} ${req.url ?? ''}`);
      headers.push(req.headers);
      fake.handler(req, res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });
  beforeEach(() => {
    seen.length = 0;
    headers.length = 0;
  });
  return fake;
}

/** Answers with `bytes` (nothing on a HEAD) and the given type, headers and status. */
export function serve(bytes: Buffer, type = OCI_MANIFEST, extra: Record<string, string> = {}, status = 200): Handler {
  return (req, res) => {
    req.resume();
    res.writeHead(status, { 'content-type': type, 'content-length': String(bytes.length), ...extra });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  };
}
