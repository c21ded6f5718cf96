/**
 * The policy in force, reloaded when its file changes. Operators edit policies while the service
 * runs, so a broken edit must never take effect (or take the service down): an invalid new version
 * is logged with its line-numbered errors and the last good policy stays in force until the file
 * is fixed. At startup there is no "last good" policy, so an invalid file is a startup error.
 *
 * Change detection: fs.watch on the *directory*, because editors (vim, and Kubernetes ConfigMap
 * volumes with their `..data` symlink swap) replace the file by rename, which a watch on the file
 * itself stops following; plus a polling fallback that compares a content hash, for file systems
 * where fs.watch is unreliable (network mounts, some container runtimes).
 *
 * The Notation trust store files a policy names (CA and TSA certificates) are part of it: a change
 * to one reloads the policy exactly like an edit of the policy file (watched the same way, in their
 * own folders, and included in the polled content hash), and a bad new one keeps the last good
 * policy.
 *
 * Without a policy file the policy can be managed through the API (SetPolicy) when a store is
 * given: it is kept in the store (stored-policy.ts) and every replica sharing the store switches
 * to a new one when the store announces the change (`policy`, or `all` after a lost
 * notification), this replica before `set` resolves. The trust store files a stored policy names
 * are this replica's files, watched and polled as a policy file's are: a change re-reads them
 * into the stored text in force (a bad one keeps the last good policy). With a policy file, the file is the one
 * source of truth and `set` is refused (FAILED_PRECONDITION): two sources would disagree the
 * first time someone edits the file after a SetPolicy.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import * as path from 'node:path';
import { BoundedFileError, readBoundedFile } from '../shared/bounded-file';
import type { AuditLog } from '../audit';
import { CountersignError } from '../shared/errors';
import type { SqlStore } from '../store/sql-store';
import { StoreFollower } from '../store/follower';
import { parsePolicy } from '../policy/load';
import { DEFAULT_POLICY, MAX_POLICY_BYTES } from '../policy/schema';
import { MAX_TRUST_STORE_BYTES } from '../policy/notation-trust-store';
import { migrateStoredPolicy, parseStoredPolicy, readStoredPolicy, setStoredPolicy, type StoredPolicyRecord } from './stored-policy';
import type { Policy } from '../policy/types';

export interface PolicyLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface PolicyStoreOptions {
  logger?: PolicyLogger;
  /** Polling interval in ms (default 2000); 0 disables polling. */
  pollMs?: number;
  /** Delay between a file event and the reload (default 50 ms), so a burst of writes is read once. */
  debounceMs?: number;
  /** Use fs.watch (default true); set false where it is known not to work, leaving polling. */
  watch?: boolean;
  /**
   * Where a policy set through the API is kept (and its audit entry written). Used only when no
   * policy file is configured; without it the policy cannot be set through the API.
   */
  stored?: { store: SqlStore; audit: AuditLog };
}

/** Where the policy in force comes from. */
export type PolicySource = 'file' | 'store' | 'none';

/** The policy in force and its provenance (GetPolicy). */
export interface PolicyInfo {
  policy: Policy;
  source: PolicySource;
  /** The text in force (file or store); undefined for the built-in default. */
  text?: string;
  file?: string;
  setBy?: string;
  setAt?: Date;
}

export type PolicyChangeListener = (policy: Policy, previous: Policy) => void;

const DEFAULT_POLL_MS = 2000;
/**
 * The poll while every folder it depends on is watched (and a stored policy's changes are announced
 * by the store): only the safety net, so an idle service does not wake every 2 s for it (on a small
 * VM each wake-up costs milliseconds of CPU).
 */
const WATCHED_POLL_MS = 10_000;
const DEFAULT_DEBOUNCE_MS = 50;

