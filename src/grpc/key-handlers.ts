import type * as grpc from '@grpc/grpc-js';
import type { KeyInfo } from '../keys';
import type { ManagedKeyStore } from '../keys/managed-key-store';
import { MAX_ROTATION_OVERLAP_SECONDS } from '../keys/managed-key-store';
import { CountersignError } from '../shared/errors';
import { unary, type HandlerEnv, type UnaryContext } from './unary';
import type { CreateKeyRequest__Output } from './generated/countersign/v1/CreateKeyRequest';
import type { CreateKeyResponse } from './generated/countersign/v1/CreateKeyResponse';
import type { GetKeyRequest__Output } from './generated/countersign/v1/GetKeyRequest';
import type { GetKeyResponse } from './generated/countersign/v1/GetKeyResponse';
import type { ImportKeyRequest__Output } from './generated/countersign/v1/ImportKeyRequest';
import type { ImportKeyResponse } from './generated/countersign/v1/ImportKeyResponse';
import type { Key } from './generated/countersign/v1/Key';
import type { KeyState as WireKeyState } from './generated/countersign/v1/KeyState';
import type { ListKeysRequest__Output } from './generated/countersign/v1/ListKeysRequest';
import type { ListKeysResponse } from './generated/countersign/v1/ListKeysResponse';
import type { RevokeKeyRequest__Output } from './generated/countersign/v1/RevokeKeyRequest';
import type { RevokeKeyResponse } from './generated/countersign/v1/RevokeKeyResponse';
import type { RotateKeyRequest__Output } from './generated/countersign/v1/RotateKeyRequest';
import type { RotateKeyResponse } from './generated/countersign/v1/RotateKeyResponse';
import type { Duration__Output } from './generated/google/protobuf/Duration';
import { durationSeconds, timeField, toTimestamp } from './wire-time';

const KEY_STATES: Record<NonNullable<KeyInfo['state']>, WireKeyState> = {
  active: 'KEY_STATE_ACTIVE',
  rotated: 'KEY_STATE_ROTATED',
  revoked: 'KEY_STATE_REVOKED',
};

/**
 * Public facts only: no call here ever returns private key material. Times go out twice: as
 * Timestamps and in the deprecated RFC 3339 text fields older clients read.
 */
export function toKeyMessage(k: KeyInfo): Key {
  return {
    validFromTime: toTimestamp(k.validFrom),
    validUntilTime: toTimestamp(k.validUntil),
    stateChangeTime: toTimestamp(k.stateChangedAt),
    createTime: toTimestamp(k.createdAt),
    id: k.id,
    name: k.name,
    version: k.version ?? 1,
    ownerTeam: k.ownerTeam ?? '',
    purpose: k.purpose === 'verification' ? 'KEY_PURPOSE_VERIFICATION' : 'KEY_PURPOSE_SIGNING',
    scopes: k.scopes ?? [],
    validFrom: k.validFrom?.toISOString() ?? '',
    validUntil: k.validUntil?.toISOString() ?? '',
    state: KEY_STATES[k.state ?? 'active'],
    stateReason: k.stateReason ?? '',
    stateChangedAt: k.stateChangedAt?.toISOString() ?? '',
    publicKeyPem: k.publicKeyPem,
    createdAt: k.createdAt.toISOString(),
    createdBy: k.createdBy ?? '',
    successorId: k.successorId ?? '',
    predecessorId: k.predecessorId ?? '',
    kind: k.kind ?? '',
    source: k.source ?? '',
    certificate: k.certificate
      ? {
          subject: k.certificate.subject,
          issuer: k.certificate.issuer,
          serialNumber: k.certificate.serialNumber,
          notBeforeTime: toTimestamp(k.certificate.notBefore),
          notAfterTime: toTimestamp(k.certificate.notAfter),
          fingerprintSha256: k.certificate.fingerprintSha256,
        }
      : null,
  };
}

/**
 * `google.protobuf.Duration overlap`, or the deprecated `optional int64 overlap_seconds`: absent
 * when the caller sent neither (the store's default applies), otherwise exactly what was sent, 0
 * included. proto3 scalars without `optional` decode as 0 when unset, which is why zero was once
 * read as "not set": presence is the only signal.
 */
