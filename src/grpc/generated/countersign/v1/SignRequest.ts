// Original file: proto/countersign/v1/signing.proto


/**
 * Sign one image.
 */
export interface SignRequest {
  /**
   * Image reference: "host/repo:tag", "host/repo@sha256:<hex>" or "host/repo:tag@sha256:<hex>".
   * A tag is resolved to its digest with one HEAD request; the digest is what gets signed.
   */
  'image'?: (string);
  /**
   * Name or id of a signing key held by the service.
   */
  'key'?: (string);
  /**
   * Annotations recorded on the in-toto subject (signed) as cosign's -a does. At most 32, 4096
   * bytes in all; keys and values must be Unicode text sent as UTF-8 (one holding U+FFFD,
   * what bytes that are not UTF-8 decode to, is INVALID_ARGUMENT rather than signed).
   */
  'annotations'?: ({[key: string]: string});
}

/**
 * Sign one image.
 */
export interface SignRequest__Output {
  /**
   * Image reference: "host/repo:tag", "host/repo@sha256:<hex>" or "host/repo:tag@sha256:<hex>".
   * A tag is resolved to its digest with one HEAD request; the digest is what gets signed.
   */
  'image': (string);
  /**
   * Name or id of a signing key held by the service.
   */
  'key': (string);
  /**
   * Annotations recorded on the in-toto subject (signed) as cosign's -a does. At most 32, 4096
   * bytes in all; keys and values must be Unicode text sent as UTF-8 (one holding U+FFFD,
   * what bytes that are not UTF-8 decode to, is INVALID_ARGUMENT rather than signed).
   */
  'annotations': ({[key: string]: string});
}
