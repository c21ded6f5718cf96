// Original file: proto/countersign/v1/keys.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../google/protobuf/Timestamp';

/**
 * The X.509 certificate a verification key was imported from. Its validity bounds the key's.
 */
export interface KeyCertificate {
  /**
   * Subject distinguished name, one attribute per line as OpenSSL prints it.
   */
  'subject'?: (string);
  /**
   * Issuer distinguished name, same form.
   */
  'issuer'?: (string);
  /**
   * Serial number, hex.
   */
  'serialNumber'?: (string);
  /**
   * Start of the certificate's validity.
   */
  'notBeforeTime'?: (_google_protobuf_Timestamp | null);
  /**
   * End of the certificate's validity.
   */
  'notAfterTime'?: (_google_protobuf_Timestamp | null);
  /**
   * SHA-256 of the certificate's DER, hex.
   */
  'fingerprintSha256'?: (string);
}

/**
 * The X.509 certificate a verification key was imported from. Its validity bounds the key's.
 */
export interface KeyCertificate__Output {
  /**
   * Subject distinguished name, one attribute per line as OpenSSL prints it.
   */
  'subject': (string);
  /**
   * Issuer distinguished name, same form.
   */
  'issuer': (string);
  /**
   * Serial number, hex.
   */
  'serialNumber': (string);
  /**
   * Start of the certificate's validity.
   */
  'notBeforeTime': (_google_protobuf_Timestamp__Output | null);
  /**
   * End of the certificate's validity.
   */
  'notAfterTime': (_google_protobuf_Timestamp__Output | null);
  /**
   * SHA-256 of the certificate's DER, hex.
   */
  'fingerprintSha256': (string);
}
