/**
 * GateVerifier over the network: a gRPC client of countersign.v1.VerificationService. The gate
 * authenticates as a verifier (a bearer token with the `verifier` role, or an mTLS client
 * certificate bound to it), so it can run next to the registry while Countersign runs elsewhere.
 *
 * A failed call (unreachable, deadline, refused credentials) rejects: the gate turns that into a
 * deny. So does an answer outside the VerifyResponse contract (acceptedAnswer): about another image
 * or digest than the one asked, with a mode the server never sends, without the rule that decided.
 * What the registry client reads of either is fixed text; the details are for the gate's log.
 */
import * as grpc from '@grpc/grpc-js';
import { clientChannelCredentials, type ChannelSecurity } from '../grpc/channel-credentials';
import { serviceConstructor } from '../grpc/proto';
import { formatReference, parseReference } from '../registry/reference';
import type { GateVerifier, GateVerifyInput, GateVerifyResult } from './decision';
import { revisionOf } from './decision-cache';
import type { GateLogger } from './server';

/** TLS as for every Countersign client (clientChannelCredentials: no plaintext token beyond loopback by omission). */
export interface GrpcVerifierOptions extends ChannelSecurity {
  /** `host:port` of Countersign's gRPC listener. */
  address: string;
  /** Bearer token with the verifier role. */
  token?: string;
}

/**
 * The fields of VerifyResponse the gate reads, as they arrive: each possibly missing or of another
 * type (the answer comes over the network, from a Countersign of another version perhaps, or from
 * something else at its address). acceptedAnswer decides what is an answer.
 */
type VerifyResponseMsg = { [K in keyof GateVerifyResult | 'image']?: unknown };

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
    this.client = new Ctor(opts.address, clientChannelCredentials(opts.address, opts)) as unknown as grpc.Client & { Verify: VerifyFn };
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
        if (err) {
          reject(err);
          return;
        }
        let result: GateVerifyResult;
        try {
          result = acceptedAnswer(input.image, res);
        } catch (e) {
          // Not an answer: it says nothing about the revisions in force either.
          reject(e);
          return;
        }
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

/**
 * A Verify reply that is not an answer to the question asked. Its message is fixed text (it goes
 * to the registry client); `details` say what was wrong, for the gate's log.
 */
export class UnacceptableAnswerError extends Error {
  constructor(
    message: string,
    readonly details: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'UnacceptableAnswerError';
  }
}

/**
 * The modes a VerifyResponse is sent with (proto/countersign/v1/verification.proto, enum Mode):
 * MODE_UNSPECIFIED is "never sent by the server", and a value this gate does not know (from a
 * newer or a broken peer) is not one it can say it enforces.
 */
const SENT_MODES: ReadonlySet<unknown> = new Set(['MODE_ENFORCE', 'MODE_WARN', 'MODE_AUDIT']);

/**
 * The one definition of a well-formed answer to `Verify(asked)`, per the VerifyResponse contract:
 * `image` is "the image as asked (normalized)": the asked reference itself when it is already in
 * normal form, as the gate's references are, or its normal form (`--registry-name docker.io` asks
 * about `docker.io/…`, answered as `index.docker.io/…`); `digest` is the digest asked; `mode` is
 * one the server sends; `rule` names the rule that decided; the rest have their types. Anything
 * else throws UnacceptableAnswerError (the gate denies): an allow about another image, or one
 * nobody can say was made under a rule, is not an allow of this image.
 */
