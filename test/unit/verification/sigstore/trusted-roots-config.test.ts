/**
 * Which trusted roots the service loads: the shipped public-good root by default, any number of
 * files (several Sigstore instances at once), and a bad root is a startup error naming the field.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../../../src/config/config';
import { loadTrustedRoots } from '../../../../src/verification/sigstore/trusted-roots-config';
import { CONFORMANCE, PRODUCTION_ROOT, STAGING_ROOT } from '../../../support/conformance-cases';

const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-roots-'));

test('nothing configured: the public-good root shipped with Countersign', () => {
  expect(loadTrustedRoots({}).map((r) => r.name)).toEqual(['public-good']);
});

test('several roots at once, from the config file (relative to it) and the environment; names stay unique', () => {
  const file = path.join(dir, 'countersign.yaml');
  writeFileSync(file, `verification:\n  sigstoreTrustedRoots: [public-good, ${path.relative(dir, STAGING_ROOT)}, ${STAGING_ROOT}]\n`);
  const config = loadConfig({ configFile: file }, { COUNTERSIGN_SIGSTORE_TRUSTED_ROOT: PRODUCTION_ROOT }, dir);
  expect(config.verification.sigstoreTrustedRoots).toEqual(['public-good', STAGING_ROOT, STAGING_ROOT]);
  const roots = loadTrustedRoots(config.verification);
  expect(roots.map((r) => r.name)).toEqual(['trusted_root', 'public-good', 'trusted_root-2', 'trusted_root-3']);
});

test('sigstoreTrustedRoots must be a list', () => {
  const file = path.join(dir, 'bad.yaml');
  writeFileSync(file, 'verification:\n  sigstoreTrustedRoots: public-good\n');
  expect(() => loadConfig({ configFile: file }, {}, dir)).toThrow(/verification\.sigstoreTrustedRoots: must be a list/);
});

test('a root whose tlog key has no validity start is a startup error naming the file and the field', () => {
  const bad = path.join(CONFORMANCE, 'trust-root-tlog-missing-validity-start_fail', 'trusted_root.json');
  expect(() => loadTrustedRoots({ sigstoreTrustedRoots: ['public-good', bad] })).toThrow(
    new RegExp(
      `Sigstore trusted root ${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: tlogs\\[1\\]\\.publicKey\\.validFor\\.start: missing`,
    ),
  );
});
