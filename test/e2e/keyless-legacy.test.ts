/**
 * A cosign legacy *keyless* `.sig` in a real Distribution registry: Connaisseur's mock-registry
 * data (shared/vectors/connaisseur, INDEX.md §3) — the image manifest `keyless.json`
 * (sha256:31dc72a1…) and its signature tag `sha256-31dc72a1….sig`, whose one layer carries the
 * Fulcio certificate of philipp.belitz@securesystems.de, the chain and the Rekor SET — pushed byte
 * for byte and verified by the running service, offline, against the public-good root it ships.
 * Admitted under a policy naming the identity and issuer (exactly, and as Connaisseur's regular
 * expressions), denied under one naming another identity or issuer.
 *
 * Connaisseur's data leaves out three blobs nobody verifies: the image's config and layer, and the
 * `.sig` manifest's config (verifiers read only the `.sig` layer, which is included). The registry
 * refuses a manifest whose blobs it does not hold, so this test runs its own registry and, before
 * pushing, places blobs of the recorded sizes under those digests in its storage directory
 * (`docker/registry/v2/blobs/…`, linked into the repository). Their content is never read: the
 * service HEADs the image manifest and reads the `.sig` manifest and its payload layer, all of which
 * are the original bytes.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RegistryClient } from '../../src/registry';
import { startRegistry, type LocalRegistry } from '../support/local-registry';
import { startService, uniqueRepo, type RunningService } from '../support/harness';

const DATA = path.resolve(__dirname, '../../../shared/vectors/connaisseur/test/testdata/cosign/securesystemsengineering/testimage');
const IMAGE = 'sha256:31dc72a13a0c34b40eb95419d2b2fd67320c856baf3b72da518023ee8d370aee';
const SIG_TAG = `sha256-${IMAGE.slice(7)}.sig`;
const PHILIPP = { issuer: 'https://github.com/login/oauth', subject: 'philipp.belitz@securesystems.de' };

interface VerifyResponse {
  allowed: boolean;
  reasons: string[];
  requirements: Array<{ requirement: string; satisfied: boolean; message: string }>;
  evidence: Array<{
    referrerDigest: string;
    format: string;
    kind: string;
    verified: boolean;
    reason: string;
    identity?: { issuer: string; subject: string };
    trustRoot?: string;
    transparencyLogEntries?: number;
  }>;
}

interface Descriptor {
  digest: string;
  size: number;
}

let registry: LocalRegistry;
let pusher: RegistryClient;
let svc: RunningService;
const repos = {
  exact: uniqueRepo('kl-exact'),
  regexp: uniqueRepo('kl-regexp'),
  otherSubject: uniqueRepo('kl-other-subject'),
  otherIssuer: uniqueRepo('kl-other-issuer'),
};

const manifestFile = (name: string) => readFileSync(path.join(DATA, 'manifests', `${name}.json`));

/** Blobs of the recorded sizes under digests the data does not include, linked into `repository`. */
function placeUnreadBlobs(repository: string, descriptors: Descriptor[]): void {
  const root = path.join(registry.dir, 'data/docker/registry/v2');
  for (const d of descriptors) {
    const hex = d.digest.slice('sha256:'.length);
    mkdirSync(path.join(root, 'blobs/sha256', hex.slice(0, 2), hex), { recursive: true });
    writeFileSync(path.join(root, 'blobs/sha256', hex.slice(0, 2), hex, 'data'), Buffer.alloc(d.size));
    mkdirSync(path.join(root, 'repositories', repository, '_layers/sha256', hex), { recursive: true });
    writeFileSync(path.join(root, 'repositories', repository, '_layers/sha256', hex, 'link'), d.digest);
  }
}

function rule(name: string, repo: string, identity: string): string {
  return `  - name: ${name}\n    match: { images: ["${registry.host}/${repo}"] }\n    require:\n      signatures: { identities: [${identity}] }\n`;
}

