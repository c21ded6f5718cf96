/**
 * An OCI distribution client scoped to what Countersign needs: resolve and read manifests, push
 * blobs and manifests, and list referrers (API or tag-schema fallback, decided in referrers.ts).
 * Every byte read is size limited and digest checked; every failure is a CountersignError naming
 * the registry and repository and saying what to do (the mapping lives in registry-errors.ts).
 *
 * Every public method takes `{ signal }`: a caller's deadline or cancellation aborts the requests
 * under it (see http.ts), and close() aborts whatever is still in flight, so shutdown never waits
 * on a slow registry.
 */
import type { Observer } from '../shared/observer';
import tls from 'node:tls';
import { Agent, type Dispatcher } from 'undici';
import { SharedWork } from '../shared/cancellation';
import { CountersignError } from '../shared/errors';
import { AddressGuard, connectLookup, type LookupAll } from './address-guard';
import { RegistryAuth, type Access } from './auth';
import type { CredentialStore } from './credentials';
import { digestMatches, isDigest, splitDigest, computeDigest } from './digest';
import { EndpointResolver } from './endpoint';
import { discardBody, header, HttpTransport, readBody, type HttpRequest, type HttpResponse } from './http';
import { ReferrersDiscovery, type ReferrersResult } from './referrers';
import { baseMediaType } from './referrers-index';
import { digestMismatchError, registryStatusError } from './registry-errors';
import { MANIFEST_ACCEPT, MEDIA_TYPE, type CallOptions, type Descriptor, type ManifestResult, type RepositoryRef } from './types';

export interface RegistryClientOptions {
  credentials?: CredentialStore;
  /** Registries (host[:port]) reached over plain HTTP. Loopback registries always are. */
  insecureHosts?: string[];
  /** PEM CA certificate(s) trusted in addition to the system roots (private registries). */
  ca?: string | Buffer;
  /** Per request attempt, in total: connecting, waiting for headers and reading the whole body. Default 10 s. */
  timeoutMs?: number;
  /** Retries of idempotent requests on 429/502/503/504 and connection failures. Default 3. */
  maxRetries?: number;
  /** First backoff step; doubles per retry, with jitter. Default 200 ms. */
  retryBaseMs?: number;
  /** Longest wait between attempts; a longer Retry-After fails fast instead. Default 30 s. */
  maxRetryDelayMs?: number;
  /** Default 4 MiB (the size the distribution spec says registries should accept). */
  maxManifestBytes?: number;
  /** Default 16 MiB: signatures and attestations are small; this is not an image puller. */
  maxBlobBytes?: number;
  /** How long a registry's referrers-API support (or lack of it) is remembered. Default 5 min. */
  referrersApiCacheMs?: number;
  userAgent?: string;
  /** Metrics: every registry request (method, status, duration). */
  observer?: Pick<Observer, 'registryRequest'>;
  /** A dispatcher to use instead of the client's own Agent (tests). Not closed by close(). */
  dispatcher?: Dispatcher;
  /** How host names resolve (tests; default dns.lookup): for the client's own connections and for AddressGuard. */
  lookup?: LookupAll;
  /** What counts as an internal address for AddressGuard (tests stand loopback addresses in for a network). */
  isInternalAddress?: (address: string) => boolean;
}

const MiB = 1024 * 1024;
const REPOSITORY_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
/** The Accept header of every manifest request (HEAD and GET), built once. */
const MANIFEST_ACCEPT_HEADER = MANIFEST_ACCEPT.join(', ');

function refString(repo: RepositoryRef, reference: string): string {
  return `${repo.registry}/${repo.repository}${isDigest(reference) ? '@' : ':'}${reference}`;
}

export class RegistryClient {
  readonly maxManifestBytes: number;
  readonly maxBlobBytes: number;
  private readonly transport: HttpTransport;
  private readonly auth: RegistryAuth;
  private readonly endpoints: EndpointResolver;
  private readonly ownAgents: Agent[] = [];
  private readonly referrers: ReferrersDiscovery;
  /** Blob uploads in flight, by registry/repository@digest (see pushBlob). */
  private readonly blobPushes = new SharedWork<void>();
  /** Aborted by close(): cancels every request still in flight. */
  private readonly lifetime = new AbortController();
  private closing?: Promise<void>;

