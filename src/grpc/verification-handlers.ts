import type * as grpc from '@grpc/grpc-js';
import { CountersignError } from '../shared/errors';
import type { Action } from '../policy/input';
import type { VerificationService, VerifyResult } from '../verification/verification-service';
import { MAX_ENTRIES_PER_REQUEST, verifyMany } from '../verification/verify-many';
import type { Action as WireAction } from './generated/countersign/v1/Action';
import type { Mode as WireMode } from './generated/countersign/v1/Mode';
import type { VerifyBatchRequest__Output } from './generated/countersign/v1/VerifyBatchRequest';
import type { VerifyBatchResponse } from './generated/countersign/v1/VerifyBatchResponse';
import type { VerifyContext__Output } from './generated/countersign/v1/VerifyContext';
import type { VerifyRequest__Output } from './generated/countersign/v1/VerifyRequest';
import type { VerifyResponse } from './generated/countersign/v1/VerifyResponse';
import { EncodedResponse, acceptingEncoded, responseEncoder } from './encoded';
import { serviceConstructor } from './proto';
import { unary, type HandlerEnv } from './unary';

/** VerificationService as served: Verify may answer with a reused decision's encoded bytes. */
export function verificationServiceDefinition(): grpc.ServiceDefinition {
  return acceptingEncoded(serviceConstructor('VerificationService').service);
}

/** What a reused (frozen) decision turns into on every call, made once: the answer and the log facts. */
interface WireForm {
  response: EncodedResponse;
  facts: ReturnType<typeof decisionFacts>;
  /** The routine key but for the caller (routineKey()). */
  routine: string;
  /** The routine key with each caller seen (a few: the webhook, a gate, CI), made once each. */
  byCaller: Map<string | undefined, string>;
}

/** Callers whose routine key a wire form keeps (beyond them it is made on each call). */
const CALLERS_PER_DECISION = 16;

const ACTIONS: Partial<Record<WireAction, Action>> = { ACTION_PUSH: 'push', ACTION_PULL: 'pull', ACTION_DEPLOY: 'deploy' };

const MODES: Record<VerifyResult['mode'], WireMode> = { enforce: 'MODE_ENFORCE', warn: 'MODE_WARN', audit: 'MODE_AUDIT' };

function action(value: WireAction): Action {
  const a = ACTIONS[value];
  if (!a) throw new CountersignError('INVALID_ARGUMENT', 'action is required: ACTION_PUSH, ACTION_PULL or ACTION_DEPLOY');
  return a;
}

function context(msg: VerifyContext__Output | null) {
  return {
    ...(msg?.namespace ? { namespace: msg.namespace } : {}),
    ...(msg?.identity ? { identity: msg.identity } : {}),
    ...(msg?.labels && Object.keys(msg.labels).length ? { labels: msg.labels } : {}),
  };
}

