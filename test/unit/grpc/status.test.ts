import * as grpc from '@grpc/grpc-js';
import { toGrpcError } from '../../../src/grpc/status';
import { InFlightTracker } from '../../../src/grpc/unary';
import { CountersignError } from '../../../src/shared/errors';

describe('toGrpcError', () => {
  test('typed errors keep their code and message', () => {
    expect(toGrpcError(new CountersignError('NOT_FOUND', 'no key k'), 'id')).toEqual({
      code: grpc.status.NOT_FOUND,
      details: 'no key k',
      internal: false,
    });
    expect(toGrpcError(new CountersignError('UNAVAILABLE', 'down'), 'id').code).toBe(grpc.status.UNAVAILABLE);
  });
  test('untyped errors become INTERNAL without leaking their message', () => {
    const m = toGrpcError(new Error('secret internals at /etc/x'), 'call-1');
    expect(m.code).toBe(grpc.status.INTERNAL);
    expect(m.details).not.toContain('secret');
    expect(m.details).toContain('call-1');
    expect(m.internal).toBe(true);
  });
});

describe('InFlightTracker', () => {
  test('idle resolves only when every call ended', async () => {
    const t = new InFlightTracker();
    const a = t.begin();
    const b = t.begin();
    let idle = false;
    const p = t.idle().then(() => (idle = true));
    a();
    a(); // ending twice counts once
    await new Promise((r) => setImmediate(r));
    expect(idle).toBe(false);
    expect(t.inFlight).toBe(1);
    b();
    await p;
    expect(idle).toBe(true);
  });
});
