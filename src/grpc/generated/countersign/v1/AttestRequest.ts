// Original file: proto/countersign/v1/signing.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../google/protobuf/Timestamp';

/**
 * Attest a predicate about one image.
 */
export interface AttestRequest {
  /**
   * Image reference, as in SignRequest.image; the digest is what the statement is about.
   */
  'image'?: (string);
  /**
   * Name or id of a signing key held by the service.
   */
  'key'?: (string);
  /**
   * Predicate type: an absolute URI (printable ASCII only, as RFC 3986 has it: a control, bidi or
   * other non-ASCII character is INVALID_ARGUMENT, not percent-encoded for you), or one of the
   * shorthands spdx, cyclonedx, vuln.
   */
  'predicateType'?: (string);
  /**
   * The predicate document (JSON, UTF-8). A raw Trivy or Grype JSON report with predicate_type
   * "vuln" is wrapped into the cosign vulnerability predicate. Every key and string must be
   * Unicode text: a lone surrogate escape ("\ud800") or U+FFFD is INVALID_ARGUMENT.
   */
  'predicate'?: (Buffer | Uint8Array | string);
  /**
   * Annotations recorded on the in-toto subject (signed), as cosign's -a does; as in SignRequest.
   */
  'annotations'?: ({[key: string]: string});
  /**
   * Deprecated: use scan_timestamp. When the scan ran (RFC 3339). Only used for a raw
   * Trivy/Grype report that carries no timestamp of its own: Countersign never invents a scan
   * time, since policies bound scan age.
   * @deprecated
   */
  'scanTime'?: (string);
  /**
   * When the scan ran, for a raw Trivy/Grype report that carries no timestamp of its own (see
   * scan_time, whose name it could not take). Not together with scan_time.
   */
  'scanTimestamp'?: (_google_protobuf_Timestamp | null);
}

/**
 * Attest a predicate about one image.
 */
export interface AttestRequest__Output {
  /**
   * Image reference, as in SignRequest.image; the digest is what the statement is about.
   */
  'image': (string);
  /**
   * Name or id of a signing key held by the service.
   */
  'key': (string);
  /**
   * Predicate type: an absolute URI (printable ASCII only, as RFC 3986 has it: a control, bidi or
   * other non-ASCII character is INVALID_ARGUMENT, not percent-encoded for you), or one of the
   * shorthands spdx, cyclonedx, vuln.
   */
  'predicateType': (string);
  /**
   * The predicate document (JSON, UTF-8). A raw Trivy or Grype JSON report with predicate_type
   * "vuln" is wrapped into the cosign vulnerability predicate. Every key and string must be
   * Unicode text: a lone surrogate escape ("\ud800") or U+FFFD is INVALID_ARGUMENT.
   */
  'predicate': (Buffer);
  /**
   * Annotations recorded on the in-toto subject (signed), as cosign's -a does; as in SignRequest.
   */
  'annotations': ({[key: string]: string});
  /**
   * Deprecated: use scan_timestamp. When the scan ran (RFC 3339). Only used for a raw
   * Trivy/Grype report that carries no timestamp of its own: Countersign never invents a scan
   * time, since policies bound scan age.
   * @deprecated
   */
  'scanTime': (string);
  /**
   * When the scan ran, for a raw Trivy/Grype report that carries no timestamp of its own (see
   * scan_time, whose name it could not take). Not together with scan_time.
   */
  'scanTimestamp': (_google_protobuf_Timestamp__Output | null);
}
