// A registry gate for the bench, in its own process as deployed (the load generator and the
// registry are other processes), so that its cost is not mixed with the client's.
//   argv[2] = 'serve'  UPSTREAM          Countersign with the gate in-process (`serve --gate-listen`)
//   argv[2] = 'gate'   UPSTREAM ADDRESS  the gate alone, asking that Countersign over gRPC (`countersign gate`)
//   argv[2] = 'hop'    UPSTREAM          the floor: a bare reverse proxy on the same stack (node:http server,
//                                        undici Pool upstream, undici stream into the response), no routing, hashing, parsing or decision
//   argv[2] = 'pipe'   UPSTREAM          the floor below any HTTP proxy: each client connection piped byte for byte
//                                        to its own upstream connection (node:net, reads of up to 1 MiB, not copied), no HTTP at all
// Logs at info, to /dev/null: a per-request line at info would be part of what is measured.
// Sends {ready, grpcPort?, gateUrl} over IPC; {cmd:'stop'} ends it.
import { mkdtempSync, openSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = (p) => require(path.join(root, 'dist', p));
const pino = require('pino');
const { createLogger } = dist('logging/logger.js');
const logger = createLogger({ level: 'info', destination: pino.destination({ fd: openSync('/dev/null', 'w'), sync: false }) });
const [mode, upstream, address] = process.argv.slice(2);
const SOCKET_OPTIONS = { highWaterMark: 1024 * 1024 };

let stop;
if (mode === 'serve') {
  const { createApp } = dist('app.js');
  const { defaultConfig } = dist('config/config.js');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-bench-gate-'));
  const base = defaultConfig(dir);
  const config = {
    ...base,
    listen: '127.0.0.1:0',
    keysDir: path.join(dir, 'keys'),
    dataDir: path.join(dir, 'data'),
    gate: { ...base.gate, listen: '127.0.0.1:0', upstream },
  };
  const app = await createApp(config, logger);
  await app.keys.createKey({ name: 'bench' }, 'bench');
  const grpcPort = await app.start();
  stop = () => app.stop();
  process.send({ ready: true, grpcPort, gateUrl: app.gate.url });
} else if (mode === 'hop') {
  const http = await import('node:http');
  const { Pool } = require('undici');
  const pool = new Pool(upstream, { connections: 128 });
  // The same forward and socket buffers as the gate's blob path: undici stream straight into the response.
  const server = http.createServer({ highWaterMark: 1024 * 1024 }, async (req, res) => {
    try {
      await pool.stream(
        { method: req.method, path: req.url, headers: { accept: req.headers.accept ?? '*/*' } },
        ({ statusCode, headers }) => {
          res.writeHead(statusCode, headers);
          return res;
        },
      );
    } catch {
      res.destroy();
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  stop = async () => {
    server.close();
    server.closeAllConnections();
    await pool.destroy();
  };
  process.send({ ready: true, gateUrl: `http://127.0.0.1:${server.address().port}` });
} else if (mode === 'pipe') {
  const net = await import('node:net');
  const { hostname, port } = new URL(upstream);
  const sockets = new Set();
  const server = net.createServer(SOCKET_OPTIONS, (client) => {
    // Reads of up to 1 MiB (fewer, larger reads than the default 64 KiB), each written on as it
    // is and its buffer reused once written (no copy, no garbage per read: what the gate's blob
    // relay does too); the upstream is paused while the client's socket is full.
    const free = [];
    const up = net.connect({
      host: hostname,
      port: Number(port),
      onread: {
        buffer: () => free.pop() ?? Buffer.allocUnsafeSlow(1024 * 1024),
        callback: (n, b) => {
          if (!client.write(b.subarray(0, n), () => free.length < 2 && free.push(b))) {
            up.pause();
            client.once('drain', () => up.resume());
          }
        },
      },
    });
    client.pipe(up);
    for (const s of [client, up]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    client.on('error', () => up.destroy());
    client.on('close', () => up.end());
    up.on('error', () => client.destroy());
    up.on('end', () => client.end());
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  stop = async () => {
    server.close();
    for (const s of sockets) s.destroy();
  };
  process.send({ ready: true, gateUrl: `http://127.0.0.1:${server.address().port}` });
} else {
  const { startGateServer, GrpcVerifier } = dist('gate/index.js');
  const verifier = new GrpcVerifier({ address });
  const gate = await startGateServer({ listen: '127.0.0.1:0', upstream, verifier, logger });
  stop = async () => {
    await gate.close();
    verifier.close();
  };
  process.send({ ready: true, gateUrl: gate.url });
}

process.on('message', async (m) => {
  if (m.cmd === 'stop') {
    await stop();
    process.exit(0);
  }
});
