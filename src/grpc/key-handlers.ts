import type * as grpc from '@grpc/grpc-js';
import type { KeyInfo } from '../keys';
import type { ManagedKeyStore } from '../keys/managed-key-store';
import { MAX_ROTATION_OVERLAP_SECONDS } from '../keys/managed-key-store';
import { CountersignError } from '../shared/errors';
import { unary, type HandlerEnv, type UnaryContext } from './unary';

interface CreateKeyMsg {
  name: string;
  ownerTeam: string;
  scopes: string[];
  validUntil: string;
}
interface ImportKeyMsg {
  name: string;
  ownerTeam: string;
  scopes: string[];
  validFrom: string;
  validUntil: string;
  material?: 'publicKeyPem' | 'cosignPrivateKeyPem';
  publicKeyPem?: string;
  cosignPrivateKeyPem?: string;
  password: string;
}

/** Public facts only: no call here ever returns private key material. */
export function toKeyMessage(k: KeyInfo) {
  return {
    id: k.id,
    name: k.name,
    version: k.version ?? 1,
    ownerTeam: k.ownerTeam ?? '',
    purpose: k.purpose === 'verification' ? 'KEY_PURPOSE_VERIFICATION' : 'KEY_PURPOSE_SIGNING',
    scopes: k.scopes ?? [],
    validFrom: k.validFrom?.toISOString() ?? '',
    validUntil: k.validUntil?.toISOString() ?? '',
    state: `KEY_STATE_${(k.state ?? 'active').toUpperCase()}`,
    stateReason: k.stateReason ?? '',
    stateChangedAt: k.stateChangedAt?.toISOString() ?? '',
    publicKeyPem: k.publicKeyPem,
    createdAt: k.createdAt.toISOString(),
    createdBy: k.createdBy ?? '',
    successorId: k.successorId ?? '',
    predecessorId: k.predecessorId ?? '',
  };
}

function optionalDate(field: string, value: string): Date | undefined {
  if (!value) return undefined;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new CountersignError('INVALID_ARGUMENT', `${field} must be an RFC 3339 time, got ${JSON.stringify(value)}`);
  return d;
}

/**
 * `optional int64 overlap_seconds`: absent when the caller did not send it (the store's default
 * applies), otherwise exactly what was sent, 0 included. proto3 scalars without `optional` decode
 * as 0 when unset, which is why zero was once read as "not set": presence is the only signal.
 */
export function rotationOverlap(value: number | null | undefined): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Number.isSafeInteger(value) || value < 0 || value > MAX_ROTATION_OVERLAP_SECONDS) {
    throw new CountersignError(
      'INVALID_ARGUMENT',
      `overlap_seconds must be a whole number of seconds from 0 (the old version stops verifying at once) to ${MAX_ROTATION_OVERLAP_SECONDS}, ` +
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
    CreateKey: unary<CreateKeyMsg, unknown>(m('CreateKey'), env, async (req, ctx) => {
      const validUntil = optionalDate('valid_until', req.validUntil);
      const key = await keys.createKey({ name: req.name, ownerTeam: req.ownerTeam, scopes: req.scopes, ...(validUntil ? { validUntil } : {}) }, actorOf(ctx));
      Object.assign(ctx.facts, { key: key.name, keyId: key.id });
      return { key: toKeyMessage(key) };
    }),
    ImportKey: unary<ImportKeyMsg, unknown>(m('ImportKey'), env, async (req, ctx) => {
      const validFrom = optionalDate('valid_from', req.validFrom);
      const validUntil = optionalDate('valid_until', req.validUntil);
      const attrs = { name: req.name, ownerTeam: req.ownerTeam, scopes: req.scopes, ...(validFrom ? { validFrom } : {}), ...(validUntil ? { validUntil } : {}) };
      let key: KeyInfo;
      if (req.material === 'publicKeyPem' && req.publicKeyPem) key = await keys.importPublicKey(attrs, req.publicKeyPem, actorOf(ctx));
      else if (req.material === 'cosignPrivateKeyPem' && req.cosignPrivateKeyPem) {
        key = await keys.importCosignPrivateKey(attrs, req.cosignPrivateKeyPem, req.password, actorOf(ctx));
      } else throw new CountersignError('INVALID_ARGUMENT', 'give either public_key_pem or cosign_private_key_pem');
      Object.assign(ctx.facts, { key: key.name, keyId: key.id, purpose: key.purpose });
      return { key: toKeyMessage(key) };
    }),
    ListKeys: unary<{ activeOnly: boolean }, unknown>(m('ListKeys'), env, async (req) => ({
      keys: (await keys.listKeys({ activeOnly: req.activeOnly })).map(toKeyMessage),
    })),
    GetKey: unary<{ key: string }, unknown>(m('GetKey'), env, async (req) => ({ key: toKeyMessage(await keys.getKey(req.key)) })),
    RotateKey: unary<{ key: string; overlapSeconds?: number | null; reason: string }, unknown>(m('RotateKey'), env, async (req, ctx) => {
      const overlapSeconds = rotationOverlap(req.overlapSeconds);
      const r = await keys.rotate(req.key, { ...(overlapSeconds !== undefined ? { overlapSeconds } : {}), ...(req.reason ? { reason: req.reason } : {}) }, actorOf(ctx));
      Object.assign(ctx.facts, { key: r.current.name, previousId: r.previous.id, keyId: r.current.id });
      return { previous: toKeyMessage(r.previous), current: toKeyMessage(r.current) };
    }),
    RevokeKey: unary<{ key: string; reason: string }, unknown>(m('RevokeKey'), env, async (req, ctx) => {
      const k = await keys.revoke(req.key, req.reason, actorOf(ctx));
      Object.assign(ctx.facts, { key: k.name, keyId: k.id, reason: req.reason });
      return { key: toKeyMessage(k) };
    }),
  };
}
