import { GrpcServer } from '../../../src/grpc/server';
import { createLogger } from '../../../src/logging/logger';
import { healthStatus } from '../../support/grpc-health';

/**
 * grpc.health.v1 Check reads the store's health when asked: a probe sees a store that just
 * failed (or recovered) at once, with no timer between (the service's own timer runs every few
 * seconds only, for Watch streams).
 */
test("health Check answers from the store's health as it is at the moment of the check", async () => {
  let problem: string | undefined;
  let reads = 0;
  const server = new GrpcServer({
    // Not called: only the health service is used here.
    signing: {} as never,
    verification: {} as never,
    keys: {} as never,
    policies: {} as never,
    logger: createLogger({ level: 'silent' }),
    maxReceiveBytes: 1024 * 1024,
    storeHealth: () => {
      reads++;
      return problem;
    },
  });
  const port = await server.listen('127.0.0.1:0');
  const address = `127.0.0.1:${port}`;
  try {
    expect(await healthStatus(address)).toBe('SERVING');
    problem = 'database is locked';
    expect(await healthStatus(address)).toBe('NOT_SERVING');
    expect(await healthStatus(address, 'countersign.v1.VerificationService')).toBe('NOT_SERVING');
    problem = undefined;
    expect(await healthStatus(address)).toBe('SERVING');
    expect(reads).toBe(4);
  } finally {
    await server.shutdown(1000);
  }
});
