import * as grpc from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { CountersignError, type ErrorCode } from '../../../src/shared/errors';

export { removeTempDirs, tempDir } from '../../support/temp-dirs';

/** The parts of a server call that access control reads. */
export function fakeCall(
  headers: Array<[string, string]> = [],
  options: { cert?: Partial<PeerCertificate>; peer?: string } = {},
): grpc.ServerUnaryCall<unknown, unknown> {
  const metadata = new grpc.Metadata();
  for (const [k, v] of headers) metadata.add(k, v);
  return {
    metadata,
    getPeer: () => options.peer ?? 'ipv4:10.1.2.3:40000',
    getAuthContext: () => (options.cert ? { transportSecurityType: 'ssl', sslPeerCertificate: options.cert as PeerCertificate } : {}),
  } as unknown as grpc.ServerUnaryCall<unknown, unknown>;
}

/** Runs `fn` and returns the CountersignError it throws (fails the test if it does not). */
export function caught(fn: () => unknown): CountersignError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CountersignError) return err;
    throw err;
  }
  throw new Error('expected a CountersignError, but nothing was thrown');
}

export function expectCode(fn: () => unknown, code: ErrorCode, message?: string | RegExp): CountersignError {
  const err = caught(fn);
  expect(err.code).toBe(code);
  if (typeof message === 'string') expect(err.message).toBe(message);
  else if (message) expect(err.message).toMatch(message);
  return err;
}

/** `expectCode` for a call that may be asynchronous: awaits it and checks the CountersignError it throws or rejects with. */
export async function expectRejection(fn: () => unknown, code: ErrorCode, message?: string | RegExp): Promise<CountersignError> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  // A failure names what was thrown instead (or undefined: nothing was).
  expect(err).toBeInstanceOf(CountersignError);
  const error = err as CountersignError;
  expect(error.code).toBe(code);
  if (typeof message === 'string') expect(error.message).toBe(message);
  else if (message) expect(error.message).toMatch(message);
  return error;
}
