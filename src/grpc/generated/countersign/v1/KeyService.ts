// Original file: proto/countersign/v1/keys.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { CreateKeyRequest as _countersign_v1_CreateKeyRequest, CreateKeyRequest__Output as _countersign_v1_CreateKeyRequest__Output } from '../../countersign/v1/CreateKeyRequest';
import type { CreateKeyResponse as _countersign_v1_CreateKeyResponse, CreateKeyResponse__Output as _countersign_v1_CreateKeyResponse__Output } from '../../countersign/v1/CreateKeyResponse';
import type { GetKeyRequest as _countersign_v1_GetKeyRequest, GetKeyRequest__Output as _countersign_v1_GetKeyRequest__Output } from '../../countersign/v1/GetKeyRequest';
import type { GetKeyResponse as _countersign_v1_GetKeyResponse, GetKeyResponse__Output as _countersign_v1_GetKeyResponse__Output } from '../../countersign/v1/GetKeyResponse';
import type { ImportKeyRequest as _countersign_v1_ImportKeyRequest, ImportKeyRequest__Output as _countersign_v1_ImportKeyRequest__Output } from '../../countersign/v1/ImportKeyRequest';
import type { ImportKeyResponse as _countersign_v1_ImportKeyResponse, ImportKeyResponse__Output as _countersign_v1_ImportKeyResponse__Output } from '../../countersign/v1/ImportKeyResponse';
import type { ListKeysRequest as _countersign_v1_ListKeysRequest, ListKeysRequest__Output as _countersign_v1_ListKeysRequest__Output } from '../../countersign/v1/ListKeysRequest';
import type { ListKeysResponse as _countersign_v1_ListKeysResponse, ListKeysResponse__Output as _countersign_v1_ListKeysResponse__Output } from '../../countersign/v1/ListKeysResponse';
import type { RevokeKeyRequest as _countersign_v1_RevokeKeyRequest, RevokeKeyRequest__Output as _countersign_v1_RevokeKeyRequest__Output } from '../../countersign/v1/RevokeKeyRequest';
import type { RevokeKeyResponse as _countersign_v1_RevokeKeyResponse, RevokeKeyResponse__Output as _countersign_v1_RevokeKeyResponse__Output } from '../../countersign/v1/RevokeKeyResponse';
import type { RotateKeyRequest as _countersign_v1_RotateKeyRequest, RotateKeyRequest__Output as _countersign_v1_RotateKeyRequest__Output } from '../../countersign/v1/RotateKeyRequest';
import type { RotateKeyResponse as _countersign_v1_RotateKeyResponse, RotateKeyResponse__Output as _countersign_v1_RotateKeyResponse__Output } from '../../countersign/v1/RotateKeyResponse';

/**
 * KeyService is what security teams run: which keys may sign, for which repositories, which
 * public keys are trusted, and how keys are rotated and revoked. Every change is audited.
 * No call ever returns private key material.
 */
