export { AuditLog, GENESIS_HASH, hashRecord } from './audit-log';
export type { AuditEntry, AuditHead, AuditListOptions, AuditOutcome, AuditRecord, AuditVerifyResult } from './audit-log';
