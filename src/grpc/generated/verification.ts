import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { Evidence as _countersign_v1_Evidence, Evidence__Output as _countersign_v1_Evidence__Output } from './countersign/v1/Evidence';
import type { RequirementResult as _countersign_v1_RequirementResult, RequirementResult__Output as _countersign_v1_RequirementResult__Output } from './countersign/v1/RequirementResult';
import type { SignerIdentity as _countersign_v1_SignerIdentity, SignerIdentity__Output as _countersign_v1_SignerIdentity__Output } from './countersign/v1/SignerIdentity';
import type { VerificationServiceClient as _countersign_v1_VerificationServiceClient, VerificationServiceDefinition as _countersign_v1_VerificationServiceDefinition } from './countersign/v1/VerificationService';
import type { VerifyBatchRequest as _countersign_v1_VerifyBatchRequest, VerifyBatchRequest__Output as _countersign_v1_VerifyBatchRequest__Output } from './countersign/v1/VerifyBatchRequest';
import type { VerifyBatchResponse as _countersign_v1_VerifyBatchResponse, VerifyBatchResponse__Output as _countersign_v1_VerifyBatchResponse__Output } from './countersign/v1/VerifyBatchResponse';
import type { VerifyContext as _countersign_v1_VerifyContext, VerifyContext__Output as _countersign_v1_VerifyContext__Output } from './countersign/v1/VerifyContext';
import type { VerifyRequest as _countersign_v1_VerifyRequest, VerifyRequest__Output as _countersign_v1_VerifyRequest__Output } from './countersign/v1/VerifyRequest';
import type { VerifyResponse as _countersign_v1_VerifyResponse, VerifyResponse__Output as _countersign_v1_VerifyResponse__Output } from './countersign/v1/VerifyResponse';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  countersign: {
    v1: {
      Action: EnumTypeDefinition
      Evidence: MessageTypeDefinition<_countersign_v1_Evidence, _countersign_v1_Evidence__Output>
      Mode: EnumTypeDefinition
      RequirementResult: MessageTypeDefinition<_countersign_v1_RequirementResult, _countersign_v1_RequirementResult__Output>
      SignerIdentity: MessageTypeDefinition<_countersign_v1_SignerIdentity, _countersign_v1_SignerIdentity__Output>
      /**
       * VerificationService is what admission points call: a Kubernetes validating webhook before a
       * Pod runs, a registry gate before a push is accepted or a pull is served. Every answer says why.
       */
      VerificationService: SubtypeConstructor<typeof grpc.Client, _countersign_v1_VerificationServiceClient> & { service: _countersign_v1_VerificationServiceDefinition }
      VerifyBatchRequest: MessageTypeDefinition<_countersign_v1_VerifyBatchRequest, _countersign_v1_VerifyBatchRequest__Output>
      VerifyBatchResponse: MessageTypeDefinition<_countersign_v1_VerifyBatchResponse, _countersign_v1_VerifyBatchResponse__Output>
      VerifyContext: MessageTypeDefinition<_countersign_v1_VerifyContext, _countersign_v1_VerifyContext__Output>
      VerifyRequest: MessageTypeDefinition<_countersign_v1_VerifyRequest, _countersign_v1_VerifyRequest__Output>
      VerifyResponse: MessageTypeDefinition<_countersign_v1_VerifyResponse, _countersign_v1_VerifyResponse__Output>
    }
  }
}

