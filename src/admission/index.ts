/**
 * Kubernetes validating admission webhook adapter: AdmissionReview (v1/v1beta1) → one Verify per
 * distinct image → allow/deny. Validating only (no patches).
 */
export { imagesOf, groupImages, normalizeImage, isWorkloadKind, workloadKind, MalformedObjectError } from './images';
export type { ImageRef, ImageGroup, ContainerKind, ObjectSource } from './images';
export {
  handleAdmissionReview,
  parseAdmissionReview,
  denyMessage,
  pinningPatch,
  AdmissionReviewError,
  ADMISSION_API_VERSIONS,
  DEFAULT_REVIEW_TIMEOUT_MS,
  MAX_MESSAGE_CHARS,
  MAX_WARNING_CHARS,
  MAX_WARNINGS,
} from './review';
export type {
  AdmissionApiVersion,
  AdmissionVerifier,
  AdmissionVerifyInput,
  AdmissionVerifyResult,
  AdmissionLogger,
  AdmissionRequest,
  AdmissionResponse,
  AdmissionReviewResponse,
  HandleAdmissionOptions,
  ImageVerdict,
  PatchOperation,
} from './review';
export {
  startAdmissionServer,
  parseListen,
  isLoopback,
  parseGoDuration,
  reviewDeadline,
  deadlineMarginMs,
  DEFAULT_MAX_BODY_BYTES,
} from './server';
export type { AdmissionServer, AdmissionServerOptions } from './server';
