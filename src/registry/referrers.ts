/**
 * Referrers discovery: which artifacts refer to a subject digest. Through the registry's referrers
 * API when it has one (following pagination, never to another host), otherwise from the
 * `sha256-<hex>` fallback tag of the OCI 1.1 tag schema. Whether a registry serves the API is
 * remembered for a while, because the answer rarely changes and probing costs a round trip.
 *
 * The request plumbing (URLs, auth, size-limited reads) is the client's; this module only decides
 * which requests to make and how to read their answers.
 */
import { CountersignError } from '../shared/errors';
import { discardBody, header, ociErrors, readBody, type HttpRequest, type HttpResponse } from './http';
import { parseNextLink } from './link-header';
import { referrersTagFor } from './reference';
import { filterByArtifactType, readReferrersIndex, type SkippedReferrerEntry } from './referrers-index';
import { registryStatusError } from './registry-errors';
import { type CallOptions, type Descriptor, type ManifestResult, type RepositoryRef } from './types';

export interface ReferrersResult {
  /** Where the list came from: the registry's referrers API, or the `sha256-<hex>` fallback tag. */
  source: 'api' | 'tag';
  manifests: Descriptor[];
  /** ETag of the fallback tag's index (for conditional updates). */
  etag?: string;
  /** Fallback tag: the digest of the index stored under it. */
  indexDigest?: string;
  /** Entries that were not valid descriptors (each skipped, never hiding the others). */
  skipped?: SkippedReferrerEntry[];
}

/** What discovery needs from the registry client: its request plumbing, with pull access. */
export interface ReferrersPlumbing {
  /** A GET of `/v2/<repository>/<path>` asking for an OCI image index. */
  indexRequest(repo: RepositoryRef, path: string, signal: AbortSignal | undefined): HttpRequest;
  /** Sends with the registry's credentials for pulling the repository. */
  send(repo: RepositoryRef, req: HttpRequest): Promise<HttpResponse>;
  /** Reads a response body within the manifest size limit. */
  readIndex(res: HttpResponse, what: string, req: HttpRequest): Promise<Buffer>;
  /** Reads a manifest by tag (size limited, digest checked). */
  getManifest(repo: RepositoryRef, reference: string, opts: CallOptions): Promise<ManifestResult>;
}

const MAX_REFERRER_PAGES = 100;

const ZERO_DIGEST = `sha256:${'0'.repeat(64)}`;

/** How much of a referrers 404's body we read to learn what it means (an OCI error is a few hundred bytes). */
const NOT_FOUND_BODY_LIMIT = 16 * 1024;

/**
 * OCI error codes with which a registry that has the referrers API says it does not have what it
 * was asked about: NAME_UNKNOWN (the distribution spec's code for an unknown repository, and the
 * one oras-go and notation read as "repository not found, referrers API status unknown"),
 * MANIFEST_UNKNOWN (its code for an unknown manifest: the subject) and NOT_FOUND (Harbor's, e.g.
 * `project staging not found`).
 */
const NOT_HERE_CODES: ReadonlySet<string> = new Set(['NAME_UNKNOWN', 'MANIFEST_UNKNOWN', 'NOT_FOUND']);

/**
 * Whether a 404 from the referrers endpoint says the registry has no referrers API (so that is
 * remembered for the host), rather than that it does not have this repository or subject.
 *
 * A registry without the API has no such route and answers as for any unknown URL: CNCF
 * Distribution with a text/plain "404 page not found" (both for repositories it has and for ones
 * it does not), others with an HTML page or nothing at all. A registry with the API that does not
 * answer the referrers of a repository it does not have with an empty list (current zot does)
 * answers with the OCI error envelope naming it unknown (see NOT_HERE_CODES): true of one
 * repository, that says nothing about the API, and remembering it as "no API" would make every
 * other repository of the host read only the fallback tag, which such registries never write.
 *
 * The body is the registry's to write. It is read within NOT_FOUND_BODY_LIMIT (a larger one is no
 * OCI error: "no API", as before) and only decides whether this 404 is remembered; the listing
 * itself falls back to the tag either way, as the spec requires after any 404. So taking a
 * registry without the API for one that has it costs one request per listing (its 404s are not
 * remembered), never a referrer. A body that breaks off is not remembered either: that is the
 * connection's failure, not the registry's answer.
 */
