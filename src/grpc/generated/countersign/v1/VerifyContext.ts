// Original file: proto/countersign/v1/verification.proto


/**
 * Who asks and where: rules and exceptions match on it. Bounded (INVALID_ARGUMENT naming the
 * field beyond a limit), so that a request cannot make its decision or log megabytes large; any
 * label Kubernetes accepts fits.
 */
export interface VerifyContext {
  /**
   * Kubernetes namespace of the workload (deploy) or of the requester. At most 253 characters.
   */
  'namespace'?: (string);
  /**
   * Who asks: a service account, a user, a CI identity. At most 4096 characters.
   */
  'identity'?: (string);
  /**
   * Labels of the workload (deploy), matched by exceptions. Keys of at most 317 characters
   * (Kubernetes' limit), values of at most 4096, at most 262144 characters of keys and values in all.
   */
  'labels'?: ({[key: string]: string});
}

/**
 * Who asks and where: rules and exceptions match on it. Bounded (INVALID_ARGUMENT naming the
 * field beyond a limit), so that a request cannot make its decision or log megabytes large; any
 * label Kubernetes accepts fits.
 */
export interface VerifyContext__Output {
  /**
   * Kubernetes namespace of the workload (deploy) or of the requester. At most 253 characters.
   */
  'namespace': (string);
  /**
   * Who asks: a service account, a user, a CI identity. At most 4096 characters.
   */
  'identity': (string);
  /**
   * Labels of the workload (deploy), matched by exceptions. Keys of at most 317 characters
   * (Kubernetes' limit), values of at most 4096, at most 262144 characters of keys and values in all.
   */
  'labels': ({[key: string]: string});
}
