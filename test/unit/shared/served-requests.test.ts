import { ServedRequests } from '../../../src/shared/served-requests';
import type { Observer } from '../../../src/shared/observer';

describe('ServedRequests: the requests a process answered, from its observer reports', () => {
  function recording(): { inner: Required<Observer>; calls: string[] } {
    const calls: string[] = [];
    const inner: Required<Observer> = {
      rpc: (m, s, sec) => calls.push(`rpc ${m} ${s} ${sec}`),
      decision: (d) => calls.push(`decision ${d.action} ${d.result}`),
      registryRequest: (m, s, sec) => calls.push(`registry ${m} ${s} ${sec}`),
      webhook: (o) => calls.push(`webhook ${o}`),
      gate: (o) => calls.push(`gate ${o}`),
      storeOperation: (o, b, sec) => calls.push(`store ${o} ${b} ${sec}`),
    };
    return { inner, calls };
  }

  it('counts each gRPC call, admission review and gate request, and passes every report on unchanged', () => {
    const { inner, calls } = recording();
    const served = new ServedRequests();
    const o = served.observing(inner);
    expect(served.count).toBe(0);
    o.rpc('Verify', 'OK', 0.001);
    o.webhook('allowed');
    o.gate('passthrough');
    expect(served.count).toBe(3);
    // Work done for a request is not another request.
    o.decision({ action: 'deploy', rule: 'r', mode: 'enforce', result: 'allow' });
    o.registryRequest('HEAD', '200', 0.002);
    o.storeOperation!('query', 'sqlite', 0.0001);
    expect(served.count).toBe(3);
    expect(calls).toEqual([
      'rpc Verify OK 0.001',
      'webhook allowed',
      'gate passthrough',
      'decision deploy allow',
      'registry HEAD 200 0.002',
      'store query sqlite 0.0001',
    ]);
  });

  it('an observer without store reports gets none', () => {
    const { inner } = recording();
    const { storeOperation: _, ...withoutStore } = inner;
    expect('storeOperation' in new ServedRequests().observing(withoutStore)).toBe(false);
  });
});
