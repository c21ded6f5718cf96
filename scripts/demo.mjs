// The README's first command (`npm run demo`): a real local registry, the real service, and a
// sign-and-inspect round trip through the real CLI. Uses the compiled dist/ (npm run demo builds it).
//
//   npm run demo               # run the round trip, then stop everything
//   npm run demo -- --keep     # leave the registry and the service running to try commands by hand
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { startRegistry, freePort } = require(path.join(root, 'dist/dev/local-registry.js'));
const { pushSampleImage } = require(path.join(root, 'dist/dev/sample-image.js'));
const { RegistryClient } = require(path.join(root, 'dist/registry/index.js'));
const { bundleFromJSON } = require('@sigstore/bundle');
const { toSignedEntity, toTrustMaterial, Verifier } = require('@sigstore/verify');

const keep = process.argv.includes('--keep');
const cli = path.join(root, 'bin/countersign');
const demoDir = path.join(root, '.data/demo');
const keysDir = path.join(demoDir, 'keys');
mkdirSync(keysDir, { recursive: true });

const bold = process.stdout.isTTY ? (s) => `\x1b[1m${s}\x1b[0m` : (s) => s;
const step = (s) => process.stdout.write(`\n${bold(`==> ${s}`)}\n`);
const run = (args, { expectStatus = 0 } = {}) => {
  process.stdout.write(`$ countersign ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  if (r.status !== expectStatus) throw new Error(`countersign ${args[0]} exited ${r.status}, expected ${expectStatus}`);
  return r.stdout;
};

step('starting a real registry (Debian docker-registry, CNCF Distribution) on 127.0.0.1');
const registry = await startRegistry({ dir: path.join(demoDir, 'registry'), port: Number(process.env.DEMO_REGISTRY_PORT) || undefined });
process.stdout.write(`registry at http://${registry.host}/v2/\n`);

let service;
const cleanup = async () => {
  if (service && service.exitCode === null) {
    service.kill('SIGTERM');
    await new Promise((r) => service.once('exit', r));
  }
  await registry.stop();
};

try {
  step('pushing a small image (written by our own code, no Docker needed)');
  const client = new RegistryClient({});
  const repository = 'demo/hello';
  const image = await pushSampleImage(client, { registry: registry.host, repository }, '1.0');
  await client.close();
  const ref = `${registry.host}/${repository}:1.0`;
  process.stdout.write(`pushed ${ref} -> ${image.digest}\n`);

  step('starting the service: countersign serve');
  const port = await freePort();
  const server = `127.0.0.1:${port}`;
  service = spawn(process.execPath, [cli, 'serve', '--listen', server, '--keys-dir', keysDir, '--data-dir', path.join(demoDir, 'state')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((resolve, reject) => {
    service.stdout.on('data', (d) => {
      const text = d.toString();
      if (process.env.DEMO_VERBOSE) process.stdout.write(text);
      // The service's warnings (e.g. the development key-encryption key) are shown, not hidden.
      for (const line of text.split('\n')) {
        try {
          const entry = JSON.parse(line);
          if (entry.level >= 40 && !entry.method) process.stdout.write(`service warning: ${entry.msg}\n`);
        } catch {
          // Not a JSON log line: nothing to show.
        }
      }
      if (text.includes('countersign serving')) resolve();
    });
    service.once('exit', (code) => reject(new Error(`countersign serve exited with ${code}`)));
  });
  process.stdout.write(`service listening on ${server}\n`);

  step('creating a signing key (held by the service, sealed at rest; only the public key is ever shown)');
  const existing = spawnSync(process.execPath, [cli, 'keys', 'show', 'demo', '--server', server], { encoding: 'utf8' });
  if (existing.status === 0) process.stdout.write('key "demo" already exists\n');
  else run(['keys', 'create', 'demo', '--owner', 'platform', '--server', server]);

  step('CI signs the image (the tag is resolved to its digest; the digest is signed)');
  run(['sign', ref, '--key', 'demo', '--server', server, '-a', 'ci.run=demo']);

  step('CI attests an SBOM');
  const sbom = path.join(demoDir, 'sbom.spdx.json');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(
    sbom,
    JSON.stringify({
      spdxVersion: 'SPDX-2.3',
      dataLicense: 'CC0-1.0',
      SPDXID: 'SPDXRef-DOCUMENT',
      name: 'demo/hello',
      documentNamespace: `https://example.com/spdx/${crypto.randomUUID()}`,
      creationInfo: { created: new Date().toISOString(), creators: ['Tool: countersign-demo'] },
      packages: [],
    }),
  );
  run(['attest', ref, '--key', 'demo', '--type', 'spdx', '--predicate', sbom, '--server', server]);

  step('inspecting the registry directly: the referrers of the image digest');
  const tag = image.digest.replace(':', '-');
  const idx = await (
    await fetch(`http://${registry.host}/v2/${repository}/manifests/${tag}`, {
      headers: { accept: 'application/vnd.oci.image.index.v1+json' },
    })
  ).json();
  process.stdout.write(`GET /v2/${repository}/manifests/${tag}  (referrers tag schema: Distribution 2.8 has no referrers API)\n`);
  for (const m of idx.manifests)
    process.stdout.write(`  ${m.digest}  ${m.artifactType}  ${m.annotations['dev.sigstore.bundle.predicateType']}\n`);

  step('verifying every bundle independently, with @sigstore/verify and the public key alone');
  const shown = JSON.parse(
    spawnSync(process.execPath, [cli, 'keys', 'show', 'demo', '--server', server, '--json'], { encoding: 'utf8' }).stdout,
  );
  const publicKey = crypto.createPublicKey(shown.publicKeyPem);
  const hint = crypto
    .createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');
  const emptyRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [],
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: [],
  };
  const verifier = new Verifier(
    toTrustMaterial(emptyRoot, (h) => {
      if (h !== hint) throw new Error(`unknown key ${h}`);
      return { publicKey, validFor: () => true };
    }),
    { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 },
  );
  let ok = 0;
  for (const entry of idx.manifests) {
    const manifest = await (
      await fetch(`http://${registry.host}/v2/${repository}/manifests/${entry.digest}`, {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      })
    ).json();
    const blob = Buffer.from(
      await (await fetch(`http://${registry.host}/v2/${repository}/blobs/${manifest.layers[0].digest}`)).arrayBuffer(),
    );
    const bundle = JSON.parse(blob.toString());
    verifier.verify(toSignedEntity(bundleFromJSON(bundle)));
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString());
    const subjectOk = statement.subject.some((s) => `sha256:${s.digest.sha256}` === image.digest);
    if (!subjectOk || manifest.subject.digest !== image.digest) throw new Error(`referrer ${entry.digest} is not about ${image.digest}`);
    process.stdout.write(`  verified ${entry.digest.slice(0, 19)}…  ${statement.predicateType}\n`);
    ok++;
  }
  if (ok !== 2) throw new Error(`expected 2 verified referrers, got ${ok}`);

  step('an admission point asks Countersign: may this image be deployed? (exit 0 = allowed)');
  run(['verify', ref, '--server', server, '--namespace', 'prod']);

  step('an unsigned image in the same repository is denied, with the reason (exit 1 = denied)');
  const unsignedClient = new RegistryClient({});
  await pushSampleImage(unsignedClient, { registry: registry.host, repository }, 'unsigned');
  await unsignedClient.close();
  run(['verify', `${registry.host}/${repository}:unsigned`, '--server', server, '--namespace', 'prod'], { expectStatus: 1 });

  step(`done: ${ok} referrers signed by key "demo" verified for ${image.digest}; the unsigned image was denied`);
  if (keep) {
    process.stdout.write(
      `\nregistry: ${registry.host}   service: ${server}\ntry: npx countersign sign ${ref} --key demo --server ${server}\nCtrl-C to stop.\n`,
    );
    await new Promise((resolve) => process.once('SIGINT', resolve));
  }
} finally {
  await cleanup();
}
