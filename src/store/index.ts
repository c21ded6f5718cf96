export { openDatabase, sqliteErrorCode } from './database';
export type { Database, OpenDatabaseOptions, SqlParam, SqlRow, SqlValue, Statement } from './database';
export { migrate } from './migrations';
export { ChangeWatch } from './change-watch';
export type { Migration, MigrationResult } from './migrations';
