export { AuditLog, GENESIS_HASH, PEM_PRIVATE_KEY, hashRecord } from './audit-log';
export type { AuditEntry, AuditHead, AuditListOptions, AuditOutcome, AuditRecord, AuditVerifyResult } from './audit-log';
