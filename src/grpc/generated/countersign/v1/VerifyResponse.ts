// Original file: proto/countersign/v1/verification.proto

import type { Mode as _countersign_v1_Mode, Mode__Output as _countersign_v1_Mode__Output } from '../../countersign/v1/Mode';
import type { RequirementResult as _countersign_v1_RequirementResult, RequirementResult__Output as _countersign_v1_RequirementResult__Output } from '../../countersign/v1/RequirementResult';
import type { Evidence as _countersign_v1_Evidence, Evidence__Output as _countersign_v1_Evidence__Output } from '../../countersign/v1/Evidence';

/**
 * The decision for one image, with its reasons.
 */
export interface VerifyResponse {
  /**
   * The answer: true = allow.
   */
  'allowed'?: (boolean);
  /**
   * The image as asked (normalized).
   */
  'image'?: (string);
  /**
   * The digest we resolved and verified (empty when it could not be resolved).
   */
  'digest'?: (string);
  /**
   * The deciding rule's mode.
   */
  'mode'?: (_countersign_v1_Mode);
  /**
   * The rule that decided: its name, "exception:<n>", "(default)" or "(unmatched)".
   */
  'rule'?: (string);
  /**
   * Every requirement of the deciding rule, checked.
   */
  'requirements'?: (_countersign_v1_RequirementResult)[];
  /**
   * Every signature and attestation found, verified or not.
   */
  'evidence'?: (_countersign_v1_Evidence)[];
  /**
   * Revision of the policy in force (a hash of the policy file).
   */
  'policyRevision'?: (string);
  /**
   * Revision of the trusted keys in force.
   */
  'trustRevision'?: (string);
  /**
   * True when the evidence came from the cache (the policy is evaluated on every call).
   */
  'cached'?: (boolean);
  /**
   * Failing requirements of a warn-mode rule, and other notes for the caller.
   */
  'warnings'?: (string)[];
  /**
   * One line per reason for the answer, for display (kubectl, CI logs).
   */
  'reasons'?: (string)[];
}

/**
 * The decision for one image, with its reasons.
 */
export interface VerifyResponse__Output {
  /**
   * The answer: true = allow.
   */
  'allowed': (boolean);
  /**
   * The image as asked (normalized).
   */
  'image': (string);
  /**
   * The digest we resolved and verified (empty when it could not be resolved).
   */
  'digest': (string);
  /**
   * The deciding rule's mode.
   */
  'mode': (_countersign_v1_Mode__Output);
  /**
   * The rule that decided: its name, "exception:<n>", "(default)" or "(unmatched)".
   */
  'rule': (string);
  /**
   * Every requirement of the deciding rule, checked.
   */
  'requirements': (_countersign_v1_RequirementResult__Output)[];
  /**
   * Every signature and attestation found, verified or not.
   */
  'evidence': (_countersign_v1_Evidence__Output)[];
  /**
   * Revision of the policy in force (a hash of the policy file).
   */
  'policyRevision': (string);
  /**
   * Revision of the trusted keys in force.
   */
  'trustRevision': (string);
  /**
   * True when the evidence came from the cache (the policy is evaluated on every call).
   */
  'cached': (boolean);
  /**
   * Failing requirements of a warn-mode rule, and other notes for the caller.
   */
  'warnings': (string)[];
  /**
   * One line per reason for the answer, for display (kubectl, CI logs).
   */
  'reasons': (string)[];
}
