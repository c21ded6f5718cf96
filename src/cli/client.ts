import * as grpc from '@grpc/grpc-js';
import { serviceConstructor } from '../grpc/proto';

export const DEFAULT_SERVER = '127.0.0.1:50051';

export function serverAddress(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.COUNTERSIGN_SERVER ?? DEFAULT_SERVER;
}

export type UnaryClient = grpc.Client & Record<string, (req: unknown, meta: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<unknown>) => grpc.ClientUnaryCall>;

export function signingClient(address: string): UnaryClient {
  const Ctor = serviceConstructor('SigningService');
  return new Ctor(address, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': 64 * 1024 * 1024,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
  }) as unknown as UnaryClient;
}

export function verificationClient(address: string): UnaryClient {
  const Ctor = serviceConstructor('VerificationService');
  return new Ctor(address, grpc.credentials.createInsecure()) as unknown as UnaryClient;
}

export function keyClient(address: string): UnaryClient {
  const Ctor = serviceConstructor('KeyService');
  return new Ctor(address, grpc.credentials.createInsecure()) as unknown as UnaryClient;
}

/** One unary call with a deadline, as a promise. */
export function call<Res>(client: UnaryClient, method: string, request: unknown, timeoutMs: number): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = client[method];
    if (typeof fn !== 'function') return reject(new Error(`no method ${method}`));
    fn.call(client, request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) =>
      err ? reject(err) : resolve(res as Res),
    );
  });
}

/** "UNAVAILABLE: registry … unreachable" — one line a CI log reader can act on. */
export function describeGrpcError(err: unknown, address: string): string {
  const e = err as grpc.ServiceError;
  if (typeof e?.code === 'number') {
    const name = grpc.status[e.code] ?? String(e.code);
    if (e.code === grpc.status.UNAVAILABLE && /No connection established|ECONNREFUSED|connect/i.test(e.details ?? '')) {
      return `${name}: cannot reach the countersign server at ${address} (start it with "countersign serve", or set --server / COUNTERSIGN_SERVER)`;
    }
    return `${name}: ${(e.details || e.message).replace(/\s+/g, ' ')}`;
  }
  return err instanceof Error ? err.message : String(err);
}
