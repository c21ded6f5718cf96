/**
 * Where else evidence for a digest may be found, per the rule that will decide (`evidenceFrom`):
 * promotion copies an already-signed digest from `staging/app` to `prod/app`, and the signature
 * stays with the staging repository. Only the rule's own sources count, never anything the
 * request names, and the evidence is still bound to the same digest (signatures name digests).
 */
import type { RepositoryRef } from '../formats/repository';
import { findRule, type MatchTarget } from './match';
import type { Policy } from './types';

export function evidenceSources(policy: Pick<Policy, 'rules'>, target: MatchTarget): RepositoryRef[] {
  const rule = findRule(policy, target);
  if (!rule?.evidenceFrom) return [];
  const name = target.image.repository.split('/').pop() ?? target.image.repository;
  const out: RepositoryRef[] = [];
  for (const template of rule.evidenceFrom) {
    const concrete = template.replace(/\{name\}/g, name);
    const slash = concrete.indexOf('/');
    const repo = { registry: concrete.slice(0, slash), repository: concrete.slice(slash + 1) };
    const same = repo.registry === target.image.registry && repo.repository === target.image.repository;
    if (!same && !out.some((r) => r.registry === repo.registry && r.repository === repo.repository)) out.push(repo);
  }
  return out;
}
