/** What PostgreSQL (and the sockets under it) can say, as errors a caller or an operator can act on. */
import { CountersignError } from '../shared/errors';

/** Where a postgres:// URL points, without its password (for messages and logs). */
export function describeStoreUrl(url: string): string {
  try {
    const u = new URL(url);
    // A path holding "@" is a password with an unescaped "/" (storeUrlProblem refuses it): never shown.
    const db = u.pathname.includes('@') ? '(unparseable database name)' : u.pathname.replace(/^\//, '') || '(default database)';
    return `PostgreSQL ${u.username ? `${decodeURIComponent(u.username)}@` : ''}${u.host}/${db}`;
  } catch {
    return 'PostgreSQL (unparseable store.url)';
  }
}

/** SQLSTATE classes and socket codes that mean "the server cannot be used now" (retrying may work). */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EPIPE',
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);

/** True for an error that says the connection or the server is gone (not a problem with the statement). */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  if (e?.code !== undefined && (CONNECTION_CODES.has(e.code) || e.code.startsWith('08'))) return true;
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(
    e?.message ?? '',
  );
}

/** A pg error (or a Node socket error) as the UNAVAILABLE a caller can act on; other errors unchanged. */
export function storeError(store: string, doing: string, err: unknown): CountersignError {
  if (err instanceof CountersignError) return err;
  const e = err as { code?: string; message?: string } | null | undefined;
  const why = e?.message ?? String(err);
  let message: string;
  switch (e?.code) {
    case '28P01':
    case '28000':
      message = `${store} refused the credentials in store.url (${why}): check the user and password`;
      break;
    case '3D000':
      message = `${store}: the database in store.url does not exist (${why})`;
      break;
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
      message = `${store} is unreachable (${why}): check store.url and that the server is running`;
      break;
    default:
      message = `${store} failed while ${doing}: ${why}`;
  }
  return new CountersignError('UNAVAILABLE', message, { cause: err, details: { store, pgCode: e?.code ?? '' } });
}
