/**
 * sigstore-conformance: all 70 `bundle-verify` cases, run through the verification core that
 * Verify uses (runVerifyBundle -> verifySigstoreBundle), with the harness contract of
 * shared/vectors/INDEX.md §1. Each case must give the verdict its folder name says.
 */
import { runVerifyBundle } from '../../../../src/cli/commands/verify-bundle';
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

// Where @sigstore/verify alone gives the wrong verdict or an unrelated error, the reason is ours.
test.each([
  ['trust-root-tlog-missing-validity-start_fail', /tlogs\[1\]\.publicKey\.validFor\.start: missing/],
  ['bundle-with-root-cert_fail', /certificate chain contains a root CA/],
  ['managed-key-no-key_fail', /signed with a key, but verification expects a keyless signer identity/],
  ['managed-key-wrong-key_fail', /cannot read the public key/],
  ['integrated-time-in-future_fail', /CERTIFICATE_ERROR/],
])('%s is rejected for the right reason', (name, reason) => {
  const c = cases.find((x) => x.name === name)!;
  const outcome = runVerifyBundle({
    bundleFile: c.bundle,
    trustedRootFiles: [c.trustedRoot],
    artifact: c.artifact,
    ...(c.key ? { keyFile: c.key } : { identity: c.identity!, issuer: c.issuer! }),
  });
  expect(outcome).toEqual({ ok: false, message: expect.stringMatching(reason) as unknown });
});

test('a verified bundle signed by another identity than the one asked for is rejected, naming both', () => {
  const c = cases.find((x) => x.name === 'happy-path-v0.3')!;
  const outcome = runVerifyBundle({
    bundleFile: c.bundle,
    trustedRootFiles: [c.trustedRoot],
    artifact: c.artifact,
    identity: c.identity!,
    issuer: 'https://accounts.google.com',
  });
  expect(outcome).toEqual({
    ok: false,
    message: expect.stringMatching(
      /^signed by https:\/\/github\.com\/sigstore-conformance.* \(issuer https:\/\/token\.actions\.githubusercontent\.com\), not by .* \(issuer https:\/\/accounts\.google\.com\)$/,
    ) as unknown,
  });
});
