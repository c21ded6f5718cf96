export { openDatabase, sqliteErrorCode } from './database';
export type { Database, OpenDatabaseOptions, SqlParam, SqlRow, SqlValue, Statement } from './database';
export { migrate } from './migrations';
export type { Migration, MigrationResult } from './migrations';
