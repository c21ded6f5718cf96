/**
 * A small in-process OCI registry for unit tests (node:http, everything in memory). It speaks
 * enough of distribution-spec v1.1 for the client: manifests and tags, blobs with POST+PUT
 * uploads, an optional referrers API (with pagination and optional server-side filtering), optional
 * Basic or Bearer token auth with a token endpoint, and injectable faults (status codes with
 * Retry-After, delays, custom bodies). Like Distribution 2.8 it ignores If-Match unless told not to.
 */
import { createHash, randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeAuth {
  scheme: 'basic' | 'bearer';
  /** username → password */
  users?: Record<string, string>;
  /** Bearer: OAuth2 refresh tokens accepted at POST /token (identity tokens). */
  refreshTokens?: string[];
  /** Bearer: anonymous token requests get `pull` (push still needs a user). */
  anonymousPull?: boolean;
  /** Bearer: lifetime given to tokens; omitted from the response when undefined. */
  expiresIn?: number;
  /** Bearer: which JSON field carries the token. Default `token`. */
  tokenField?: 'token' | 'access_token';
}

export interface FakeRegistryOptions {
  referrersApi?: boolean;
  /** Referrers API page size (pagination with a relative Link header). Default: unlimited. */
  referrersPageSize?: number;
  /** Apply `?artifactType=` server-side and say so with OCI-Filters-Applied. */
  filtersApplied?: boolean;
  /** Send OCI-Subject on manifest PUT (default: same as referrersApi). */
  ociSubject?: boolean;
  auth?: FakeAuth;
  /** Honour If-Match on manifest PUT (default false, like Distribution 2.8). */
  honorIfMatch?: boolean;
  /** Leave Docker-Content-Digest off manifest responses. */
  omitDigestHeader?: boolean;
}

export interface Fault {
  method?: string;
  /** Matched against the request path (without query). */
  path?: RegExp;
  /** How many requests this fault applies to. Default 1. */
  times?: number;
  /** Wait this long before answering (then answer normally unless `status` is set). */
  delayMs?: number;
  status?: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** The request target exactly as sent. */
  rawUrl: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
}

interface StoredManifest {
  bytes: Buffer;
  mediaType: string;
}

interface Repo {
  manifests: Map<string, StoredManifest>;
  tags: Map<string, string>;
  blobs: Map<string, Buffer>;
}

interface IssuedToken {
  scopes: Map<string, Set<string>>;
  expiresAt: number;
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const INDEX = 'application/vnd.oci.image.index.v1+json';

export class FakeRegistry {
  readonly requests: RecordedRequest[] = [];
  readonly tokenRequests: RecordedRequest[] = [];
  /** TCP connections accepted so far (a client that pools its connections opens few). */
  connections = 0;
  /** Called after a manifest PUT is stored (e.g. to simulate a concurrent writer). */
  afterManifestPut?: (repository: string, reference: string) => void;
  /** Called for every registry request before it is handled (e.g. to change state under the client). */
  onRequest?: (request: RecordedRequest) => void;
  private readonly repos = new Map<string, Repo>();
  private readonly faults: Fault[] = [];
  private readonly tokens = new Map<string, IssuedToken>();
  private server!: http.Server;
  /** Pending fault delays, cut short on close so no timer outlives the test. */
  private readonly delays = new Set<() => void>();
  host = '';

  private constructor(readonly options: FakeRegistryOptions) {}

  static async start(options: FakeRegistryOptions = {}): Promise<FakeRegistry> {
    const reg = new FakeRegistry(options);
    reg.server = http.createServer((req, res) => {
      reg.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      });
    });
    reg.server.on('connection', () => {
      reg.connections++;
    });
    await new Promise<void>((resolve) => reg.server.listen(0, '127.0.0.1', resolve));
    reg.host = `127.0.0.1:${(reg.server.address() as AddressInfo).port}`;
    return reg;
  }

  async close(): Promise<void> {
    for (const finish of this.delays) finish();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  inject(fault: Fault): void {
    this.faults.push({ times: 1, ...fault });
  }

  /** Makes every issued token invalid (as if the registry rotated its signing key). */
  revokeTokens(): void {
    this.tokens.clear();
  }

  requestsMatching(method: string, path: RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && path.test(r.path));
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.delays.delete(finish);
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.delays.add(finish);
    });
  }

  // ---- direct storage access for tests ----

  repo(name: string): Repo {
    let r = this.repos.get(name);
    if (!r) {
      r = { manifests: new Map(), tags: new Map(), blobs: new Map() };
      this.repos.set(name, r);
    }
    return r;
  }

  storeManifest(repository: string, bytes: Buffer, mediaType: string, tag?: string): string {
    const digest = sha256(bytes);
    const r = this.repo(repository);
    r.manifests.set(digest, { bytes, mediaType });
    if (tag) r.tags.set(tag, digest);
    return digest;
  }

  storeBlob(repository: string, bytes: Buffer): string {
    const digest = sha256(bytes);
    this.repo(repository).blobs.set(digest, bytes);
    return digest;
  }

  taggedManifest(repository: string, tag: string): StoredManifest | undefined {
    const r = this.repos.get(repository);
    const d = r?.tags.get(tag);
    return d ? r!.manifests.get(d) : undefined;
  }

  // ---- HTTP ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', `http://${this.host}`);
    const body = await readAll(req);
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      rawUrl: req.url ?? '',
      query: url.searchParams,
      headers: req.headers,
    };

    if (url.pathname === '/token') {
      this.tokenRequests.push(rec);
      this.handleToken(req, res, url, body);
      return;
    }
    this.requests.push(rec);
    this.onRequest?.(rec);

    const fault = this.faults.find(
      (f) => (f.times ?? 1) > 0 && (!f.method || f.method === req.method) && (!f.path || f.path.test(url.pathname)),
    );
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.delayMs) await this.delay(fault.delayMs);
      if (fault.status !== undefined) {
        if (res.destroyed) return;
        res.writeHead(fault.status, fault.headers ?? {});
        res.end(req.method === 'HEAD' ? undefined : (fault.body ?? ''));
        return;
      }
      if (res.destroyed) return;
    }

    if (url.pathname === '/v2/' || url.pathname === '/v2') {
      if (!this.authorized(req, res, undefined, 'pull')) return;
      send(res, 200, { 'content-type': 'application/json' }, '{}', req.method);
      return;
    }

    const upload = /^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/.exec(url.pathname);
    if (upload) {
      this.handleUpload(req, res, url, upload[1]!, upload[2]!, body);
      return;
    }

    const m = /^\/v2\/(.+)\/(manifests|blobs|referrers)\/([^/]+)$/.exec(url.pathname);
    if (!m) {
      send(res, 404, { 'content-type': 'text/plain' }, '404 page not found', req.method);
      return;
    }
    const [, name, kind, ref] = m as unknown as [string, string, string, string];
    const action = req.method === 'GET' || req.method === 'HEAD' ? 'pull' : 'push';
    if (!this.authorized(req, res, name, action)) return;

    if (kind === 'manifests') {
      this.handleManifest(req, res, name, ref, body);
      return;
    }
    if (kind === 'blobs') {
      this.handleBlob(req, res, name, ref);
      return;
    }
    this.handleReferrers(req, res, url, name, ref);
  }

  private handleManifest(req: IncomingMessage, res: ServerResponse, name: string, ref: string, body: Buffer): void {
    const r = this.repo(name);
    if (req.method === 'GET' || req.method === 'HEAD') {
      const digest = ref.startsWith('sha256:') ? ref : r.tags.get(ref);
      const m = digest ? r.manifests.get(digest) : undefined;
      if (!m || !digest) {
        ociError(res, 404, 'MANIFEST_UNKNOWN', 'manifest unknown', req.method);
        return;
      }
      const headers: Record<string, string> = {
        'content-type': m.mediaType,
        etag: `"${digest}"`,
        'content-length': String(m.bytes.length),
      };
      if (!this.options.omitDigestHeader) headers['docker-content-digest'] = digest;
      res.writeHead(200, headers);
      res.end(req.method === 'HEAD' ? undefined : m.bytes);
      return;
    }
    if (req.method !== 'PUT') {
      ociError(res, 405, 'UNSUPPORTED', 'method not allowed', req.method);
      return;
    }
    const digest = sha256(body);
    if (ref.startsWith('sha256:') && ref !== digest) {
      ociError(res, 400, 'DIGEST_INVALID', 'digest mismatch', req.method);
      return;
    }
    let parsed: { config?: { digest: string }; layers?: Array<{ digest: string }>; subject?: { digest: string } };
    try {
      parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
    } catch {
      ociError(res, 400, 'MANIFEST_INVALID', 'not json', req.method);
      return;
    }
    for (const d of [parsed.config, ...(parsed.layers ?? [])]) {
      if (d && !r.blobs.has(d.digest)) {
        ociError(res, 400, 'MANIFEST_BLOB_UNKNOWN', `blob unknown: ${d.digest}`, req.method);
        return;
      }
    }
    if (!ref.startsWith('sha256:') && this.options.honorIfMatch && req.headers['if-match'] !== undefined) {
      const current = r.tags.get(ref);
      if (!current || req.headers['if-match'] !== `"${current}"`) {
        ociError(res, 412, 'PRECONDITION', 'etag mismatch', req.method);
        return;
      }
    }
    r.manifests.set(digest, { bytes: body, mediaType: req.headers['content-type'] ?? '' });
    if (!ref.startsWith('sha256:')) r.tags.set(ref, digest);
    const headers: Record<string, string> = { location: `/v2/${name}/manifests/${digest}`, 'docker-content-digest': digest };
    if (parsed.subject && (this.options.ociSubject ?? this.options.referrersApi)) headers['oci-subject'] = parsed.subject.digest;
    res.writeHead(201, headers);
    res.end();
    this.afterManifestPut?.(name, ref);
  }

  private handleBlob(req: IncomingMessage, res: ServerResponse, name: string, digest: string): void {
    const blob = this.repo(name).blobs.get(digest);
    if (!blob) {
      ociError(res, 404, 'BLOB_UNKNOWN', 'blob unknown', req.method);
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(blob.length),
      'docker-content-digest': digest,
    });
    res.end(req.method === 'HEAD' ? undefined : blob);
  }

  private handleUpload(req: IncomingMessage, res: ServerResponse, url: URL, name: string, id: string, body: Buffer): void {
    if (!this.authorized(req, res, name, 'push')) return;
    if (req.method === 'POST' && id === '') {
      // Relative Location with a query string: the client must resolve it and append with '&'.
      res.writeHead(202, { location: `/v2/${name}/blobs/uploads/${randomUUID()}?_state=opaque%3D`, 'content-length': '0' });
      res.end();
      return;
    }
    if (req.method === 'PUT' && id !== '') {
      if (url.searchParams.get('_state') !== 'opaque=') {
        ociError(res, 400, 'BLOB_UPLOAD_INVALID', 'lost upload state', req.method);
        return;
      }
      const digest = url.searchParams.get('digest');
      if (!digest || sha256(body) !== digest) {
        ociError(res, 400, 'DIGEST_INVALID', 'digest mismatch', req.method);
        return;
      }
      this.repo(name).blobs.set(digest, body);
      res.writeHead(201, { location: `/v2/${name}/blobs/${digest}`, 'docker-content-digest': digest });
      res.end();
      return;
    }
    ociError(res, 405, 'UNSUPPORTED', 'unsupported upload request', req.method);
  }

  private handleReferrers(req: IncomingMessage, res: ServerResponse, url: URL, name: string, subject: string): void {
    if (!this.options.referrersApi) {
      send(res, 404, { 'content-type': 'text/plain' }, '404 page not found', req.method);
      return;
    }
    if (!/^sha256:[0-9a-f]{64}$/.test(subject)) {
      ociError(res, 400, 'DIGEST_INVALID', 'bad digest', req.method);
      return;
    }
    const r = this.repo(name);
    let entries: Array<Record<string, unknown>> = [];
    for (const [digest, m] of r.manifests) {
      let parsed: {
        subject?: { digest: string };
        artifactType?: string;
        config?: { mediaType: string };
        annotations?: Record<string, string>;
      };
      try {
        parsed = JSON.parse(m.bytes.toString('utf8')) as typeof parsed;
      } catch {
        continue;
      }
      if (parsed.subject?.digest !== subject) continue;
      const entry: Record<string, unknown> = { mediaType: m.mediaType, digest, size: m.bytes.length };
      const at = parsed.artifactType ?? parsed.config?.mediaType;
      if (at) entry.artifactType = at;
      if (parsed.annotations) entry.annotations = parsed.annotations;
      entries.push(entry);
    }
    entries.sort((a, b) => String(a.digest).localeCompare(String(b.digest)));
    const headers: Record<string, string> = { 'content-type': INDEX };
    const artifactType = url.searchParams.get('artifactType');
    if (artifactType !== null && this.options.filtersApplied) {
      entries = entries.filter((e) => e.artifactType === artifactType);
      headers['oci-filters-applied'] = 'artifactType';
    }
    const size = this.options.referrersPageSize ?? Number.MAX_SAFE_INTEGER;
    const page = Number(url.searchParams.get('page') ?? '0');
    const slice = entries.slice(page * size, (page + 1) * size);
    if ((page + 1) * size < entries.length) {
      const next = new URLSearchParams(url.searchParams);
      next.set('page', String(page + 1));
      headers.link = `</v2/${name}/referrers/${subject}?${next.toString()}>; rel="next"`;
    }
    send(res, 200, headers, JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: slice }), req.method);
  }

  // ---- auth ----

  private challenge(name: string | undefined, action: string): string {
    const auth = this.options.auth!;
    if (auth.scheme === 'basic') return 'Basic realm="fake-registry"';
    const scope = name ? `,scope="repository:${name}:${action}"` : '';
    return `Bearer realm="http://${this.host}/token",service="fake.registry"${scope}`;
  }

  private authorized(req: IncomingMessage, res: ServerResponse, name: string | undefined, action: 'pull' | 'push'): boolean {
    const auth = this.options.auth;
    if (!auth) return true;
    const header = req.headers.authorization ?? '';
    let ok = false;
    if (auth.scheme === 'basic' && header.startsWith('Basic ')) {
      ok = this.basicUser(header) !== undefined;
    } else if (auth.scheme === 'bearer' && header.startsWith('Bearer ')) {
      const token = this.tokens.get(header.slice(7));
      ok = !!token && token.expiresAt > Date.now() && (name === undefined || (token.scopes.get(name)?.has(action) ?? false));
    }
    if (!ok) {
      res.writeHead(401, { 'www-authenticate': this.challenge(name, action), 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
    }
    return ok;
  }

  private basicUser(header: string): string | undefined {
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    const user = decoded.slice(0, i);
    return i > 0 && this.options.auth?.users?.[user] === decoded.slice(i + 1) ? user : undefined;
  }

  private handleToken(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer): void {
    const auth = this.options.auth;
    if (!auth || auth.scheme !== 'bearer') {
      send(res, 404, {}, 'no token endpoint', req.method);
      return;
    }
    let scopes: string[];
    let authenticated = false;
    if (req.method === 'POST') {
      const form = new URLSearchParams(body.toString('utf8'));
      if (form.get('grant_type') !== 'refresh_token' || !auth.refreshTokens?.includes(form.get('refresh_token') ?? '')) {
        send(res, 401, { 'content-type': 'application/json' }, '{"error":"invalid_grant"}', req.method);
        return;
      }
      authenticated = true;
      scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
    } else {
      const header = req.headers.authorization;
      if (header !== undefined) {
        if (!header.startsWith('Basic ') || this.basicUser(header) === undefined) {
          send(res, 401, { 'content-type': 'application/json' }, '{"details":"incorrect username or password"}', req.method);
          return;
        }
        authenticated = true;
      }
      scopes = url.searchParams.getAll('scope');
    }
    const granted = new Map<string, Set<string>>();
    for (const scope of scopes) {
      const m = /^repository:(.+):([a-z,*]+)$/.exec(scope);
      if (!m) continue;
      const actions = m[2]!.split(',').filter((a) => authenticated || (a === 'pull' && auth.anonymousPull));
      granted.set(m[1]!, new Set(actions));
    }
    const token = randomUUID();
    const lifetime = auth.expiresIn ?? 60;
    this.tokens.set(token, { scopes: granted, expiresAt: Date.now() + lifetime * 1000 });
    const json: Record<string, unknown> = { [auth.tokenField ?? 'token']: token };
    if (auth.expiresIn !== undefined) json.expires_in = auth.expiresIn;
    send(res, 200, { 'content-type': 'application/json' }, JSON.stringify(json), req.method);
  }
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: string, method?: string): void {
  res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
  res.end(method === 'HEAD' ? undefined : body);
}

function ociError(res: ServerResponse, status: number, code: string, message: string, method?: string): void {
  send(res, status, { 'content-type': 'application/json' }, JSON.stringify({ errors: [{ code, message }] }), method);
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