export function acceptedAnswer(asked: string, res: VerifyResponseMsg | null | undefined): GateVerifyResult {
  const refuse = (message: string, details: Record<string, unknown> = {}): never => {
    throw new UnacceptableAnswerError(message, { asked, ...details });
  };
  if (!res || typeof res !== 'object') return refuse('Countersign sent an empty answer');
  const ref = parsedOrUndefined(asked);
  if (res.image !== asked && (ref === undefined || res.image !== formatReference(ref))) {
    return refuse('Countersign answered about another image than the one asked', { answered: clip(res.image) });
  }
  // The gate asks about pinned references only; one without a digest needs a digest answered.
  const digest = ref?.digest;
  if (typeof res.digest !== 'string' || res.digest === '' || (digest !== undefined && res.digest !== digest)) {
    return refuse('Countersign answered about another digest than the one asked', { answered: clip(res.digest) });
  }
  if (typeof res.allowed !== 'boolean') return refuse('Countersign sent an answer without a decision', { allowed: clip(res.allowed) });
  if (!SENT_MODES.has(res.mode)) return refuse('Countersign sent an answer with a mode outside its contract', { mode: clip(res.mode) });
  if (typeof res.rule !== 'string' || res.rule === '')
    return refuse('Countersign sent an answer that names no rule', { rule: clip(res.rule) });
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (!strings(res.reasons) || !strings(res.warnings)) return refuse('Countersign sent an answer with malformed reasons or warnings');
  if (typeof res.policyRevision !== 'string' || typeof res.trustRevision !== 'string') {
    return refuse('Countersign sent an answer with malformed revisions');
  }
  return {
    allowed: res.allowed,
    digest: res.digest,
    reasons: res.reasons,
    warnings: res.warnings,
    rule: res.rule,
    mode: res.mode as string,
    policyRevision: res.policyRevision,
    trustRevision: res.trustRevision,
  };
}

/** The parse of a reference the gate asked about (undefined if it has none: then only itself is its normal form). */
function parsedOrUndefined(image: string): ReturnType<typeof parseReference> | undefined {
  try {
    return parseReference(image);
  } catch {
    return undefined;
  }
}

/** A value of a reply, for the log: short, on one line. */
function clip(v: unknown): unknown {
  if (typeof v === 'string') return v.length > 300 ? `${v.slice(0, 300)}… (${v.length} characters)` : v;
  return typeof v === 'object' && v !== null ? `(${Array.isArray(v) ? 'array' : 'object'})` : v;
}

/**
 * What the registry client reads of a failed call, per status: fixed text, actionable from where
 * it stands. The status details (a peer's address, "connect ECONNREFUSED 10.0.0.7:8443", a TLS
 * error naming a host) describe the gate's side of the network and go to the gate's log only.
 */
const FAILURE_TEXT: Partial<Record<number, string>> = {
  [grpc.status.UNAVAILABLE]: 'Countersign unavailable; retry later',
  [grpc.status.DEADLINE_EXCEEDED]: 'Countersign did not answer in time; retry later',
  [grpc.status.RESOURCE_EXHAUSTED]: 'Countersign is overloaded; retry later',
  [grpc.status.CANCELLED]: 'the question to Countersign was cancelled; retry later',
  [grpc.status.UNAUTHENTICATED]: "Countersign refused the gate's credentials; the gate's operator must fix them",
  [grpc.status.PERMISSION_DENIED]: "Countersign refused the gate's credentials; the gate's operator must fix them",
};

/**
 * One line saying why Countersign could not answer, for the 403 body: a status name and fixed
 * text, or the fixed message of an UnacceptableAnswerError. What the failure said itself is logged
 * (at warn) on `logger`, not handed to whoever pulls. Other errors are the gate's own (its
 * decision timeout) or an in-process verifier's, whose messages are written for the caller.
 */
export function describeVerifierFailure(err: unknown, logger?: Pick<GateLogger, 'warn'>): string {
  if (err instanceof UnacceptableAnswerError) {
    logger?.warn({ reason: err.message, ...err.details }, 'Countersign sent no acceptable answer: denied');
    return err.message;
  }
  const e = err as Partial<grpc.ServiceError> | null | undefined;
  if (typeof e?.code === 'number') {
    // A code this grpc-js does not know has no name.
    const name = (grpc.status as Partial<Record<number, string>>)[e.code] ?? `status ${e.code}`;
    logger?.warn({ code: e.code, status: name, details: clip(e.details || e.message || '') }, 'Countersign could not decide: denied');
    return `${name}: ${FAILURE_TEXT[e.code] ?? "Countersign failed to answer; the gate's log says why"}`;
  }
  return err instanceof Error ? err.message.slice(0, 300) : 'unknown error';
}
