// npm run bench — prints figures and ratios; never asserts on time.
//
// 1. Key operations on the signing hot path: node:crypto (OpenSSL) vs @noble/curves (pure JS),
//    ECDSA P-256/SHA-256 sign and verify over a DSSE PAE-sized message.
// 2. The speed table (bench/speed.mjs): every service path next to its floor in the same run.
// 3. The registry gate (each gate in its own process): manifest GET by digest and by tag through
//    the gate with a warm decision (Verify in-process and over gRPC) vs straight to the registry,
//    and blob GET throughput, as ratios.
// 4. The store on the hot path (bench/lib/store-rows.mjs): warm Verify on PostgreSQL vs SQLite.
//    `--only pg` runs only these rows.
// `--only warm` runs only the warm Verify rows of the speed table (2.): by digest and by tag, with
// and without a bearer token, next to the echo, the canned stubs (in their own process and inside
// the service's) and a kept-alive HEAD.
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => require(path.join(root, 'dist', p));
const { p256 } = await import('@noble/curves/nist.js');

const quick = process.argv.includes('--quick');
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
if (only !== undefined && only !== 'pg' && only !== 'warm')
  throw new Error(`--only ${only}: the sections that can run alone are: pg, warm`);
const { runStoreRows } = await import('./lib/store-rows.mjs');
if (only === 'pg') {
  await runStoreRows({ quick });
  process.exit(0);
}
if (only === 'warm') {
  const { runSpeedTable } = await import('./speed.mjs');
  await runSpeedTable({ quick, only });
  process.exit(0);
}

const { stats, row } = await import('./lib/figures.mjs');
function timeSync(n, fn) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    fn(i);
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
process.stdout.write(
  `ratio  noble/node sign p50 = ${(nobleSign.p50 / nodeSign.p50).toFixed(1)}x, verify p50 = ${(nobleVerify.p50 / nodeVerify.p50).toFixed(1)}x  (node:crypto is used)\n`,
);

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

// --- 2. Speed: warm/cold Verify, Sign, VerifyBatch, admission, RSS — one table (bench/speed.mjs) --
const { runSpeedTable } = await import('./speed.mjs');
await runSpeedTable({ quick });

// --- 3. The registry gate (bench/gate.mjs; also runs alone: node bench/gate.mjs [--quick]) -------
const { runGateBench } = await import('./gate.mjs');
await runGateBench({ quick });

// --- 4. The store on the hot path ---------------------------------------------------------------
await runStoreRows({ quick });
