/**
 * Builders for Sigstore-bundle verification tests: real P-256 keys from the managed key store,
 * bundles signed the way Countersign signs them (signStatement + bundleReferrer), and variants of
 * them (other hints, other payload types, tampered JSON) for the negative cases.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleToJSON } from '@sigstore/bundle';
import { DSSEBundleBuilder, type Signer } from '@sigstore/sign';
import type { SigningKey } from '../../../src/keys/types';
import { MEDIA_TYPE, type Descriptor } from '../../../src/registry/types';
import { signStatement } from '../../../src/signing/bundle';
import { bundleReferrer, type ReferrerArtifact } from '../../../src/signing/referrer-layout';
import { COSIGN_SIGN_PREDICATE_TYPE } from '../../../src/formats/in-toto';
import { imageStatement, type InTotoStatement } from '../../../src/signing/statement';
import type { TrustedKey, TrustStore } from '../../../src/trust/types';
export { newSigningKey } from '../../support/managed-keys';
import type { FakeRegistry } from '../registry/fake-registry';
import { imageManifest } from '../registry/helpers';

export const CREATED = new Date('2026-02-03T04:05:06Z');

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `countersign-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function trusted(key: SigningKey, extra: Partial<TrustedKey> = {}): TrustedKey {
  return { id: key.id, name: key.name, publicKey: key.publicKey, ...extra };
}

/** A fixed set of trusted keys behind the TrustStore interface. */
export function staticTrust(keys: TrustedKey[], revision = 'r1'): TrustStore {
  return {
    revision: () => revision,
    list: () => [...keys],
    byId: (id) => keys.find((k) => k.id === id),
    onChange: () => () => undefined,
  };
}

/** Stores a small distinct image manifest (optionally tagged) and returns its descriptor. */
export function storeImage(fake: FakeRegistry, repository: string, content: string, tag?: string): Descriptor {
  const { bytes } = imageManifest(Buffer.from(content));
  const digest = fake.storeManifest(repository, bytes, MEDIA_TYPE.OCI_MANIFEST, tag);
  return { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest, size: bytes.length };
}

/** A DSSE bundle v0.3 over arbitrary bytes with an arbitrary payload type and key hint. */
export async function signRaw(
  key: SigningKey,
  payload: Buffer,
  payloadType: string,
  hint: string = key.id,
): Promise<{ bytes: Buffer; json: Record<string, unknown> }> {
  const signer: Signer = {
    async sign(data: Buffer) {
      return { signature: key.sign(data), key: { $case: 'publicKey', publicKey: key.publicKeyPem, hint } };
    },
  };
  const bundle = await new DSSEBundleBuilder({ signer, witnesses: [] }).create({ data: payload, type: payloadType });
  const json = bundleToJSON(bundle) as unknown as Record<string, unknown>;
  return { bytes: Buffer.from(JSON.stringify(json)), json };
}

export interface SignedReferrerOptions {
  predicateType?: string;
  predicate?: unknown;
  /** The digest the signed statement names (default: the subject's). */
  statementDigest?: string;
  /** The predicate type written to the (unsigned) manifest annotation (default: the signed one). */
  annotatedPredicateType?: string;
}

/** The statement Countersign signs for `subject` (a cosign sign predicate unless told otherwise). */
export function statementFor(subject: Descriptor, opts: SignedReferrerOptions = {}): InTotoStatement {
  return imageStatement({
    digest: opts.statementDigest ?? subject.digest,
    predicateType: opts.predicateType ?? COSIGN_SIGN_PREDICATE_TYPE,
    predicate: opts.predicate ?? {},
  });
}

/** A Countersign-style bundle referrer of `subject`, signed by `key`. */
export async function signedReferrer(
  key: SigningKey,
  subject: Descriptor,
  opts: SignedReferrerOptions = {},
): Promise<ReferrerArtifact & { bundleBytes: Buffer }> {
  const statement = statementFor(subject, opts);
  const { bytes } = await signStatement(key, statement);
  return { ...referrerFor(bytes, subject, opts.annotatedPredicateType ?? statement.predicateType), bundleBytes: bytes };
}

/** The referrer manifest for given bundle bytes. */
export function referrerFor(bundleBytes: Buffer, subject: Descriptor, predicateType: string): ReferrerArtifact {
  return bundleReferrer({ bundleBytes, subject, predicateType, created: CREATED });
}

/**
 * A bundle's JSON as the tampering edits see it: the fields they touch, loosely typed (an edit may
 * write junk there, or delete what a valid bundle always has).
 */
export interface BundleJson {
  mediaType?: unknown;
  verificationMaterial: { publicKey?: { hint?: unknown }; tlogEntries?: unknown; [field: string]: unknown };
  dsseEnvelope?: { payload?: unknown; signatures: unknown[] };
  messageSignature?: unknown;
}

/** JSON round trip with a mutation, for tampered bundles. */
export function mutated(json: unknown, edit: (copy: BundleJson) => void): Buffer {
  const copy = JSON.parse(JSON.stringify(json)) as BundleJson;
  edit(copy);
  return Buffer.from(JSON.stringify(copy));
}