beforeAll(async () => {
  registry = await startRegistry();
  pusher = new RegistryClient({});
  const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-keyless-legacy-'));
  const policyFile = path.join(dir, 'policy.yaml');
  writeFileSync(
    policyFile,
    'rules:\n' +
      rule('exact', repos.exact, `{ issuer: "${PHILIPP.issuer}", subject: "${PHILIPP.subject}" }`) +
      // Connaisseur's own configuration for this image: regular expressions `github` / `philipp`.
      rule('regexp', repos.regexp, '{ issuerRegExp: "github", subjectRegExp: "philipp" }') +
      rule('other-subject', repos.otherSubject, `{ issuer: "${PHILIPP.issuer}", subject: "bob@gmail.com" }`) +
      rule('other-issuer', repos.otherIssuer, `{ issuer: "https://accounts.google.com", subject: "${PHILIPP.subject}" }`),
  );
  // No trusted root configured: the public-good root shipped with Countersign is used.
  svc = await startService({ policyFile, verification: { cacheTtlMs: 300_000, negativeCacheTtlMs: 0, maxDurationMs: 8000 } });

  const image = manifestFile('keyless');
  const sig = manifestFile(SIG_TAG);
  const imageJson = JSON.parse(image.toString()) as { mediaType: string; config: Descriptor; layers: Descriptor[] };
  const sigJson = JSON.parse(sig.toString()) as { mediaType: string; config: Descriptor; layers: Descriptor[] };
  for (const repository of Object.values(repos)) {
    const repo = { registry: registry.host, repository };
    placeUnreadBlobs(repository, [imageJson.config, ...imageJson.layers, sigJson.config]);
    for (const file of readdirSync(path.join(DATA, 'blobs'))) await pusher.pushBlob(repo, readFileSync(path.join(DATA, 'blobs', file)));
    await pusher.putManifest(repo, IMAGE, image, imageJson.mediaType);
    await pusher.putManifest(repo, SIG_TAG, sig, sigJson.mediaType);
  }
});

afterAll(async () => {
  await svc.stop();
  await pusher.close();
  await registry.stop();
});

const verify = (repository: string) =>
  svc.call<VerifyResponse>('Verify', { image: `${registry.host}/${repository}@${IMAGE}`, action: 'ACTION_DEPLOY', context: {} });

test('admitted under a policy naming its identity and issuer; the evidence names the format and the signer', async () => {
  const r = await verify(repos.exact);
  expect(r.allowed).toBe(true);
  expect(r.requirements[0]!.message).toContain('philipp.belitz@securesystems.de (issuer https://github.com/login/oauth)');
  expect(r.evidence).toHaveLength(1);
  expect(r.evidence[0]).toMatchObject({
    format: 'cosign-legacy-signature',
    kind: 'signature',
    verified: true,
    identity: PHILIPP,
    trustRoot: 'public-good',
    transparencyLogEntries: 1,
  });
});

test("admitted under Connaisseur's regular expressions (issuer github, subject philipp)", async () => {
  expect((await verify(repos.regexp)).allowed).toBe(true);
});

test('denied under a policy naming another identity, saying whose signature it found', async () => {
  const r = await verify(repos.otherSubject);
  expect(r.allowed).toBe(false);
  expect(r.requirements[0]!.message).toMatch(
    /no signature by keyless signer .*bob@gmail\.com.*found signatures by philipp\.belitz@securesystems\.de \(issuer https:\/\/github\.com\/login\/oauth\), which this rule does not accept/,
  );
  expect(r.evidence[0]).toMatchObject({ verified: true, identity: PHILIPP });
});

test('denied under a policy naming another issuer', async () => {
  const r = await verify(repos.otherIssuer);
  expect(r.allowed).toBe(false);
  expect(r.requirements[0]!.message).toMatch(/issuer https:\/\/accounts\.google\.com/);
});
