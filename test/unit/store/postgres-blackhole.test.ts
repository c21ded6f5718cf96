/**
 * A PostgreSQL that vanishes without a reset (a black-holed network: packets dropped, no FIN, no
 * RST), through a TCP relay of the test's own that stops forwarding. Neither the pool nor the
 * listening connection notices that on its own for hours; the revision check must: it reports the
 * store behind within its answer timeout, and drops the listener (which reconnects).
 */
import net from 'node:net';
import { PostgresStore } from '../../../src/store';
import { freshDatabase } from '../../support/postgres';

/** A TCP relay to `target` that can stop forwarding while keeping every connection open. */
async function relay(target: URL): Promise<{ url: string; blackhole(): void; close(): void; connections(): number }> {
  let holed = false;
  const sockets = new Set<net.Socket>();
  let opened = 0;
  const server = net.createServer((client) => {
    opened++;
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    for (const s of [client, upstream]) s.on('error', () => undefined);
    const forward = (from: net.Socket, to: net.Socket): void => {
      from.on('data', (chunk: Buffer) => {
        if (!holed) to.write(chunk);
      });
    };
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target.href);
  url.port = String((server.address() as net.AddressInfo).port);
  return {
    url: url.toString(),
    blackhole: () => {
      holed = true;
    },
    close: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
    connections: () => opened,
  };
}

test('the revision check reports a black-holed store within its answer timeout and drops the silent listener', async () => {
  const proxy = await relay(new URL(await freshDatabase('blackhole')));
  const store = await PostgresStore.connect(proxy.url, {
    revisionCheckMs: 0,
    answerTimeoutMs: 300,
    reconnectMs: 60_000,
    connectTimeoutMs: 1000,
  });
  try {
    await store.checkRevisions();
    expect(store.staleness()).toBeUndefined();
    proxy.blackhole();
    await store.checkRevisions();
    // Both facts: the database does not answer, and the listening connection was dropped as silent.
    expect(store.staleness()).toMatch(/did not answer a ping/);
    await store.checkRevisions();
    expect(store.health()).toBeDefined();
  } finally {
    proxy.close();
    await store.close();
  }
}, 30_000);
