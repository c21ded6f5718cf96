// Original file: proto/countersign/v1/verification.proto

/**
 * What the caller is about to do with the image; policy rules match on it.
 */
export const Action = {
  /**
   * Not a valid action: INVALID_ARGUMENT.
   */
  ACTION_UNSPECIFIED: 'ACTION_UNSPECIFIED',
  /**
   * The image is being pushed (a registry gate).
   */
  ACTION_PUSH: 'ACTION_PUSH',
  /**
   * The image is being pulled (a registry gate).
   */
  ACTION_PULL: 'ACTION_PULL',
  /**
   * The image is about to run (the admission webhook, CD).
   */
  ACTION_DEPLOY: 'ACTION_DEPLOY',
} as const;

/**
 * What the caller is about to do with the image; policy rules match on it.
 */
export type Action =
  /**
   * Not a valid action: INVALID_ARGUMENT.
   */
  | 'ACTION_UNSPECIFIED'
  | 0
  /**
   * The image is being pushed (a registry gate).
   */
  | 'ACTION_PUSH'
  | 1
  /**
   * The image is being pulled (a registry gate).
   */
  | 'ACTION_PULL'
  | 2
  /**
   * The image is about to run (the admission webhook, CD).
   */
  | 'ACTION_DEPLOY'
  | 3

/**
 * What the caller is about to do with the image; policy rules match on it.
 */
export type Action__Output = typeof Action[keyof typeof Action]