async function notFoundMeansNoApi(res: HttpResponse, req: HttpRequest): Promise<boolean> {
  let body: Buffer;
  try {
    // timeoutMs only words a transport error's message, and that error is dropped here.
    body = await readBody(res, NOT_FOUND_BODY_LIMIT, 'referrers 404 body', req, 0);
  } catch (err) {
    return err instanceof CountersignError && err.code === 'RESOURCE_EXHAUSTED';
  }
  return !(ociErrors(body.toString('utf8')) ?? []).some((e) => typeof e.code === 'string' && NOT_HERE_CODES.has(e.code));
}

export class ReferrersDiscovery {
  /** Per registry: does it serve the referrers API? */
  private readonly referrersApi = new Map<string, { supported: boolean; until: number }>();

  /**
   * `maxListingBytes`: all pages of one listing together, at most. A registry that answers page
   * after distinct page, each just under the manifest cap, would otherwise make one Verify read
   * 100 of them (400 MiB at the default cap), and every Verify of the image again.
   */
  constructor(
    private readonly plumbing: ReferrersPlumbing,
    private readonly apiCacheMs: number,
    private readonly maxListingBytes: number,
  ) {}

  /**
   * Lists the referrers of `subjectDigest`: through the referrers API when the registry has it
   * (following pagination), otherwise from the fallback tag. `artifactType` filtering is applied
   * client-side whenever the registry does not say it applied it. Arguments are validated by the caller.
   */
  async list(repo: RepositoryRef, subjectDigest: string, opts: { artifactType?: string } & CallOptions = {}): Promise<ReferrersResult> {
    if (this.cachedReferrersApi(repo.registry) !== false) {
      const fromApi = await this.listFromApi(repo, subjectDigest, opts.artifactType, opts.signal);
      if (fromApi) return fromApi;
    }
    return this.listFromTag(repo, subjectDigest, opts.artifactType, opts.signal);
  }

  /**
   * Whether the registry really serves the referrers API. A manifest PUT's OCI-Subject header is
   * not enough on its own (some registries send it without serving the API), so we ask for the
   * referrers of a digest that cannot exist and accept only a 200 carrying an image index.
   */
  async ping(repo: RepositoryRef, opts: CallOptions = {}): Promise<boolean> {
    const cached = this.cachedReferrersApi(repo.registry);
    if (cached !== undefined) return cached;
    const req = this.plumbing.indexRequest(repo, `referrers/${ZERO_DIGEST}`, opts.signal);
    const res = await this.plumbing.send(repo, req);
    let supported = false;
    if (res.status === 200) {
      try {
        readReferrersIndex(
          await this.plumbing.readIndex(res, 'referrers probe', req),
          header(res.headers, 'content-type'),
          'referrers probe',
        );
        supported = true;
      } catch (err) {
        if (!(err instanceof CountersignError) || err.code !== 'DATA_LOSS') throw err;
      }
    } else if (res.status === 404) {
      // A repository it does not know (or an answer cut short) says nothing about the API: no for
      // this push (the fallback tag is written as well), and not remembered.
      if (!(await notFoundMeansNoApi(res, req))) return false;
    } else if (res.status === 400 || res.status === 405) {
      await discardBody(res);
    } else {
      // Auth failures, rate limits, outages: say so rather than remember a wrong answer.
      throw await registryStatusError(res, repo, req, 'pull', `referrers API probe of ${repo.registry}/${repo.repository}`);
    }
    this.rememberReferrersApi(repo.registry, supported);
    return supported;
  }

  private cachedReferrersApi(registry: string): boolean | undefined {
    const entry = this.referrersApi.get(registry);
    if (!entry) return undefined;
    if (entry.until <= Date.now()) {
      this.referrersApi.delete(registry);
      return undefined;
    }
    return entry.supported;
  }

  private rememberReferrersApi(registry: string, supported: boolean): void {
    this.referrersApi.set(registry, { supported, until: Date.now() + this.apiCacheMs });
  }

