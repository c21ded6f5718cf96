import type * as grpc from '@grpc/grpc-js';
import type { PolicyInfo, PolicySource, PolicyStore } from '../policy-store';
import { unary, type HandlerEnv } from './unary';
import type { ActorOf } from './key-handlers';
import type { GetPolicyRequest__Output } from './generated/countersign/v1/GetPolicyRequest';
import type { GetPolicyResponse } from './generated/countersign/v1/GetPolicyResponse';
import type { Policy as WirePolicy } from './generated/countersign/v1/Policy';
import type { PolicySource as WirePolicySource } from './generated/countersign/v1/PolicySource';
import type { SetPolicyRequest__Output } from './generated/countersign/v1/SetPolicyRequest';
import type { SetPolicyResponse } from './generated/countersign/v1/SetPolicyResponse';
import { toTimestamp } from './wire-time';

const SOURCES: Record<PolicySource, WirePolicySource> = {
  file: 'POLICY_SOURCE_FILE',
  store: 'POLICY_SOURCE_STORE',
  none: 'POLICY_SOURCE_NONE',
};

export function toPolicyMessage(info: PolicyInfo): WirePolicy {
  return {
    revision: info.policy.revision,
    source: SOURCES[info.source],
    text: info.text ?? '',
    file: info.file ?? '',
    setBy: info.setBy ?? '',
    setTime: toTimestamp(info.setAt),
  };
}

/** PolicyService: changes are attributed to the authenticated caller (the audit trail's "who"). */
export function policyHandlers(policies: PolicyStore, env: HandlerEnv, actorOf: ActorOf): grpc.UntypedServiceImplementation {
  const m = (name: string) => `countersign.v1.PolicyService/${name}`;
  return {
    GetPolicy: unary<GetPolicyRequest__Output, GetPolicyResponse>(m('GetPolicy'), env, async () => ({
      policy: toPolicyMessage(policies.info()),
    })),
    SetPolicy: unary<SetPolicyRequest__Output, SetPolicyResponse>(m('SetPolicy'), env, async (req, ctx) => {
      // proto3 `optional`: presence, not emptiness, says whether compare-and-set was asked for.
      const expected = req._expectedRevision === 'expectedRevision' ? req.expectedRevision : undefined;
      const r = await policies.set({
        text: req.text,
        actor: actorOf(ctx),
        ...(expected !== undefined ? { expectedRevision: expected } : {}),
      });
      Object.assign(ctx.facts, { policyRevision: r.info.policy.revision, previousRevision: r.previousRevision });
      return { policy: toPolicyMessage(r.info), previousRevision: r.previousRevision };
    }),
  };
}