  constructor(options: RegistryClientOptions = {}) {
    const timeoutMs = options.timeoutMs ?? 10_000;
    this.maxManifestBytes = options.maxManifestBytes ?? 4 * MiB;
    this.maxBlobBytes = options.maxBlobBytes ?? 16 * MiB;
    this.endpoints = new EndpointResolver(options.insecureHosts);
    const guard = new AddressGuard({
      home: (registry) => this.endpoints.origin(registry),
      ...(options.lookup ? { lookup: options.lookup } : {}),
      ...(options.isInternalAddress ? { isInternal: options.isInternalAddress } : {}),
    });
    let dispatcher = options.dispatcher;
    let confinedDispatcher: Dispatcher | undefined;
    if (!dispatcher) {
      // One pooled Agent for every call to a registry, its token realm and its storage (connections
      // are reused across requests and closed in one place), and one for the hops AddressGuard
      // confines, whose connections refuse names that resolve to internal addresses.
      const ca = options.ca !== undefined ? [...tls.rootCertificates, options.ca.toString()] : undefined;
      const connect = { timeout: timeoutMs, ...(ca ? { ca } : {}) };
      const own = new Agent({ connect: options.lookup ? { ...connect, lookup: connectLookup(options.lookup) } : connect });
      const confined = new Agent({ connect: { ...connect, lookup: guard.confinedLookup } });
      this.ownAgents.push(own, confined);
      dispatcher = own;
      confinedDispatcher = confined;
    }
    this.transport = new HttpTransport({
      dispatcher,
      timeoutMs,
      maxRetries: options.maxRetries ?? 3,
      retryBaseMs: options.retryBaseMs ?? 200,
      maxRetryDelayMs: options.maxRetryDelayMs ?? 30_000,
      userAgent: options.userAgent ?? 'countersign/0.1',
      signal: this.lifetime.signal,
      ...(options.observer ? { observer: options.observer } : {}),
      allowsPlainHttp: (host) => this.endpoints.allowsPlainHttp(host),
      guard,
      ...(confinedDispatcher ? { confinedDispatcher } : {}),
    });
    this.auth = new RegistryAuth({
      transport: this.transport,
      endpoints: this.endpoints,
      ...(options.credentials ? { credentials: options.credentials } : {}),
    });
    this.referrers = new ReferrersDiscovery(
      {
        indexRequest: (repo, path, signal) => this.request(repo, 'GET', path, { accept: MEDIA_TYPE.OCI_INDEX }, signal),
        send: (repo, req) => this.send(repo, 'pull', req),
        readIndex: (res, what, req) => readBody(res, this.maxManifestBytes, what, req, this.transport.timeoutMs),
        getManifest: (repo, reference, opts) => this.getManifest(repo, reference, opts),
      },
      options.referrersApiCacheMs ?? 5 * 60_000,
      // Every page of one listing together: four full manifests' worth (16 MiB at the default cap).
      4 * this.maxManifestBytes,
    );
  }

  /**
   * Cancels every request still in flight (they fail UNAVAILABLE: the client is closing) and
   * destroys the client's own connection pool (an injected dispatcher belongs to the caller). It
   * never waits for a registry: a graceful agent close would wait for a body trickling in forever.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.lifetime.abort(new CountersignError('UNAVAILABLE', 'the registry client was closed (the service is shutting down); try again'));
      await Promise.all(this.ownAgents.map((agent) => agent.destroy()));
    })();
    return this.closing;
  }

  // ---- manifests -------------------------------------------------------------------------

  /** Resolves a tag or digest to the manifest's descriptor with one HEAD (GET only when the registry omits the digest). */
  async headManifest(repo: RepositoryRef, reference: string, opts: CallOptions = {}): Promise<Descriptor> {
    this.checkRepo(repo);
    this.checkReference(reference);
    const req = this.request(repo, 'HEAD', `manifests/${reference}`, { accept: MANIFEST_ACCEPT_HEADER }, opts.signal);
    const res = await this.send(repo, 'pull', req);
    if (res.status !== 200) throw await registryStatusError(res, repo, req, 'pull', `image ${refString(repo, reference)}`);
    // A HEAD answer has no body: undici ends it with the headers and pools the connection (reset:
    // false, see http.ts), and the transport released the attempt's timer when the headers came.
    // Nothing to read or wait for.
    const digest = header(res.headers, 'docker-content-digest');
    const length = header(res.headers, 'content-length');
    const mediaType = baseMediaType(header(res.headers, 'content-type'));
    if (digest === undefined || !isDigest(digest) || length === undefined || !/^\d+$/.test(length) || mediaType === undefined) {
      // Older registries may omit Docker-Content-Digest on HEAD: read it and hash it ourselves.
      return (await this.getManifest(repo, reference, opts)).descriptor;
    }
    if (isDigest(reference) && digest !== reference) {
      throw new CountersignError(
        'DATA_LOSS',
        `registry ${repo.registry} answered for ${refString(repo, reference)} with a different digest ${digest}`,
        {
          details: { registry: repo.registry, repository: repo.repository },
        },
      );
    }
    return { mediaType, digest, size: Number(length) };
  }

