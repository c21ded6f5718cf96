/**
 * `npm ci` refuses a lockfile that lacks an optional dependency of a locked package (npm 11 then
 * reports it "out of sync"), and `npm install` silently adds the missing entries, leaving a fresh
 * clone dirty. Both happened with unrs-resolver's per-platform bindings. The lockfile must resolve
 * every dependency and optional dependency of every locked package, for every platform.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface LockedPackage {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/** Node's lookup: `a/node_modules/b` looks for `a/node_modules/b/node_modules/d`, then up the tree. */
function resolves(packages: Record<string, LockedPackage>, from: string, dependency: string): boolean {
  let base = from;
  for (;;) {
    const candidate = base === '' ? `node_modules/${dependency}` : `${base}/node_modules/${dependency}`;
    if (candidate in packages) return true;
    if (base === '') return false;
    const up = base.lastIndexOf('/node_modules/');
    base = up === -1 ? '' : base.slice(0, up);
  }
}

export function unresolvedDependencies(lock: { packages: Record<string, LockedPackage> }): string[] {
  const missing: string[] = [];
  for (const [where, pkg] of Object.entries(lock.packages)) {
    const wanted = { ...pkg.dependencies, ...pkg.optionalDependencies };
    for (const dependency of Object.keys(wanted)) {
      if (!resolves(lock.packages, where, dependency)) missing.push(`${where || '(root)'} → ${dependency}`);
    }
  }
  return missing;
}

describe('package-lock.json', () => {
  const root = path.resolve(__dirname, '../../..');
  const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as {
    lockfileVersion: number;
    packages: Record<string, LockedPackage>;
  };

  it('is a v3 lockfile with the root package', () => {
    expect(lock.lockfileVersion).toBe(3);
    expect(lock.packages['']).toBeDefined();
  });

  it('resolves every dependency and optional dependency of every locked package (npm ci works on any platform)', () => {
    expect(unresolvedDependencies(lock)).toEqual([]);
  });

  it('detects a lockfile that lacks another platform’s optional binding', () => {
    const broken = {
      packages: {
        '': { dependencies: { a: '1' } },
        'node_modules/a': { version: '1.0.0', optionalDependencies: { 'a-binding-darwin-arm64': '1', 'a-binding-linux-x64-gnu': '1' } },
        'node_modules/a-binding-linux-x64-gnu': { version: '1.0.0' },
      },
    };
    expect(unresolvedDependencies(broken)).toEqual(['node_modules/a → a-binding-darwin-arm64']);
  });

  it('matches package.json: every declared dependency is locked', () => {
    const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    const declared = [...Object.keys(manifest.dependencies), ...Object.keys(manifest.devDependencies)];
    expect(declared.filter((d) => !(`node_modules/${d}` in lock.packages))).toEqual([]);
    expect(Object.keys(lock.packages['']!.dependencies ?? {}).sort()).toEqual(Object.keys(manifest.dependencies).sort());
  });
});
