import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { AttestRequest as _countersign_v1_AttestRequest, AttestRequest__Output as _countersign_v1_AttestRequest__Output } from './countersign/v1/AttestRequest';
import type { AttestResponse as _countersign_v1_AttestResponse, AttestResponse__Output as _countersign_v1_AttestResponse__Output } from './countersign/v1/AttestResponse';
import type { SignRequest as _countersign_v1_SignRequest, SignRequest__Output as _countersign_v1_SignRequest__Output } from './countersign/v1/SignRequest';
import type { SignResponse as _countersign_v1_SignResponse, SignResponse__Output as _countersign_v1_SignResponse__Output } from './countersign/v1/SignResponse';
import type { SignedArtifact as _countersign_v1_SignedArtifact, SignedArtifact__Output as _countersign_v1_SignedArtifact__Output } from './countersign/v1/SignedArtifact';
import type { SigningServiceClient as _countersign_v1_SigningServiceClient, SigningServiceDefinition as _countersign_v1_SigningServiceDefinition } from './countersign/v1/SigningService';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from './google/protobuf/Timestamp';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  countersign: {
    v1: {
      AttestRequest: MessageTypeDefinition<_countersign_v1_AttestRequest, _countersign_v1_AttestRequest__Output>
      AttestResponse: MessageTypeDefinition<_countersign_v1_AttestResponse, _countersign_v1_AttestResponse__Output>
      SignRequest: MessageTypeDefinition<_countersign_v1_SignRequest, _countersign_v1_SignRequest__Output>
      SignResponse: MessageTypeDefinition<_countersign_v1_SignResponse, _countersign_v1_SignResponse__Output>
      SignedArtifact: MessageTypeDefinition<_countersign_v1_SignedArtifact, _countersign_v1_SignedArtifact__Output>
      /**
       * SigningService is what CI calls after it pushes an image. Signatures and attestations are
       * stored in the registry itself, as OCI 1.1 referrers of the image manifest (Sigstore bundle
       * v0.3, laid out as cosign v3 does), so any OCI-aware tool can find and verify them.
       */
      SigningService: SubtypeConstructor<typeof grpc.Client, _countersign_v1_SigningServiceClient> & { service: _countersign_v1_SigningServiceDefinition }
    }
  }
  google: {
    protobuf: {
      Timestamp: MessageTypeDefinition<_google_protobuf_Timestamp, _google_protobuf_Timestamp__Output>
    }
  }
}

