/** Public API of access control: who may call which RPC. */
export type { Identity, Role } from './types';
export { ROLES, isRole } from './types';
export { validateGrant } from './grants';
export { TokenStore, type CreateTokenRequest, type TokenCheck, type TokenRecord, type TokenStoreOptions } from './token-store';
export {
  CertificateMapper,
  parseSubjectAltName,
  peerCertificateOf,
  serverCredentials,
  validateBindings,
  type MtlsBinding,
  type TlsFiles,
} from './mtls';
export {
  METHOD_ROLES,
  NO_CREDENTIALS_MESSAGE,
  OPEN_SERVICES,
  authorize,
  imageRepositoryOf,
  type DenialDetails,
  type MethodRule,
  type RepositoryOf,
} from './policy';
export {
  AccessControl,
  DEV_IDENTITY,
  bearerToken,
  devModeAllowed,
  resolveAccessMode,
  startupBanner,
  type AccessControlOptions,
  type AccessLogger,
  type AccessMode,
} from './access-control';