export class PolicyStore {
  private policy: Policy;
  /** Hash of the policy text and of the trust store files it names: unchanged means nothing to reload. */
  private contentHash: string | undefined;
  /** The trust store files the policy names (the file's latest version, valid or not; the stored text in force). */
  private trustStoreFiles: string[];
  private readonly trustWatchers = new Map<string, FSWatcher>();
  /** Polling was started (see pollEvery), and at which interval (undefined: not yet set). */
  private polling = false;
  private pollMs: number | undefined;
  private lastText: string | undefined;
  /** The text of the file version in force (lastText may be a newer, refused one). */
  private activeText: string | undefined;
  private error: Error | undefined;
  private readonly listeners = new Set<PolicyChangeListener>();
  private watcher: FSWatcher | undefined;
  private poller: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  /** Reloads run one at a time, so a slow read cannot overwrite a newer policy with an older one. */
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Read through a call: close() may run while a reload awaits, which TypeScript's narrowing of `this.closed` cannot see. */
  private isClosed(): boolean {
    return this.closed;
  }
  /** The stored policy in force (source store). */
  private record: StoredPolicyRecord | undefined;
  /** The newest stored policy read: the one in force, or a newer one refused here (its trust store files are the ones watched). */
  private latestRecord: StoredPolicyRecord | undefined;
  private refresher: StoreFollower | undefined;
  private unsubscribe: (() => void) | undefined;

  private constructor(
    private readonly file: string | undefined,
    initial: Policy,
    hash: string | undefined,
    trustStoreFiles: string[],
    private readonly opts: PolicyStoreOptions,
  ) {
    this.policy = initial;
    this.contentHash = hash;
    this.trustStoreFiles = trustStoreFiles;
  }

  /**
   * Without a file, the built-in DEFAULT_POLICY (every image needs a valid signature by a trusted
   * key). With one, it must exist and be valid now; later edits are picked up automatically.
   */
  static async open(file?: string, opts: PolicyStoreOptions = {}): Promise<PolicyStore> {
    // The table exists either way, so that removing policyFile later needs no other step.
    if (opts.stored) await migrateStoredPolicy(opts.stored.store);
    if ((file === undefined || file === '') && opts.stored) return PolicyStore.openStored(opts.stored, opts);
    if (file === undefined || file === '') {
      opts.logger?.info(
        { policyRevision: DEFAULT_POLICY.revision },
        'no policy file configured: every image needs a valid signature by a trusted key',
      );
      return new PolicyStore(undefined, DEFAULT_POLICY, undefined, [], opts);
    }
    const text = await readPolicyFile(file);
    // parsePolicy's error already names the file, line and field of every problem.
    const trustStoreFiles: string[] = [];
    const policy = parsePolicy(text, file, trustStoreFiles);
    const store = new PolicyStore(file, policy, await contentHashOf(text, trustStoreFiles), trustStoreFiles, opts);
    opts.logger?.info({ policyFile: file, policyRevision: policy.revision, rules: policy.rules.length }, 'policy loaded');
    store.lastText = text;
    store.activeText = text;
    store.startWatching();
    store.setTrustStoreFiles(trustStoreFiles);
    return store;
  }

  /**
   * No file: the stored policy if one was set, else DEFAULT_POLICY. A stored policy that no longer
   * parses here (a trust store file it names is missing on this replica) is a startup error, as
   * an invalid policy file is.
   */
  private static async openStored(stored: NonNullable<PolicyStoreOptions['stored']>, opts: PolicyStoreOptions): Promise<PolicyStore> {
    const record = await readStoredPolicy(stored.store);
    const trustStoreFiles: string[] = [];
    const policy = record ? parseStoredPolicy(record.text, trustStoreFiles) : DEFAULT_POLICY;
    const hash = record ? await contentHashOf(record.text, trustStoreFiles) : undefined;
    const ps = new PolicyStore(undefined, policy, hash, trustStoreFiles, opts);
    ps.record = record;
    ps.latestRecord = record;
    // Store re-reads queue behind trust store re-reads (and the other way round): one at a time.
    // A failed re-read is retried until one succeeds (StoreFollower): a policy tightened through
    // another replica must not stay out of force here until the next change happens to come.
    ps.refresher = new StoreFollower(stored.store.changes, ['policy'], () => ps.serialized(() => ps.reloadStored()), 'the stored policy');
    ps.unsubscribe = () => ps.refresher?.close();
    opts.logger?.info(
      { policyRevision: policy.revision, source: record ? 'store' : 'none', ...(record ? { setBy: record.setBy } : {}) },
      record
        ? 'stored policy loaded (managed through SetPolicy)'
        : 'no policy file and no stored policy: every image needs a valid signature by a trusted key',
    );
    ps.setTrustStoreFiles(trustStoreFiles);
    ps.startPolling();
    return ps;
  }

