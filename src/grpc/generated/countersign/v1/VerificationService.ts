// Original file: proto/countersign/v1/verification.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { VerifyBatchRequest as _countersign_v1_VerifyBatchRequest, VerifyBatchRequest__Output as _countersign_v1_VerifyBatchRequest__Output } from '../../countersign/v1/VerifyBatchRequest';
import type { VerifyBatchResponse as _countersign_v1_VerifyBatchResponse, VerifyBatchResponse__Output as _countersign_v1_VerifyBatchResponse__Output } from '../../countersign/v1/VerifyBatchResponse';
import type { VerifyRequest as _countersign_v1_VerifyRequest, VerifyRequest__Output as _countersign_v1_VerifyRequest__Output } from '../../countersign/v1/VerifyRequest';
import type { VerifyResponse as _countersign_v1_VerifyResponse, VerifyResponse__Output as _countersign_v1_VerifyResponse__Output } from '../../countersign/v1/VerifyResponse';

/**
 * VerificationService is what admission points call: a Kubernetes validating webhook before a
 * Pod runs, a registry gate before a push is accepted or a pull is served. Every answer says why.
 */
export interface VerificationServiceClient extends grpc.Client {
  /**
   * Verify one image for one action.
   */
  Verify(argument: _countersign_v1_VerifyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  Verify(argument: _countersign_v1_VerifyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  Verify(argument: _countersign_v1_VerifyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  Verify(argument: _countersign_v1_VerifyRequest, callback: grpc.requestCallback<_countersign_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Verify one image for one action.
   */
  verify(argument: _countersign_v1_VerifyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  verify(argument: _countersign_v1_VerifyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  verify(argument: _countersign_v1_VerifyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  verify(argument: _countersign_v1_VerifyRequest, callback: grpc.requestCallback<_countersign_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Verify all images of a workload in parallel under one deadline. Allowed only if every image is.
   */
  VerifyBatch(argument: _countersign_v1_VerifyBatchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_VerifyBatchResponse__Output>): grpc.ClientUnaryCall;
  VerifyBatch(argument: _countersign_v1_VerifyBatchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_VerifyBatchResponse__Output>): grpc.ClientUnaryCall;
  VerifyBatch(argument: _countersign_v1_VerifyBatchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_VerifyBatchResponse__Output>): grpc.ClientUnaryCall;
  VerifyBatch(argument: _countersign_v1_VerifyBatchRequest, callback: grpc.requestCallback<_countersign_v1_VerifyBatchResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Verify all images of a workload in parallel under one deadline. Allowed only if every image is.
   */
  verifyBatch(argument: _countersign_v1_VerifyBatchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_VerifyBatchResponse__Output>): grpc.ClientUnaryCall;
  verifyBatch(argument: _countersign_v1_VerifyBatchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_VerifyBatchResponse__Output>): grpc.ClientUnaryCall;
  verifyBatch(argument: _countersign_v1_VerifyBatchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_VerifyBatchResponse__Output>): grpc.ClientUnaryCall;
  verifyBatch(argument: _countersign_v1_VerifyBatchRequest, callback: grpc.requestCallback<_countersign_v1_VerifyBatchResponse__Output>): grpc.ClientUnaryCall;
  
}

/**
 * VerificationService is what admission points call: a Kubernetes validating webhook before a
 * Pod runs, a registry gate before a push is accepted or a pull is served. Every answer says why.
 */
export interface VerificationServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Verify one image for one action.
   */
  Verify: grpc.handleUnaryCall<_countersign_v1_VerifyRequest__Output, _countersign_v1_VerifyResponse>;
  
  /**
   * Verify all images of a workload in parallel under one deadline. Allowed only if every image is.
   */
  VerifyBatch: grpc.handleUnaryCall<_countersign_v1_VerifyBatchRequest__Output, _countersign_v1_VerifyBatchResponse>;
  
}

export interface VerificationServiceDefinition extends grpc.ServiceDefinition {
  Verify: MethodDefinition<_countersign_v1_VerifyRequest, _countersign_v1_VerifyResponse, _countersign_v1_VerifyRequest__Output, _countersign_v1_VerifyResponse__Output>
  VerifyBatch: MethodDefinition<_countersign_v1_VerifyBatchRequest, _countersign_v1_VerifyBatchResponse, _countersign_v1_VerifyBatchRequest__Output, _countersign_v1_VerifyBatchResponse__Output>
}
