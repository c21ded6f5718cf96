// Original file: proto/countersign/v1/verification.proto


/**
 * Who signed, per a verified certificate.
 */
export interface SignerIdentity {
  /**
   * OIDC issuer, as cosign's --certificate-oidc-issuer (a Notation signer: the X.509 issuer).
   */
  'issuer'?: (string);
  /**
   * Certificate identity (SAN), as cosign's --certificate-identity (Notation: the X.509 subject).
   */
  'subject'?: (string);
  /**
   * Further Fulcio extensions by name (githubWorkflowRepository, sourceRepositoryRef, ...).
   */
  'extensions'?: ({[key: string]: string});
}

/**
 * Who signed, per a verified certificate.
 */
export interface SignerIdentity__Output {
  /**
   * OIDC issuer, as cosign's --certificate-oidc-issuer (a Notation signer: the X.509 issuer).
   */
  'issuer': (string);
  /**
   * Certificate identity (SAN), as cosign's --certificate-identity (Notation: the X.509 subject).
   */
  'subject': (string);
  /**
   * Further Fulcio extensions by name (githubWorkflowRepository, sourceRepositoryRef, ...).
   */
  'extensions': ({[key: string]: string});
}