  /** Where the policy in force comes from, with its text and who set it. */
  info(): PolicyInfo {
    if (this.file !== undefined)
      return { policy: this.policy, source: 'file', file: this.file, ...(this.activeText !== undefined ? { text: this.activeText } : {}) };
    const r = this.record;
    if (r) return { policy: this.policy, source: 'store', text: r.text, setBy: r.setBy, setAt: r.setAt };
    return { policy: this.policy, source: 'none' };
  }

  /**
   * Sets the policy through the API (see stored-policy.ts: validated, compare-and-set, audited,
   * announced). In force here when this resolves. Refused with a policy file (the file is the one
   * source of truth) and without a store.
   */
  async set(request: { text: string; expectedRevision?: string; actor: string }): Promise<{ info: PolicyInfo; previousRevision: string }> {
    if (this.file !== undefined) {
      throw new CountersignError(
        'FAILED_PRECONDITION',
        `the policy is managed by the file ${this.file} (policyFile in the configuration): edit that file (it is reloaded automatically), ` +
          'or remove policyFile from the configuration to manage the policy through SetPolicy',
      );
    }
    const stored = this.opts.stored;
    if (!stored || !this.refresher) throw new CountersignError('FAILED_PRECONDITION', 'this service has no store to keep a policy in');
    // The revision GetPolicy shows is the one in force here, which moves away from the stored one
    // when a Notation trust store file this replica reads changes. A caller who read it read the
    // stored text this replica holds: compare the store against that text's stored revision.
    const expectedRevision =
      request.expectedRevision !== undefined && this.record && request.expectedRevision === this.policy.revision
        ? this.record.revision
        : request.expectedRevision;
    const { previousRevision, policy } = await setStoredPolicy(stored.store, stored.audit, {
      ...request,
      ...(expectedRevision !== undefined ? { expectedRevision } : {}),
    });
    // The commit announced `policy` (this process synchronously), which queued a re-read; waiting
    // for one that starts now makes the new policy (or a newer one) current before we answer.
    try {
      await this.refresher.request();
    } catch (err) {
      // Stored, but not yet read back here: say so (a plain store error would read as "not set",
      // and a retry would then conflict with the change that did land). The re-read is retried.
      throw new CountersignError(
        'UNAVAILABLE',
        `the policy was stored (revision ${policy.revision}), but this replica could not read it back yet ` +
          `(${err instanceof Error ? err.message : String(err)}); it keeps retrying: GetPolicy shows when it is in force here`,
        { cause: err },
      );
    }
    return { info: this.info(), previousRevision };
  }

  /** The policy in force: cheap, call it on every request. */
  current(): Policy {
    return this.policy;
  }

  /**
   * The re-read of an announced change of the stored policy, while one is under way (the policy
   * in force may predate it: an incident's freeze set through another replica, say), else
   * undefined. Verify waits for it, as for a re-read of the keys.
   */
  settled(): Promise<void> | undefined {
    return this.refresher?.pending();
  }

  /** Why the policy in force may predate an announced change (its re-read failed; retrying), else undefined. */
  behind(): string | undefined {
    return this.refresher?.behind();
  }

  /** Why the most recent reload was refused (undefined after a successful one). */
  lastError(): Error | undefined {
    return this.error;
  }

  /** Called after a new revision takes effect; returns an unsubscribe function. */
  onChange(listener: PolicyChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Re-reads the file (a stored policy: the trust store files it names) now; also what the
   * watchers and the poller do. Resolves to true when a new revision took effect. Never rejects:
   * failures are logged and kept in lastError().
   */
  reload(): Promise<boolean> {
    return this.serialized(() => (this.file === undefined ? this.rereadStoredTrustStores() : this.reloadNow()));
  }

  /** Runs `work` after every reload before it, so a slow one cannot overwrite a newer policy with an older one. */
  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const next = this.chain.then(work);
    this.chain = next.catch(() => undefined);
    return next;
  }

  close(): void {
    this.closed = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.watcher?.close();
    this.watcher = undefined;
    for (const w of this.trustWatchers.values()) w.close();
    this.trustWatchers.clear();
    if (this.poller) clearInterval(this.poller);
    if (this.debounce) clearTimeout(this.debounce);
    this.poller = undefined;
    this.debounce = undefined;
    this.listeners.clear();
  }

