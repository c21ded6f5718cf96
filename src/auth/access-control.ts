import type * as grpc from '@grpc/grpc-js';
import { PEM_PRIVATE_KEY, type AuditLog } from '../audit';
import { isLoopbackListen } from '../shared/net';
import { CountersignError } from '../shared/errors';
import { DenialLimiter, type DenialLimiterOptions, type SuppressedDenials } from './denial-limiter';
import { CertificateMapper, peerCertificateOf, type MtlsBinding } from './mtls';
import { authorize, imageRepositoryOf, type DenialDetails, type RepositoryOf } from './policy';
import type { TokenCheck, TokenStore } from './token-store';
import { ROLES, type Identity } from './types';
import { cutAtCodePoint } from '../shared/untrusted-text';

export type AccessMode = 'enforce' | 'dev';

/** Who the caller is in development mode: everyone, with every role, for every repository. */
export const DEV_IDENTITY: Readonly<Identity> = Object.freeze({
  subject: 'dev',
  roles: Object.freeze([...ROLES]) as Identity['roles'],
  scopes: Object.freeze(['**']) as string[],
  via: 'dev',
});

/** The part of a logger this module uses (pino's Logger fits). */
export interface AccessLogger {
  error(obj: object, msg?: string): void;
}

export interface AccessControlOptions {
  mode: AccessMode;
  /** Bearer tokens. Without a store, bearer tokens are refused. */
  tokens?: TokenStore;
  /** Roles of client certificates. Without bindings, a verified certificate has no roles. */
  mtlsBindings?: readonly MtlsBinding[];
  /** Where denials are recorded. */
  audit?: AuditLog;
  logger?: AccessLogger;
  /** The listen address; given, 'dev' mode is refused unless it is loopback (see `devModeAllowed`). */
  listen?: string;
  /** How Sign/Attest requests name their repository; default: parse `request.image`. */
  repositoryOf?: RepositoryOf;
  /** How many denials are recorded one by one (see DenialLimiter); the defaults suit a service. */
  denialLimits?: DenialLimiterOptions;
}

/** HTTP authorization schemes that are safe to name back to the caller (anything else might be a credential). */
const KNOWN_SCHEMES = new Set([
  'basic',
  'digest',
  'negotiate',
  'ntlm',
  'token',
  'dpop',
  'hoba',
  'mutual',
  'vapid',
  'aws4-hmac-sha256',
  'scram-sha-256',
  'privatetoken',
]);
const MAX_TARGET = 256;

/**
 * The access check run before every RPC handler (health and reflection are not wrapped).
 *
 * Credentials, in order: an `authorization: Bearer <token>` header (a header that is present but
 * wrong fails the call; it never falls back to the certificate), then a verified client
 * certificate. Every UNAUTHENTICATED or PERMISSION_DENIED answer is appended to the audit log
 * with who (the subject, or 'anonymous'), what (the method and the image or key it named), when
 * and why; beyond 20 a minute for one caller, method and status, they are counted and the count
 * recorded (DenialLimiter), so that a flood costs one row a minute. Tokens never reach the audit log, the logs or error messages.
 */
export class AccessControl {
  readonly mode: AccessMode;
  private readonly tokens: TokenStore | undefined;
  private readonly certificates: CertificateMapper;
  private readonly audit: AuditLog | undefined;
  private readonly logger: AccessLogger | undefined;
  private readonly repositoryOf: RepositoryOf;
  private readonly denials: DenialLimiter;
  /** Counts of denials being written (awaited by close). */
  private readonly summaries = new Set<Promise<void>>();

  constructor(options: AccessControlOptions) {
    // Typed as AccessMode, but it comes from a configuration file or a caller that may give anything.
    const mode: string = options.mode;
    if (mode !== 'enforce' && mode !== 'dev') {
      throw new CountersignError('INVALID_ARGUMENT', `access mode must be "enforce" or "dev", got ${JSON.stringify(mode)}`);
    }
    if (options.mode === 'dev' && options.listen !== undefined && !devModeAllowed(options.listen)) {
      throw devModeRefused(options.listen);
    }
    this.mode = options.mode;
    this.tokens = options.tokens;
    this.certificates = new CertificateMapper(options.mtlsBindings ?? []);
    this.audit = options.audit;
    this.logger = options.logger;
    this.repositoryOf = options.repositoryOf ?? imageRepositoryOf;
    this.denials = new DenialLimiter((summary) => {
      const write = this.recordSuppressed(summary);
      this.summaries.add(write);
      void write.finally(() => this.summaries.delete(write));
    }, options.denialLimits);
  }

