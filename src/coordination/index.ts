export { PostgresWriteLock, advisoryKeys, describeStoreUrl, type PostgresWriteLockOptions } from './postgres-write-lock';
