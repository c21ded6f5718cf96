/**
 * A 404 from the referrers API: whether it is remembered for the host as "no referrers API".
 *
 * The memory is per registry host (so a registry without the API costs one probe, not one per
 * repository). A 404 carrying an OCI error that says the repository or subject is unknown
 * (NAME_UNKNOWN, MANIFEST_UNKNOWN, Harbor's NOT_FOUND) is true of one repository only: that call
 * reads the fallback tag and the host's memory stays as it was. Anything else (CNCF Distribution's
 * text/plain "404 page not found", no body, HTML, junk, a body over the limit) keeps meaning "no
 * referrers API" for the whole host.
 */
import { Readable } from 'node:stream';
import { RegistryClient } from '../../../src/registry/client';
import type { HttpRequest, HttpResponse } from '../../../src/registry/http';
import { referrersTagFor } from '../../../src/registry/reference';
import { ReferrersDiscovery, type ReferrersPlumbing } from '../../../src/registry/referrers';
import { MEDIA_TYPE, type Descriptor, type RepositoryRef } from '../../../src/registry/types';
import { CountersignError } from '../../../src/shared/errors';
import { FakeRegistry } from './fake-registry';
import { artifact, expectCode, imageManifest } from './helpers';

let fake: FakeRegistry;
let client: RegistryClient;
let repo: RepositoryRef;
let staging: RepositoryRef;
let subject: Descriptor;
let signatures: string[];

const JSON_TYPE = { 'content-type': 'application/json; charset=utf-8' };

function ociError(code: string, message = 'not known'): string {
  return JSON.stringify({ errors: [{ code, message, detail: { name: 'staging/app' } }] });
}

/** A registry with the referrers API; team/app has two signatures, staging/app is where the 404s are injected. */
async function setup(): Promise<void> {
  fake = await FakeRegistry.start({ referrersApi: true });
  client = new RegistryClient({ retryBaseMs: 5, maxRetries: 0 });
  const [f, c] = [fake, client];
  started.push(
    () => f.close(),
    () => c.close(),
  );
  repo = { registry: fake.host, repository: 'team/app' };
  staging = { registry: fake.host, repository: 'staging/app' };
  const { bytes } = imageManifest(Buffer.from('layer'));
  const digest = fake.storeManifest(repo.repository, bytes, MEDIA_TYPE.OCI_MANIFEST, 'v1');
  subject = { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest, size: bytes.length };
  signatures = [0, 1].map((i) =>
    fake.storeManifest(repo.repository, artifact(subject, { payload: `sig${i}` }).manifestBytes, MEDIA_TYPE.OCI_MANIFEST),
  );
}

function notFoundIn(repository: RepositoryRef, headers: Record<string, string>, body: string | Buffer, times = 1): void {
  fake.inject({ method: 'GET', path: new RegExp(`^/v2/${repository.repository}/referrers/`), status: 404, headers, body, times });
}

const referrersCalls = (r: RepositoryRef): number => fake.requestsMatching('GET', new RegExp(`^/v2/${r.repository}/referrers/`)).length;
const tagCalls = (r: RepositoryRef): number =>
  fake.requestsMatching('GET', new RegExp(`^/v2/${r.repository}/manifests/${referrersTagFor(subject.digest)}$`)).length;

/** What setup() started, closed after each test (the scripted tests start nothing). */
const started: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of started.splice(0).reverse()) await close();
});

