/**
 * GateVerifier over the network: a gRPC client of countersign.v1.VerificationService. The gate
 * authenticates as a verifier (a bearer token with the `verifier` role, or an mTLS client
 * certificate bound to it), so it can run next to the registry while Countersign runs elsewhere.
 *
 * A failed call (unreachable, deadline, refused credentials) rejects: the gate turns that into a
 * deny with the reason. An answer that is not about the digest asked for is an error too.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { serviceConstructor } from '../grpc/proto';
import type { GateVerifier, GateVerifyInput, GateVerifyResult } from './decision';
import { revisionOf } from './decision-cache';

export interface GrpcVerifierOptions {
  /** `host:port` of Countersign's gRPC listener. */
  address: string;
  /** Bearer token with the verifier role. */
  token?: string;
  /** CA bundle of the server certificate: turns TLS on. */
  caFile?: string;
  /** Client certificate and key (mTLS). */
  certFile?: string;
  keyFile?: string;
}

/**
 * The fields of VerifyResponse the gate reads are its decision result, each possibly missing: the
 * answer comes over the network, from a Countersign of another version perhaps.
 */
type VerifyResponseMsg = Partial<GateVerifyResult>;

type VerifyFn = (
  req: unknown,
  meta: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: grpc.requestCallback<VerifyResponseMsg>,
) => grpc.ClientUnaryCall;

export class GrpcVerifier implements GateVerifier {
  private readonly client: grpc.Client & { Verify: VerifyFn };
  /**
   * The revisions the latest answer was made under, and a counter of their changes. An answer to
   * a call that started before the latest change is not allowed to set them back: it may have
   * been evaluated before a revocation that a quicker answer already reported.
   */
  private revision: string | undefined;
  private revisionChanges = 0;

  constructor(private readonly opts: GrpcVerifierOptions) {
    const Ctor = serviceConstructor('VerificationService');
    const creds = opts.caFile
      ? grpc.credentials.createSsl(
          readFileSync(opts.caFile),
          opts.keyFile ? readFileSync(opts.keyFile) : null,
          opts.certFile ? readFileSync(opts.certFile) : null,
        )
      : grpc.credentials.createInsecure();
    this.client = new Ctor(opts.address, creds) as unknown as grpc.Client & { Verify: VerifyFn };
  }

  verify(input: GateVerifyInput): Promise<GateVerifyResult> {
    const metadata = new grpc.Metadata();
    if (this.opts.token) metadata.set('authorization', `Bearer ${this.opts.token}`);
    const request = {
      image: input.image,
      action: input.action === 'push' ? 'ACTION_PUSH' : 'ACTION_PULL',
      context: { namespace: '', identity: input.context.identity ?? '', labels: input.context.labels ?? {} },
    };
    const changesAtStart = this.revisionChanges;
    return new Promise((resolve, reject) => {
      this.client.Verify(request, metadata, { deadline: input.deadline }, (err, res) => {
        if (err || !res) {
          reject(err ?? new Error('empty Verify answer'));
          return;
        }
        const result: GateVerifyResult = {
          allowed: res.allowed === true,
          digest: res.digest ?? '',
          reasons: res.reasons ?? [],
          warnings: res.warnings ?? [],
          rule: res.rule ?? '',
          mode: res.mode ?? '',
          policyRevision: res.policyRevision ?? '',
          trustRevision: res.trustRevision ?? '',
        };
        const revision = revisionOf(result);
        if (revision !== this.revision && this.revisionChanges === changesAtStart) {
          this.revision = revision;
          this.revisionChanges++;
        }
        resolve(result);
      });
    });
  }

  /** The revisions Countersign's latest answer was made under (what the gate's decision cache compares with). */
  currentRevision(): string | undefined {
    return this.revision;
  }

  close(): void {
    this.client.close();
  }
}

/** One line saying why Countersign could not answer, for the 403 body (no credentials in it). */
export function describeVerifierFailure(err: unknown): string {
  const e = err as Partial<grpc.ServiceError> | null | undefined;
  if (typeof e?.code === 'number') {
    // A code this grpc-js does not know has no name.
    const name = (grpc.status as Partial<Record<number, string>>)[e.code] ?? String(e.code);
    return `${name}: ${(e.details || e.message || '').replace(/\s+/g, ' ').slice(0, 300)}`;
  }
  return err instanceof Error ? err.message.slice(0, 300) : 'unknown error';
}