  /** Records the counts of denials not yet recorded (at shutdown, before the audit log closes). */
  async close(): Promise<void> {
    this.denials.close();
    await Promise.all([...this.summaries]);
  }

  /** One entry for the denials of a window that were counted, not recorded one by one. */
  private async recordSuppressed(s: SuppressedDenials): Promise<void> {
    try {
      await this.audit?.append({
        actor: recordable(s.actor, 1024),
        action: recordable(s.method, 1024),
        outcome: 'denied',
        reason: `${s.count} further denials (${s.status}) of this caller and method within ${Math.round(s.windowMs / 1000)} s, counted rather than recorded one by one`,
        details: { status: s.status, suppressed: s.count },
      });
    } catch (auditErr) {
      this.logger?.error(
        { method: s.method, actor: s.actor, suppressed: s.count, error: auditErr instanceof Error ? auditErr.message : String(auditErr) },
        'could not record a count of access denials in the audit log',
      );
    }
  }

  /**
   * Authenticates the caller and authorizes `method` with `request`; returns the identity, or
   * throws a CountersignError (UNAUTHENTICATED, PERMISSION_DENIED, or INVALID_ARGUMENT for a
   * malformed image reference in Sign/Attest) after recording a denial.
   *
   * Synchronous when everything it needs is in memory (a remembered token, a certificate: the
   * hot path makes no promise); a promise when the token store must wait for a re-read or look a
   * token up, and for every refusal (it is recorded first, and then the promise rejects).
   */
  check(call: grpc.ServerUnaryCall<unknown, unknown>, method: string, request: unknown): Identity | Promise<Identity> {
    let identity: Identity | undefined | Promise<Identity | undefined>;
    try {
      identity = this.identifyNow(call);
    } catch (err) {
      return this.refused(call, method, request, undefined, err);
    }
    if (identity instanceof Promise) {
      return identity.then(
        (found) => this.authorized(call, method, request, found),
        (err: unknown) => this.refused(call, method, request, undefined, err),
      );
    }
    return this.authorized(call, method, request, identity);
  }

  /**
   * Who the caller is, without deciding what they may do: undefined when no credentials were
   * sent; throws UNAUTHENTICATED for credentials that were sent but are not valid.
   */
  async identify(call: Pick<grpc.ServerUnaryCall<unknown, unknown>, 'metadata' | 'getAuthContext'>): Promise<Identity | undefined> {
    return this.identifyNow(call);
  }

  /** `identify`, synchronous when the answer is in memory. */
  private identifyNow(
    call: Pick<grpc.ServerUnaryCall<unknown, unknown>, 'metadata' | 'getAuthContext'>,
  ): Identity | undefined | Promise<Identity | undefined> {
    if (this.mode === 'dev') return { ...DEV_IDENTITY, roles: [...DEV_IDENTITY.roles], scopes: [...DEV_IDENTITY.scopes] };
    const token = bearerToken(call.metadata);
    if (token !== undefined) return this.tokenIdentity(token);
    const cert = peerCertificateOf(call);
    return cert === undefined ? undefined : this.certificates.identityOf(cert);
  }

  /** `identity` if it may call `method` with `request`; else the refusal, recorded. */
  private authorized(
    call: grpc.ServerUnaryCall<unknown, unknown>,
    method: string,
    request: unknown,
    identity: Identity | undefined,
  ): Identity | Promise<Identity> {
    try {
      authorize(identity, method, request, this.repositoryOf);
      return identity;
    } catch (err) {
      return this.refused(call, method, request, identity, err);
    }
  }

  /** Rejects with `err`, once an UNAUTHENTICATED or PERMISSION_DENIED is recorded. */
  private async refused(
    call: grpc.ServerUnaryCall<unknown, unknown>,
    method: string,
    request: unknown,
    identity: Identity | undefined,
    err: unknown,
  ): Promise<never> {
    if (err instanceof CountersignError && (err.code === 'UNAUTHENTICATED' || err.code === 'PERMISSION_DENIED')) {
      await this.recordDenial(call, method, request, identity, err);
    }
    throw err;
  }

  private tokenIdentity(token: string): Identity | Promise<Identity> {
    if (this.tokens === undefined) {
      throw new CountersignError(
        'UNAUTHENTICATED',
        'this server does not accept bearer tokens (none are configured); use a client certificate',
      );
    }
    const result = this.tokens.check(token);
    return result instanceof Promise ? result.then(identityOfToken) : identityOfToken(result);
  }