describe('a 404 saying the repository (or subject) is unknown: that call reads the tag, the host keeps its referrers API', () => {
  test.each([
    ['NAME_UNKNOWN (the spec: unknown repository)', ociError('NAME_UNKNOWN', 'repository name not known to registry')],
    ['MANIFEST_UNKNOWN (the spec: unknown manifest)', ociError('MANIFEST_UNKNOWN', 'manifest unknown')],
    ['NOT_FOUND (Harbor: unknown project)', ociError('NOT_FOUND', 'project staging not found')],
    [
      'the code in a later entry of the envelope',
      JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'x' }, { code: 'NAME_UNKNOWN' }] }),
    ],
  ])('%s, before the host was known to have the API', async (_name, body) => {
    await setup();
    notFoundIn(staging, JSON_TYPE, body, 2);
    // The spec's rule for any 404: fall back to the tag (there is none here: no referrers).
    expect(await client.listReferrers(staging, subject.digest)).toEqual({ source: 'tag', manifests: [] });
    expect(tagCalls(staging)).toBe(1);
    // Not remembered as "no API": another repository of the host still asks the API.
    const listed = await client.listReferrers(repo, subject.digest);
    expect(listed.source).toBe('api');
    expect(listed.manifests.map((d) => d.digest).sort()).toEqual([...signatures].sort());
    // Nor as anything for staging/app itself: it asks again.
    await client.listReferrers(staging, subject.digest);
    expect(referrersCalls(staging)).toBe(2);
    expect(tagCalls(staging)).toBe(2);
  });

  test('once the host is known to have the API, a NAME_UNKNOWN elsewhere does not change that', async () => {
    await setup();
    expect((await client.listReferrers(repo, subject.digest)).source).toBe('api');
    notFoundIn(staging, JSON_TYPE, ociError('NAME_UNKNOWN'));
    expect((await client.listReferrers(staging, subject.digest)).source).toBe('tag');
    expect((await client.listReferrers(repo, subject.digest)).manifests).toHaveLength(2);
    expect(referrersCalls(repo)).toBe(2);
    expect(tagCalls(repo)).toBe(0);
    // The probe Sign makes is answered from the same memory, without a request.
    expect(await client.pingReferrersApi(repo)).toBe(true);
    expect(fake.requestsMatching('GET', /\/referrers\/sha256:0{64}$/)).toHaveLength(0);
  });

  test('the probe (pingReferrersApi) answers false for that push and remembers nothing', async () => {
    await setup();
    notFoundIn(staging, JSON_TYPE, ociError('NAME_UNKNOWN'));
    expect(await client.pingReferrersApi(staging)).toBe(false);
    expect(await client.pingReferrersApi(staging)).toBe(true); // probed again, and this time the API answered
    expect(await client.pingReferrersApi(repo)).toBe(true);
    expect(fake.requestsMatching('GET', /\/referrers\//)).toHaveLength(2);
  });
});

describe('any other 404 still means "no referrers API" for the whole host', () => {
  test.each([
    [
      "CNCF Distribution's own answer (docker-registry 2.8: text/plain, also for repositories it has)",
      { 'content-type': 'text/plain; charset=utf-8' },
      '404 page not found\n',
    ],
    ['no body', {}, ''],
    ['an HTML page', { 'content-type': 'text/html' }, '<html><body><h1>404 Not Found</h1></body></html>'],
    ['JSON that is no OCI error', JSON_TYPE, '{"message":"Not Found","code":"NAME_UNKNOWN"}'],
    ['an OCI error with another code', JSON_TYPE, ociError('UNSUPPORTED', 'the operation is unsupported')],
    ['errors that is not an array', JSON_TYPE, '{"errors":{"code":"NAME_UNKNOWN"}}'],
    ['a code that is not a string', JSON_TYPE, '{"errors":[{"code":["NAME_UNKNOWN"]},null,7]}'],
    ['the code as plain text', { 'content-type': 'text/plain' }, 'NAME_UNKNOWN: repository name not known to registry'],
    ['JSON null', JSON_TYPE, 'null'],
  ])('%s', async (_name, headers, body) => {
    await setup();
    notFoundIn(staging, headers, body);
    expect(await client.listReferrers(staging, subject.digest)).toEqual({ source: 'tag', manifests: [] });
    // Remembered for the host: team/app goes straight to its (absent) tag, and the API's signatures
    // are not seen. This is the fallback working as designed against a registry without the API.
    expect(await client.listReferrers(repo, subject.digest)).toEqual({ source: 'tag', manifests: [] });
    expect(referrersCalls(repo)).toBe(0);
    expect(await client.pingReferrersApi(repo)).toBe(false);
    expect(fake.requestsMatching('GET', /\/referrers\//)).toHaveLength(1);
  });
});

describe('a hostile 404 body is read bounded and decides nothing beyond that', () => {
  const huge = JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: 'x'.repeat(64 * 1024) }] });

  test.each([
    ['a NAME_UNKNOWN envelope over the 16 KiB limit (Content-Length declared)', JSON_TYPE, huge],
    ['a NAME_UNKNOWN envelope over the 16 KiB limit (chunked)', { ...JSON_TYPE, 'transfer-encoding': 'chunked' }, huge],
    [
      'binary junk',
      { 'content-type': 'application/octet-stream' },
      Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) % 256)),
    ],
    ['deeply nested JSON within the limit', JSON_TYPE, '['.repeat(8000) + ']'.repeat(8000)],
    [
      'invalid UTF-8 around the code',
      JSON_TYPE,
      Buffer.concat([Buffer.from('{"errors":[{"code":"NAME_UNKNOWN"'), Buffer.from([0xff, 0xfe]), Buffer.from('}]}')]),
    ],
  ])('%s: "no API", like any 404 that is not an OCI error', async (_name, headers, body) => {
    await setup();
    notFoundIn(staging, headers, body);
    expect(await client.listReferrers(staging, subject.digest)).toEqual({ source: 'tag', manifests: [] });
    expect((await client.listReferrers(repo, subject.digest)).source).toBe('tag');
    expect(referrersCalls(repo)).toBe(0);
  });

  test('an envelope padded with a long message, still within the limit, is read', async () => {
    await setup();
    notFoundIn(staging, JSON_TYPE, JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: 'y'.repeat(15 * 1024) }] }));
    expect((await client.listReferrers(staging, subject.digest)).source).toBe('tag');
    expect((await client.listReferrers(repo, subject.digest)).source).toBe('api');
  });
});

