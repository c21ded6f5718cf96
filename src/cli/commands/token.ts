/** `countersign token create|list|revoke`: bearer tokens, straight in the service's store. */
import { AuditLog } from '../../audit';
import { TokenStore, isRole } from '../../auth';
import { localActor, onePositional, openServiceStore, parse, subcommand, usageTopic, UsageError } from './support';
import { printOut, printErr } from '../output';

export async function token(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  const sub = subcommand('token', first);
  const { values, positionals } = parse(
    rest,
    {
      'data-dir': { type: 'string' },
      config: { type: 'string' },
      role: { type: 'string', multiple: true },
      scope: { type: 'string', multiple: true },
      expires: { type: 'string' },
      reason: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    usageTopic('token', sub),
  );
  const db = await openServiceStore(values, { mustExist: false });
  const actor = localActor();
  try {
    const store = await TokenStore.open(db, { audit: await AuditLog.open(db) });
    if (sub === 'create') {
      const name = onePositional(positionals, 'NAME');
      const roles = (values.role ?? []).map((r) => {
        if (!isRole(r)) throw new UsageError(`unknown role ${JSON.stringify(r)}: signer, verifier, key-admin or policy-admin`);
        return r;
      });
      if (!roles.length) throw new UsageError('token create needs at least one --role');
      let expiresAt: Date | undefined;
      if (values.expires) {
        expiresAt = new Date(values.expires);
        if (Number.isNaN(expiresAt.getTime())) throw new UsageError('--expires must be an RFC 3339 time');
      }
      const { token: secret, record } = await store.create({
        name,
        roles,
        scopes: values.scope ?? [],
        createdBy: actor,
        ...(expiresAt ? { expiresAt } : {}),
      });
      if (values.json) printOut(`${JSON.stringify({ token: secret, ...record }, null, 2)}\n`);
      else {
        printOut(`${secret}\n`);
        printErr(
          `token ${record.name} (${record.roles.join(', ')}${record.scopes.length ? ` for ${record.scopes.join(', ')}` : ''}) created; it is shown only now\n`,
        );
      }
      return 0;
    }
    if (sub === 'list') {
      const records = await store.list();
      if (values.json) printOut(`${JSON.stringify(records, null, 2)}\n`);
      else for (const r of records) printOut(`${r.name}\t${r.state}\t${r.roles.join(',')}\t${r.scopes.join(',')}\t${r.prefix}…\n`);
      return 0;
    }
    if (sub === 'revoke') {
      const record = await store.revoke(onePositional(positionals, 'NAME'), {
        revokedBy: actor,
        ...(values.reason ? { reason: values.reason } : {}),
      });
      printOut(`token ${record.name} revoked\n`);
      return 0;
    }
    throw new UsageError(`unknown token command "${sub ?? ''}" (create, list, revoke)`);
  } finally {
    await db.close();
  }
}