  private async recordDenial(
    call: grpc.ServerUnaryCall<unknown, unknown>,
    method: string,
    request: unknown,
    identity: Identity | undefined,
    err: CountersignError,
  ): Promise<void> {
    if (this.audit === undefined) return;
    const details = (err.details ?? {}) as Partial<DenialDetails>;
    const actor = identity?.subject ?? (typeof details.subject === 'string' ? details.subject : 'anonymous');
    // A flood of denials is counted, not written row by row (see DenialLimiter).
    if (!this.denials.admit(actor, method, err.code)) return;
    const target = typeof details.repository === 'string' ? details.repository : targetOf(request);
    const peer = peerOf(call);
    try {
      await this.audit.append({
        actor: recordable(actor, 1024),
        action: recordable(method, 1024),
        ...(target !== undefined ? { target: recordable(target, MAX_TARGET) } : {}),
        outcome: 'denied',
        reason: recordable(err.message, 4096),
        details: {
          status: err.code,
          ...(peer !== undefined ? { peer } : {}),
          ...(identity !== undefined ? { via: identity.via } : {}),
          ...(details.requiredRole !== undefined ? { requiredRole: details.requiredRole } : {}),
        },
      });
    } catch (auditErr) {
      // The call stays denied; losing the record is an operational problem to surface.
      this.logger?.error(
        { method, actor, error: auditErr instanceof Error ? auditErr.message : String(auditErr) },
        'could not record an access denial in the audit log',
      );
    }
  }
}

/** The identity of a token the store accepted; UNAUTHENTICATED, saying why, for one it refused. */
function identityOfToken(result: TokenCheck): Identity {
  if (result.ok) return result.identity;
  switch (result.problem) {
    case 'malformed':
      throw new CountersignError(
        'UNAUTHENTICATED',
        'the bearer token is not a Countersign token (expected cst_ followed by 43 characters)',
      );
    case 'unknown':
      throw new CountersignError(
        'UNAUTHENTICATED',
        'the bearer token is not valid on this server: check that it was copied whole, or ask for a new one',
      );
    case 'expired':
      throw new CountersignError('UNAUTHENTICATED', `token ${result.name} expired at ${result.at}; ask an administrator for a new one`, {
        details: { subject: `token:${result.name}` },
      });
    case 'revoked':
      throw new CountersignError(
        'UNAUTHENTICATED',
        `token ${result.name} was revoked at ${result.at}; ask an administrator for a new one`,
        {
          details: { subject: `token:${result.name}` },
        },
      );
  }
}

/**
 * The token of an `authorization: Bearer <token>` header; undefined when the header is absent.
 * The scheme is case-insensitive. Anything else (another scheme, a bare token, two headers, an
 * empty token) is UNAUTHENTICATED with a message that never repeats the header's value.
 */
export function bearerToken(metadata: grpc.Metadata): string | undefined {
  const values = metadata.get('authorization');
  if (values.length === 0) return undefined;
  if (values.length > 1) {
    throw new CountersignError('UNAUTHENTICATED', `send one authorization header, not ${values.length}`);
  }
  const raw = values[0];
  const value = (typeof raw === 'string' ? raw : '').trim();
  if (value.length === 0) {
    throw new CountersignError('UNAUTHENTICATED', "the authorization header is empty: send 'authorization: Bearer <token>'");
  }
  const space = value.search(/[ \t]/);
  const scheme = space === -1 ? value : value.slice(0, space);
  const rest = space === -1 ? '' : value.slice(space + 1).trim();
  if (scheme.toLowerCase() !== 'bearer') {
    if (scheme.startsWith('cst_')) {
      throw new CountersignError('UNAUTHENTICATED', "the authorization header holds a bare token: send 'authorization: Bearer <token>'");
    }
    const named = KNOWN_SCHEMES.has(scheme.toLowerCase()) ? `"${scheme}" ` : '';
    throw new CountersignError('UNAUTHENTICATED', `authorization scheme ${named}is not supported: send 'authorization: Bearer <token>'`);
  }
  if (rest.length === 0) {
    throw new CountersignError(
      'UNAUTHENTICATED',
      "the authorization header has no token after Bearer: send 'authorization: Bearer <token>'",
    );
  }
  if (/\s/.test(rest)) {
    throw new CountersignError('UNAUTHENTICATED', 'the bearer token contains whitespace: send exactly one token after Bearer');
  }
  return rest;
}

/** What the request names, for the audit record: an image, images or a key. Never other fields (they may hold secrets). */
function targetOf(request: unknown): string | undefined {
  if (typeof request !== 'object' || request === null) return undefined;
  const r = request as Record<string, unknown>;
  let target: string | undefined;
  if (typeof r.image === 'string' && r.image) target = r.image;
  else if (Array.isArray(r.images) && r.images.length > 0) target = r.images.filter((i) => typeof i === 'string').join(', ');
  else if (typeof r.key === 'string' && r.key) target = r.key;
  else if (typeof r.name === 'string' && r.name) target = r.name;
  return target === undefined || target.length === 0 ? undefined : target;
}

