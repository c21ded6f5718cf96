/**
 * Registry authentication (distribution "token auth" and plain Basic), layered over the transport.
 *
 * Flow: try anonymously; on 401 read the challenge, get credentials for the scheme it names, retry.
 * Once a registry has challenged us we remember the challenge and authenticate up front, so large
 * request bodies are not sent twice. Bearer tokens are cached per (registry, realm, service, scope)
 * until shortly before they expire, and concurrent requests needing the same token share one
 * token request. A 401 on a cached token drops it and re-authenticates once; a 401 on fresh
 * credentials is final.
 *
 * Every refusal (401 after the challenge, a token endpoint saying no, Basic auth with nothing to
 * send) is PERMISSION_DENIED naming the registry, the repository and how to give the service
 * credentials. Never UNAUTHENTICATED: that status belongs to Countersign's own callers, and a CI job
 * reading it would look for a problem with its Countersign token.
 */
import { SharedWork } from '../shared/cancellation';
import { CountersignError } from '../shared/errors';
import type { CredentialStore, RegistryCredential } from './credentials';
import type { EndpointResolver } from './endpoint';
import { discardBody, displayUrl, errorText, readBody, type HttpRequest, type HttpResponse, type HttpTransport } from './http';
import { parseWwwAuthenticate, type AuthChallenge } from './www-authenticate';

/** What an operation needs: reads need `pull`; anything that writes needs `pull,push`. */
export type Access = 'pull' | 'push';

export interface AuthTarget {
  registry: string;
  repository: string;
  access: Access;
}

export function scopeFor(repository: string, access: Access): string {
  return `repository:${repository}:${access === 'push' ? 'pull,push' : 'pull'}`;
}

/** Tokens are used until this long before `expires_in` runs out (at most a fifth of their life). */
const EXPIRY_MARGIN_MS = 10_000;
const DEFAULT_TOKEN_LIFETIME_S = 60;
const TOKEN_RESPONSE_LIMIT = 64 * 1024;
const CLIENT_ID = 'countersign';

interface CachedToken {
  value: string;
  expiresAt: number;
}

interface AuthState {
  authorization?: string;
  /** The credentials were obtained for this very request, so a 401 means they are refused. */
  fresh: boolean;
  challenge?: AuthChallenge;
  tokenKey?: string;
  hadCredentials: boolean;
}

export interface AuthOptions {
  transport: HttpTransport;
  endpoints: EndpointResolver;
  credentials?: CredentialStore;
  now?: () => number;
}

/** The state of a request to a registry that has never challenged us (frozen: shared by all). */
const ANONYMOUS: Readonly<AuthState> = Object.freeze({ fresh: false, hadCredentials: false });

function sameChallenge(a: AuthChallenge | undefined, b: AuthChallenge | undefined): boolean {
  return !!a && !!b && a.scheme === b.scheme && a.params.realm === b.params.realm && a.params.service === b.params.service;
}

export class RegistryAuth {
  private readonly challenges = new Map<string, AuthChallenge>();
  private readonly tokens = new Map<string, CachedToken>();
  /** Token requests in flight, shared by the requests that need the same token. */
  private readonly tokenFetches = new SharedWork<string>();
  private readonly now: () => number;