  private async reloadNow(): Promise<boolean> {
    const file = this.file;
    if (file === undefined || this.closed) return false;
    let text: string;
    try {
      text = await readPolicyFile(file);
    } catch (err) {
      // Between an editor's unlink and rename the file may briefly be missing: keep the policy.
      return this.refuse(err, 'policy file could not be read; keeping the last good policy');
    }
    const hash = await contentHashOf(text, this.trustStoreFiles);
    if (hash === this.contentHash) return false;
    const textChanged = text !== this.lastText;
    this.lastText = text;
    const files: string[] = [];
    let policy: Policy;
    try {
      policy = parsePolicy(text, file, files);
    } catch (err) {
      // Remember the hash: the same broken content is reported once, not on every poll. It covers
      // the files the new text names, so that a missing trust store file that appears reloads.
      this.setTrustStoreFiles(files);
      this.contentHash = await contentHashOf(text, files);
      return this.refuse(
        err,
        textChanged
          ? 'new policy is invalid; keeping the last good policy'
          : 'a Notation trust store file changed and the policy is now invalid; keeping the last good policy',
      );
    }
    if (this.isClosed()) return false;
    this.setTrustStoreFiles(files);
    this.contentHash = await contentHashOf(text, files);
    this.error = undefined;
    this.activeText = text;
    // Same revision: only comments or formatting changed.
    return this.adopt(policy, { policyFile: file });
  }

  /** Re-reads the stored policy; a version that does not parse here keeps the last good one. */
  private async reloadStored(): Promise<void> {
    if (this.closed || !this.opts.stored) return;
    const record = await readStoredPolicy(this.opts.stored.store);
    if (this.isClosed() || record === undefined) return; // rows are replaced, never deleted
    const latest = this.latestRecord;
    if (latest && record.revision === latest.revision && record.setAt.getTime() === latest.setAt.getTime()) return;
    this.latestRecord = record;
    await this.adoptStored(record, 'the stored policy is invalid here; keeping the last good policy');
  }

  /** The newest stored text (in force, or refused here), parsed again when a trust store file it names changed. */
  private async rereadStoredTrustStores(): Promise<boolean> {
    const record = this.latestRecord;
    if (this.closed || record === undefined || this.trustStoreFiles.length === 0) return false;
    if ((await contentHashOf(record.text, this.trustStoreFiles)) === this.contentHash) return false;
    return this.adoptStored(
      record,
      'a Notation trust store file changed and the stored policy is now invalid; keeping the last good policy',
    );
  }

  /**
   * Parses `record` with this replica's trust store files and makes it current; one that does not
   * parse keeps the last good policy (reported once for this content: its files' hash is kept, so
   * the next change of one of them tries again).
   */
  private async adoptStored(record: StoredPolicyRecord, refusal: string): Promise<boolean> {
    const files: string[] = [];
    let policy: Policy | undefined;
    let failure: unknown;
    try {
      policy = parseStoredPolicy(record.text, files);
    } catch (err) {
      failure = err;
    }
    const hash = await contentHashOf(record.text, files);
    if (this.isClosed() || this.latestRecord !== record) return false; // closed, or a newer one came meanwhile
    this.setTrustStoreFiles(files);
    this.contentHash = hash;
    if (policy === undefined) return this.refuse(failure, refusal);
    this.error = undefined;
    this.record = record;
    return this.adopt(policy, { source: 'store', setBy: record.setBy });
  }

  /** Makes `policy` current and tells the listeners, if its revision is new. */
  private adopt(policy: Policy, facts: Record<string, unknown>): boolean {
    const previous = this.policy;
    if (policy.revision === previous.revision) return false;
    this.policy = policy;
    this.opts.logger?.info(
      { ...facts, policyRevision: policy.revision, previousRevision: previous.revision, rules: policy.rules.length },
      'policy reloaded',
    );
    for (const listener of [...this.listeners]) {
      try {
        listener(policy, previous);
      } catch (err) {
        this.opts.logger?.warn({ err: errorText(err) }, 'policy change listener failed');
      }
    }
    return true;
  }

  private refuse(err: unknown, msg: string): false {
    this.error = err instanceof Error ? err : new Error(String(err));
    this.opts.logger?.warn({ policyFile: this.file, policyRevision: this.policy.revision, error: this.error.message }, msg);
    return false;
  }

