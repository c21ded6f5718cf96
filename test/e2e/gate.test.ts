/**
 * The registry gate end to end: the real registry behind `startGateServer`, the real service
 * answering Verify over gRPC (GrpcVerifier, as `countersign gate` does), and skopeo as the real
 * client. A second client path (raw HTTP written here) covers chunked uploads and mounts.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { pushSampleImage, pushSampleIndex } from '../../src/dev/sample-image';
import { GrpcVerifier, startGateServer, type GateServer } from '../../src/gate';
import { RegistryClient } from '../../src/registry';
import { startService, testRegistryHost, uniqueRepo, type RunningService } from '../support/harness';
import { listReferrers, verifiedReferrers } from '../support/independent-verify';

let host: string;
let pusher: RegistryClient;
let svc: RunningService;
let gate: GateServer;
let verifier: GrpcVerifier;
let gateHost: string;
let workDir: string;
let policyFile: string;
let publicKeyPem: string;

/** One id per run: staging and production repositories of the promotion tests share it. */
const RUN = `${process.pid}-${Date.now().toString(36)}`;
const STAGING = `countersign-test/g-staging-${RUN}`;
const PROD = `countersign-test/g-prod-${RUN}`;

function policy(): string {
  return `defaults: { mode: enforce, onUnmatched: deny, onError: deny }
rules:
  - name: prod-push
    match: { images: ["${host}/${PROD}/*"], actions: [push] }
    evidenceFrom: ["${host}/${STAGING}/{name}"]
    push:
      immutableTags: ["v*"]
      tagPattern: "v[0-9]+[.][0-9]+[.][0-9]+|latest"
    require:
      signatures: { keys: [ci-release] }
  - name: prod-pull
    match: { images: ["${host}/${PROD}/*"] }
    evidenceFrom: ["${host}/${STAGING}/{name}"]
    require:
      signatures: { keys: [ci-release] }
  - name: protected-push
    match: { images: ["${host}/countersign-test/g-prot-*"], actions: [push] }
    require:
      signatures: { keys: [ci-release] }
  - name: guarded-push
    match: { images: ["${host}/countersign-test/g-guard-*"], actions: [push] }
    push:
      identities: ["ci-release-bot"]
    require:
      signatures: { keys: [ci-release] }
  - name: pushes-are-content
    match: { actions: [push] }
    allow: "tags outside protected repositories may be written; pulls are gated"
  - name: ma-index
    match: { images: ["${host}/countersign-test/g-ma-index-*"] }
    multiArch: index
    require:
      signatures: { keys: [ci-release] }
  - name: ma-platforms
    match: { images: ["${host}/countersign-test/g-ma-platforms-*"] }
    multiArch: platforms
    require:
      signatures: { keys: [ci-release] }
  - name: signed-by-ci
    match: { images: ["${host}/countersign-test/**"] }
    require:
      signatures: { keys: [ci-release] }
`;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function rawGet(hostPort: string, rawPath: string): Promise<{ status: number; body: string }> {
  const [h, p] = hostPort.split(':');
  return new Promise((resolve, reject) => {
    const req = http.request({ host: h, port: Number(p), path: rawPath, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

function skopeo(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile('skopeo', ['--insecure-policy', ...args], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const viaGate = (repo: string, ref: string) => `docker://${gateHost}/${repo}${ref.startsWith('sha256:') ? '@' : ':'}${ref}`;

async function newImage(prefix: string, tag = 'v1') {
  const repository = uniqueRepo(prefix);
  const pushed = await pushSampleImage(pusher, { registry: host, repository }, tag);
  return { repository, tag, ...pushed };
}

/** The digest `skopeo inspect` reports (its JSON's `Digest`). */
function inspectedDigest(stdout: string): string {
  return (JSON.parse(stdout) as { Digest: string }).Digest;
}

async function sign(image: string): Promise<string> {
  const r = await svc.call<{ result: { referrerDigest: string } }>('Sign', { image, key: 'ci-release' });
  return r.result.referrerDigest;
}

beforeAll(async () => {
  host = testRegistryHost();
  pusher = new RegistryClient({});
  workDir = mkdtempSync(path.join(os.tmpdir(), 'countersign-gate-'));
  policyFile = path.join(workDir, 'policy.yaml');
  writeFileSync(policyFile, policy());
  svc = await startService({ policyFile, verification: { cacheTtlMs: 300_000, negativeCacheTtlMs: 0, maxDurationMs: 8000 } });
  publicKeyPem = (await svc.app.keys.createKey({ name: 'ci-release' }, 'test')).publicKeyPem;
  verifier = new GrpcVerifier({ address: svc.address });
  gate = await startGateServer({ listen: '127.0.0.1:0', upstream: `http://${host}`, verifier });
  gateHost = `127.0.0.1:${gate.port}`;
});

afterAll(async () => {
  await gate.close();
  verifier.close();
  await svc.stop();
  await pusher.close();
  rmSync(workDir, { recursive: true, force: true });
});

describe('pull through the gate (skopeo)', () => {
  test('a signed image: skopeo inspect and copy work, and see the signed digest', async () => {
    const img = await newImage('g-signed');
    await sign(`${host}/${img.repository}:${img.tag}`);
    const inspect = await skopeo('inspect', '--tls-verify=false', viaGate(img.repository, img.tag));
    expect(inspect.stderr).toBe('');
    expect(inspectedDigest(inspect.stdout)).toBe(img.digest);
    const dest = path.join(workDir, 'copy-signed');
    const copy = await skopeo('copy', '--src-tls-verify=false', viaGate(img.repository, img.tag), `oci:${dest}:x`);
    expect(copy.stderr).toBe('');
    expect(copy.code).toBe(0);
  });

  test('an unsigned image: skopeo fails and prints the policy reason', async () => {
    const img = await newImage('g-unsigned');
    const r = await skopeo('inspect', '--tls-verify=false', viaGate(img.repository, img.tag));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('denied');
    expect(r.stderr).toContain('no signature by ci-release');
    expect(r.stdout).toBe('');
  });

  test('by digest, unsigned, with no allowed parent: denied (no loophole)', async () => {
    const img = await newImage('g-unsigned-digest');
    const r = await skopeo('inspect', '--raw', '--tls-verify=false', viaGate(img.repository, img.digest));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('no signature by ci-release');
  });

  test('the denial is an OCI error body with code DENIED and the reasons (HTTP 403)', async () => {
    const img = await newImage('g-denied-body');
    const res = await request(`http://${gateHost}/v2/${img.repository}/manifests/${img.tag}`);
    expect(res.statusCode).toBe(403);
    const body = (await res.body.json()) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0]!.code).toBe('DENIED');
    expect(body.errors[0]!.message).toContain(img.digest);
    expect(body.errors[0]!.message).toContain('no signature by ci-release');
  });

  test('evidence reads are content: the independent verifier reads the referrers through the gate', async () => {
    const img = await newImage('g-evidence');
    const referrer = await sign(`${host}/${img.repository}@${img.digest}`);
    const listed = await listReferrers(gateHost, img.repository, img.digest);
    expect(listed.manifests.map((m) => m.digest)).toContain(referrer);
    const res = await request(`http://${gateHost}/v2/${img.repository}/manifests/${referrer}`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-countersign-gate']).toBe('evidence (referrer artifact)');
    const bytes = Buffer.from(await res.body.arrayBuffer());
    expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(referrer);
  });

  test('the independent verifier reads and verifies every signature and attestation through the gate', async () => {
    const img = await newImage('g-evidence-all');
    await sign(`${host}/${img.repository}@${img.digest}`);
    const sbom = readFileSync(
      path.resolve(__dirname, '../../../shared/vectors/trivy/integration/testdata/fixtures/sbom/centos-7-cyclonedx.json'),
    );
    await svc.call('Attest', {
      image: `${host}/${img.repository}@${img.digest}`,
      key: 'ci-release',
      predicateType: 'https://cyclonedx.org/bom',
      predicate: sbom,
      scanTime: '',
    });
    const direct = await verifiedReferrers(host, img.repository, img.digest, publicKeyPem);
    const via = await verifiedReferrers(gateHost, img.repository, img.digest, publicKeyPem);
    expect(direct.map((r) => r.predicateType).sort()).toEqual(['https://cyclonedx.org/bom', 'https://sigstore.dev/cosign/sign/v1']);
    expect(via.map((r) => r.entry.digest).sort()).toEqual(direct.map((r) => r.entry.digest).sort());
  });

  // Distribution and skopeo read JSON keys case-insensitively (Go's encoding/json, with Unicode
  // folding): an unsigned image whose layers are under "Layers" or "layerſ", given a subject, must
  // not pass as a layer-less referrer artifact.
  test.each([['Layers'], ['layerſ']])('an unsigned runnable image disguised as a referrer ("%s"): skopeo is denied', async (key) => {
    const img = await newImage('g-disguised');
    const real = (await (
      await request(`http://${host}/v2/${img.repository}/manifests/${img.digest}`, { headers: { accept: img.mediaType } })
    ).body.json()) as Record<string, unknown>;
    const { layers, ...rest } = real;
    const disguised = Buffer.from(
      JSON.stringify({ ...rest, subject: { mediaType: img.mediaType, digest: img.digest, size: img.size }, [key]: layers }),
    );
    const digest = `sha256:${createHash('sha256').update(disguised).digest('hex')}`;
    // Pushed by digest through the gate (content: allowed), accepted by Distribution.
    const put = await request(`http://${gateHost}/v2/${img.repository}/manifests/${digest}`, {
      method: 'PUT',
      body: disguised,
      headers: { 'content-type': img.mediaType },
    });
    expect(put.statusCode).toBe(201);
    await put.body.dump();
    // Directly, skopeo sees a runnable image with the layer.
    const direct = await skopeo('inspect', '--no-tags', '--tls-verify=false', `docker://${host}/${img.repository}@${digest}`);
    expect((JSON.parse(direct.stdout) as { Layers: string[] }).Layers).toHaveLength(1);
    const r = await skopeo('inspect', '--no-tags', '--tls-verify=false', viaGate(img.repository, digest));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('no signature by ci-release');
    expect(r.stdout).toBe('');
  });

  test('a conditional read (If-None-Match: the digest, as a client or cache revalidating its copy) is decided, not a 304', async () => {
    const img = await newImage('g-conditional');
    for (const method of ['GET', 'HEAD'] as const) {
      // Directly, Distribution confirms the copy.
      const direct = await request(`http://${host}/v2/${img.repository}/manifests/${img.digest}`, {
        method,
        headers: { accept: img.mediaType, 'if-none-match': `"${img.digest}"` },
      });
      expect(direct.statusCode).toBe(304);
      await direct.body.dump();
      const res = await request(`http://${gateHost}/v2/${img.repository}/manifests/${img.tag}`, {
        method,
        headers: { accept: img.mediaType, 'if-none-match': `"${img.digest}"` },
      });
      expect(res.statusCode).toBe(403);
      await res.body.dump();
    }
  });

  test('a runnable image merely tagged sha256-<hex> is not waved through', async () => {
    const fake = `sha256-${'ab'.repeat(32)}`;
    const img = await newImage('g-fake-fallback', fake);
    const res = await request(`http://${gateHost}/v2/${img.repository}/manifests/${fake}`);
    expect(res.statusCode).toBe(403);
    await res.body.dump();
  });
});

describe('multi-arch images under each multiArch mode', () => {
  test.each([
    ['index', 'g-ma-index', 'index'],
    ['platforms', 'g-ma-platforms', 'platforms'],
    ['either (signed index)', 'g-ma-either', 'index'],
    ['either (each platform signed, not the index)', 'g-ma-either-each', 'platforms'],
  ])('%s: skopeo copy --all through the gate', async (_mode, prefix, signWhat) => {
    const repository = uniqueRepo(prefix);
    const idx = await pushSampleIndex(pusher, { registry: host, repository }, 'v1');
    if (signWhat === 'index') await sign(`${host}/${repository}@${idx.digest}`);
    else for (const p of idx.platforms) await sign(`${host}/${repository}@${p.digest}`);
    const dest = path.join(workDir, `ma-${prefix}`);
    const copy = await skopeo('copy', '--all', '--src-tls-verify=false', viaGate(repository, 'v1'), `oci:${dest}:x`);
    expect(copy.stderr).toBe('');
    expect(copy.code).toBe(0);
    // And a platform by digest through skopeo's own selection (index → child).
    const one = await skopeo('inspect', '--tls-verify=false', '--override-arch', 'arm64', viaGate(repository, 'v1'));
    expect(one.code).toBe(0);
    expect(inspectedDigest(one.stdout)).toBe(idx.digest);
  });

  // Raw HTTP, as a client does it (index by tag, then children by digest), with one child asked
  // for FIRST, alone: it has no allowed parent yet, so only its own evidence can allow it.
  test.each([
    ['index', 'g-ma-index', 'index', 403],
    ['platforms', 'g-ma-platforms', 'platforms', 200],
    ['either (signed index)', 'g-ma-either', 'index', 403],
    ['either (each platform signed, not the index)', 'g-ma-either-each', 'platforms', 200],
  ])('%s: raw HTTP index then children; a child alone is judged by its own evidence', async (_mode, prefix, signWhat, aloneStatus) => {
    const repository = uniqueRepo(`${prefix}-raw`);
    const idx = await pushSampleIndex(pusher, { registry: host, repository }, 'v1');
    if (signWhat === 'index') await sign(`${host}/${repository}@${idx.digest}`);
    else for (const p of idx.platforms) await sign(`${host}/${repository}@${p.digest}`);
    const get = async (ref: string, accept: string) => {
      const res = await request(`http://${gateHost}/v2/${repository}/manifests/${ref}`, { headers: { accept } });
      const body = Buffer.from(await res.body.arrayBuffer());
      return { status: res.statusCode, how: res.headers['x-countersign-gate'], digest: res.headers['docker-content-digest'], body };
    };
    const [first, second] = idx.platforms;
    const alone = await get(first!.digest, first!.mediaType);
    expect(alone.status).toBe(aloneStatus);
    if (aloneStatus === 200) expect(alone.how).toBe('allowed');
    else expect(alone.body.toString()).toContain('no signature by ci-release');
    const index = await get('v1', idx.mediaType);
    expect(index).toMatchObject({ status: 200, how: 'allowed', digest: idx.digest });
    const listed = (JSON.parse(index.body.toString()) as { manifests: Array<{ digest: string }> }).manifests.map((m) => m.digest);
    expect(listed).toEqual(idx.platforms.map((p) => p.digest));
    for (const child of [first!, second!]) {
      const r = await get(child.digest, child.mediaType);
      expect(r).toMatchObject({ status: 200, how: `child of allowed index ${idx.digest}`, digest: child.digest });
    }
  });

  test('a child of an unsigned index, pulled directly, is judged on its own', async () => {
    const repository = uniqueRepo('g-ma-index-unsigned');
    const idx = await pushSampleIndex(pusher, { registry: host, repository }, 'v1');
    const res = await request(`http://${gateHost}/v2/${repository}/manifests/${idx.platforms[0]!.digest}`);
    expect(res.statusCode).toBe(403);
    await res.body.dump();
  });
});

describe('push through the gate', () => {
  test('an unsigned image into a protected repository: denied with the reason', async () => {
    const src = await newImage('g-src-unsigned');
    const layout = path.join(workDir, 'unsigned-layout');
    // Read it straight from the registry (not through the gate: it is unsigned).
    expect((await skopeo('copy', '--src-tls-verify=false', `docker://${host}/${src.repository}:v1`, `oci:${layout}:x`)).code).toBe(0);
    const target = uniqueRepo('g-prot');
    const r = await skopeo('copy', '--dest-tls-verify=false', `oci:${layout}:x`, viaGate(target, 'v1'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('denied');
    expect(r.stderr).toContain('no signature by ci-release');
    // Nothing is tagged in the upstream.
    const head = await request(`http://${host}/v2/${target}/manifests/v1`, { method: 'HEAD' });
    expect(head.statusCode).toBe(404);
  });

  test('outside protected repositories a push by tag is allowed, and the tag is written', async () => {
    const src = await newImage('g-src-open');
    const layout = path.join(workDir, 'open-layout');
    expect((await skopeo('copy', '--src-tls-verify=false', `docker://${host}/${src.repository}:v1`, `oci:${layout}:x`)).code).toBe(0);
    const target = uniqueRepo('g-open');
    const r = await skopeo('copy', '--dest-tls-verify=false', `oci:${layout}:x`, viaGate(target, 'v2'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const head = await request(`http://${host}/v2/${target}/manifests/v2`, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(head.statusCode).toBe(200);
    expect(head.headers['docker-content-digest']).toBe(src.digest);
  });
});

describe('who may write into a guarded repository (push.identities) covers every write, not only tags', () => {
  const as = (user: string) => `Basic ${Buffer.from(`${user}:pw`).toString('base64')}`;
  const INDEX = 'application/vnd.oci.image.index.v1+json';

  test("an excluded pusher cannot empty an image's referrers fallback index, push content or commit blobs; its signature still counts", async () => {
    const img = await newImage('g-guard');
    const ref = `${host}/${img.repository}@${img.digest}`;
    await sign(ref);
    const fallback = `sha256-${img.digest.slice('sha256:'.length)}`;
    const indexNow = async () =>
      Buffer.from(
        await (
          await request(`http://${host}/v2/${img.repository}/manifests/${fallback}`, { headers: { accept: INDEX } })
        ).body.arrayBuffer(),
      );
    const before = await indexNow();
    expect((JSON.parse(before.toString()) as { manifests: unknown[] }).manifests).toHaveLength(1);

    const empty = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: [] }));
    const sabotage = await request(`http://${gateHost}/v2/${img.repository}/manifests/${fallback}`, {
      method: 'PUT',
      body: empty,
      headers: { 'content-type': INDEX, authorization: as('mallory') },
    });
    expect(sabotage.statusCode).toBe(403);
    const why = await sabotage.body.text();
    expect(why).toContain('DENIED');
    expect(why).toContain('mallory may not push');
    expect(why).toContain(`evidence tag ${fallback}`);
    expect((await indexNow()).equals(before)).toBe(true);

    // Content by digest and blob commits: refused before the registry stores anything.
    const byDigest = await request(
      `http://${gateHost}/v2/${img.repository}/manifests/${'sha256:' + createHash('sha256').update(empty).digest('hex')}`,
      {
        method: 'PUT',
        body: empty,
        headers: { 'content-type': INDEX, authorization: as('mallory') },
      },
    );
    expect(byDigest.statusCode).toBe(403);
    await byDigest.body.dump();
    const junk = Buffer.from('junk layer');
    const junkDigest = `sha256:${createHash('sha256').update(junk).digest('hex')}`;
    const mono = await request(`http://${gateHost}/v2/${img.repository}/blobs/uploads/?digest=${junkDigest}`, {
      method: 'POST',
      body: junk,
      headers: { 'content-type': 'application/octet-stream', authorization: as('mallory') },
    });
    expect(mono.statusCode).toBe(403);
    await mono.body.dump();
    const blobHead = await request(`http://${host}/v2/${img.repository}/blobs/${junkDigest}`, { method: 'HEAD' });
    expect(blobHead.statusCode).toBe(404);

    // The image still pulls through the gate: its signature was not hidden.
    const inspect = await skopeo('inspect', '--tls-verify=false', viaGate(img.repository, img.digest));
    expect(inspect.stderr).toBe('');
    expect(inspect.code).toBe(0);

    // The listed pusher may write the same evidence tag (here: the index as it is).
    const ok = await request(`http://${gateHost}/v2/${img.repository}/manifests/${fallback}`, {
      method: 'PUT',
      body: before,
      headers: { 'content-type': INDEX, authorization: as('ci-release-bot') },
    });
    expect(ok.statusCode).toBe(201);
    await ok.body.dump();
  });

  // This registry asks for no credentials, so skopeo sends none (--dest-creds is only an answer to
  // a challenge): the pusher is unidentified, and an unidentified pusher is not on the list.
  test('skopeo pushing without an identity on the list is refused at its first blob, with the reason', async () => {
    const src = await newImage('g-src-guard');
    const layout = path.join(workDir, 'guard-layout');
    expect((await skopeo('copy', '--src-tls-verify=false', `docker://${host}/${src.repository}:v1`, `oci:${layout}:x`)).code).toBe(0);
    const target = uniqueRepo('g-guard');
    const r = await skopeo('copy', '--dest-tls-verify=false', '--dest-creds', 'mallory:pw', `oci:${layout}:x`, viaGate(target, 'v1'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('writing blob');
    expect(r.stderr).toContain('an unidentified pusher may not push');
    const head = await request(`http://${host}/v2/${target}/manifests/v1`, { method: 'HEAD' });
    expect(head.statusCode).toBe(404);
  });
});

describe('promotion, immutable tags and tag naming (skopeo through the gate)', () => {
  let n = 0;
  async function staged(): Promise<{ name: string; digest: string; src: string }> {
    const name = `app${++n}`;
    const pushed = await pushSampleImage(pusher, { registry: host, repository: `${STAGING}/${name}` }, 'rc');
    await sign(`${host}/${STAGING}/${name}@${pushed.digest}`);
    return { name, digest: pushed.digest, src: viaGate(`${STAGING}/${name}`, 'rc') };
  }
  const copy = (src: string, dest: string) => skopeo('copy', '--src-tls-verify=false', '--dest-tls-verify=false', src, dest);
  const upstreamTag = async (repo: string, tag: string) => {
    const head = await request(`http://${host}/v2/${repo}/manifests/${tag}`, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    return head.statusCode === 200 ? String(head.headers['docker-content-digest']) : head.statusCode;
  };

  test('a digest signed in staging is promoted into production; it pulls from there', async () => {
    const a = await staged();
    const r = await copy(a.src, viaGate(`${PROD}/${a.name}`, 'v1.0.0'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await upstreamTag(`${PROD}/${a.name}`, 'v1.0.0')).toBe(a.digest);
    const inspect = await skopeo('inspect', '--tls-verify=false', viaGate(`${PROD}/${a.name}`, 'v1.0.0'));
    expect(inspect.code).toBe(0);
    expect(inspectedDigest(inspect.stdout)).toBe(a.digest);
  });

  test('an unsigned image cannot be pushed into production', async () => {
    const name = `app${++n}`;
    await pushSampleImage(pusher, { registry: host, repository: `${STAGING}/${name}` }, 'rc');
    const layout = path.join(workDir, `unsigned-${name}`);
    expect((await skopeo('copy', '--src-tls-verify=false', `docker://${host}/${STAGING}/${name}:rc`, `oci:${layout}:x`)).code).toBe(0);
    const r = await copy(`oci:${layout}:x`, viaGate(`${PROD}/${name}`, 'v1.0.0'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('no signature by ci-release');
    expect(await upstreamTag(`${PROD}/${name}`, 'v1.0.0')).toBe(404);
  });

  test('an immutable release tag: the same digest may be re-pushed, another digest may not, nor may it be deleted', async () => {
    const a = await staged();
    const b = await staged();
    const dest = viaGate(`${PROD}/${a.name}`, 'v2.0.0');
    expect((await copy(a.src, dest)).code).toBe(0);
    const again = await copy(a.src, dest);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    // Push constraints are decided before evidence: the reason is the immutable tag.
    const moved = await copy(b.src, dest);
    expect(moved.code).not.toBe(0);
    expect(moved.stderr).toContain('tag v2.0.0 is immutable');
    expect(await upstreamTag(`${PROD}/${a.name}`, 'v2.0.0')).toBe(a.digest);
    const del = await skopeo('delete', '--tls-verify=false', viaGate(`${PROD}/${a.name}`, 'v2.0.0'));
    expect(del.code).not.toBe(0);
    expect(del.stderr).toContain('cannot be deleted');
    expect(await upstreamTag(`${PROD}/${a.name}`, 'v2.0.0')).toBe(a.digest);
  });

  // Distribution answers a conditional HEAD with 304: the gate's read of the tag's target must not
  // carry the client's If-None-Match, or an immutable tag reads as "not set" and moves.
  test('a conditional PUT (If-None-Match: the current digest) does not move an immutable tag', async () => {
    const a = await staged();
    // A second signed digest under the same name in staging (evidence is looked up there by name).
    const bPushed = await pushSampleImage(pusher, { registry: host, repository: `${STAGING}/${a.name}` }, 'rc2');
    await sign(`${host}/${STAGING}/${a.name}@${bPushed.digest}`);
    const b = { digest: bPushed.digest, src: viaGate(`${STAGING}/${a.name}`, 'rc2') };
    const repo = `${PROD}/${a.name}`;
    const aCopy = await copy(a.src, viaGate(repo, 'v3.0.0'));
    expect([aCopy.code, aCopy.stderr]).toEqual([0, '']);
    const bCopy = await copy(b.src, viaGate(repo, 'v3.0.1'));
    expect([bCopy.code, bCopy.stderr]).toEqual([0, '']); // b's blobs and manifest are in the repository now
    const bBytes = Buffer.from(
      await (
        await request(`http://${host}/v2/${repo}/manifests/${b.digest}`, {
          headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
        })
      ).body.arrayBuffer(),
    );
    const res = await request(`http://${gateHost}/v2/${repo}/manifests/v3.0.0`, {
      method: 'PUT',
      body: bBytes,
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'if-none-match': `"${a.digest}"` },
    });
    expect(res.statusCode).toBe(403);
    expect(await res.body.text()).toContain('tag v3.0.0 is immutable');
    expect(await upstreamTag(repo, 'v3.0.0')).toBe(a.digest);
  });

  test('a tag that breaks the naming rule is refused', async () => {
    const a = await staged();
    const r = await copy(a.src, viaGate(`${PROD}/${a.name}`, 'release-candidate'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('does not follow the naming rule');
    expect(await upstreamTag(`${PROD}/${a.name}`, 'release-candidate')).toBe(404);
  });

  test('evidence tags pass into a protected repository; a runnable image under such a name does not', async () => {
    const a = await staged();
    const repo = `${PROD}/${a.name}`;
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }));
    const fallbackTag = `sha256-${'1'.repeat(64)}`;
    const ok = await request(`http://${gateHost}/v2/${repo}/manifests/${fallbackTag}`, {
      method: 'PUT',
      body: index,
      headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' },
    });
    expect(ok.statusCode).toBe(201);
    await ok.body.dump();
    // An unsigned image (its blobs put there directly, as set-up), tagged through the gate under a fallback-looking name.
    const img = await pushSampleImage(pusher, { registry: host, repository: repo }, 'setup');
    const bytes = Buffer.from(
      await (await request(`http://${host}/v2/${repo}/manifests/${img.digest}`, { headers: { accept: img.mediaType } })).body.arrayBuffer(),
    );
    const bad = await request(`http://${gateHost}/v2/${repo}/manifests/sha256-${'2'.repeat(64)}`, {
      method: 'PUT',
      body: bytes,
      headers: { 'content-type': img.mediaType },
    });
    expect(bad.statusCode).toBe(403);
    expect(await bad.body.text()).toContain('DENIED');
  });
});

describe('pass-through (raw HTTP)', () => {
  const blob = (n: number, seed: string) => Buffer.alloc(n, seed);
  const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

  test('a chunked upload (POST, PATCH, PATCH, PUT) with Location kept on the gate', async () => {
    const repository = uniqueRepo('g-chunked');
    const a = blob(100_000, 'a');
    const b = blob(50_000, 'b');
    const whole = Buffer.concat([a, b]);
    const start = await request(`http://${gateHost}/v2/${repository}/blobs/uploads/`, {
      method: 'POST',
      headers: { 'content-length': '0' },
    });
    expect(start.statusCode).toBe(202);
    await start.body.dump();
    let location = String(start.headers.location);
    const url1 = new URL(location, `http://${gateHost}`);
    expect(url1.host).toBe(gateHost);
    const p1 = await request(url1, {
      method: 'PATCH',
      body: a,
      headers: { 'content-type': 'application/octet-stream', 'content-range': `0-${a.length - 1}` },
    });
    expect(p1.statusCode).toBe(202);
    await p1.body.dump();
    location = String(p1.headers.location);
    expect(new URL(location, `http://${gateHost}`).host).toBe(gateHost);
    const p2 = await request(new URL(location, `http://${gateHost}`), {
      method: 'PATCH',
      body: b,
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${a.length}-${whole.length - 1}` },
    });
    expect(p2.statusCode).toBe(202);
    await p2.body.dump();
    const done = new URL(String(p2.headers.location), `http://${gateHost}`);
    done.searchParams.set('digest', digestOf(whole));
    const put = await request(done, { method: 'PUT', headers: { 'content-length': '0' } });
    expect(put.statusCode).toBe(201);
    await put.body.dump();
    expect(put.headers['docker-content-digest']).toBe(digestOf(whole));
    const get = await request(`http://${gateHost}/v2/${repository}/blobs/${digestOf(whole)}`);
    expect(get.statusCode).toBe(200);
    expect(Buffer.from(await get.body.arrayBuffer()).equals(whole)).toBe(true);
  });

  test('a monolithic upload and a cross-repository mount', async () => {
    const from = uniqueRepo('g-mount-from');
    const to = uniqueRepo('g-mount-to');
    const data = blob(4096, 'm');
    const d = digestOf(data);
    // Monolithic: POST opens the session, one PUT carries the whole blob.
    const open = await request(`http://${gateHost}/v2/${from}/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
    expect(open.statusCode).toBe(202);
    await open.body.dump();
    const target = new URL(String(open.headers.location), `http://${gateHost}`);
    expect(target.host).toBe(gateHost);
    target.searchParams.set('digest', d);
    const mono = await request(target, {
      method: 'PUT',
      body: data,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.length) },
    });
    expect(mono.statusCode).toBe(201);
    await mono.body.dump();
    const mount = await request(
      `http://${gateHost}/v2/${to}/blobs/uploads/?mount=${encodeURIComponent(d)}&from=${encodeURIComponent(from)}`,
      {
        method: 'POST',
        headers: { 'content-length': '0' },
      },
    );
    expect(mount.statusCode).toBe(201);
    await mount.body.dump();
    const loc = new URL(String(mount.headers.location), `http://${gateHost}`);
    expect(loc.host).toBe(gateHost);
    const head = await request(`http://${host}/v2/${to}/blobs/${d}`, { method: 'HEAD' });
    expect(head.statusCode).toBe(200);
  });

  test('the /v2/ ping, tags list and referrers API pass through', async () => {
    const img = await newImage('g-lists');
    const ping = await request(`http://${gateHost}/v2/`);
    expect(ping.statusCode).toBe(200);
    expect(ping.headers['docker-distribution-api-version']).toBe('registry/2.0');
    await ping.body.dump();
    const tags = await request(`http://${gateHost}/v2/${img.repository}/tags/list`);
    expect(tags.statusCode).toBe(200);
    expect(((await tags.body.json()) as { tags: string[] }).tags).toEqual(['v1']);
    const direct = await request(`http://${host}/v2/${img.repository}/referrers/${img.digest}`);
    const via = await request(`http://${gateHost}/v2/${img.repository}/referrers/${img.digest}`);
    expect(via.statusCode).toBe(direct.statusCode);
    expect(via.headers['oci-filters-applied']).toBe(direct.headers['oci-filters-applied']);
    await direct.body.dump();
    await via.body.dump();
  });

  test.each([
    ['/v2/_catalog', 404],
    ['/v2/countersign-test/a/../b/manifests/v1', 400],
    ['/v2/countersign-test%2Fa/manifests/v1', 400],
    ['/v2/countersign-test//a/manifests/v1', 400],
    ['/debug/vars', 404],
    ['/v2/countersign-test/a/manifests/v1/extra', 404],
  ])('unknown or ambiguous route %s → %d OCI error, not forwarded', async (target, status) => {
    // node:http sends the path exactly as written (a URL parser would remove the dot segments).
    const res = await rawGet(gateHost, target);
    expect(res.status).toBe(status);
    const body = JSON.parse(res.body) as { errors: Array<{ code: string }> };
    expect(body.errors[0]!.code).toMatch(/^[A-Z_]+$/);
  });

  test('a method a route does not have is a 405', async () => {
    const res = await request(`http://${gateHost}/v2/countersign-test/a/tags/list`, { method: 'DELETE' });
    expect(res.statusCode).toBe(405);
    await res.body.dump();
  });
});

describe('serve --gate-listen: the gate in-process', () => {
  test('decides with the service it runs in', async () => {
    const inProcess = await startService({
      policyFile,
      gate: { listen: '127.0.0.1:0', upstream: `http://${host}`, allowPlainHttp: false, decisionTimeoutMs: 9000 },
    });
    try {
      await inProcess.app.keys.createKey({ name: 'ci-release' }, 'test');
      expect(inProcess.app.gate).toBeDefined();
      const base = `http://127.0.0.1:${inProcess.app.gate!.port}`;
      const img = await newImage('g-inprocess');
      // Every request answered is counted once (the idle memory return reads the count), whatever the door.
      const served = inProcess.app.served;
      const before = served.count;
      const denied = await request(`${base}/v2/${img.repository}/manifests/${img.tag}`);
      expect(denied.statusCode).toBe(403);
      expect(await denied.body.text()).toContain('no signature by ci-release');
      expect(served.count).toBe(before + 1);
      await inProcess.call('Sign', { image: `${host}/${img.repository}@${img.digest}`, key: 'ci-release' });
      expect(served.count).toBe(before + 2);
      const allowed = await request(`${base}/v2/${img.repository}/manifests/${img.tag}`, { headers: { accept: img.mediaType } });
      expect(allowed.statusCode).toBe(200);
      expect(allowed.headers['docker-content-digest']).toBe(img.digest);
      await allowed.body.dump();
      expect(served.count).toBe(before + 3);
      // Passed through (the ping) and refused (an unknown route): served too.
      const ping = await request(`${base}/v2/`);
      await ping.body.dump();
      const unknown = await request(`${base}/not-a-registry-route`);
      await unknown.body.dump();
      expect(unknown.statusCode).toBe(404);
      expect(served.count).toBe(before + 5);
    } finally {
      await inProcess.stop();
    }
  });
});

describe('reused decisions end with a revocation', () => {
  test('in-process at once; over gRPC from the next answer Countersign gives the gate', async () => {
    const revokePolicy = path.join(workDir, 'policy-revoke.yaml');
    writeFileSync(
      revokePolicy,
      `defaults: { mode: enforce, onUnmatched: deny, onError: deny }
rules:
  - name: signed-by-rev
    match: { images: ["${host}/countersign-test/**"] }
    require:
      signatures: { keys: [rev-key] }
`,
    );
    const own = await startService({
      policyFile: revokePolicy,
      gate: { listen: '127.0.0.1:0', upstream: `http://${host}`, allowPlainHttp: false, decisionTimeoutMs: 9000 },
    });
    const remote = new GrpcVerifier({ address: own.address });
    // A long reuse time: only a revision change can end reuse during this test.
    const grpcGate = await startGateServer({
      listen: '127.0.0.1:0',
      upstream: `http://${host}`,
      verifier: remote,
      decisionCacheTtlMs: 600_000,
    });
    try {
      await own.app.keys.createKey({ name: 'rev-key' }, 'test');
      const img = await newImage('g-revoke');
      const other = await newImage('g-revoke-other');
      await own.call('Sign', { image: `${host}/${img.repository}@${img.digest}`, key: 'rev-key' });
      const inProcess = `http://127.0.0.1:${own.app.gate!.port}`;
      const pull = async (base: string, i: { repository: string; tag: string; mediaType: string }) => {
        const res = await request(`${base}/v2/${i.repository}/manifests/${i.tag}`, { headers: { accept: i.mediaType } });
        const body = await res.body.text();
        return { status: res.statusCode, how: res.headers['x-countersign-gate'], body };
      };
      expect((await pull(inProcess, img)).status).toBe(200);
      expect((await pull(grpcGate.url, img)).status).toBe(200);
      expect((await pull(grpcGate.url, img)).how).toBe('allowed (decision reused)');
      await own.call('RevokeKey', { key: 'rev-key', reason: 'compromised' });
      // In-process: the gate reads the trust store's revision itself.
      const inProcessAfter = await pull(inProcess, img);
      expect(inProcessAfter.status).toBe(403);
      expect(inProcessAfter.body).toContain('DENIED');
      // Over gRPC the gate learns of the new revision from its next answer, about any image...
      expect((await pull(grpcGate.url, other)).status).toBe(403);
      // ...and from then on the warm allow made under the old revision is not reused.
      const grpcAfter = await pull(grpcGate.url, img);
      expect(grpcAfter.status).toBe(403);
      expect(grpcAfter.body).toContain(img.digest);
    } finally {
      await grpcGate.close();
      remote.close();
      await own.stop();
    }
  });
});

describe('fail closed', () => {
  test('Countersign unreachable: pulls are denied with a reason', async () => {
    const img = await newImage('g-fail-closed');
    await sign(`${host}/${img.repository}:${img.tag}`);
    const dead = new GrpcVerifier({ address: '127.0.0.1:1' });
    const closedGate = await startGateServer({
      listen: '127.0.0.1:0',
      upstream: `http://${host}`,
      verifier: dead,
      decisionTimeoutMs: 2000,
    });
    try {
      const r = await skopeo('inspect', '--tls-verify=false', `docker://127.0.0.1:${closedGate.port}/${img.repository}:${img.tag}`);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('Countersign could not decide');
      expect(r.stderr).toContain('fails closed');
    } finally {
      await closedGate.close();
      dead.close();
    }
  });
});
