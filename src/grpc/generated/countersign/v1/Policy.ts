// Original file: proto/countersign/v1/policy.proto

import type { PolicySource as _countersign_v1_PolicySource, PolicySource__Output as _countersign_v1_PolicySource__Output } from '../../countersign/v1/PolicySource';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../google/protobuf/Timestamp';

/**
 * The policy in force.
 */
export interface Policy {
  /**
   * Content id of the policy (12 hex digits, or "default" for the built-in one); what
   * SetPolicyRequest.expected_revision compares against.
   */
  'revision'?: (string);
  /**
   * File, store or none.
   */
  'source'?: (_countersign_v1_PolicySource);
  /**
   * The policy text (YAML) as given; empty for the built-in default.
   */
  'text'?: (string);
  /**
   * The policy file's path (source file only).
   */
  'file'?: (string);
  /**
   * Who set it through SetPolicy (source store only): the authenticated caller.
   */
  'setBy'?: (string);
  /**
   * When it was set through SetPolicy (source store only).
   */
  'setTime'?: (_google_protobuf_Timestamp | null);
}

/**
 * The policy in force.
 */
export interface Policy__Output {
  /**
   * Content id of the policy (12 hex digits, or "default" for the built-in one); what
   * SetPolicyRequest.expected_revision compares against.
   */
  'revision': (string);
  /**
   * File, store or none.
   */
  'source': (_countersign_v1_PolicySource__Output);
  /**
   * The policy text (YAML) as given; empty for the built-in default.
   */
  'text': (string);
  /**
   * The policy file's path (source file only).
   */
  'file': (string);
  /**
   * Who set it through SetPolicy (source store only): the authenticated caller.
   */
  'setBy': (string);
  /**
   * When it was set through SetPolicy (source store only).
   */
  'setTime': (_google_protobuf_Timestamp__Output | null);
}