  private startWatching(): void {
    const file = this.file!;
    const dir = path.dirname(path.resolve(file));
    const base = path.basename(file);
    if (this.opts.watch === false) {
      this.startPolling();
      return;
    }
    try {
      this.watcher = watch(dir, { persistent: false }, (_event, name) => {
        // name may be null on some platforms; then any change in the directory triggers a check.
        // ConfigMap volumes swap a `..data` symlink rather than touching the file's own name.
        if (name === null || name === base || name.startsWith('..')) this.schedule();
      });
      this.watcher.on('error', (err) => {
        this.opts.logger?.warn({ policyFile: file, err: errorText(err) }, 'watching the policy directory failed; relying on polling');
        this.watcher?.close();
        this.watcher = undefined;
        this.pollEvery();
      });
    } catch (err) {
      this.opts.logger?.warn({ policyFile: file, err: errorText(err) }, 'cannot watch the policy directory; relying on polling');
    }
    this.startPolling();
  }

  /** Watches the folder of each trust store file (as the policy's own folder is watched). */
  private setTrustStoreFiles(files: string[]): void {
    this.trustStoreFiles = files;
    if (this.opts.watch === false || this.closed) return;
    const dirs = new Map<string, Set<string>>();
    for (const f of files) {
      const dir = path.dirname(f);
      dirs.set(dir, (dirs.get(dir) ?? new Set()).add(path.basename(f)));
    }
    for (const [dir, w] of this.trustWatchers) {
      if (!dirs.has(dir)) {
        w.close();
        this.trustWatchers.delete(dir);
      }
    }
    for (const [dir, names] of dirs) {
      this.trustWatchers.get(dir)?.close();
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => {
          if (name === null || names.has(name) || name.startsWith('..')) this.schedule();
        });
        w.on('error', () => {
          w.close();
          this.trustWatchers.delete(dir);
          this.pollEvery();
        });
        this.trustWatchers.set(dir, w);
      } catch {
        // A folder that does not exist (yet) is covered by polling; the reload reports the missing file.
      }
    }
    this.pollEvery();
  }

  private startPolling(): void {
    this.polling = true;
    this.pollEvery();
  }

  /** (Re)sets the poll to what the watches in place allow: the safety net, or the short interval. */
  private pollEvery(): void {
    if (!this.polling || this.closed) return;
    const pollMs = this.opts.pollMs ?? (this.fullyWatched() ? WATCHED_POLL_MS : DEFAULT_POLL_MS);
    if (pollMs === this.pollMs) return;
    if (this.poller) clearInterval(this.poller);
    this.poller = undefined;
    this.pollMs = pollMs;
    if (pollMs > 0) {
      this.poller = setInterval(() => void this.reload(), pollMs);
      this.poller.unref();
    }
  }

  /** Whether a change to anything the policy in force depends on reaches a watch (or, stored, an announcement). */
  private fullyWatched(): boolean {
    if (this.opts.watch === false) return false;
    if (this.file !== undefined && this.watcher === undefined) return false;
    return this.trustStoreFiles.every((f) => this.trustWatchers.has(path.dirname(f)));
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.reload();
    }, this.opts.debounceMs ?? DEFAULT_DEBOUNCE_MS);
    this.debounce.unref();
  }
}

async function readPolicyFile(file: string): Promise<string> {
  let buf: Buffer;
  try {
    // Bounded: a policy file swapped for a symlink to /dev/zero or a FIFO must not hang a reload.
    buf = await readBoundedFile(file, MAX_POLICY_BYTES, `policy file ${file}`);
  } catch (err) {
    const code = err instanceof BoundedFileError ? err.code : 'EIO';
    if (code === 'TOO_LARGE') throw new CountersignError('INVALID_ARGUMENT', (err as Error).message);
    throw new CountersignError(
      code === 'ENOENT' ? 'NOT_FOUND' : 'FAILED_PRECONDITION',
      code === 'ENOENT'
        ? `policy file ${file} cannot be read: it does not exist`
        : code === 'NOT_REGULAR'
          ? (err as Error).message
          : `policy file ${file} cannot be read: ${code}`,
      { cause: err },
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    throw new CountersignError('INVALID_ARGUMENT', `policy file ${file} is not valid UTF-8 text`);
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** The policy text and the bytes of each trust store file it names (a missing file counts as "missing"). */
async function contentHashOf(text: string, trustStoreFiles: readonly string[]): Promise<string> {
  const h = createHash('sha256').update(text);
  for (const f of trustStoreFiles) {
    h.update(`\0${f}\0`);
    try {
      h.update(await readBoundedFile(f, MAX_TRUST_STORE_BYTES));
    } catch (err) {
      h.update(`unreadable: ${(err as Error).message}`);
    }
  }
  return h.digest('hex');
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