  constructor(private readonly opts: AuthOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Sends `req` with whatever authorization the registry demands. Non-401 responses are returned as they are. */
  async send(target: AuthTarget, req: HttpRequest): Promise<HttpResponse> {
    // No await when nothing needs fetching (no challenge yet, or a cached token that is still
    // valid): the warm path is one HEAD, and each await is another turn of the microtask queue.
    const initial = this.initialState(target, req.signal);
    let state: Readonly<AuthState> = initial instanceof Promise ? await initial : initial;
    for (let round = 0; ; round++) {
      // The transport copies the headers it sends; the caller's request is only copied to add one.
      const res = await this.opts.transport.send(
        state.authorization ? { ...req, headers: { ...req.headers, authorization: state.authorization } } : req,
      );
      if (res.status !== 401) return res;
      // A 401 from where the registry redirected the read (its blob storage, say) is that host's,
      // not the registry's: its challenge must never steer the registry's credentials to a realm
      // it names (nor be remembered as the registry's).
      if (new URL(res.url).origin !== req.url.origin) {
        await discardBody(res);
        throw new CountersignError(
          'PERMISSION_DENIED',
          `registry ${target.registry} redirected the ${target.access} of repository ${target.repository} to ${new URL(res.url).host}, which asked for credentials; the registry's credentials are only ever sent to the registry`,
          { details: { registry: target.registry, repository: target.repository, access: target.access, status: 401 } },
        );
      }

      const text = redactCredentials(await errorText(res), state.authorization);
      const challenge = pickChallenge(parseWwwAuthenticate(res.headers['www-authenticate']));
      if (!challenge) {
        throw new CountersignError(
          'PERMISSION_DENIED',
          `registry ${target.registry} answered 401 for ${target.access} access to repository ${target.repository} without a usable WWW-Authenticate challenge${text ? `: ${text}` : ''}; ${state.hadCredentials ? `check the credentials the service has for ${target.registry}` : credentialsHint(target.registry)}`,
          { details: { registry: target.registry, repository: target.repository, access: target.access, status: 401 } },
        );
      }
      // Fresh credentials refused under an unchanged challenge: asking again cannot help.
      if ((state.fresh && sameChallenge(challenge, state.challenge)) || round >= 2) {
        throw this.refused(target, state.hadCredentials, text);
      }
      if (state.tokenKey) this.tokens.delete(state.tokenKey);
      this.challenges.set(target.registry, challenge);
      state = await this.authorize(target, challenge, req.signal);
    }
  }

  /** Cached token, or up-front authentication when this registry is known to challenge. */
  private initialState(target: AuthTarget, signal: AbortSignal | undefined): AuthState | Promise<AuthState> {
    const challenge = this.challenges.get(target.registry);
    if (!challenge) return ANONYMOUS;
    if (challenge.scheme === 'bearer') {
      const key = this.tokenKey(target, challenge);
      const cached = this.tokens.get(key);
      if (cached && cached.expiresAt > this.now()) {
        return { authorization: `Bearer ${cached.value}`, fresh: false, challenge, tokenKey: key, hadCredentials: true };
      }
    }
    return this.authorize(target, challenge, signal);
  }

  private async authorize(target: AuthTarget, challenge: AuthChallenge, signal: AbortSignal | undefined): Promise<AuthState> {
    const credential = await this.opts.credentials?.get(target.registry);
    const hadCredentials = credential !== undefined;
    if (challenge.scheme === 'basic') {
      if (!credential || !('username' in credential)) {
        throw new CountersignError(
          'PERMISSION_DENIED',
          `registry ${target.registry} requires a username and password to ${target.access} repository ${target.repository}, and the service has none for it (identity tokens cannot be used with Basic auth); ${credentialsHint(target.registry)}`,
          {
            details: {
              registry: target.registry,
              repository: target.repository,
              access: target.access,
              credentials: credential ? 'identity-token' : 'none',
            },
          },
        );
      }
      const basic = Buffer.from(`${credential.username}:${credential.password}`).toString('base64');
      return { authorization: `Basic ${basic}`, fresh: true, challenge, hadCredentials };
    }
    const key = this.tokenKey(target, challenge);
    const token = await this.tokenFetches.run(key, (shared) => this.fetchToken(target, challenge, credential, key, shared), signal);
    return { authorization: `Bearer ${token}`, fresh: true, challenge, tokenKey: key, hadCredentials };
  }

  private tokenKey(target: AuthTarget, challenge: AuthChallenge): string {
    return [target.registry, challenge.params.realm ?? '', challenge.params.service ?? '', scopeFor(target.repository, target.access)].join(
      '\n',
    );
  }

  private async fetchToken(
    target: AuthTarget,
    challenge: AuthChallenge,
    credential: RegistryCredential | undefined,
    key: string,
    signal: AbortSignal,
  ): Promise<string> {
    const { registry } = target;
    let realm: URL;
    try {
      realm = new URL(challenge.params.realm ?? '');
      if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw new Error('scheme');
    } catch {
      throw new CountersignError(
        'UNAVAILABLE',
        `registry ${registry} sent a Bearer challenge without a valid http(s) realm; cannot obtain a token`,
        {
          details: { registry },
        },
      );
    }
    if (credential && realm.protocol === 'http:' && !this.opts.endpoints.allowsPlainHttp(realm.host)) {
      throw new CountersignError(
        'FAILED_PRECONDITION',
        `registry ${registry} asks for credentials at a plain-HTTP token endpoint (${displayUrl(realm)}); refusing to send them unencrypted (list the host in insecureHosts if this is intended)`,
        { details: { registry } },
      );
    }
    const scope = scopeFor(target.repository, target.access);
    const service = challenge.params.service;
    let req: HttpRequest;
    if (credential && 'identityToken' in credential) {
      // An identity token is an OAuth2 refresh token (docker login with some registries / SSO).
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: credential.identityToken,
        client_id: CLIENT_ID,
        scope,
      });
      if (service) form.set('service', service);
      req = {
        method: 'POST',
        url: realm,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
        idempotent: true, // token requests change no state
        registry,
        signal,
      };
    } else {
      const url = new URL(realm);
      if (service) url.searchParams.set('service', service);
      url.searchParams.append('scope', scope);
      const headers: Record<string, string> = {};
      if (credential) headers.authorization = `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}`;
      req = { method: 'GET', url, headers, idempotent: true, registry, signal };
    }

