/** `countersign kek rotate`: seals every private key in the store again under a new key-encryption key. */
import { AuditLog } from '../../audit';
import { loadKek } from '../../keys/crypto';
import { ManagedKeyStore } from '../../keys/managed-key-store';
import { localActor, openServiceStore, parse, subcommand, usageTopic, UsageError } from './support';
import { printOut } from '../output';

export async function kek(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  const sub = subcommand('kek', first);
  const { values, positionals } = parse(
    rest,
    {
      'data-dir': { type: 'string' },
      config: { type: 'string' },
      'old-kek-file': { type: 'string' },
      'new-kek-file': { type: 'string' },
    },
    usageTopic('kek', sub),
  );
  if (sub !== 'rotate') throw new UsageError(`unknown kek command "${sub ?? ''}" (rotate)`);
  const [extra] = positionals;
  if (extra !== undefined) throw new UsageError(`unexpected argument ${extra}`);
  if (!values['old-kek-file'] || !values['new-kek-file'])
    throw new UsageError('kek rotate needs --old-kek-file FILE and --new-kek-file FILE');
  const oldKek = loadKek({ file: values['old-kek-file'] });
  const newKek = loadKek({ file: values['new-kek-file'] });
  const db = await openServiceStore(values, { mustExist: true });
  try {
    const result = await ManagedKeyStore.rotateKek(db, await AuditLog.open(db), oldKek, newKek, localActor());
    printOut(
      `${result.resealed} private key${result.resealed === 1 ? '' : 's'} sealed again under the new key-encryption key (fingerprint ${result.fingerprint}); start every replica with it\n`,
    );
    return 0;
  } finally {
    await db.close();
  }
}
