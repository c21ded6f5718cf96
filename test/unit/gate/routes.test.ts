import { parseRoute } from '../../../src/gate/routes';

describe('parseRoute', () => {
  test.each([
    ['GET', '/v2/', { kind: 'ping' }],
    ['GET', '/v2/team/app/manifests/v1.0', { kind: 'manifest', name: 'team/app', reference: 'v1.0', byDigest: false }],
    [
      'HEAD',
      `/v2/a/manifests/sha256:${'a'.repeat(64)}`,
      { kind: 'manifest', name: 'a', reference: `sha256:${'a'.repeat(64)}`, byDigest: true },
    ],
    ['GET', `/v2/a/b/blobs/sha256:${'b'.repeat(64)}`, { kind: 'blob', name: 'a/b' }],
    ['POST', '/v2/a/blobs/uploads/', { kind: 'upload-start', name: 'a' }],
    ['PATCH', '/v2/a/blobs/uploads/4f1c-9a_b.c=', { kind: 'upload', name: 'a', session: '4f1c-9a_b.c=' }],
    ['GET', '/v2/a/tags/list', { kind: 'tags', name: 'a' }],
    ['GET', `/v2/a/referrers/sha256:${'c'.repeat(64)}`, { kind: 'referrers', name: 'a' }],
    // Names may contain the words the routes use.
    ['GET', '/v2/manifests/blobs/manifests/latest', { kind: 'manifest', name: 'manifests/blobs', reference: 'latest' }],
  ])('%s %s', (method, target, expected) => {
    const r = parseRoute(method, target);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.route).toMatchObject(expected);
  });

  test('the query string is kept as sent (mount parameters, pagination)', () => {
    const r = parseRoute('POST', '/v2/a/blobs/uploads/?mount=sha256%3Aab&from=b%2Fc');
    expect(r).toMatchObject({ ok: true, query: 'mount=sha256%3Aab&from=b%2Fc' });
  });

  test.each([
    ['/v2/a/../b/manifests/v1', 400],
    ['/v2/a/./manifests/v1', 400],
    ['/v2/a%2Fb/manifests/v1', 400],
    ['/v2/a%2fb/manifests/v1', 400],
    ['/v2/a/manifests/v%31', 400],
    ['/v2/a\\b/manifests/v1', 400],
    ['/v2//a/manifests/v1', 400],
    ['/v2/A/manifests/v1', 404],
    ['/v2/_catalog', 404],
    ['/v2/a/manifests/-bad', 404],
    ['/v2/a/blobs/uploads', 404], // GET on the upload-start route: no such method either
    ['/metrics', 404],
    ['http://evil.example/v2/', 400],
    ['/v2/a/manifests/' + 't'.repeat(129), 404],
  ])('refuses %s (%d)', (target, status) => {
    const r = parseRoute('GET', target);
    expect(r.ok).toBe(false);
    if (!r.ok) expect([status, 405]).toContain(r.status);
  });

  test('methods a route does not have are 405', () => {
    expect(parseRoute('POST', '/v2/a/manifests/v1')).toMatchObject({ ok: false, status: 405 });
    expect(parseRoute('PUT', '/v2/a/tags/list')).toMatchObject({ ok: false, status: 405 });
    expect(parseRoute('GET', '/v2/a/blobs/uploads/')).toMatchObject({ ok: false, status: 405 });
  });
});
