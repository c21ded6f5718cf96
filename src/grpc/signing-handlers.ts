import type * as grpc from '@grpc/grpc-js';
import type { SigningService } from '../signing';
import { unary, type HandlerEnv } from './unary';
import { CountersignError } from '../shared/errors';
import type { AttestRequest__Output } from './generated/countersign/v1/AttestRequest';
import type { AttestResponse } from './generated/countersign/v1/AttestResponse';
import type { SignRequest__Output } from './generated/countersign/v1/SignRequest';
import type { SignResponse } from './generated/countersign/v1/SignResponse';
import { fromTimestamp } from './wire-time';

/** Thin: decode, call the signing module, encode. All logic lives in SigningService. */
export function signingHandlers(service: SigningService, env: HandlerEnv): grpc.UntypedServiceImplementation {
  return {
    Sign: unary<SignRequest__Output, SignResponse>('countersign.v1.SigningService/Sign', env, async (req, ctx) => {
      const result = await service.sign({ image: req.image, key: req.key, annotations: req.annotations }, { signal: ctx.signal });
      Object.assign(ctx.facts, { digest: result.digest, keyId: result.keyId, referrerDigest: result.referrerDigest });
      return { result };
    }),
    Attest: unary<AttestRequest__Output, AttestResponse>('countersign.v1.SigningService/Attest', env, async (req, ctx) => {
      const result = await service.attest(
        {
          image: req.image,
          key: req.key,
          annotations: req.annotations,
          predicateType: req.predicateType,
          predicate: req.predicate,
          scanTime: scanTime(req),
        },
        { signal: ctx.signal },
      );
      Object.assign(ctx.facts, {
        digest: result.digest,
        keyId: result.keyId,
        predicateType: result.predicateType,
        referrerDigest: result.referrerDigest,
      });
      return { result };
    }),
  };
}

/**
 * The scan time as RFC 3339 text, which the attestation layer checks strictly: the deprecated
 * text field is passed on as written (not re-parsed, which would accept what it refuses), a
 * Timestamp becomes such text.
 */
function scanTime(req: AttestRequest__Output): string {
  if (req.scanTimestamp && req.scanTime)
    throw new CountersignError('INVALID_ARGUMENT', 'give scan_timestamp or the deprecated scan_time, not both');
  return fromTimestamp('scan_timestamp', req.scanTimestamp)?.toISOString() ?? req.scanTime;
}
