import * as grpc from '@grpc/grpc-js';
import type { Timestamp__Output } from '../grpc/generated/google/protobuf/Timestamp';
import { serviceConstructor } from '../grpc/proto';
import { statusName } from '../grpc/status';
import { channelSecurityFromEnv, clientChannelCredentials, type ChannelSecurity } from '../grpc/channel-credentials';
import { displayUntrusted } from '../shared/untrusted-text';

export const DEFAULT_SERVER = '127.0.0.1:50051';

export function serverAddress(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.COUNTERSIGN_SERVER ?? DEFAULT_SERVER;
}

export type UnaryClient = grpc.Client &
  Record<string, (req: unknown, meta: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<unknown>) => grpc.ClientUnaryCall>;

/** How the CLI reaches the server and authenticates: TLS (and mTLS) from the environment, see clientChannelCredentials. */
export interface ConnectionOptions extends ChannelSecurity {
  /** Bearer token (--token, --token-file, COUNTERSIGN_TOKEN). */
  token?: string;
}

/** An empty token is no token (an unset variable in a CI template often expands to ''). */
function tokenOf(token: string | undefined): { token?: string } {
  return token ? { token } : {};
}

export function connectionFromEnv(env: NodeJS.ProcessEnv = process.env, flags: { token?: string } = {}): ConnectionOptions {
  return { ...tokenOf(flags.token ?? env.COUNTERSIGN_TOKEN), ...channelSecurityFromEnv(env) };
}

let connection: ConnectionOptions = {};

/** Sets how later clients connect and authenticate (the CLI calls it once from its flags). */
export function useConnection(options: ConnectionOptions): void {
  connection = options;
}

function channelCredentials(address: string): grpc.ChannelCredentials {
  return clientChannelCredentials(address, connection);
}

export function signingClient(address: string): UnaryClient {
  const Ctor = serviceConstructor('SigningService');
  return new Ctor(address, channelCredentials(address), {
    'grpc.max_send_message_length': 64 * 1024 * 1024,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
  }) as unknown as UnaryClient;
}

export function verificationClient(address: string): UnaryClient {
  const Ctor = serviceConstructor('VerificationService');
  return new Ctor(address, channelCredentials(address)) as unknown as UnaryClient;
}

export function keyClient(address: string): UnaryClient {
  const Ctor = serviceConstructor('KeyService');
  return new Ctor(address, channelCredentials(address)) as unknown as UnaryClient;
}

export function policyClient(address: string): UnaryClient {
  const Ctor = serviceConstructor('PolicyService');
  return new Ctor(address, channelCredentials(address)) as unknown as UnaryClient;
}

/** One unary call with a deadline, as a promise. */
export function call<Res>(client: UnaryClient, method: string, request: unknown, timeoutMs: number, token?: string): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = client[method];
    if (typeof fn !== 'function') {
      reject(new Error(`no method ${method}`));
      return;
    }
    const metadata = new grpc.Metadata();
    // Per-call metadata rather than call credentials: grpc-js attaches call credentials only to
    // TLS channels, and a loopback deployment may be plaintext.
    const bearer = token ?? connection.token;
    if (bearer) metadata.set('authorization', `Bearer ${bearer}`);
    fn.call(client, request, metadata, { deadline: Date.now() + timeoutMs }, (err, res) => {
      if (err) reject(err);
      else resolve(res as Res);
    });
  });
}

/** What a failed call rejects with: grpc-js's ServiceError, whose `details` a server may leave out. */
function isGrpcError(err: unknown): err is Error & { code: grpc.status; details?: string } {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'number';
}

/** "UNAVAILABLE: registry … unreachable" — one line a CI log reader can act on. */
export function describeGrpcError(err: unknown, address: string): string {
  if (isGrpcError(err)) {
    const e = err;
    const name = statusName(e.code);
    if (e.code === grpc.status.UNAVAILABLE && /No connection established|ECONNREFUSED|connect/i.test(e.details ?? '')) {
      return `${name}: cannot reach the countersign server at ${address} (start it with "countersign serve", or set --server / COUNTERSIGN_SERVER)`;
    }
    // What the server says is quoted: a server (or what it relays) may be hostile.
    return `${name}: ${displayUntrusted((e.details || e.message).replace(/\s+/g, ' ').trim(), 2048)}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** A Timestamp from the server in milliseconds since the epoch. */
export function timestampMs(ts: Timestamp__Output): number {
  return ts.seconds * 1000 + Math.floor(ts.nanos / 1_000_000);
}

/** A Timestamp from the server as RFC 3339 text (as the server writes it); '' when unset. */
export function timestampText(ts: Timestamp__Output | null | undefined): string {
  return ts ? new Date(timestampMs(ts)).toISOString() : '';
}