  /** Reads a manifest (size limited) and verifies its digest. */
  async getManifest(repo: RepositoryRef, reference: string, opts: CallOptions = {}): Promise<ManifestResult> {
    return this.fetchManifest(repo, reference, 'pull', opts.signal);
  }

  private async fetchManifest(
    repo: RepositoryRef,
    reference: string,
    access: Access,
    signal: AbortSignal | undefined,
  ): Promise<ManifestResult> {
    this.checkRepo(repo);
    this.checkReference(reference);
    const what = `manifest ${refString(repo, reference)}`;
    const req = this.request(repo, 'GET', `manifests/${reference}`, { accept: MANIFEST_ACCEPT_HEADER }, signal);
    const res = await this.send(repo, access, req);
    if (res.status !== 200) throw await registryStatusError(res, repo, req, access, `image ${refString(repo, reference)}`);
    const bytes = await readBody(res, this.maxManifestBytes, what, req, this.transport.timeoutMs);

    let digest: string;
    if (isDigest(reference)) {
      // Pulled by digest: the bytes must be exactly what the caller asked for.
      if (!digestMatches(bytes, reference)) throw digestMismatchError(repo, what, reference, bytes);
      digest = reference;
    } else {
      digest = computeDigest(bytes, 'sha256');
      const claimed = header(res.headers, 'docker-content-digest');
      const parts = claimed !== undefined ? splitDigest(claimed) : undefined;
      if (claimed !== undefined && parts && computeDigest(bytes, parts.algorithm) !== claimed) {
        throw digestMismatchError(repo, what, claimed, bytes);
      }
    }
    const descriptor: Descriptor = { mediaType: this.manifestMediaType(res, bytes), digest, size: bytes.length };
    const etag = header(res.headers, 'etag');
    return etag !== undefined ? { descriptor, bytes, etag } : { descriptor, bytes };
  }

  /**
   * PUTs manifest bytes verbatim (their digest is what the registry will compute). Pushing by
   * digest is idempotent and retried; pushing to a tag is not, because replaying it could
   * overwrite an update someone else made in between.
   */
  async putManifest(
    repo: RepositoryRef,
    reference: string,
    bytes: Buffer,
    mediaType: string,
    opts: { ifMatch?: string } & CallOptions = {},
  ): Promise<{ digest: string; ociSubject?: string }> {
    this.checkRepo(repo);
    this.checkReference(reference);
    if (bytes.length > this.maxManifestBytes) {
      throw new CountersignError(
        'RESOURCE_EXHAUSTED',
        `manifest for ${refString(repo, reference)} is ${bytes.length} bytes, over the ${this.maxManifestBytes}-byte limit`,
      );
    }
    const byDigest = isDigest(reference);
    const digest = byDigest ? computeDigest(bytes, splitDigest(reference)!.algorithm) : computeDigest(bytes, 'sha256');
    if (byDigest && digest !== reference) {
      throw new CountersignError(
        'INVALID_ARGUMENT',
        `manifest bytes hash to ${digest}, not to the reference ${reference} they are being pushed under`,
      );
    }
    const headers: Record<string, string> = { 'content-type': mediaType };
    if (opts.ifMatch !== undefined) headers['if-match'] = opts.ifMatch;
    const req = this.request(repo, 'PUT', `manifests/${reference}`, headers, opts.signal, bytes, byDigest && opts.ifMatch === undefined);
    const res = await this.send(repo, 'push', req);
    if (res.status === 412) {
      await discardBody(res);
      throw new CountersignError(
        'FAILED_PRECONDITION',
        `registry ${repo.registry} rejected the update of ${refString(repo, reference)}: it changed since it was read (412); read it again and retry`,
        {
          details: { status: 412, registry: repo.registry, repository: repo.repository },
        },
      );
    }
    if (res.status !== 201 && res.status !== 200 && res.status !== 202) {
      throw await registryStatusError(res, repo, req, 'push', `manifest ${refString(repo, reference)}`);
    }
    await discardBody(res);
    const stored = otherStoredDigest(res, digest);
    if (stored !== undefined) {
      throw new CountersignError(
        'DATA_LOSS',
        `registry ${repo.registry} stored the manifest for ${refString(repo, reference)} as ${stored}, but its bytes hash to ${digest}`,
        {
          details: { registry: repo.registry, repository: repo.repository },
        },
      );
    }
    const ociSubject = header(res.headers, 'oci-subject');
    return ociSubject !== undefined ? { digest, ociSubject } : { digest };
  }

