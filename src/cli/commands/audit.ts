/** `countersign audit list|verify`: reads and checks the audit chain in the service's store. */
import { AuditLog } from '../../audit';
import { displayUntrusted } from '../../shared/untrusted-text';
import { openServiceStore, parse, subcommand, usageTopic, UsageError } from './support';
import { printOut } from '../output';

export async function audit(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  const sub = subcommand('audit', first);
  const { values, positionals } = parse(
    rest,
    {
      'data-dir': { type: 'string' },
      config: { type: 'string' },
      limit: { type: 'string', default: '50' },
      actor: { type: 'string' },
      action: { type: 'string' },
      target: { type: 'string' },
      'expect-head': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    usageTopic('audit', sub),
  );
  const [extra] = positionals;
  if (extra !== undefined) throw new UsageError(`unexpected argument ${extra}`);
  const db = await openServiceStore(values, { mustExist: true });
  try {
    const log = await AuditLog.open(db);
    if (sub === 'list') {
      const limit = Number(values.limit);
      if (!Number.isInteger(limit) || limit <= 0) throw new UsageError('--limit must be a positive integer');
      const entries = await log.list({
        limit,
        ...(values.actor ? { actor: values.actor } : {}),
        ...(values.action ? { action: values.action } : {}),
        ...(values.target ? { target: values.target } : {}),
      });
      if (values.json) printOut(`${JSON.stringify(entries, null, 2)}\n`);
      else {
        // On a terminal, one entry is one row: a line the terminal wrapped would let a long field
        // start a row of its own that reads like another entry (--json shows entries whole).
        const width = process.stdout.isTTY ? process.stdout.columns : undefined;
        for (const e of entries) {
          // Actor, target and reason may be what a caller sent (a denied request's key name): escaped.
          const line =
            `${String(e.seq).padStart(6)} ${e.at} ${e.outcome.padEnd(7)} ${displayUntrusted(e.actor)} ${displayUntrusted(e.action)}` +
            `${e.target ? ` ${displayUntrusted(e.target)}` : ''}${e.reason ? ` — ${displayUntrusted(e.reason, 1024)}` : ''}`;
          printOut(`${width !== undefined && width > 1 && line.length > width ? `${line.slice(0, width - 1)}…` : line}\n`);
        }
      }
      return 0;
    }
    if (sub === 'verify') {
      let expectHead: { seq: number; hash: string } | undefined;
      if (values['expect-head']) {
        const m = /^(\d+):([0-9a-f]{64})$/.exec(values['expect-head']);
        if (!m) throw new UsageError('--expect-head must be SEQ:HASH as printed by a previous "audit verify"');
        expectHead = { seq: Number(m[1]), hash: m[2] as string };
      }
      const result = await log.verify(expectHead ? { expectHead } : {});
      // The head is the last entry verify checked (seq runs 1..N without gaps, which it checked), not
      // one read afterwards: an entry appended meanwhile was not verified and must not be kept as if it were.
      if (result.ok) {
        const verifiedHead = `${result.entries}:${result.head}`;
        if (values.json) printOut(`${JSON.stringify({ ...result, expectHead: verifiedHead }, null, 2)}\n`);
        else printOut(`audit chain intact: ${result.entries} entries; head ${verifiedHead}\n`);
      } else if (values.json) printOut(`${JSON.stringify(result, null, 2)}\n`);
      else printOut(`AUDIT CHAIN BROKEN at entry ${result.brokenAt}: ${result.problem} (${result.entries} entries verified before it)\n`);
      return result.ok ? 0 : 1;
    }
    throw new UsageError(`unknown audit command "${sub ?? ''}" (list, verify)`);
  } finally {
    await db.close();
  }
}