describe('400 and 405 from the referrers API', () => {
  test.each([
    [400, 'INVALID_ARGUMENT', ociError('DIGEST_INVALID', 'invalid digest')],
    [405, 'FAILED_PRECONDITION', ociError('UNSUPPORTED', 'method not allowed')],
  ] as const)('%d on a listing is an error and changes nothing remembered', async (status, code, body) => {
    await setup();
    fake.inject({ method: 'GET', path: /^\/v2\/staging\/app\/referrers\//, status, headers: JSON_TYPE, body });
    await expectCode(client.listReferrers(staging, subject.digest), code);
    expect((await client.listReferrers(repo, subject.digest)).source).toBe('api');
    expect(tagCalls(repo)).toBe(0);
  });

  test.each([400, 405])('%d to the probe is "no API", remembered for the host (as before)', async (status) => {
    await setup();
    fake.inject({ method: 'GET', path: /\/referrers\//, status, headers: JSON_TYPE, body: ociError('UNSUPPORTED') });
    expect(await client.pingReferrersApi(staging)).toBe(false);
    expect(await client.pingReferrersApi(repo)).toBe(false);
    expect((await client.listReferrers(repo, subject.digest)).source).toBe('tag');
    expect(fake.requestsMatching('GET', /\/referrers\//)).toHaveLength(1);
  });
});

describe('over scripted responses', () => {
  /** Discovery over scripted responses: each send() takes the next one; the fallback tag is absent. */
  function scripted(responses: Array<() => HttpResponse>): { discovery: ReferrersDiscovery; sent: string[] } {
    const sent: string[] = [];
    const plumbing: ReferrersPlumbing = {
      indexRequest: (r, path) => ({
        method: 'GET',
        url: new URL(`http://r.test/v2/${r.repository}/${path}`),
        idempotent: true,
        registry: r.registry,
      }),
      send: (_r, req: HttpRequest) => {
        sent.push(req.url.pathname);
        const next = responses.shift();
        if (!next) throw new Error('no more scripted responses');
        return Promise.resolve(next());
      },
      readIndex: async (res) => {
        const chunks: Buffer[] = [];
        for await (const chunk of res.body) chunks.push(chunk as Buffer);
        return Buffer.concat(chunks);
      },
      getManifest: () => Promise.reject(new CountersignError('NOT_FOUND', 'no such tag')),
    };
    return { discovery: new ReferrersDiscovery(plumbing, 60_000, 1 << 20), sent };
  }
  const response = (status: number, body: Readable, headers: Record<string, string> = {}): HttpResponse =>
    ({ status, headers, url: new URL('http://r.test/'), body }) as unknown as HttpResponse;
  const index = (): Readable =>
    Readable.from([Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_INDEX, manifests: [] }))]);
  const text = (body: string): Readable => Readable.from([Buffer.from(body)]);
  const r = { registry: 'r.test', repository: 'team/app' };
  const digest = `sha256:${'a'.repeat(64)}`;

  test('a 404 whose body breaks off: the tag for that call, nothing remembered (the connection failed, the registry did not answer)', async () => {
    const cut = (): Readable =>
      new Readable({
        read() {
          this.push(Buffer.from('{"errors":[{"code":"NAME_'));
          this.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
        },
      });
    const { discovery, sent } = scripted([
      () => response(404, cut(), JSON_TYPE),
      () => response(200, index(), { 'content-type': MEDIA_TYPE.OCI_INDEX }),
    ]);
    expect(await discovery.list(r, digest)).toEqual({ source: 'tag', manifests: [] });
    expect(await discovery.list(r, digest)).toEqual({ source: 'api', manifests: [] });
    expect(sent).toEqual([`/v2/team/app/referrers/${digest}`, `/v2/team/app/referrers/${digest}`]);
  });

  test('a 404 on a later page is an error whatever its body: the API has answered, so no fallback', async () => {
    const { discovery, sent } = scripted([
      () => response(200, index(), { 'content-type': MEDIA_TYPE.OCI_INDEX, link: `</v2/team/app/referrers/${digest}?page=1>; rel="next"` }),
      () => response(404, text(ociError('NAME_UNKNOWN')), JSON_TYPE),
    ]);
    await expectCode(discovery.list(r, digest), 'NOT_FOUND', /NAME_UNKNOWN/);
    expect(sent).toHaveLength(2);
  });
});
