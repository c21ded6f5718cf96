// Original file: proto/countersign/v1/policy.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { GetPolicyRequest as _countersign_v1_GetPolicyRequest, GetPolicyRequest__Output as _countersign_v1_GetPolicyRequest__Output } from '../../countersign/v1/GetPolicyRequest';
import type { GetPolicyResponse as _countersign_v1_GetPolicyResponse, GetPolicyResponse__Output as _countersign_v1_GetPolicyResponse__Output } from '../../countersign/v1/GetPolicyResponse';
import type { SetPolicyRequest as _countersign_v1_SetPolicyRequest, SetPolicyRequest__Output as _countersign_v1_SetPolicyRequest__Output } from '../../countersign/v1/SetPolicyRequest';
import type { SetPolicyResponse as _countersign_v1_SetPolicyResponse, SetPolicyResponse__Output as _countersign_v1_SetPolicyResponse__Output } from '../../countersign/v1/SetPolicyResponse';

/**
 * PolicyService reads and changes the image policy (what may be deployed, pulled or pushed).
 * Without a policy file in the configuration the policy lives in the store: a change made through
 * any replica takes effect on every replica sharing that store. With a policy file, the file is
 * the one source of truth and SetPolicy is refused.
 */
export interface PolicyServiceClient extends grpc.Client {
  /**
   * The policy in force: its text, revision, where it comes from and who set it when.
   */
  GetPolicy(argument: _countersign_v1_GetPolicyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_GetPolicyResponse__Output>): grpc.ClientUnaryCall;
  GetPolicy(argument: _countersign_v1_GetPolicyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_GetPolicyResponse__Output>): grpc.ClientUnaryCall;
  GetPolicy(argument: _countersign_v1_GetPolicyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_GetPolicyResponse__Output>): grpc.ClientUnaryCall;
  GetPolicy(argument: _countersign_v1_GetPolicyRequest, callback: grpc.requestCallback<_countersign_v1_GetPolicyResponse__Output>): grpc.ClientUnaryCall;
  /**
   * The policy in force: its text, revision, where it comes from and who set it when.
   */
  getPolicy(argument: _countersign_v1_GetPolicyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_GetPolicyResponse__Output>): grpc.ClientUnaryCall;
  getPolicy(argument: _countersign_v1_GetPolicyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_GetPolicyResponse__Output>): grpc.ClientUnaryCall;
  getPolicy(argument: _countersign_v1_GetPolicyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_GetPolicyResponse__Output>): grpc.ClientUnaryCall;
  getPolicy(argument: _countersign_v1_GetPolicyRequest, callback: grpc.requestCallback<_countersign_v1_GetPolicyResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Validates and stores a new policy (audited); in force on this replica when the call returns.
   */
  SetPolicy(argument: _countersign_v1_SetPolicyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_SetPolicyResponse__Output>): grpc.ClientUnaryCall;
  SetPolicy(argument: _countersign_v1_SetPolicyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_SetPolicyResponse__Output>): grpc.ClientUnaryCall;
  SetPolicy(argument: _countersign_v1_SetPolicyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_SetPolicyResponse__Output>): grpc.ClientUnaryCall;
  SetPolicy(argument: _countersign_v1_SetPolicyRequest, callback: grpc.requestCallback<_countersign_v1_SetPolicyResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Validates and stores a new policy (audited); in force on this replica when the call returns.
   */
  setPolicy(argument: _countersign_v1_SetPolicyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_SetPolicyResponse__Output>): grpc.ClientUnaryCall;
  setPolicy(argument: _countersign_v1_SetPolicyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_countersign_v1_SetPolicyResponse__Output>): grpc.ClientUnaryCall;
  setPolicy(argument: _countersign_v1_SetPolicyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_countersign_v1_SetPolicyResponse__Output>): grpc.ClientUnaryCall;
  setPolicy(argument: _countersign_v1_SetPolicyRequest, callback: grpc.requestCallback<_countersign_v1_SetPolicyResponse__Output>): grpc.ClientUnaryCall;
  
}

/**
 * PolicyService reads and changes the image policy (what may be deployed, pulled or pushed).
 * Without a policy file in the configuration the policy lives in the store: a change made through
 * any replica takes effect on every replica sharing that store. With a policy file, the file is
 * the one source of truth and SetPolicy is refused.
 */
export interface PolicyServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * The policy in force: its text, revision, where it comes from and who set it when.
   */
  GetPolicy: grpc.handleUnaryCall<_countersign_v1_GetPolicyRequest__Output, _countersign_v1_GetPolicyResponse>;
  
  /**
   * Validates and stores a new policy (audited); in force on this replica when the call returns.
   */
  SetPolicy: grpc.handleUnaryCall<_countersign_v1_SetPolicyRequest__Output, _countersign_v1_SetPolicyResponse>;
  
}

export interface PolicyServiceDefinition extends grpc.ServiceDefinition {
  GetPolicy: MethodDefinition<_countersign_v1_GetPolicyRequest, _countersign_v1_GetPolicyResponse, _countersign_v1_GetPolicyRequest__Output, _countersign_v1_GetPolicyResponse__Output>
  SetPolicy: MethodDefinition<_countersign_v1_SetPolicyRequest, _countersign_v1_SetPolicyResponse, _countersign_v1_SetPolicyRequest__Output, _countersign_v1_SetPolicyResponse__Output>
}