  // ---- blobs -----------------------------------------------------------------------------

  async hasBlob(repo: RepositoryRef, digest: string, opts: CallOptions = {}): Promise<boolean> {
    return this.blobExists(repo, digest, 'pull', opts.signal);
  }

  private async blobExists(repo: RepositoryRef, digest: string, access: Access, signal: AbortSignal | undefined): Promise<boolean> {
    this.checkRepo(repo);
    this.checkDigest(digest);
    const req = this.request(repo, 'HEAD', `blobs/${digest}`, {}, signal);
    const res = await this.send(repo, access, req);
    await discardBody(res);
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await registryStatusError(res, repo, req, access, `blob ${digest} in ${repo.registry}/${repo.repository}`);
  }

  /**
   * Whether the repository already has the blob, so its upload can be skipped. The HEAD only saves
   * an upload: a registry that fails it (5xx, after the retries) gets the upload instead of failing
   * the Sign. Distribution 2.8 answers 500 on a blob that other processes are uploading at that
   * moment (replicas signing at once all push the same empty config), and every Sign waiting on
   * that HEAD in this process failed with it. Refusals (401, 403, ...) are still errors.
   */
  private async blobMayBeSkipped(repo: RepositoryRef, digest: string, signal: AbortSignal): Promise<boolean> {
    try {
      return await this.blobExists(repo, digest, 'push', signal);
    } catch (err) {
      if (registryFailed(err, signal)) return false;
      throw err;
    }
  }

  /**
   * Reads a blob (size limited: the client's limit, or `maxBytes` when smaller, for callers that
   * know how large a sane blob of theirs is) and verifies it hashes to `digest`.
   */
  async getBlob(repo: RepositoryRef, digest: string, opts: CallOptions & { maxBytes?: number } = {}): Promise<Buffer> {
    this.checkRepo(repo);
    this.checkDigest(digest);
    const what = `blob ${digest} in ${repo.registry}/${repo.repository}`;
    const req = this.request(repo, 'GET', `blobs/${digest}`, {}, opts.signal);
    const res = await this.send(repo, 'pull', req);
    if (res.status !== 200) throw await registryStatusError(res, repo, req, 'pull', what);
    const limit = opts.maxBytes !== undefined ? Math.min(opts.maxBytes, this.maxBlobBytes) : this.maxBlobBytes;
    const bytes = await readBody(res, limit, what, req, this.transport.timeoutMs);
    if (!digestMatches(bytes, digest)) throw digestMismatchError(repo, what, digest, bytes);
    return bytes;
  }

  /**
   * Uploads a blob unless the repository already has it: HEAD, then monolithic POST + PUT.
   * `fresh`: the caller knows the blob cannot exist yet (a bundle signed a moment ago carries a
   * new signature): no HEAD. Uploading a blob that does exist is harmless, only redundant.
   */
  async pushBlob(
    repo: RepositoryRef,
    bytes: Buffer,
    digest?: string,
    opts: CallOptions & { fresh?: boolean } = {},
  ): Promise<{ digest: string; size: number }> {
    this.checkRepo(repo);
    const actual = computeDigest(bytes, digest !== undefined && isDigest(digest) ? splitDigest(digest)!.algorithm : 'sha256');
    if (digest !== undefined && digest !== actual) {
      throw new CountersignError('INVALID_ARGUMENT', `blob bytes hash to ${actual}, not to the given digest ${digest}`);
    }
    if (bytes.length > this.maxBlobBytes) {
      throw new CountersignError('RESOURCE_EXHAUSTED', `blob ${actual} is ${bytes.length} bytes, over the ${this.maxBlobBytes}-byte limit`);
    }
    const result = { digest: actual, size: bytes.length };
    // Concurrent uploads of one blob to one repository (every Sign pushes the same empty config)
    // race inside Distribution 2.8, which fails one of them with a 500; one upload at a time per
    // blob in this process, and across processes a failed upload of a blob that exists is done.
    // The upload is cancelled only when every Sign waiting for it has given up.
    const key = `${repo.registry}/${repo.repository}@${actual}`;
    await this.blobPushes.run(key, (signal) => this.uploadBlob(repo, bytes, actual, signal, opts.fresh === true), opts.signal);
    return result;
  }