    const res = await this.opts.transport.send(req);
    // What the token endpoint says is quoted in errors (Verify reasons, logs): never with what we sent it.
    const secrets = credential
      ? 'identityToken' in credential
        ? [credential.identityToken]
        : [credential.password, req.headers?.authorization]
      : [];
    if (res.status === 401 || res.status === 403) {
      throw this.refused(target, credential !== undefined, redactCredentials(await errorText(res), ...secrets), 'token endpoint');
    }
    if (res.status !== 200) {
      // Only the status: the body of whatever the realm names (possibly an internal service) is not ours to relay.
      await discardBody(res);
      throw new CountersignError(
        res.status >= 500 || res.status === 429 ? 'UNAVAILABLE' : 'PERMISSION_DENIED',
        `token endpoint of registry ${registry} (${displayUrl(realm)}) answered ${res.status}`,
        { details: { registry, status: res.status } },
      );
    }
    const body = await readBody(res, TOKEN_RESPONSE_LIMIT, 'token response', req, this.opts.transport.timeoutMs);
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      throw new CountersignError('DATA_LOSS', `token endpoint of registry ${registry} returned a body that is not JSON`, {
        details: { registry },
      });
    }
    // Any JSON value may come back (null, a list, a string): only an object's fields are read.
    const parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown } = typeof json === 'object' && json !== null ? json : {};
    const token = typeof parsed.token === 'string' && parsed.token !== '' ? parsed.token : parsed.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new CountersignError('DATA_LOSS', `token endpoint of registry ${registry} returned no token`, { details: { registry } });
    }
    const lifetimeS = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : DEFAULT_TOKEN_LIFETIME_S;
    const lifetimeMs = lifetimeS * 1000;
    this.pruneExpired();
    this.tokens.set(key, { value: token, expiresAt: this.now() + lifetimeMs - Math.min(EXPIRY_MARGIN_MS, lifetimeMs / 5) });
    return token;
  }

  /** A long-running service touches many repositories; expired tokens must not pile up. */
  private pruneExpired(): void {
    if (this.tokens.size < 256) return;
    const now = this.now();
    for (const [key, cached] of this.tokens) if (cached.expiresAt <= now) this.tokens.delete(key);
  }

  private refused(target: AuthTarget, hadCredentials: boolean, text: string, where = 'registry'): CountersignError {
    const reason = text ? `: ${text}` : '';
    const details = { registry: target.registry, repository: target.repository, access: target.access };
    if (!hadCredentials) {
      return new CountersignError(
        'PERMISSION_DENIED',
        `registry ${target.registry} requires authentication to ${target.access} repository ${target.repository}${where === 'registry' ? '' : ` (refused at its ${where})`}${reason}; the service has no credentials for it: ${credentialsHint(target.registry)}`,
        { details: { ...details, credentials: 'none' } },
      );
    }
    return new CountersignError(
      'PERMISSION_DENIED',
      `registry ${target.registry} refused the credentials for repository ${target.repository} (${target.access}${where === 'registry' ? '' : `, at its ${where}`})${reason}; check the service's docker config (registry.dockerConfig or DOCKER_CONFIG) for ${target.registry} and that the account may ${target.access} this repository`,
      { details },
    );
  }
}

/** How an operator gives the service credentials for `registry` (README: registry credentials). */
export function credentialsHint(registry: string): string {
  return `run docker login ${registry} as an account allowed to use it, and point the service at that docker config (registry.dockerConfig, or DOCKER_CONFIG for the directory)`;
}

/** Bearer wins over Basic when a registry offers both; unknown schemes are ignored. */
function pickChallenge(challenges: AuthChallenge[]): AuthChallenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
}

/**
 * `text` (a registry's or token endpoint's error body, quoted in our errors) with every credential
 * we sent removed: an Authorization header value, its base64 part and what it decodes to, a
 * password, a refresh token. A registry that echoes the request must not put them into Verify
 * reasons and logs.
 */
export function redactCredentials(text: string, ...sent: Array<string | string[] | undefined>): string {
  const secrets = new Set<string>();
  for (const value of sent.flat()) {
    if (value === undefined || value.length < 4) continue;
    secrets.add(value);
    const m = /^(?:basic|bearer)\s+(\S+)$/i.exec(value);
    if (m) {
      secrets.add(m[1]!);
      if (/^basic/i.test(value)) {
        const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
        secrets.add(decoded);
        const colon = decoded.indexOf(':');
        if (colon >= 0 && decoded.length - colon > 4) secrets.add(decoded.slice(colon + 1));
      }
    }
  }
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(secret).join('[redacted]');
  return out;
}