export interface KeyServiceClient extends grpc.Client {
  /**
   * Creates a service-held ECDSA P-256 signing key.
   */
  CreateKey(argument: _countersign_v1_CreateKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_CreateKeyResponse__Output>): grpc.ClientUnaryCall;
  CreateKey(argument: _countersign_v1_CreateKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_CreateKeyResponse__Output>): grpc.ClientUnaryCall;
  CreateKey(argument: _countersign_v1_CreateKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_CreateKeyResponse__Output>): grpc.ClientUnaryCall;
  CreateKey(argument: _countersign_v1_CreateKeyRequest, callback: grpc.requestCallback<_countersign_v1_CreateKeyResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Creates a service-held ECDSA P-256 signing key.
   */
  createKey(argument: _countersign_v1_CreateKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_CreateKeyResponse__Output>): grpc.ClientUnaryCall;
  createKey(argument: _countersign_v1_CreateKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_CreateKeyResponse__Output>): grpc.ClientUnaryCall;
  createKey(argument: _countersign_v1_CreateKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_CreateKeyResponse__Output>): grpc.ClientUnaryCall;
  createKey(argument: _countersign_v1_CreateKeyRequest, callback: grpc.requestCallback<_countersign_v1_CreateKeyResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * By name (the current version) or id.
   */
  GetKey(argument: _countersign_v1_GetKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_GetKeyResponse__Output>): grpc.ClientUnaryCall;
  GetKey(argument: _countersign_v1_GetKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_GetKeyResponse__Output>): grpc.ClientUnaryCall;
  GetKey(argument: _countersign_v1_GetKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_GetKeyResponse__Output>): grpc.ClientUnaryCall;
  GetKey(argument: _countersign_v1_GetKeyRequest, callback: grpc.requestCallback<_countersign_v1_GetKeyResponse__Output>): grpc.ClientUnaryCall;
  /**
   * By name (the current version) or id.
   */
  getKey(argument: _countersign_v1_GetKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_GetKeyResponse__Output>): grpc.ClientUnaryCall;
  getKey(argument: _countersign_v1_GetKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_GetKeyResponse__Output>): grpc.ClientUnaryCall;
  getKey(argument: _countersign_v1_GetKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_GetKeyResponse__Output>): grpc.ClientUnaryCall;
  getKey(argument: _countersign_v1_GetKeyRequest, callback: grpc.requestCallback<_countersign_v1_GetKeyResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Imports a trusted public key (PEM / cosign.pub), or a cosign encrypted private key
   * (ENCRYPTED SIGSTORE/COSIGN PRIVATE KEY) to sign with.
   */
  ImportKey(argument: _countersign_v1_ImportKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_ImportKeyResponse__Output>): grpc.ClientUnaryCall;
  ImportKey(argument: _countersign_v1_ImportKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_ImportKeyResponse__Output>): grpc.ClientUnaryCall;
  ImportKey(argument: _countersign_v1_ImportKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_ImportKeyResponse__Output>): grpc.ClientUnaryCall;
  ImportKey(argument: _countersign_v1_ImportKeyRequest, callback: grpc.requestCallback<_countersign_v1_ImportKeyResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Imports a trusted public key (PEM / cosign.pub), or a cosign encrypted private key
   * (ENCRYPTED SIGSTORE/COSIGN PRIVATE KEY) to sign with.
   */
  importKey(argument: _countersign_v1_ImportKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_ImportKeyResponse__Output>): grpc.ClientUnaryCall;
  importKey(argument: _countersign_v1_ImportKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_ImportKeyResponse__Output>): grpc.ClientUnaryCall;
  importKey(argument: _countersign_v1_ImportKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_ImportKeyResponse__Output>): grpc.ClientUnaryCall;
  importKey(argument: _countersign_v1_ImportKeyRequest, callback: grpc.requestCallback<_countersign_v1_ImportKeyResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Every key version, or only the active ones.
   */
  ListKeys(argument: _countersign_v1_ListKeysRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_ListKeysResponse__Output>): grpc.ClientUnaryCall;
  ListKeys(argument: _countersign_v1_ListKeysRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_ListKeysResponse__Output>): grpc.ClientUnaryCall;
  ListKeys(argument: _countersign_v1_ListKeysRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_ListKeysResponse__Output>): grpc.ClientUnaryCall;
  ListKeys(argument: _countersign_v1_ListKeysRequest, callback: grpc.requestCallback<_countersign_v1_ListKeysResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Every key version, or only the active ones.
   */
  listKeys(argument: _countersign_v1_ListKeysRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_ListKeysResponse__Output>): grpc.ClientUnaryCall;
  listKeys(argument: _countersign_v1_ListKeysRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_ListKeysResponse__Output>): grpc.ClientUnaryCall;
  listKeys(argument: _countersign_v1_ListKeysRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_ListKeysResponse__Output>): grpc.ClientUnaryCall;
  listKeys(argument: _countersign_v1_ListKeysRequest, callback: grpc.requestCallback<_countersign_v1_ListKeysResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Every signature by the key fails verification from now on, cached allows included.
   */
  RevokeKey(argument: _countersign_v1_RevokeKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_RevokeKeyResponse__Output>): grpc.ClientUnaryCall;
  RevokeKey(argument: _countersign_v1_RevokeKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_RevokeKeyResponse__Output>): grpc.ClientUnaryCall;
  RevokeKey(argument: _countersign_v1_RevokeKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_RevokeKeyResponse__Output>): grpc.ClientUnaryCall;
  RevokeKey(argument: _countersign_v1_RevokeKeyRequest, callback: grpc.requestCallback<_countersign_v1_RevokeKeyResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Every signature by the key fails verification from now on, cached allows included.
   */
  revokeKey(argument: _countersign_v1_RevokeKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_RevokeKeyResponse__Output>): grpc.ClientUnaryCall;
  revokeKey(argument: _countersign_v1_RevokeKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_RevokeKeyResponse__Output>): grpc.ClientUnaryCall;
  revokeKey(argument: _countersign_v1_RevokeKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_RevokeKeyResponse__Output>): grpc.ClientUnaryCall;
  revokeKey(argument: _countersign_v1_RevokeKeyRequest, callback: grpc.requestCallback<_countersign_v1_RevokeKeyResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Creates a successor that signs from now on; the old version keeps verifying for `overlap`.
   */
  RotateKey(argument: _countersign_v1_RotateKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  RotateKey(argument: _countersign_v1_RotateKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  RotateKey(argument: _countersign_v1_RotateKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  RotateKey(argument: _countersign_v1_RotateKeyRequest, callback: grpc.requestCallback<_countersign_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Creates a successor that signs from now on; the old version keeps verifying for `overlap`.
   */
  rotateKey(argument: _countersign_v1_RotateKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  rotateKey(argument: _countersign_v1_RotateKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  rotateKey(argument: _countersign_v1_RotateKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  rotateKey(argument: _countersign_v1_RotateKeyRequest, callback: grpc.requestCallback<_countersign_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  
}

/**
 * KeyService is what security teams run: which keys may sign, for which repositories, which
 * public keys are trusted, and how keys are rotated and revoked. Every change is audited.
 * No call ever returns private key material.
 */
export interface KeyServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Creates a service-held ECDSA P-256 signing key.
   */
  CreateKey: grpc.handleUnaryCall<_countersign_v1_CreateKeyRequest__Output, _countersign_v1_CreateKeyResponse>;
  
  /**
   * By name (the current version) or id.
   */
  GetKey: grpc.handleUnaryCall<_countersign_v1_GetKeyRequest__Output, _countersign_v1_GetKeyResponse>;
  
  /**
   * Imports a trusted public key (PEM / cosign.pub), or a cosign encrypted private key
   * (ENCRYPTED SIGSTORE/COSIGN PRIVATE KEY) to sign with.
   */
  ImportKey: grpc.handleUnaryCall<_countersign_v1_ImportKeyRequest__Output, _countersign_v1_ImportKeyResponse>;
  
  /**
   * Every key version, or only the active ones.
   */
  ListKeys: grpc.handleUnaryCall<_countersign_v1_ListKeysRequest__Output, _countersign_v1_ListKeysResponse>;
  
  /**
   * Every signature by the key fails verification from now on, cached allows included.
   */
  RevokeKey: grpc.handleUnaryCall<_countersign_v1_RevokeKeyRequest__Output, _countersign_v1_RevokeKeyResponse>;
  
  /**
   * Creates a successor that signs from now on; the old version keeps verifying for `overlap`.
   */
  RotateKey: grpc.handleUnaryCall<_countersign_v1_RotateKeyRequest__Output, _countersign_v1_RotateKeyResponse>;
  
}

export interface KeyServiceDefinition extends grpc.ServiceDefinition {
  CreateKey: MethodDefinition<_countersign_v1_CreateKeyRequest, _countersign_v1_CreateKeyResponse, _countersign_v1_CreateKeyRequest__Output, _countersign_v1_CreateKeyResponse__Output>
  GetKey: MethodDefinition<_countersign_v1_GetKeyRequest, _countersign_v1_GetKeyResponse, _countersign_v1_GetKeyRequest__Output, _countersign_v1_GetKeyResponse__Output>
  ImportKey: MethodDefinition<_countersign_v1_ImportKeyRequest, _countersign_v1_ImportKeyResponse, _countersign_v1_ImportKeyRequest__Output, _countersign_v1_ImportKeyResponse__Output>
  ListKeys: MethodDefinition<_countersign_v1_ListKeysRequest, _countersign_v1_ListKeysResponse, _countersign_v1_ListKeysRequest__Output, _countersign_v1_ListKeysResponse__Output>
  RevokeKey: MethodDefinition<_countersign_v1_RevokeKeyRequest, _countersign_v1_RevokeKeyResponse, _countersign_v1_RevokeKeyRequest__Output, _countersign_v1_RevokeKeyResponse__Output>
  RotateKey: MethodDefinition<_countersign_v1_RotateKeyRequest, _countersign_v1_RotateKeyResponse, _countersign_v1_RotateKeyRequest__Output, _countersign_v1_RotateKeyResponse__Output>
}
