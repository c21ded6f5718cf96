export {
  startGateServer,
  DEFAULT_MAX_MANIFEST_BYTES,
  DEFAULT_DECISION_TIMEOUT_MS,
  DEFAULT_CHILD_TTL_MS,
  type GateServer,
  type GateServerOptions,
  type GateLogger,
} from './server';
export { GrpcVerifier, type GrpcVerifierOptions } from './grpc-verifier';
export { GATE_LABELS, type GateVerifier, type GateVerifyInput, type GateVerifyResult } from './decision';
export { parseRoute, type Route } from './routes';
export { parseManifest, evidenceKind } from './manifests';
export { pusherIdentity } from './identity';
