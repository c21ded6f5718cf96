/**
 * The image policy kept in the store (SetPolicy), for deployments that manage it through the API
 * instead of a policy file: one row, replaced as a whole, so every replica sharing the store reads
 * the same text. Written only in a transaction that also appends its audit entry and announces
 * the change (`tx.changed('policy')`), so a stored policy without its audit entry, or one that
 * other replicas never hear of, cannot exist.
 */
import type { AuditLog } from '../audit';
import { CountersignError } from '../shared/errors';
import { migrateSchema, type SchemaMigration } from '../store/schema';
import type { SqlExecutor, SqlStore } from '../store/sql-store';
import { parsePolicy } from '../policy/load';
import { DEFAULT_POLICY, MAX_POLICY_BYTES } from '../policy/schema';
import type { Policy } from '../policy/types';

/** The `source` of a stored policy, in its parse errors and in `Policy.source`. */
export const STORED_POLICY_SOURCE = '(stored policy)';

/** What the store holds. */
export interface StoredPolicyRecord {
  text: string;
  /** The parsed policy's revision when it was stored. */
  revision: string;
  setBy: string;
  setAt: Date;
}

const MIGRATIONS: readonly SchemaMigration[] = [
  {
    version: 1,
    // id is always 1: there is one policy in force, not a history (the audit chain is the history).
    sqlite: `CREATE TABLE stored_policy (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      text TEXT NOT NULL,
      revision TEXT NOT NULL,
      set_by TEXT NOT NULL,
      set_at TEXT NOT NULL
    ) STRICT`,
    postgres: `CREATE TABLE stored_policy (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      text TEXT NOT NULL,
      revision TEXT NOT NULL,
      set_by TEXT NOT NULL,
      set_at TEXT NOT NULL
    )`,
  },
];

export async function migrateStoredPolicy(store: SqlStore): Promise<void> {
  await migrateSchema(store, 'policy', MIGRATIONS);
}

export async function readStoredPolicy(executor: SqlExecutor): Promise<StoredPolicyRecord | undefined> {
  const row = await executor.get('SELECT text, revision, set_by, set_at FROM stored_policy WHERE id = 1');
  if (row === undefined) return undefined;
  return { text: String(row.text), revision: String(row.revision), setBy: String(row.set_by), setAt: new Date(String(row.set_at)) };
}

/**
 * Parses `text` exactly as a policy file is parsed (the same errors, naming line and field), with
 * the file's size limit; the Notation trust store files it names are added to `trustStoreFiles`
 * (when given; also when it throws). Throws INVALID_ARGUMENT.
 */
export function parseStoredPolicy(text: string, trustStoreFiles?: string[]): Policy {
  if (typeof text !== 'string' || text.trim() === '') {
    throw new CountersignError('INVALID_ARGUMENT', 'text: the policy is empty; give the policy document (YAML, the policy file format)');
  }
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_POLICY_BYTES)
    throw new CountersignError('INVALID_ARGUMENT', `text: the policy is ${bytes} bytes; the limit is ${MAX_POLICY_BYTES}`);
  return parsePolicy(text, STORED_POLICY_SOURCE, trustStoreFiles);
}

export interface SetStoredPolicyRequest {
  text: string;
  /** Compare-and-set: the revision in force must be this one. */
  expectedRevision?: string;
  /** Who, for the audit trail and GetPolicy. */
  actor: string;
}

/**
 * Validates (nothing is stored when it fails), then in one transaction: checks `expectedRevision`
 * against the stored revision (the built-in default's when none is stored), replaces the row,
 * appends `policy.set` to the audit chain and announces the change. Resolves with what was
 * stored and the revision it replaced.
 */
export async function setStoredPolicy(
  store: SqlStore,
  audit: AuditLog,
  request: SetStoredPolicyRequest,
  now: Date = new Date(),
): Promise<{ policy: Policy; record: StoredPolicyRecord; previousRevision: string }> {
  if (request.expectedRevision !== undefined && request.expectedRevision === '') {
    throw new CountersignError(
      'INVALID_ARGUMENT',
      'expected_revision is empty: give the revision GetPolicy shows, or leave it out to set unconditionally',
    );
  }
  const policy = parseStoredPolicy(request.text);
  return store.transaction(async (tx) => {
    const current = await readStoredPolicy(tx);
    const previousRevision = current?.revision ?? DEFAULT_POLICY.revision;
    if (request.expectedRevision !== undefined && request.expectedRevision !== previousRevision) {
      throw new CountersignError(
        'FAILED_PRECONDITION',
        `the policy in force is revision ${previousRevision}, not ${request.expectedRevision}: someone changed it since you read it` +
          `${current ? ` (${current.setBy} at ${current.setAt.toISOString()})` : ''}. Read it again (countersign policy get), merge, and retry`,
        { details: { expectedRevision: request.expectedRevision, revision: previousRevision } },
      );
    }
    const record: StoredPolicyRecord = { text: request.text, revision: policy.revision, setBy: request.actor, setAt: now };
    await tx.run(
      `INSERT INTO stored_policy (id, text, revision, set_by, set_at) VALUES (1, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET text = excluded.text, revision = excluded.revision, set_by = excluded.set_by, set_at = excluded.set_at`,
      record.text,
      record.revision,
      record.setBy,
      now.toISOString(),
    );
    await audit.append(
      {
        actor: request.actor,
        action: 'policy.set',
        target: 'policy',
        outcome: 'success',
        details: { revision: policy.revision, previousRevision, rules: policy.rules.length },
        at: now,
      },
      tx,
    );
    tx.changed('policy');
    return { policy, record, previousRevision };
  });
}
