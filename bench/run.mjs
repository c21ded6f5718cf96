// npm run bench — prints figures and ratios; never asserts on time.
//
// 1. Key operations on the signing hot path: node:crypto (OpenSSL) vs @noble/curves (pure JS),
//    ECDSA P-256/SHA-256 sign and verify over a DSSE PAE-sized message.
// 3. Verify through gRPC: cache miss, cache hit by tag (one HEAD) and by digest, next to the raw
//    registry round trips and signature check each needs (the floor), and throughput.
// 2. Sign end to end through the gRPC service against a real local registry, next to the floor:
//    the raw registry round trips one Sign needs (HEAD, 2 blob pushes, manifest PUT, index GET+PUT)
//    and the signature itself. Ratio = Sign latency / floor.
import crypto from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => require(path.join(root, 'dist', p));
const { p256 } = await import('@noble/curves/nist.js');

const quick = process.argv.includes('--quick');

function stats(samplesMs) {
  const s = [...samplesMs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  const total = s.reduce((a, b) => a + b, 0);
  return { n: s.length, mean: total / s.length, p50: q(0.5), p99: q(0.99), opsPerSec: (1000 * s.length) / total };
}
const fmt = (x) => (x < 1 ? x.toFixed(3) : x < 100 ? x.toFixed(2) : x.toFixed(0));
function row(name, st) {
  process.stdout.write(`${name.padEnd(58)} n=${String(st.n).padStart(5)}  p50=${fmt(st.p50).padStart(8)} ms  p99=${fmt(st.p99).padStart(8)} ms  ${fmt(st.opsPerSec).padStart(8)} ops/s\n`);
}
function timeSync(n, fn) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    fn(i);
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return stats(out);
}
async function timeAsync(n, fn) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await fn(i);
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return stats(out);
}

// --- 1. key operations -------------------------------------------------------------------------
process.stdout.write('\n# ECDSA P-256 / SHA-256 over a 400-byte PAE message\n');
const msg = crypto.randomBytes(400);
const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = privateKey.export({ format: 'jwk' });
const secret = Buffer.from(jwk.d, 'base64url');
const noblePub = p256.getPublicKey(secret, false);
const N = quick ? 300 : 3000;
const nodeSign = timeSync(N, () => crypto.sign('sha256', msg, privateKey));
const nobleSign = timeSync(N, () => p256.sign(msg, secret, { format: 'der' }));
const nodeSig = crypto.sign('sha256', msg, privateKey);
const nobleSig = p256.sign(msg, secret, { format: 'der' });
if (!crypto.verify('sha256', msg, publicKey, nobleSig) || !p256.verify(nodeSig, msg, noblePub, { format: 'der', lowS: false })) {
  throw new Error('cross-verification between node:crypto and noble failed');
}
const nodeVerify = timeSync(N, () => crypto.verify('sha256', msg, publicKey, nodeSig));
const nobleVerify = timeSync(N, () => p256.verify(nodeSig, msg, noblePub, { format: 'der', lowS: false }));
row('sign   node:crypto', nodeSign);
row('sign   @noble/curves', nobleSign);
row('verify node:crypto', nodeVerify);
row('verify @noble/curves', nobleVerify);
process.stdout.write(`ratio  noble/node sign p50 = ${(nobleSign.p50 / nodeSign.p50).toFixed(1)}x, verify p50 = ${(nobleVerify.p50 / nodeVerify.p50).toFixed(1)}x  (node:crypto is used)\n`);

// --- 1b. keyless bundle verification ----------------------------------------------------------
// The verification core (bundle checks, root-in-chain, identity, counts) next to bare
// @sigstore/verify on the same production bundle, both with the trusted root parsed once.
{
  process.stdout.write('\n# Keyless Sigstore bundle (cosign OCI attestation, production root): core vs bare @sigstore/verify\n');
  const { readFileSync } = await import('node:fs');
  const vectors = path.resolve(root, '..', 'shared', 'vectors');
  const bundlePath = path.join(vectors, 'cosign/pkg/cosign/testdata/oci-attestation.sigstore.json');
  const { verifySigstoreBundle } = dist('verification/sigstore/verify-bundle.js');
  const { loadTrustedRootFile, PUBLIC_GOOD_TRUSTED_ROOT } = dist('verification/sigstore/trusted-root.js');
  const { bundleFromJSON } = require('@sigstore/bundle');
  const { toSignedEntity, Verifier } = require('@sigstore/verify');
  const bytes = readFileSync(bundlePath);
  const trust = loadTrustedRootFile(PUBLIC_GOOD_TRUSTED_ROOT);
  const artifact = { digest: 'sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4' };
  if (!verifySigstoreBundle(bytes, { roots: [trust] }, artifact).ok) throw new Error('the bench bundle does not verify');
  const K = quick ? 100 : 1000;
  const bare = timeSync(K, () => new Verifier(trust.material).verify(toSignedEntity(bundleFromJSON(JSON.parse(bytes.toString('utf8'))))));
  const core = timeSync(K, () => verifySigstoreBundle(bytes, { roots: [trust] }, artifact));
  row('bare @sigstore/verify (parse + verify)', bare);
  row('Countersign core (verifySigstoreBundle)', core);
  process.stdout.write(`ratio  core/bare p50 = ${(core.p50 / bare.p50).toFixed(2)}x  (target <= 1.2x)\n`);
}

