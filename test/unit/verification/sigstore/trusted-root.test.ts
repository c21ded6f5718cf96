/**
 * Trusted-root hygiene: every key and authority must say from when it is trusted, parse, and be of
 * a known type; a bad root is an error that names the field, never a silent acceptance.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadTrustedRootFile, parseTrustedRoot, PUBLIC_GOOD_TRUSTED_ROOT } from '../../../../src/verification/sigstore/trusted-root';
import { CONFORMANCE, PRODUCTION_ROOT, VECTORS } from '../../../support/conformance-cases';

/** The parts of a trusted_root.json the cases below edit, as the file has them; the edits write junk on purpose. */
interface ValidForJson {
  start?: unknown;
  end?: unknown;
}
interface LogJson {
  logId?: unknown;
  publicKey: { rawBytes?: unknown; keyDetails?: unknown; validFor?: ValidForJson };
}
interface AuthorityJson {
  validFor?: ValidForJson;
  certChain: { certificates: Array<{ rawBytes?: unknown }> };
}
interface TrustedRootJson {
  mediaType?: unknown;
  tlogs: LogJson[];
  ctlogs: LogJson[];
  certificateAuthorities: AuthorityJson[];
  timestampAuthorities: AuthorityJson[];
}

const production = (): TrustedRootJson => JSON.parse(readFileSync(PRODUCTION_ROOT, 'utf8')) as TrustedRootJson;

test('the shipped public-good root is the Sigstore production root and loads', () => {
  expect(readFileSync(PUBLIC_GOOD_TRUSTED_ROOT, 'utf8')).toBe(readFileSync(PRODUCTION_ROOT, 'utf8'));
  const root = loadTrustedRootFile(PUBLIC_GOOD_TRUSTED_ROOT);
  expect(root.name).toBe('sigstore-public-good');
  expect(root.material.tlogs.length).toBe(production().tlogs.length);
  expect(root.material.certificateAuthorities.length).toBeGreaterThan(0);
});

test('every trusted root in the vectors loads, except the one whose tlog key has no validity start', () => {
  const files = [
    PRODUCTION_ROOT,
    path.join(VECTORS, 'sigstore-python/sigstore/_store/tuf-repo-cdn.sigstage.dev/trusted_root.json'),
    path.join(VECTORS, 'cosign/pkg/cosign/testdata/trusted_root_pgi.json'),
    path.join(VECTORS, 'sigstore-go/pkg/testing/data/trusted-roots/public-good.json'),
    path.join(VECTORS, 'sigstore-go/pkg/testing/data/trusted-roots/scaffolding.json'),
    path.join(VECTORS, 'sigstore-go/pkg/testing/data/trusted-roots/public-key-validity.json'),
  ];
  for (const f of files) expect(() => loadTrustedRootFile(f)).not.toThrow();
  expect(() => loadTrustedRootFile(path.join(CONFORMANCE, 'trust-root-tlog-missing-validity-start_fail', 'trusted_root.json'))).toThrow(
    /tlogs\[1\]\.publicKey\.validFor\.start: missing/,
  );
});

test.each([
  [
    'a tlog key without validity start',
    (r: TrustedRootJson) => delete r.tlogs[0]!.publicKey.validFor!.start,
    /tlogs\[0\]\.publicKey\.validFor\.start: missing/,
  ],
  [
    'a tlog key without validFor',
    (r: TrustedRootJson) => delete r.tlogs[0]!.publicKey.validFor,
    /tlogs\[0\]\.publicKey\.validFor: missing/,
  ],
  [
    'a CT log key with a null start',
    (r: TrustedRootJson) => (r.ctlogs[0]!.publicKey.validFor!.start = null),
    /ctlogs\[0\]\.publicKey\.validFor\.start: missing/,
  ],
  [
    'a CA without validity start',
    (r: TrustedRootJson) => delete r.certificateAuthorities[1]!.validFor!.start,
    /certificateAuthorities\[1\]\.validFor\.start: missing/,
  ],
  [
    'a TSA without validFor',
    (r: TrustedRootJson) => delete r.timestampAuthorities[0]!.validFor,
    /timestampAuthorities\[0\]\.validFor: missing/,
  ],
  [
    'an unparsable start',
    (r: TrustedRootJson) => (r.tlogs[0]!.publicKey.validFor!.start = 'yesterday'),
    /tlogs\[0\]\.publicKey\.validFor\.start: "yesterday" is not an RFC 3339 time/,
  ],
  [
    'an end before the start',
    (r: TrustedRootJson) => (r.tlogs[0]!.publicKey.validFor!.end = '2020-01-01T00:00:00Z'),
    /tlogs\[0\]\.publicKey\.validFor\.end: is before the start/,
  ],
  [
    'a key that is not DER',
    (r: TrustedRootJson) => (r.tlogs[0]!.publicKey.rawBytes = Buffer.from('not a key').toString('base64')),
    /tlogs\[0\]\.publicKey\.rawBytes: not a DER public key/,
  ],
  [
    'a key that is not base64',
    (r: TrustedRootJson) => (r.tlogs[0]!.publicKey.rawBytes = '***'),
    /tlogs\[0\]\.publicKey\.rawBytes: not base64/,
  ],
  [
    'an unknown key type',
    (r: TrustedRootJson) => (r.ctlogs[0]!.publicKey.keyDetails = 'ROT13'),
    /ctlogs\[0\]\.publicKey\.keyDetails: "ROT13" is not a known key type/,
  ],
  [
    'a certificate that is not DER',
    (r: TrustedRootJson) => (r.certificateAuthorities[0]!.certChain.certificates[0]!.rawBytes = 'AAAA'),
    /certificateAuthorities\[0\]\.certChain\.certificates\[0\]\.rawBytes: not a DER X\.509 certificate/,
  ],
  [
    'an empty chain',
    (r: TrustedRootJson) => (r.timestampAuthorities[0]!.certChain.certificates = []),
    /timestampAuthorities\[0\]\.certChain\.certificates: must list at least one/,
  ],
  [
    'an unknown media type',
    (r: TrustedRootJson) => (r.mediaType = 'application/json'),
    /mediaType: "application\/json" is not a known trusted root media type/,
  ],
  ['a missing log id', (r: TrustedRootJson) => delete r.tlogs[0]!.logId, /tlogs\[0\]\.logId: missing/],
  ['tlogs that are not a list', (r: TrustedRootJson) => ((r as { tlogs: unknown }).tlogs = {}), /tlogs: must be a list/],
])('refused: %s', (_what, mutate, message) => {
  const root = production();
  mutate(root);
  expect(() => parseTrustedRoot(root, 'root.json')).toThrow(message);
  expect(() => parseTrustedRoot(root, 'root.json')).toThrow(/^Sigstore trusted root root\.json: /);
});

test('a file that is not JSON, or missing, is a clear error', () => {
  expect(() => loadTrustedRootFile(path.join(CONFORMANCE, 'bundle-malformed-json_fail', 'bundle.sigstore.json'))).toThrow(
    /is not valid JSON/,
  );
  expect(() => loadTrustedRootFile('/nonexistent/trusted_root.json')).toThrow(/cannot read the Sigstore trusted root/);
});
