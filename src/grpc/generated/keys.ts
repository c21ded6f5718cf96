import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { CreateKeyRequest as _countersign_v1_CreateKeyRequest, CreateKeyRequest__Output as _countersign_v1_CreateKeyRequest__Output } from './countersign/v1/CreateKeyRequest';
import type { CreateKeyResponse as _countersign_v1_CreateKeyResponse, CreateKeyResponse__Output as _countersign_v1_CreateKeyResponse__Output } from './countersign/v1/CreateKeyResponse';
import type { GetKeyRequest as _countersign_v1_GetKeyRequest, GetKeyRequest__Output as _countersign_v1_GetKeyRequest__Output } from './countersign/v1/GetKeyRequest';
import type { GetKeyResponse as _countersign_v1_GetKeyResponse, GetKeyResponse__Output as _countersign_v1_GetKeyResponse__Output } from './countersign/v1/GetKeyResponse';
import type { ImportKeyRequest as _countersign_v1_ImportKeyRequest, ImportKeyRequest__Output as _countersign_v1_ImportKeyRequest__Output } from './countersign/v1/ImportKeyRequest';
import type { ImportKeyResponse as _countersign_v1_ImportKeyResponse, ImportKeyResponse__Output as _countersign_v1_ImportKeyResponse__Output } from './countersign/v1/ImportKeyResponse';
import type { Key as _countersign_v1_Key, Key__Output as _countersign_v1_Key__Output } from './countersign/v1/Key';
import type { KeyCertificate as _countersign_v1_KeyCertificate, KeyCertificate__Output as _countersign_v1_KeyCertificate__Output } from './countersign/v1/KeyCertificate';
import type { KeyServiceClient as _countersign_v1_KeyServiceClient, KeyServiceDefinition as _countersign_v1_KeyServiceDefinition } from './countersign/v1/KeyService';
import type { ListKeysRequest as _countersign_v1_ListKeysRequest, ListKeysRequest__Output as _countersign_v1_ListKeysRequest__Output } from './countersign/v1/ListKeysRequest';
import type { ListKeysResponse as _countersign_v1_ListKeysResponse, ListKeysResponse__Output as _countersign_v1_ListKeysResponse__Output } from './countersign/v1/ListKeysResponse';
import type { RevokeKeyRequest as _countersign_v1_RevokeKeyRequest, RevokeKeyRequest__Output as _countersign_v1_RevokeKeyRequest__Output } from './countersign/v1/RevokeKeyRequest';
import type { RevokeKeyResponse as _countersign_v1_RevokeKeyResponse, RevokeKeyResponse__Output as _countersign_v1_RevokeKeyResponse__Output } from './countersign/v1/RevokeKeyResponse';
import type { RotateKeyRequest as _countersign_v1_RotateKeyRequest, RotateKeyRequest__Output as _countersign_v1_RotateKeyRequest__Output } from './countersign/v1/RotateKeyRequest';
import type { RotateKeyResponse as _countersign_v1_RotateKeyResponse, RotateKeyResponse__Output as _countersign_v1_RotateKeyResponse__Output } from './countersign/v1/RotateKeyResponse';
import type { Duration as _google_protobuf_Duration, Duration__Output as _google_protobuf_Duration__Output } from './google/protobuf/Duration';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from './google/protobuf/Timestamp';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  countersign: {
    v1: {
      CreateKeyRequest: MessageTypeDefinition<_countersign_v1_CreateKeyRequest, _countersign_v1_CreateKeyRequest__Output>
      CreateKeyResponse: MessageTypeDefinition<_countersign_v1_CreateKeyResponse, _countersign_v1_CreateKeyResponse__Output>
      GetKeyRequest: MessageTypeDefinition<_countersign_v1_GetKeyRequest, _countersign_v1_GetKeyRequest__Output>
      GetKeyResponse: MessageTypeDefinition<_countersign_v1_GetKeyResponse, _countersign_v1_GetKeyResponse__Output>
      ImportKeyRequest: MessageTypeDefinition<_countersign_v1_ImportKeyRequest, _countersign_v1_ImportKeyRequest__Output>
      ImportKeyResponse: MessageTypeDefinition<_countersign_v1_ImportKeyResponse, _countersign_v1_ImportKeyResponse__Output>
      Key: MessageTypeDefinition<_countersign_v1_Key, _countersign_v1_Key__Output>
      KeyCertificate: MessageTypeDefinition<_countersign_v1_KeyCertificate, _countersign_v1_KeyCertificate__Output>
      KeyPurpose: EnumTypeDefinition
      /**
       * KeyService is what security teams run: which keys may sign, for which repositories, which
       * public keys are trusted, and how keys are rotated and revoked. Every change is audited.
       * No call ever returns private key material.
       */
      KeyService: SubtypeConstructor<typeof grpc.Client, _countersign_v1_KeyServiceClient> & { service: _countersign_v1_KeyServiceDefinition }
      KeyState: EnumTypeDefinition
      ListKeysRequest: MessageTypeDefinition<_countersign_v1_ListKeysRequest, _countersign_v1_ListKeysRequest__Output>
      ListKeysResponse: MessageTypeDefinition<_countersign_v1_ListKeysResponse, _countersign_v1_ListKeysResponse__Output>
      RevokeKeyRequest: MessageTypeDefinition<_countersign_v1_RevokeKeyRequest, _countersign_v1_RevokeKeyRequest__Output>
      RevokeKeyResponse: MessageTypeDefinition<_countersign_v1_RevokeKeyResponse, _countersign_v1_RevokeKeyResponse__Output>
      RotateKeyRequest: MessageTypeDefinition<_countersign_v1_RotateKeyRequest, _countersign_v1_RotateKeyRequest__Output>
      RotateKeyResponse: MessageTypeDefinition<_countersign_v1_RotateKeyResponse, _countersign_v1_RotateKeyResponse__Output>
    }
  }
  google: {
    protobuf: {
      Duration: MessageTypeDefinition<_google_protobuf_Duration, _google_protobuf_Duration__Output>
      Timestamp: MessageTypeDefinition<_google_protobuf_Timestamp, _google_protobuf_Timestamp__Output>
    }
  }
}