  private async uploadBlob(repo: RepositoryRef, bytes: Buffer, actual: string, signal: AbortSignal, fresh: boolean): Promise<void> {
    if (!fresh && (await this.blobMayBeSkipped(repo, actual, signal))) return;
    try {
      await this.uploadMonolithic(repo, bytes, actual, signal);
    } catch (err) {
      if (!(await this.arrivedMeanwhile(err, repo, actual, signal))) throw err;
    }
  }

  /**
   * Whether an upload the registry failed (5xx, after the retries) is done all the same because the
   * blob is there now. Blobs are content-addressed: another replica, or CI, uploading the same
   * content at that moment makes Distribution 2.8 fail one of the uploads with a 500, and the
   * blob the loser wanted exists under its digest. Any other failure, or a blob still missing, is
   * the upload's error.
   */
  private async arrivedMeanwhile(err: unknown, repo: RepositoryRef, digest: string, signal: AbortSignal): Promise<boolean> {
    if (!registryFailed(err, signal)) return false;
    return this.blobExists(repo, digest, 'push', signal).catch(() => false);
  }

  private async uploadMonolithic(repo: RepositoryRef, bytes: Buffer, actual: string, signal: AbortSignal): Promise<void> {
    const what = `blob upload to ${repo.registry}/${repo.repository}`;
    // Starting an upload commits nothing, so a lost response can safely be retried.
    const start = this.request(repo, 'POST', 'blobs/uploads/', {}, signal, undefined, true);
    const started = await this.send(repo, 'push', start);
    const location = header(started.headers, 'location');
    if (started.status !== 202 || location === undefined) {
      if (started.status === 202) {
        await discardBody(started);
        throw new CountersignError('DATA_LOSS', `registry ${repo.registry} started an upload but sent no Location header`, {
          details: { registry: repo.registry },
        });
      }
      throw await registryStatusError(started, repo, start, 'push', what);
    }
    await discardBody(started);

    // Location may be relative and may carry state the registry needs: resolve it against the
    // URL that answered and append `digest` without rebuilding its query string.
    let resolved: URL;
    try {
      resolved = new URL(location, started.url);
    } catch {
      throw new CountersignError('DATA_LOSS', `registry ${repo.registry} started an upload at a Location that is not a URL`, {
        details: { registry: repo.registry },
      });
    }
    if (resolved.protocol !== 'https:' && resolved.protocol !== 'http:') {
      throw new CountersignError('DATA_LOSS', `registry ${repo.registry} started an upload at a Location that is not http(s)`, {
        details: { registry: repo.registry },
      });
    }
    resolved.hash = '';
    const href = resolved.href;
    const sep = resolved.search === '' ? (href.endsWith('?') ? '' : '?') : '&';
    const uploadUrl = new URL(`${href}${sep}digest=${encodeURIComponent(actual)}`);
    const put: HttpRequest = {
      method: 'PUT',
      url: uploadUrl,
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
      idempotent: true,
      registry: repo.registry,
      signal,
    };
    // An upload URL on another host (storage front end) must not receive our registry credentials.
    const sameOrigin = uploadUrl.origin === this.endpoints.origin(repo.registry);
    const res = sameOrigin ? await this.send(repo, 'push', put) : await this.transport.send(put);
    if (res.status !== 201 && res.status !== 204 && res.status !== 200) throw await registryStatusError(res, repo, put, 'push', what);
    await discardBody(res);
    const stored = otherStoredDigest(res, actual);
    if (stored !== undefined) {
      throw new CountersignError('DATA_LOSS', `registry ${repo.registry} stored blob ${actual} under ${stored}`, {
        details: { registry: repo.registry },
      });
    }
  }

  // ---- referrers (discovery itself: referrers.ts) ---------------------------------------

  /**
   * Lists the referrers of `subjectDigest`: through the referrers API when the registry has it,
   * otherwise from the fallback tag (see ReferrersDiscovery).
   */
  async listReferrers(
    repo: RepositoryRef,
    subjectDigest: string,
    opts: { artifactType?: string } & CallOptions = {},
  ): Promise<ReferrersResult> {
    this.checkRepo(repo);
    this.checkDigest(subjectDigest);
    return this.referrers.list(repo, subjectDigest, opts);
  }

