/**
 * sigstore-conformance: all 70 `bundle-verify` cases, run through the verification core that
 * Verify uses (runVerifyBundle -> verifySigstoreBundle), with the harness contract of
 * shared/vectors/INDEX.md §1. Each case must give the verdict its folder name says.
 */
import { runVerifyBundle } from '../../../../src/cli/verify-bundle';
import { conformanceCases } from '../../../support/conformance-cases';

const cases = conformanceCases();

test('the suite is complete: 70 cases, 21 that must verify', () => {
  expect(cases).toHaveLength(70);
  expect(cases.filter((c) => c.mustVerify)).toHaveLength(21);
});

test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
  const outcome = runVerifyBundle({
    bundleFile: c.bundle,
    trustedRootFiles: [c.trustedRoot],
    artifact: c.artifact,
    ...(c.key ? { keyFile: c.key } : { identity: c.identity!, issuer: c.issuer! }),
  });
  // The message is part of the assertion's output, so a wrong verdict shows its reason.
  expect(`${outcome.ok ? 'verified' : 'rejected'}: ${outcome.message}`).toMatch(c.mustVerify ? /^verified: / : /^rejected: /);
});
