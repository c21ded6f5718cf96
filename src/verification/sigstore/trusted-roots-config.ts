/**
 * Which Sigstore trusted roots the service trusts, from its configuration: any number of
 * trusted_root.json files (private deployments next to the public-good instance), each loaded and
 * validated once at startup. `public-good` names the root shipped with Countersign, which is also
 * the default when none is configured (keyless evidence still only counts for identities a policy
 * names, so trusting the public instance by default admits nobody by itself).
 */
import { loadTrustedRootFile, PUBLIC_GOOD_TRUSTED_ROOT, type SigstoreTrustRoot } from './trusted-root';

export const PUBLIC_GOOD = 'public-good';

export function loadTrustedRoots(config: { sigstoreTrustedRoot?: string; sigstoreTrustedRoots?: string[] }): SigstoreTrustRoot[] {
  const files = [...(config.sigstoreTrustedRoot ? [config.sigstoreTrustedRoot] : []), ...(config.sigstoreTrustedRoots ?? [])];
  const chosen = files.length > 0 ? files : [PUBLIC_GOOD];
  const roots: SigstoreTrustRoot[] = [];
  const names = new Set<string>();
  for (const entry of chosen) {
    const isPublicGood = entry === PUBLIC_GOOD || entry.endsWith(`/${PUBLIC_GOOD}`);
    const root = isPublicGood ? loadTrustedRootFile(PUBLIC_GOOD_TRUSTED_ROOT, PUBLIC_GOOD) : loadTrustedRootFile(entry);
    // Evidence names the root that verified it: keep names unique.
    let name = root.name;
    for (let i = 2; names.has(name); i++) name = `${root.name}-${i}`;
    names.add(name);
    roots.push({ ...root, name });
  }
  return roots;
}
