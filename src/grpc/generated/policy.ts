import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { GetPolicyRequest as _countersign_v1_GetPolicyRequest, GetPolicyRequest__Output as _countersign_v1_GetPolicyRequest__Output } from './countersign/v1/GetPolicyRequest';
import type { GetPolicyResponse as _countersign_v1_GetPolicyResponse, GetPolicyResponse__Output as _countersign_v1_GetPolicyResponse__Output } from './countersign/v1/GetPolicyResponse';
import type { Policy as _countersign_v1_Policy, Policy__Output as _countersign_v1_Policy__Output } from './countersign/v1/Policy';
import type { PolicyServiceClient as _countersign_v1_PolicyServiceClient, PolicyServiceDefinition as _countersign_v1_PolicyServiceDefinition } from './countersign/v1/PolicyService';
import type { SetPolicyRequest as _countersign_v1_SetPolicyRequest, SetPolicyRequest__Output as _countersign_v1_SetPolicyRequest__Output } from './countersign/v1/SetPolicyRequest';
import type { SetPolicyResponse as _countersign_v1_SetPolicyResponse, SetPolicyResponse__Output as _countersign_v1_SetPolicyResponse__Output } from './countersign/v1/SetPolicyResponse';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from './google/protobuf/Timestamp';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  countersign: {
    v1: {
      GetPolicyRequest: MessageTypeDefinition<_countersign_v1_GetPolicyRequest, _countersign_v1_GetPolicyRequest__Output>
      GetPolicyResponse: MessageTypeDefinition<_countersign_v1_GetPolicyResponse, _countersign_v1_GetPolicyResponse__Output>
      Policy: MessageTypeDefinition<_countersign_v1_Policy, _countersign_v1_Policy__Output>
      /**
       * PolicyService reads and changes the image policy (what may be deployed, pulled or pushed).
       * Without a policy file in the configuration the policy lives in the store: a change made through
       * any replica takes effect on every replica sharing that store. With a policy file, the file is
       * the one source of truth and SetPolicy is refused.
       */
      PolicyService: SubtypeConstructor<typeof grpc.Client, _countersign_v1_PolicyServiceClient> & { service: _countersign_v1_PolicyServiceDefinition }
      PolicySource: EnumTypeDefinition
      SetPolicyRequest: MessageTypeDefinition<_countersign_v1_SetPolicyRequest, _countersign_v1_SetPolicyRequest__Output>
      SetPolicyResponse: MessageTypeDefinition<_countersign_v1_SetPolicyResponse, _countersign_v1_SetPolicyResponse__Output>
    }
  }
  google: {
    protobuf: {
      Timestamp: MessageTypeDefinition<_google_protobuf_Timestamp, _google_protobuf_Timestamp__Output>
    }
  }
}

