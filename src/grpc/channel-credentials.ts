/**
 * How a Countersign client (the CLI, a gate running apart from the service) secures its channel.
 * One rule for both, because both carry secrets: a bearer token on every call, and for
 * `keys import --cosign-key` a private key and its password.
 *
 * - A CA file (COUNTERSIGN_TLS_CA) turns TLS on and is the only issuer trusted; `system` trusts
 *   the roots Node ships, for a server behind a public certificate.
 * - Without one, plaintext is for loopback only. Beyond it the client refuses to connect unless
 *   the operator says plaintext is intended (COUNTERSIGN_PLAINTEXT=1, e.g. inside a service
 *   mesh that encrypts the hop), so a token never crosses a network in the clear by omission.
 * - A client certificate needs TLS: given without a CA, it is refused rather than left unsent.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { CountersignError } from '../shared/errors';
import { isLoopbackAddress, listenHost } from '../shared/net';

export interface ChannelSecurity {
  /** CA bundle of the server certificate, or `system` for Node's root store. */
  caFile?: string;
  /** Client certificate and key (mTLS). */
  certFile?: string;
  keyFile?: string;
  /** Plaintext beyond loopback, on purpose. */
  plaintext?: boolean;
}

/** The `ChannelSecurity` fields the environment sets (the CLI and the gate read the same names). */
export function channelSecurityFromEnv(env: NodeJS.ProcessEnv = process.env): ChannelSecurity {
  return {
    ...(env.COUNTERSIGN_TLS_CA ? { caFile: env.COUNTERSIGN_TLS_CA } : {}),
    ...(env.COUNTERSIGN_TLS_CLIENT_CERT ? { certFile: env.COUNTERSIGN_TLS_CLIENT_CERT } : {}),
    ...(env.COUNTERSIGN_TLS_CLIENT_KEY ? { keyFile: env.COUNTERSIGN_TLS_CLIENT_KEY } : {}),
    ...(env.COUNTERSIGN_PLAINTEXT === '1' || env.COUNTERSIGN_PLAINTEXT === 'true' ? { plaintext: true } : {}),
  };
}

/** Whether a gRPC target (`host:port`, `dns:host:port`, `dns:///host:port`, `unix:…`) is this machine. */
export function isLocalTarget(address: string): boolean {
  const target = address.trim();
  if (/^unix(-abstract)?:/i.test(target)) return true;
  const hostPort = target.replace(/^(dns|ipv4|ipv6):(\/\/[^/]*\/)?/i, '');
  const host = listenHost(hostPort);
  return host !== undefined && isLoopbackAddress(host);
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new CountersignError(
      'INVALID_ARGUMENT',
      `cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

export function clientChannelCredentials(address: string, security: ChannelSecurity): grpc.ChannelCredentials {
  if (security.caFile) {
    if (Boolean(security.certFile) !== Boolean(security.keyFile))
      throw new CountersignError(
        'INVALID_ARGUMENT',
        'a client certificate needs its key and a key its certificate (COUNTERSIGN_TLS_CLIENT_CERT and _KEY)',
      );
    return grpc.credentials.createSsl(
      security.caFile === 'system' ? null : readPem(security.caFile, 'CA bundle (COUNTERSIGN_TLS_CA)'),
      security.keyFile ? readPem(security.keyFile, 'client key (COUNTERSIGN_TLS_CLIENT_KEY)') : null,
      security.certFile ? readPem(security.certFile, 'client certificate (COUNTERSIGN_TLS_CLIENT_CERT)') : null,
    );
  }
  if (security.certFile || security.keyFile)
    throw new CountersignError(
      'INVALID_ARGUMENT',
      'a client certificate is sent over TLS only: set COUNTERSIGN_TLS_CA to the CA of the server certificate (or "system")',
    );
  if (!security.plaintext && !isLocalTarget(address))
    throw new CountersignError(
      'FAILED_PRECONDITION',
      `refusing to reach ${address} in plaintext (credentials would cross the network in the clear): set COUNTERSIGN_TLS_CA to the CA of its certificate (or "system" for public roots), or COUNTERSIGN_PLAINTEXT=1 where the network itself is trusted`,
    );
  return grpc.credentials.createInsecure();
}