export function rotationOverlap(
  seconds: number | null | undefined,
  overlap: Duration__Output | null | undefined = null,
): number | undefined {
  const hasSeconds = seconds !== undefined && seconds !== null;
  if (hasSeconds && overlap !== null)
    throw new CountersignError('INVALID_ARGUMENT', 'give overlap or the deprecated overlap_seconds, not both');
  const value = hasSeconds ? seconds : durationSeconds('overlap', overlap);
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value < 0 || value > MAX_ROTATION_OVERLAP_SECONDS) {
    throw new CountersignError(
      'INVALID_ARGUMENT',
      `${hasSeconds ? 'overlap_seconds' : 'overlap'} must be a whole number of seconds from 0 (the old version stops verifying at once) to ${MAX_ROTATION_OVERLAP_SECONDS}, ` +
        `got ${String(value)}; leave it unset for the default of 7 days`,
    );
  }
  return value;
}

/** Who asked, for the audit trail: the authenticated identity when access control is on. */
export type ActorOf = (ctx: UnaryContext) => string;

export function keyHandlers(keys: ManagedKeyStore, env: HandlerEnv, actorOf: ActorOf): grpc.UntypedServiceImplementation {
  const m = (name: string) => `countersign.v1.KeyService/${name}`;
  return {
    CreateKey: unary<CreateKeyRequest__Output, CreateKeyResponse>(m('CreateKey'), env, async (req, ctx) => {
      const validUntil = timeField('valid_until_time', req.validUntilTime, 'valid_until', req.validUntil);
      const key = await keys.createKey(
        { name: req.name, ownerTeam: req.ownerTeam, scopes: req.scopes, ...(validUntil ? { validUntil } : {}) },
        actorOf(ctx),
      );
      Object.assign(ctx.facts, { key: key.name, keyId: key.id });
      return { key: toKeyMessage(key) };
    }),
    ImportKey: unary<ImportKeyRequest__Output, ImportKeyResponse>(m('ImportKey'), env, async (req, ctx) => {
      const validFrom = timeField('valid_from_time', req.validFromTime, 'valid_from', req.validFrom);
      const validUntil = timeField('valid_until_time', req.validUntilTime, 'valid_until', req.validUntil);
      const attrs = {
        name: req.name,
        ownerTeam: req.ownerTeam,
        scopes: req.scopes,
        ...(validFrom ? { validFrom } : {}),
        ...(validUntil ? { validUntil } : {}),
      };
      let key: KeyInfo;
      if (req.material === 'publicKeyPem' && req.publicKeyPem) key = await keys.importPublicKey(attrs, req.publicKeyPem, actorOf(ctx));
      else if (req.material === 'caBundlePem' && req.caBundlePem) key = await keys.importCaBundle(attrs, req.caBundlePem, actorOf(ctx));
      else if (req.material === 'cosignPrivateKeyPem' && req.cosignPrivateKeyPem) {
        key = await keys.importCosignPrivateKey(attrs, req.cosignPrivateKeyPem, req.password, actorOf(ctx));
      } else
        throw new CountersignError(
          'INVALID_ARGUMENT',
          'give one of public_key_pem (a PEM PUBLIC KEY or CERTIFICATE), ca_bundle_pem (PEM CA certificates) or cosign_private_key_pem',
        );
      Object.assign(ctx.facts, { key: key.name, keyId: key.id, purpose: key.purpose });
      return { key: toKeyMessage(key) };
    }),
    ListKeys: unary<ListKeysRequest__Output, ListKeysResponse>(m('ListKeys'), env, async (req) => ({
      keys: (await keys.listKeys({ activeOnly: req.activeOnly })).map(toKeyMessage),
    })),
    GetKey: unary<GetKeyRequest__Output, GetKeyResponse>(m('GetKey'), env, async (req) => ({
      key: toKeyMessage(await keys.getKey(req.key)),
    })),
    RotateKey: unary<RotateKeyRequest__Output, RotateKeyResponse>(m('RotateKey'), env, async (req, ctx) => {
      const overlapSeconds = rotationOverlap(req.overlapSeconds, req.overlap);
      const r = await keys.rotate(
        req.key,
        { ...(overlapSeconds !== undefined ? { overlapSeconds } : {}), ...(req.reason ? { reason: req.reason } : {}) },
        actorOf(ctx),
      );
      Object.assign(ctx.facts, { key: r.current.name, previousId: r.previous.id, keyId: r.current.id });
      return { previous: toKeyMessage(r.previous), current: toKeyMessage(r.current) };
    }),
    RevokeKey: unary<RevokeKeyRequest__Output, RevokeKeyResponse>(m('RevokeKey'), env, async (req, ctx) => {
      const k = await keys.revoke(req.key, req.reason, actorOf(ctx));
      Object.assign(ctx.facts, { key: k.name, keyId: k.id, reason: req.reason });
      return { key: toKeyMessage(k) };
    }),
  };
}