// --- 2. Sign end to end ------------------------------------------------------------------------
process.stdout.write('\n# Sign through gRPC against a local Distribution registry (referrers tag fallback)\n');
const { startRegistry } = dist('dev/local-registry.js');
const { pushSampleImage } = dist('dev/sample-image.js');
const { RegistryClient } = dist('registry/index.js');
const { createApp } = dist('app.js');
const { defaultConfig } = dist('config/config.js');
const { createLogger } = dist('logging/logger.js');
const { signingClient, call } = dist('cli/client.js');

const registry = await startRegistry();
const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-bench-'));
const config = { ...defaultConfig(dir), listen: '127.0.0.1:0', keysDir: path.join(dir, 'keys'), dataDir: path.join(dir, 'data') };
const app = await createApp(config, createLogger({ level: 'silent' }));
app.keys.createKey({ name: 'bench' }, 'bench');
const port = await app.start();
const client = signingClient(`127.0.0.1:${port}`);
const raw = new RegistryClient({});
try {
  const repo = { registry: registry.host, repository: 'bench/app' };
  const img = await pushSampleImage(raw, repo, 'v1');
  const M = quick ? 30 : 200;
  // Each Sign adds an entry to the same index, so the index grows as cosign users' would.
  const sign = await timeAsync(M, () => call(client, 'Sign', { image: `${registry.host}/bench/app:v1`, key: 'bench' }, 30000));
  // The floor: the same registry round trips with no signing and no service in between.
  const floorRepo = { registry: registry.host, repository: 'bench/floor' };
  const floorImg = await pushSampleImage(raw, floorRepo, 'v1');
  const tag = floorImg.digest.replace(':', '-');
  const floor = await timeAsync(M, async (i) => {
    await raw.headManifest(floorRepo, 'v1');
    const blob = Buffer.from(`{"n":${i},"pad":"${crypto.randomBytes(300).toString('base64')}"}`);
    await raw.pushBlob(floorRepo, blob);
    await raw.pushBlob(floorRepo, Buffer.from('{}'));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/x-bench', config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2 }, layers: [{ mediaType: 'application/x-bench', digest: `sha256:${crypto.createHash('sha256').update(blob).digest('hex')}`, size: blob.length }], subject: { mediaType: floorImg.mediaType, digest: floorImg.digest, size: floorImg.size } }));
    const { digest } = await raw.putManifest(floorRepo, `sha256:${crypto.createHash('sha256').update(manifest).digest('hex')}`, manifest, 'application/vnd.oci.image.manifest.v1+json');
    let index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] };
    try {
      index = JSON.parse((await raw.getManifest(floorRepo, tag)).bytes.toString());
    } catch {}
    index.manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: manifest.length, artifactType: 'application/x-bench' });
    await raw.putManifest(floorRepo, tag, Buffer.from(JSON.stringify(index)), 'application/vnd.oci.image.index.v1+json');
    crypto.sign('sha256', msg, privateKey);
  });
  row('Sign (gRPC → service → registry)', sign);
  row('floor: raw registry round trips + one signature', floor);
  process.stdout.write(`ratio  Sign/floor p50 = ${(sign.p50 / floor.p50).toFixed(2)}x, p99 = ${(sign.p99 / floor.p99).toFixed(2)}x\n`);

  const P = quick ? 20 : 50;
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: P }, () => call(client, 'Sign', { image: `${registry.host}/bench/app@${img.digest}`, key: 'bench' }, 60000)));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  process.stdout.write(`${P} concurrent Sign on one digest: ${fmt(ms)} ms total, ${fmt((1000 * P) / ms)} signs/s (serialized on the index update)\n`);

  // --- 3. Verify ---------------------------------------------------------------------------------
  process.stdout.write('\n# Verify through gRPC (default policy: a trusted signature), same registry\n');
  const { verificationClient } = dist('cli/client.js');
  const vclient = verificationClient(`127.0.0.1:${port}`);
  try {
    const vrepo = { registry: registry.host, repository: 'bench/verify' };
    const vimg = await pushSampleImage(raw, vrepo, 'v1');
    await call(client, 'Sign', { image: `${registry.host}/bench/verify:v1`, key: 'bench' }, 30000);
    const byTag = { image: `${registry.host}/bench/verify:v1`, action: 'ACTION_DEPLOY', context: { namespace: 'bench' } };
    const byDigest = { ...byTag, image: `${registry.host}/bench/verify@${vimg.digest}` };
    const check = await call(vclient, 'Verify', byTag, 30000);
    if (!check.allowed) throw new Error(`bench image not allowed: ${check.reasons.join('; ')}`);
    const V = quick ? 50 : 500;
    const miss = await timeAsync(V, async () => {
      app.cache.clear();
      await call(vclient, 'Verify', byDigest, 30000);
    });
    const hitTag = await timeAsync(V, () => call(vclient, 'Verify', byTag, 30000));
    const hitDigest = await timeAsync(V, () => call(vclient, 'Verify', byDigest, 30000));
    // Floors: the registry round trips and the signature check each path cannot avoid.
    const sigTag = vimg.digest.replace(':', '-');
    const idx = JSON.parse((await raw.getManifest(vrepo, sigTag)).bytes.toString());
    const refDigest = idx.manifests[0].digest;
    const ref = JSON.parse((await raw.getManifest(vrepo, refDigest)).bytes.toString());
    const pub = crypto.createPublicKey(require('node:fs').readFileSync(path.join(config.keysDir, 'bench.pub')));
    const floorMiss = await timeAsync(V, async () => {
      await raw.getManifest(vrepo, sigTag);
      await raw.getManifest(vrepo, refDigest);
      const blob = await raw.getBlob(vrepo, ref.layers[0].digest);
      await Promise.all([raw.getManifest(vrepo, `${sigTag}.sig`).catch(() => null), raw.getManifest(vrepo, `${sigTag}.att`).catch(() => null)]);
      const b = JSON.parse(blob.toString());
      const payload = Buffer.from(b.dsseEnvelope.payload, 'base64');
      const pae = Buffer.concat([Buffer.from(`DSSEv1 28 application/vnd.in-toto+json ${payload.length} `), payload]);
      crypto.verify('sha256', pae, pub, Buffer.from(b.dsseEnvelope.signatures[0].sig, 'base64'));
    });
    const floorTag = await timeAsync(V, () => raw.headManifest(vrepo, 'v1'));
    row('Verify, cache miss (by digest)', miss);
    row('floor: referrers + manifest + blob + legacy tags + verify', floorMiss);
    row('Verify, cache hit (by tag: one HEAD)', hitTag);
    row('floor: one HEAD', floorTag);
    row('Verify, cache hit (by digest: no registry call)', hitDigest);
    process.stdout.write(`ratio  miss/floor p50 = ${(miss.p50 / floorMiss.p50).toFixed(2)}x, p99 = ${(miss.p99 / floorMiss.p99).toFixed(2)}x\n`);
    process.stdout.write(`ratio  hit-by-tag/floor p50 = ${(hitTag.p50 / floorTag.p50).toFixed(2)}x, p99 = ${(hitTag.p99 / floorTag.p99).toFixed(2)}x\n`);
    process.stdout.write(`ratio  miss/hit-by-digest p50 = ${(miss.p50 / hitDigest.p50).toFixed(1)}x\n`);
    const C = 16;
    const total = quick ? 400 : 4000;
    let done = 0;
    const t1 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: C }, async () => {
      while (done < total) {
        done++;
        await call(vclient, 'Verify', byTag, 30000);
      }
    }));
    const secs = Number(process.hrtime.bigint() - t1) / 1e9;
    process.stdout.write(`throughput  ${total} Verify by tag, ${C} concurrent: ${fmt(total / secs)} verifications/s\n`);
  } finally {
    vclient.close();
  }
} finally {
  client.close();
  await app.stop();
  await raw.close();
  await registry.stop();
}