function deadlineOf(call: grpc.ServerUnaryCall<unknown, unknown>): number | undefined {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

export function toResponse(r: VerifyResult): VerifyResponse {
  return {
    allowed: r.allowed,
    image: r.image,
    digest: r.digest,
    mode: MODES[r.mode],
    rule: r.rule,
    requirements: r.requirements,
    evidence: r.evidence.map((e) => ({
      referrerDigest: e.referrerDigest,
      format: e.format,
      kind: e.kind,
      artifactType: e.artifactType ?? '',
      subjectDigest: e.subjectDigest,
      verified: e.verified,
      reason: e.reason ?? '',
      keyId: e.keyId ?? '',
      keyName: e.keyName ?? '',
      predicateType: e.predicateType ?? '',
      ...(e.identity
        ? { identity: { issuer: e.identity.issuer ?? '', subject: e.identity.subject, extensions: e.identity.extensions } }
        : {}),
      // A Notation signer is an X.509 subject under an issuer (distinguished names, comma-separated).
      ...(e.notation
        ? {
            identity: {
              issuer: e.notation.issuer.split('\n').join(', '),
              subject: e.notation.subject.split('\n').join(', '),
              extensions: {},
            },
          }
        : {}),
      // A CA-bundle signer (keyName names the bundle) is the subject of its certificate.
      ...(e.certificateSubject ? { identity: { issuer: '', subject: e.certificateSubject, extensions: {} } } : {}),
      bundleVersion: e.bundleVersion ?? '',
      content: e.content ?? '',
      trustRoot: e.trustRoot ?? '',
      transparencyLogEntries: e.transparencyLogEntries ?? 0,
      timestamps: e.timestamps ?? 0,
    })),
    policyRevision: r.policyRevision,
    trustRevision: r.trustRevision,
    cached: r.cached,
    warnings: r.warnings,
    reasons: r.reasons,
  };
}

/** Thin: decode, call VerificationService, encode. Decisions are logged with their reasons. */
export function verificationHandlers(service: VerificationService, env: HandlerEnv): grpc.UntypedServiceImplementation {
  const encode = responseEncoder(serviceConstructor('VerificationService').service, 'Verify');
  // Keyed by the frozen result itself: it lives as long as the service keeps reusing it.
  const wireForms = new WeakMap<VerifyResult, WireForm>();
  return {
    Verify: unary<VerifyRequest__Output, VerifyResponse | EncodedResponse>(
      'countersign.v1.VerificationService/Verify',
      env,
      async (req, ctx) => {
        // `signal` read only if registry work starts (ctx.signal is created on first use).
        const r = await service.verify({
          image: req.image,
          action: action(req.action),
          context: context(req.context),
          deadline: deadlineOf(ctx.call),
          get signal() {
            return ctx.signal;
          },
        });
        // A reused decision (frozen: see VerificationService) is the same answer every time.
        if (Object.isFrozen(r)) {
          let wire = wireForms.get(r);
          if (wire === undefined) {
            wire = {
              response: encode(toResponse(r)),
              facts: decisionFacts(r, req.action),
              routine: routineKey(r, req),
              byCaller: new Map(),
            };
            wireForms.set(r, wire);
          }
          Object.assign(ctx.facts, wire.facts);
          if (r.allowed && r.cached) {
            const caller = ctx.identity?.subject;
            let routine = wire.byCaller.get(caller);
            if (routine === undefined) {
              routine = withCaller(wire.routine, caller);
              if (wire.byCaller.size < CALLERS_PER_DECISION) wire.byCaller.set(caller, routine);
            }
            ctx.facts.routine = routine;
          }
          return wire.response;
        }
        Object.assign(ctx.facts, decisionFacts(r, req.action));
        if (r.allowed && r.cached) ctx.facts.routine = withCaller(routineKey(r, req), ctx.identity?.subject);
        return toResponse(r);
      },
    ),
    VerifyBatch: unary<VerifyBatchRequest__Output, VerifyBatchResponse>(
      'countersign.v1.VerificationService/VerifyBatch',
      env,
      async (req, ctx) => {
        if (req.images.length === 0) throw new CountersignError('INVALID_ARGUMENT', 'images must name at least one image');
        const a = action(req.action);
        const deadline = deadlineOf(ctx.call);
        const c = context(req.context);
        // The caps (entries: one result each; distinct images), the dedupe and the deadline race
        // are verifyMany's, shared with the webhook.
        const outcomes = await verifyMany(
          req.images,
          (image, signal) => service.verify({ image, action: a, context: c, deadline, signal }),
          {
            ...(deadline !== undefined ? { deadline } : {}),
            signal: ctx.signal,
            maxEntries: MAX_ENTRIES_PER_REQUEST,
          },
        );
        // One image the service could not answer for (a malformed reference, the deadline) fails the call.
        const failed = outcomes.find((o) => o.error !== undefined);
        if (failed) throw failed.error;
        const results = outcomes.map((o) => o.result!);
        const allowed = results.every((r) => r.allowed);
        // Logged once per distinct image (a duplicate's decision is the same one): the line is
        // bounded by the distinct cap, not by how often the request repeats an image.
        const distinct = new Map(outcomes.map((o) => [o.image, o.result!]));
        Object.assign(ctx.facts, {
          images: [...distinct.keys()],
          entries: req.images.length,
          allowed,
          decisions: [...distinct.values()].map((r) => ({
            image: r.image,
            digest: r.digest,
            allowed: r.allowed,
            rule: r.rule,
            reasons: r.reasons,
          })),
        });
        return { allowed, results: results.map(toResponse) };
      },
    ),
  };
}

/** What makes two allowed cached decisions the same line: image, digest, rule, revisions, request context (then withCaller). */
function routineKey(r: VerifyResult, req: VerifyRequest__Output): string {
  // Fields are length-prefixed and the warnings counted, so two different decisions never share a
  // key (a string join is cheaper than JSON.stringify, and this runs on every warm call).
  const parts = [
    r.image,
    r.digest,
    req.action,
    r.rule,
    r.policyRevision,
    r.trustRevision,
    req.context?.namespace ?? '',
    req.context?.identity ?? '',
    String(r.warnings.length),
    ...r.warnings,
  ];
  let key = '';
  for (const p of parts) key += `${p.length}:${p}`;
  return key;
}

/** The routine key of a decision for one caller (length-prefixed like its other fields). */
function withCaller(key: string, caller: string | undefined): string {
  return caller === undefined ? `${key}-` : `${key}${caller.length}:${caller}`;
}

function decisionFacts(r: VerifyResult, actionName: string) {
  return {
    digest: r.digest,
    action: actionName,
    allowed: r.allowed,
    mode: r.mode,
    rule: r.rule,
    cached: r.cached,
    policyRevision: r.policyRevision,
    trustRevision: r.trustRevision,
    reasons: r.reasons,
    ...(r.warnings.length ? { warnings: r.warnings } : {}),
  };
}