  /** Whether the registry really serves the referrers API (probed once, then remembered for a while). */
  async pingReferrersApi(repo: RepositoryRef, opts: CallOptions = {}): Promise<boolean> {
    this.checkRepo(repo);
    return this.referrers.ping(repo, opts);
  }

  // ---- plumbing --------------------------------------------------------------------------

  private request(
    repo: RepositoryRef,
    method: HttpRequest['method'],
    path: string,
    headers: Record<string, string> = {},
    signal?: AbortSignal,
    body?: Buffer,
    idempotent = method === 'GET' || method === 'HEAD',
  ): HttpRequest {
    // Concatenated, not resolved against a base: the repository (checkRepo) and every path built
    // here have no dot segments and start with no slash, so the URL is the same, parsed once.
    const url = new URL(`${this.endpoints.origin(repo.registry)}/v2/${repo.repository}/${path}`);
    const req: HttpRequest = { method, url, headers, idempotent, registry: repo.registry };
    if (body !== undefined) req.body = body;
    if (signal !== undefined) req.signal = signal;
    return req;
  }

  private send(repo: RepositoryRef, access: Access, req: HttpRequest): Promise<HttpResponse> {
    return this.auth.send({ registry: repo.registry, repository: repo.repository, access }, req);
  }

  private manifestMediaType(res: HttpResponse, bytes: Buffer): string {
    const fromHeader = baseMediaType(header(res.headers, 'content-type'));
    if (
      fromHeader !== undefined &&
      fromHeader !== 'application/json' &&
      fromHeader !== 'application/octet-stream' &&
      fromHeader !== 'text/plain'
    ) {
      return fromHeader;
    }
    // Some registries serve manifests as generic JSON; the manifest's own mediaType then tells.
    try {
      const mediaType = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType;
      if (typeof mediaType === 'string') return mediaType;
    } catch {
      /* fall through */
    }
    return fromHeader ?? MEDIA_TYPE.OCI_MANIFEST;
  }

  private checkRepo(repo: RepositoryRef): void {
    // Typed as strings, but reached from request input: checked as whatever they really are.
    const registry: unknown = repo.registry;
    const repository: unknown = repo.repository;
    if (typeof registry !== 'string' || registry === '' || /[\s/@]/.test(registry)) {
      throw new CountersignError('INVALID_ARGUMENT', `invalid registry host "${String(registry)}" (expected host[:port], e.g. ghcr.io)`);
    }
    if (typeof repository !== 'string' || repository.length > 255 || !REPOSITORY_RE.test(repository)) {
      throw new CountersignError(
        'INVALID_ARGUMENT',
        `invalid repository name "${String(repository).slice(0, 100)}" (lowercase path components such as team/app)`,
      );
    }
  }

  private checkReference(reference: string): void {
    if (!isDigest(reference) && !TAG_RE.test(reference)) {
      throw new CountersignError(
        'INVALID_ARGUMENT',
        `"${reference.slice(0, 140)}" is neither a tag nor a supported digest (sha256:<64 hex>)`,
      );
    }
  }

  private checkDigest(digest: string): void {
    if (!isDigest(digest)) {
      throw new CountersignError(
        'INVALID_ARGUMENT',
        `"${digest.slice(0, 140)}" is not a supported digest (sha256:<64 lowercase hex> or sha512:<128 lowercase hex>)`,
      );
    }
  }
}

/**
 * The Docker-Content-Digest a push was answered with when it names other bytes than `digest`
 * (what we sent). A digest of another algorithm is the registry's own choice and says nothing.
 */
function otherStoredDigest(res: HttpResponse, digest: string): string | undefined {
  const stored = header(res.headers, 'docker-content-digest');
  if (stored === undefined || stored === digest || !isDigest(stored)) return undefined;
  return splitDigest(stored)!.algorithm === splitDigest(digest)!.algorithm ? stored : undefined;
}

/**
 * Whether a request failed because the registry failed it (a 5xx, after the retries), not because
 * it refused it (401, 403, 4xx) or because the caller gave up. The blob upload's HEADs judge such a
 * failure by the blob, not by the status.
 */
function registryFailed(err: unknown, signal: AbortSignal): boolean {
  const status = err instanceof CountersignError ? err.details?.status : undefined;
  return typeof status === 'number' && status >= 500 && !signal.aborted;
}
