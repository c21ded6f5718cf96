/**
 * The metrics port is unauthenticated, and one collection can be a round trip to every worker
 * (serve --workers) or a store query (readiness): concurrent requests share the one in flight.
 */
import { request } from 'undici';
import { startMetricsServer } from '../../../src/metrics';

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

test('20 concurrent scrapes and 20 concurrent probes run one collection and one readiness check each; the next ones run afresh', async () => {
  let collects = 0;
  let checks = 0;
  let metrics = deferred<{ text: string; contentType: string }>();
  let ready = deferred<string | undefined>();
  const server = await startMetricsServer({
    listen: '127.0.0.1:0',
    metrics: {
      collect: () => {
        collects++;
        return metrics.promise;
      },
    },
    notReady: () => {
      checks++;
      return ready.promise;
    },
  });
  try {
    const get = async (path: string) => {
      const res = await request(`http://127.0.0.1:${server.port}${path}`);
      return { status: res.statusCode, body: await res.body.text() };
    };
    const scrapes = Array.from({ length: 20 }, () => get('/metrics'));
    const probes = Array.from({ length: 20 }, () => get('/readyz'));
    while (collects === 0 || checks === 0) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 100));
    metrics.resolve({ text: 'x_total 1\n', contentType: 'text/plain' });
    ready.resolve('store unreachable');
    expect((await Promise.all(scrapes)).map((r) => r.body)).toEqual(Array<string>(20).fill('x_total 1\n'));
    expect(new Set((await Promise.all(probes)).map((r) => `${r.status} ${r.body}`))).toEqual(
      new Set(['503 not ready: store unreachable\n']),
    );
    expect({ collects, checks }).toEqual({ collects: 1, checks: 1 });
    // Not a cache: a request after the collection ended runs a new one.
    metrics = deferred();
    ready = deferred();
    metrics.resolve({ text: 'x_total 2\n', contentType: 'text/plain' });
    ready.resolve(undefined);
    expect(await get('/metrics')).toEqual({ status: 200, body: 'x_total 2\n' });
    expect(await get('/readyz')).toEqual({ status: 200, body: 'ready\n' });
    expect({ collects, checks }).toEqual({ collects: 2, checks: 2 });
  } finally {
    await server.close();
  }
});
