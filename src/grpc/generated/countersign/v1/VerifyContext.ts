// Original file: proto/countersign/v1/verification.proto


/**
 * Who asks and where: rules and exceptions match on it.
 */
export interface VerifyContext {
  /**
   * Kubernetes namespace of the workload (deploy) or of the requester.
   */
  'namespace'?: (string);
  /**
   * Who asks: a service account, a user, a CI identity.
   */
  'identity'?: (string);
  /**
   * Labels of the workload (deploy), matched by exceptions.
   */
  'labels'?: ({[key: string]: string});
}

/**
 * Who asks and where: rules and exceptions match on it.
 */
export interface VerifyContext__Output {
  /**
   * Kubernetes namespace of the workload (deploy) or of the requester.
   */
  'namespace': (string);
  /**
   * Who asks: a service account, a user, a CI identity.
   */
  'identity': (string);
  /**
   * Labels of the workload (deploy), matched by exceptions.
   */
  'labels': ({[key: string]: string});
}