/** A bearer token anywhere in a text (one pasted as a key name, quoted in an error). */
const TOKEN_ANYWHERE = /cst_[A-Za-z0-9_-]{43}/g;

/**
 * What a caller sent (a name, a certificate subject, an error quoting either), made fit for a
 * denial record, the one place for it: a PEM private key marker (which the audit log refuses, so
 * the caller could keep its own denials unrecorded) and a bearer token (readable by whoever may
 * list the audit log) are redacted, and the text is cut within `max` at a code point (a cut
 * inside a surrogate pair leaves half a character), so a long name cannot make the record fail.
 */
function recordable(text: string, max: number): string {
  const redacted = text
    .replace(new RegExp(PEM_PRIVATE_KEY.source, 'g'), '[PEM private key marker removed]')
    .replace(TOKEN_ANYWHERE, '[bearer token removed]');
  if (redacted.length <= max) return redacted;
  return `${redacted.slice(0, cutAtCodePoint(redacted, max - 1))}…`;
}

function peerOf(call: grpc.ServerUnaryCall<unknown, unknown>): string | undefined {
  try {
    const peer = typeof call.getPeer === 'function' ? call.getPeer() : undefined;
    return typeof peer === 'string' && peer.length > 0 ? recordable(peer, MAX_TARGET) : undefined;
  } catch {
    return undefined;
  }
}

/** The host part of `host:port` (`[v6]:port`, or a bare host), lowercased, without brackets. */
/**
 * Whether development mode (no authentication) may be used when listening on `listen`: only
 * for loopback addresses (127.0.0.0/8, ::1, localhost), which no other machine can reach.
 * Wildcards (0.0.0.0, ::), LAN addresses, other host names and anything unparseable: false.
 */
export function devModeAllowed(listen: string): boolean {
  return isLoopbackListen(listen);
}

function devModeRefused(listen: string): CountersignError {
  return new CountersignError(
    'FAILED_PRECONDITION',
    `development mode (no authentication) is only allowed on a loopback address (127.0.0.1, ::1, localhost), but the service listens on ${listen}. ` +
      'Listen on 127.0.0.1, or keep access control on and give callers tokens or client certificates',
  );
}

/**
 * The access mode to run with. An explicit `requested` mode wins, except that 'dev' is refused
 * beyond loopback. Unset: 'enforce' when listening beyond loopback or when credentials (tokens,
 * mTLS bindings) are configured; 'dev' only on loopback with no credentials configured, i.e. a
 * fresh local install, and `startupBanner` then says so loudly.
 */
export function resolveAccessMode(options: { requested?: AccessMode; listen: string; credentialsConfigured?: boolean }): AccessMode {
  const { requested, listen } = options;
  if (requested !== undefined) {
    const mode: string = requested; // from configuration: may be anything at run time
    if (mode !== 'enforce' && mode !== 'dev') {
      throw new CountersignError('INVALID_ARGUMENT', `access mode must be "enforce" or "dev", got ${JSON.stringify(mode)}`);
    }
    if (requested === 'dev' && !devModeAllowed(listen)) throw devModeRefused(listen);
    return requested;
  }
  return !options.credentialsConfigured && devModeAllowed(listen) ? 'dev' : 'enforce';
}

/**
 * What to print at startup about access control. In development mode a loud, multi-line warning
 * meant for stderr and the log; in enforce mode undefined (nothing to warn about).
 */
export function startupBanner(mode: AccessMode, listen: string): string | undefined {
  if (mode !== 'dev') return undefined;
  const lines = [
    'WARNING: COUNTERSIGN IS RUNNING IN DEVELOPMENT MODE - ACCESS CONTROL IS OFF',
    '',
    `Every caller that can reach ${listen} is treated as "dev" with every role:`,
    'it may sign and attest ANY image with the keys this service holds, verify,',
    'and administer keys. No credentials are checked.',
    '',
    'Never use this mode for anything but local development. To turn access',
    'control on, set the access mode to "enforce" and give callers bearer tokens',
    'or client certificates (development mode is refused beyond loopback).',
  ];
  const width = Math.max(...lines.map((l) => l.length));
  const bar = '!'.repeat(width + 6);
  return [bar, ...lines.map((l) => `!! ${l.padEnd(width)} !!`), bar].join('\n');
}
