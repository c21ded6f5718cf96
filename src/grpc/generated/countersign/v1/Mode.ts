// Original file: proto/countersign/v1/verification.proto

/**
 * How the deciding rule's failing requirements count.
 */
export const Mode = {
  /**
   * Never sent by the server.
   */
  MODE_UNSPECIFIED: 'MODE_UNSPECIFIED',
  /**
   * Failing requirements deny.
   */
  MODE_ENFORCE: 'MODE_ENFORCE',
  /**
   * Failing requirements are returned as warnings; the answer is allow.
   */
  MODE_WARN: 'MODE_WARN',
  /**
   * Failing requirements are only recorded; the answer is allow.
   */
  MODE_AUDIT: 'MODE_AUDIT',
} as const;

/**
 * How the deciding rule's failing requirements count.
 */
export type Mode =
  /**
   * Never sent by the server.
   */
  | 'MODE_UNSPECIFIED'
  | 0
  /**
   * Failing requirements deny.
   */
  | 'MODE_ENFORCE'
  | 1
  /**
   * Failing requirements are returned as warnings; the answer is allow.
   */
  | 'MODE_WARN'
  | 2
  /**
   * Failing requirements are only recorded; the answer is allow.
   */
  | 'MODE_AUDIT'
  | 3

/**
 * How the deciding rule's failing requirements count.
 */
export type Mode__Output = typeof Mode[keyof typeof Mode]
