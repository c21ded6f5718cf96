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
   * Predicate type: an absolute URI, or one of the shorthands spdx, cyclonedx, vuln.
   */
  'predicateType'?: (string);
  /**
   * The predicate document (JSON). A raw Trivy or Grype JSON report with predicate_type "vuln"
   * is wrapped into the cosign vulnerability predicate.
   */
  'predicate'?: (Buffer | Uint8Array | string);
  /**
   * Annotations recorded on the in-toto subject (signed), as cosign's -a does.
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
   * Predicate type: an absolute URI, or one of the shorthands spdx, cyclonedx, vuln.
   */
  'predicateType': (string);
  /**
   * The predicate document (JSON). A raw Trivy or Grype JSON report with predicate_type "vuln"
   * is wrapped into the cosign vulnerability predicate.
   */
  'predicate': (Buffer);
  /**
   * Annotations recorded on the in-toto subject (signed), as cosign's -a does.
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
