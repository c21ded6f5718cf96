// Original file: proto/countersign/v1/signing.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { AttestRequest as _countersign_v1_AttestRequest, AttestRequest__Output as _countersign_v1_AttestRequest__Output } from '../../countersign/v1/AttestRequest';
import type { AttestResponse as _countersign_v1_AttestResponse, AttestResponse__Output as _countersign_v1_AttestResponse__Output } from '../../countersign/v1/AttestResponse';
import type { SignRequest as _countersign_v1_SignRequest, SignRequest__Output as _countersign_v1_SignRequest__Output } from '../../countersign/v1/SignRequest';
import type { SignResponse as _countersign_v1_SignResponse, SignResponse__Output as _countersign_v1_SignResponse__Output } from '../../countersign/v1/SignResponse';

/**
 * SigningService is what CI calls after it pushes an image. Signatures and attestations are
 * stored in the registry itself, as OCI 1.1 referrers of the image manifest (Sigstore bundle
 * v0.3, laid out as cosign v3 does), so any OCI-aware tool can find and verify them.
 */
export interface SigningServiceClient extends grpc.Client {
  /**
   * Attest signs an in-toto statement carrying a predicate (SBOM, vulnerability scan, ...)
   * about the image digest.
   */
  Attest(argument: _countersign_v1_AttestRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_AttestResponse__Output>): grpc.ClientUnaryCall;
  Attest(argument: _countersign_v1_AttestRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_AttestResponse__Output>): grpc.ClientUnaryCall;
  Attest(argument: _countersign_v1_AttestRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_AttestResponse__Output>): grpc.ClientUnaryCall;
  Attest(argument: _countersign_v1_AttestRequest, callback: grpc.requestCallback<_countersign_v1_AttestResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Attest signs an in-toto statement carrying a predicate (SBOM, vulnerability scan, ...)
   * about the image digest.
   */
  attest(argument: _countersign_v1_AttestRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_AttestResponse__Output>): grpc.ClientUnaryCall;
  attest(argument: _countersign_v1_AttestRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_AttestResponse__Output>): grpc.ClientUnaryCall;
  attest(argument: _countersign_v1_AttestRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_AttestResponse__Output>): grpc.ClientUnaryCall;
  attest(argument: _countersign_v1_AttestRequest, callback: grpc.requestCallback<_countersign_v1_AttestResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Sign resolves the image to its manifest digest and signs that digest with the named key.
   */
  Sign(argument: _countersign_v1_SignRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_SignResponse__Output>): grpc.ClientUnaryCall;
  Sign(argument: _countersign_v1_SignRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_SignResponse__Output>): grpc.ClientUnaryCall;
  Sign(argument: _countersign_v1_SignRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_SignResponse__Output>): grpc.ClientUnaryCall;
  Sign(argument: _countersign_v1_SignRequest, callback: grpc.requestCallback<_countersign_v1_SignResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Sign resolves the image to its manifest digest and signs that digest with the named key.
   */
  sign(argument: _countersign_v1_SignRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_SignResponse__Output>): grpc.ClientUnaryCall;
  sign(argument: _countersign_v1_SignRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_SignResponse__Output>): grpc.ClientUnaryCall;
  sign(argument: _countersign_v1_SignRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_SignResponse__Output>): grpc.ClientUnaryCall;
  sign(argument: _countersign_v1_SignRequest, callback: grpc.requestCallback<_countersign_v1_SignResponse__Output>): grpc.ClientUnaryCall;
  
}

/**
 * SigningService is what CI calls after it pushes an image. Signatures and attestations are
 * stored in the registry itself, as OCI 1.1 referrers of the image manifest (Sigstore bundle
 * v0.3, laid out as cosign v3 does), so any OCI-aware tool can find and verify them.
 */
export interface SigningServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Attest signs an in-toto statement carrying a predicate (SBOM, vulnerability scan, ...)
   * about the image digest.
   */
  Attest: grpc.handleUnaryCall<_countersign_v1_AttestRequest__Output, _countersign_v1_AttestResponse>;
  
  /**
   * Sign resolves the image to its manifest digest and signs that digest with the named key.
   */
  Sign: grpc.handleUnaryCall<_countersign_v1_SignRequest__Output, _countersign_v1_SignResponse>;
  
}

export interface SigningServiceDefinition extends grpc.ServiceDefinition {
  Attest: MethodDefinition<_countersign_v1_AttestRequest, _countersign_v1_AttestResponse, _countersign_v1_AttestRequest__Output, _countersign_v1_AttestResponse__Output>
  Sign: MethodDefinition<_countersign_v1_SignRequest, _countersign_v1_SignResponse, _countersign_v1_SignRequest__Output, _countersign_v1_SignResponse__Output>
}
