/**
 * `countersign verify-bundle`: the Sigstore bundle verification core as a command, following the
 * sigstore-conformance client contract, so any conformance harness can drive it:
 *
 *   countersign verify-bundle --bundle FILE
 *       (--certificate-identity ID --certificate-oidc-issuer URL | --key FILE)
 *       [--trusted-root FILE]... ARTIFACT_FILE|sha256:<hex>
 *
 * Exit 0 when the bundle verifies, 1 with the reason when it does not, 2 on a usage error. It runs
 * offline and through the same function Verify uses (verifySigstoreBundle); without
 * --trusted-root it uses the Sigstore public-good root shipped with Countersign.
 */
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { describeIdentity } from '../../policy/identity';
import { loadTrustedRootFile, PUBLIC_GOOD_TRUSTED_ROOT, type SigstoreTrustRoot } from '../../verification/sigstore/trusted-root';
import { verifySigstoreBundle, type BundleArtifact, type CandidateKey } from '../../verification/sigstore/verify-bundle';
import { printOut, printErr } from '../output';

export const VERIFY_BUNDLE_USAGE = `usage: countersign verify-bundle --bundle FILE
         (--certificate-identity ID --certificate-oidc-issuer URL | --key FILE)
         [--trusted-root FILE]... ARTIFACT_FILE|sha256:<hex>
  exit status: 0 verified, 1 not verified (the reason is printed), 2 usage error`;

export interface VerifyBundleRequest {
  bundleFile: string;
  /** Keyless: the exact certificate identity (SAN) and OIDC issuer. */
  identity?: string;
  issuer?: string;
  /** Key-based: a PEM public key file. */
  keyFile?: string;
  /** Trusted roots; empty = the shipped public-good root. */
  trustedRootFiles: string[];
  /** A file, or `sha256:<hex>`. */
  artifact: string;
}

export type VerifyBundleOutcome = { ok: true; message: string } | { ok: false; message: string };

/**
 * Not ./support's UsageError: this command follows the conformance client contract (its own usage
 * text, no --help), and bin/countersign loads this module alone, without the CLI's gRPC client and
 * store that ./support brings in (a conformance run starts the command once per case).
 */
class UsageError extends Error {}

export function verifyBundleCommand(argv: string[]): number {
  let request: VerifyBundleRequest;
  try {
    request = parseRequest(argv);
  } catch (err) {
    if (!(err instanceof UsageError) && !(err instanceof TypeError)) throw err;
    printErr(`countersign verify-bundle: ${err.message}\n${VERIFY_BUNDLE_USAGE}\n`);
    return 2;
  }
  const outcome = runVerifyBundle(request);
  if (outcome.ok) {
    printOut(`OK: ${outcome.message}\n`);
    return 0;
  }
  printErr(`countersign verify-bundle: NOT VERIFIED: ${outcome.message}\n`);
  return 1;
}

function parseRequest(argv: string[]): VerifyBundleRequest {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      bundle: { type: 'string' },
      'certificate-identity': { type: 'string' },
      'certificate-oidc-issuer': { type: 'string' },
      key: { type: 'string' },
      'trusted-root': { type: 'string', multiple: true },
    },
  });
  if (!values.bundle) throw new UsageError('--bundle FILE is required');
  if (positionals.length !== 1) throw new UsageError('exactly one ARTIFACT_FILE or sha256:<hex> is required');
  const identity = values['certificate-identity'];
  const issuer = values['certificate-oidc-issuer'];
  if (values.key !== undefined && (identity !== undefined || issuer !== undefined)) {
    throw new UsageError('give either --key or --certificate-identity with --certificate-oidc-issuer, not both');
  }
  if (values.key === undefined && (identity === undefined || issuer === undefined)) {
    throw new UsageError('give --key FILE, or both --certificate-identity and --certificate-oidc-issuer');
  }
  return {
    bundleFile: values.bundle,
    ...(identity !== undefined ? { identity } : {}),
    ...(issuer !== undefined ? { issuer } : {}),
    ...(values.key !== undefined ? { keyFile: values.key } : {}),
    trustedRootFiles: values['trusted-root'] ?? [],
    artifact: positionals[0]!,
  };
}

/** The command's work, callable in-process (the conformance test runs all cases through it). */
export function runVerifyBundle(
  req: VerifyBundleRequest,
  loadRoot: (file: string) => SigstoreTrustRoot = loadTrustedRootFile,
): VerifyBundleOutcome {
  const fail = (message: string): VerifyBundleOutcome => ({ ok: false, message });
  let roots: SigstoreTrustRoot[];
  try {
    roots = (req.trustedRootFiles.length > 0 ? req.trustedRootFiles : [PUBLIC_GOOD_TRUSTED_ROOT]).map((f) => loadRoot(f));
  } catch (err) {
    return fail((err as Error).message);
  }
  let bundleBytes: Buffer;
  try {
    bundleBytes = readFileSync(req.bundleFile);
  } catch (err) {
    return fail(`cannot read the bundle ${req.bundleFile}: ${(err as Error).message}`);
  }
  let artifact: BundleArtifact;
  if (/^sha256:[0-9a-fA-F]{64}$/.test(req.artifact)) {
    artifact = { digest: req.artifact.toLowerCase() };
  } else {
    try {
      artifact = { bytes: readFileSync(req.artifact) };
    } catch (err) {
      return fail(`cannot read the artifact ${req.artifact}: ${(err as Error).message}`);
    }
  }
  let key: CandidateKey | undefined;
  if (req.keyFile !== undefined) {
    try {
      const publicKey = crypto.createPublicKey(readFileSync(req.keyFile));
      const id = crypto
        .createHash('sha256')
        .update(publicKey.export({ type: 'spki', format: 'der' }))
        .digest('base64');
      key = { id, publicKey };
    } catch (err) {
      return fail(`cannot read the public key ${req.keyFile}: ${(err as Error).message}`);
    }
  }
  const result = verifySigstoreBundle(
    bundleBytes,
    key ? { roots, keys: { byHint: (h) => (h === key.id ? key : undefined), all: () => [key] }, keyless: false } : { roots },
    artifact,
  );
  if (!result.ok) return fail(result.reason);
  if (result.signer.kind === 'key') return { ok: true, message: `signed by the key ${result.signer.key.id}` };
  if (result.signer.kind !== 'certificate') return fail('signed by a certificate of a CA bundle, which this command does not take');
  const id = result.signer.identity;
  if (id.subject !== req.identity || id.issuer !== req.issuer) {
    return fail(`signed by ${describeIdentity(id)}, not by ${req.identity ?? '(none)'} (issuer ${req.issuer ?? '(none)'})`);
  }
  return { ok: true, message: `signed by ${describeIdentity(id)}${result.root ? ` under trusted root ${result.root}` : ''}` };
}
