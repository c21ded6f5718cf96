/**
 * The sigstore-conformance `bundle-verify` cases and their harness contract (shared/vectors/INDEX.md
 * §1): which bundle, artifact, trusted root, key or identity each case is run with, and whether it
 * must verify. Used by the in-process conformance test and by the CLI conformance script's test.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const SHARED = path.resolve(REPO_ROOT, '..', 'shared');
export const VECTORS = path.join(SHARED, 'vectors');
export const CONFORMANCE = path.join(VECTORS, 'sigstore-conformance', 'test', 'assets', 'bundle-verify');
export const PRODUCTION_ROOT = path.join(
  VECTORS,
  'sigstore-python',
  'sigstore',
  '_store',
  'tuf-repo-cdn.sigstore.dev',
  'trusted_root.json',
);
export const STAGING_ROOT = path.join(VECTORS, 'sigstore-python', 'sigstore', '_store', 'tuf-repo-cdn.sigstage.dev', 'trusted_root.json');

const DEFAULT_IDENTITY =
  'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const DEFAULT_ISSUER = 'https://token.actions.githubusercontent.com';

export interface ConformanceCase {
  name: string;
  bundle: string;
  artifact: string;
  trustedRoot: string;
  key?: string;
  identity?: string;
  issuer?: string;
  mustVerify: boolean;
}

export function conformanceCases(): ConformanceCase[] {
  return readdirSync(CONFORMANCE)
    .filter((d) => statSync(path.join(CONFORMANCE, d)).isDirectory())
    .sort()
    .map((name) => {
      const at = (f: string) => path.join(CONFORMANCE, name, f);
      const read = (f: string) => readFileSync(at(f), 'utf8').trim();
      const base = {
        name,
        bundle: at('bundle.sigstore.json'),
        artifact: existsSync(at('artifact')) ? at('artifact') : path.join(CONFORMANCE, 'a.txt'),
        trustedRoot: existsSync(at('trusted_root.json')) ? at('trusted_root.json') : PRODUCTION_ROOT,
        mustVerify: !name.endsWith('_fail'),
      };
      if (existsSync(at('key.pub'))) return { ...base, key: at('key.pub') };
      return {
        ...base,
        identity: existsSync(at('identity')) ? read('identity') : DEFAULT_IDENTITY,
        issuer: existsSync(at('issuer')) ? read('issuer') : DEFAULT_ISSUER,
      };
    });
}

/** The command-line arguments of the client contract for one case. */
export function conformanceArgs(c: ConformanceCase): string[] {
  const who = c.key ? ['--key', c.key] : ['--certificate-identity', c.identity!, '--certificate-oidc-issuer', c.issuer!];
  return ['--bundle', c.bundle, ...who, '--trusted-root', c.trustedRoot, c.artifact];
}