  /**
   * undefined when the first page is a 404, so the caller falls back to the tag (the OCI 1.1 rule
   * for any 404). Only a 404 that says the registry has no referrers API is remembered for the
   * host; one that says it does not know the repository (see notFoundMeansNoApi) is not, or a
   * lookup in a repository that does not exist (a policy's `evidenceFrom` with no copy there)
   * would make every other repository of the host read only the fallback tag, which registries
   * with the API never write: all their signatures unseen, for apiCacheMs.
   */
  private async listFromApi(
    repo: RepositoryRef,
    subjectDigest: string,
    artifactType: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<ReferrersResult | undefined> {
    const what = `referrers of ${repo.registry}/${repo.repository}@${subjectDigest}`;
    const query = artifactType !== undefined ? `?artifactType=${encodeURIComponent(artifactType)}` : '';
    let req = this.plumbing.indexRequest(repo, `referrers/${subjectDigest}${query}`, signal);
    const manifests: Descriptor[] = [];
    const skipped: SkippedReferrerEntry[] = [];
    let listed = 0; // entries on the pages before this one, valid or not
    let total = 0; // bytes of the pages read so far
    const seen = new Set<string>();
    for (let page = 0; ; page++) {
      const res = await this.plumbing.send(repo, req);
      if (res.status === 404 && page === 0) {
        // A registry with the API must not answer 404 for a repository it has (not even for an
        // unknown subject): unless it says it does not know the repository, it has no API.
        if (await notFoundMeansNoApi(res, req)) this.rememberReferrersApi(repo.registry, false);
        return undefined;
      }
      if (res.status !== 200) throw await registryStatusError(res, repo, req, 'pull', what);
      const bytes = await this.plumbing.readIndex(res, what, req);
      total += bytes.length;
      if (total > this.maxListingBytes) {
        throw new CountersignError(
          'DATA_LOSS',
          `registry ${repo.registry} returned more than ${this.maxListingBytes} bytes of pages for ${what}; refusing to read on`,
          { details: { registry: repo.registry } },
        );
      }
      // The registry builds this list from manifests pushers wrote: entries are judged one by one,
      // as on the fallback tag, and one the registry copied badly never hides the others.
      const index = readReferrersIndex(bytes, header(res.headers, 'content-type'), `${what} (from the referrers API)`);
      for (const s of index.skipped) skipped.push({ ...s, position: listed + s.position });
      listed += index.manifests.length + index.skipped.length;
      this.rememberReferrersApi(repo.registry, true);
      const applied = (header(res.headers, 'oci-filters-applied') ?? '').split(',').map((s) => s.trim());
      manifests.push(...(applied.includes('artifactType') ? index.manifests : filterByArtifactType(index.manifests, artifactType)));

      const next = parseNextLink(res.headers.link);
      if (next === undefined) break;
      let nextUrl: URL;
      try {
        nextUrl = new URL(next, res.url);
      } catch {
        throw new CountersignError('DATA_LOSS', `registry ${repo.registry} paginated ${what} to a Link that is not a URL`, {
          details: { registry: repo.registry },
        });
      }
      if (nextUrl.origin !== req.url.origin) {
        throw new CountersignError(
          'DATA_LOSS',
          `registry ${repo.registry} paginated ${what} to another host (${nextUrl.host}); refusing to follow`,
          {
            details: { registry: repo.registry },
          },
        );
      }
      seen.add(req.url.href);
      if (seen.has(nextUrl.href) || page + 1 >= MAX_REFERRER_PAGES) {
        throw new CountersignError(
          'DATA_LOSS',
          `registry ${repo.registry} returned more than ${MAX_REFERRER_PAGES} pages (or a pagination loop) for ${what}`,
          {
            details: { registry: repo.registry },
          },
        );
      }
      req = { ...req, url: nextUrl };
    }
    return skipped.length > 0 ? { source: 'api', manifests, skipped } : { source: 'api', manifests };
  }

  /**
   * The fallback tag's index. Anyone with push access writes it, so its entries are judged one by
   * one (invalid ones are returned as `skipped`); only an index that is not an index at all (not
   * JSON, an image manifest under the tag, oversized) fails, as the DATA_LOSS or RESOURCE_EXHAUSTED
   * it is (content, not transport: see isContentError).
   */
  private async listFromTag(
    repo: RepositoryRef,
    subjectDigest: string,
    artifactType: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<ReferrersResult> {
    const tag = referrersTagFor(subjectDigest);
    let found: ManifestResult;
    try {
      found = await this.plumbing.getManifest(repo, tag, signal ? { signal } : {});
    } catch (err) {
      if (err instanceof CountersignError && err.code === 'NOT_FOUND') return { source: 'tag', manifests: [] };
      throw err;
    }
    const index = readReferrersIndex(found.bytes, found.descriptor.mediaType, `referrers tag ${repo.registry}/${repo.repository}:${tag}`);
    const result: ReferrersResult = {
      source: 'tag',
      manifests: filterByArtifactType(index.manifests, artifactType),
      indexDigest: found.descriptor.digest,
    };
    if (index.skipped.length > 0) result.skipped = index.skipped;
    if (found.etag !== undefined) result.etag = found.etag;
    return result;
  }
}
