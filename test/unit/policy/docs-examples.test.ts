/**
 * The whole policies shown in docs/policy.md load: a reader copies them, and a loader check that
 * refuses them (a rule the loader now finds dead, a field it no longer accepts) must change the
 * docs too. Fragments (`require:` alone) are shown for one feature and are not whole policies.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parsePolicy } from '../../../src/policy';
import { EXAMPLE_POLICY, digestOf } from './fixtures';

const docs = fs.readFileSync(path.resolve(__dirname, '../../../docs/policy.md'), 'utf8');
const blocks = [...docs.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
// The docs write an elided digest (`@sha256:…`); a real one stands in for it.
const wholePolicies = blocks.filter((b) => /^(?:version|rules):/m.test(b)).map((b) => b.replace(/sha256:…/g, digestOf('docs')));

describe('docs/policy.md', () => {
  it('shows whole policies', () => {
    expect(wholePolicies.length).toBeGreaterThanOrEqual(2);
  });

  it.each(wholePolicies.map((text, i) => [i, text] as const))('whole policy %i loads', (_i, text) => {
    expect(() => parsePolicy(text, 'docs/policy.md')).not.toThrow();
  });

  it('the fixtures example policy loads', () => {
    expect(() => parsePolicy(EXAMPLE_POLICY, 'example.yaml')).not.toThrow();
  });
});
