/**
 * Fixtures for cosign legacy (`.sig` / `.att`) verification tests: Connaisseur's real mock-registry
 * data loaded into the in-process fake registry, and builders for freshly signed synthetic tags.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { keyIdOf } from '../../../src/keys/key-id';
import { sha256Digest } from '../../../src/registry/digest';
import { MEDIA_TYPE, type ImageManifest } from '../../../src/registry/types';
import type { TrustedKey } from '../../../src/trust/types';
import { preAuthEncoding } from '../../../src/verification/legacy/crypto';
import type { FakeRegistry } from '../registry/fake-registry';

/** Connaisseur's cosign test data (shared/vectors INDEX.md §3). */
export const CONNAISSEUR_COSIGN_DIR = path.resolve(__dirname, '../../../../shared/vectors/connaisseur/test/testdata/cosign');
export const CONNAISSEUR_IMAGE_DIR = path.join(CONNAISSEUR_COSIGN_DIR, 'securesystemsengineering/testimage');
export const CONNAISSEUR_REPOSITORY = 'securesystemsengineering/testimage';

export const CONNAISSEUR_KEY_NAMES = ['alice', 'bob', 'charlie', 'default'] as const;
export type ConnaisseurKeyName = (typeof CONNAISSEUR_KEY_NAMES)[number];

export function trustedKey(name: string, publicKey: KeyObject, extra: Partial<TrustedKey> = {}): TrustedKey {
  return { id: keyIdOf(publicKey), name, publicKey, ...extra };
}

/** The `*.key` files there are PEM **public** keys despite the name (INDEX.md §3 and §9). */
export function connaisseurKeys(): Record<ConnaisseurKeyName, TrustedKey> {
  const out = {} as Record<ConnaisseurKeyName, TrustedKey>;
  for (const name of CONNAISSEUR_KEY_NAMES) {
    out[name] = trustedKey(name, crypto.createPublicKey(readFileSync(path.join(CONNAISSEUR_COSIGN_DIR, `${name}.key`))));
  }
  return out;
}

export interface SeededFile {
  file: string;
  digest: string;
  bytes: Buffer;
}

/**
 * Stores every Connaisseur manifest under its file name as tag (`sha256-….sig` for signature
 * manifests, `multi-cosigned-alice` etc. for images) and every blob, byte for byte. The media type
 * a manifest is served with is the one it declares (Docker or OCI).
 */
export function seedConnaisseur(fake: FakeRegistry): { manifests: Map<string, SeededFile>; blobs: Map<string, SeededFile> } {
  const manifests = new Map<string, SeededFile>();
  const blobs = new Map<string, SeededFile>();
  for (const file of readdirSync(path.join(CONNAISSEUR_IMAGE_DIR, 'manifests'))) {
    const bytes = readFileSync(path.join(CONNAISSEUR_IMAGE_DIR, 'manifests', file));
    const declared = (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType ?? MEDIA_TYPE.OCI_MANIFEST;
    const tag = file.replace(/\.json$/, '');
    const digest = fake.storeManifest(CONNAISSEUR_REPOSITORY, bytes, declared, tag);
    manifests.set(tag, { file, digest, bytes });
  }
  for (const file of readdirSync(path.join(CONNAISSEUR_IMAGE_DIR, 'blobs'))) {
    const bytes = readFileSync(path.join(CONNAISSEUR_IMAGE_DIR, 'blobs', file));
    const digest = fake.storeBlob(CONNAISSEUR_REPOSITORY, bytes);
    blobs.set(file.replace(/\.json$/, ''), { file, digest, bytes });
  }
  return { manifests, blobs };
}

// ---- synthetic signatures ---------------------------------------------------------------------

export interface TestSigner {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function newP256(): TestSigner {
  return crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

/** A cosign simple-signing payload, serialized the way cosign does (compact, fixed key order). */
export function simpleSigningPayload(
  imageDigest: string,
  reference = 'registry.example/team/app',
  type = 'cosign container image signature',
): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: { identity: { 'docker-reference': reference }, image: { 'docker-manifest-digest': imageDigest }, type },
      optional: null,
    }),
  );
}

export function sign(signer: TestSigner, data: Buffer, encoding: 'der' | 'ieee-p1363' = 'der'): Buffer {
  return crypto.sign('sha256', data, { key: signer.privateKey, dsaEncoding: encoding });
}

export interface TestLayer {
  /** The blob; stored in the fake unless `store` is false. */
  payload: Buffer;
  annotations?: Record<string, string>;
  mediaType?: string;
  /** Descriptor digest to use instead of the payload's own (e.g. to point at a tampered blob). */
  digest?: string;
  store?: boolean;
}

/** A `.sig`/`.att`-style image manifest over `layers`, stored under `tag`; returns its digest. */
export function storeLegacyTag(fake: FakeRegistry, repository: string, tag: string, layers: TestLayer[], defaultMediaType: string): string {
  const config = Buffer.from('{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}');
  fake.storeBlob(repository, config);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.OCI_MANIFEST,
    config: { mediaType: MEDIA_TYPE.OCI_CONFIG, digest: sha256Digest(config), size: config.length },
    layers: layers.map((l) => {
      if (l.store !== false) fake.storeBlob(repository, l.payload);
      return {
        mediaType: l.mediaType ?? defaultMediaType,
        digest: l.digest ?? sha256Digest(l.payload),
        size: l.payload.length,
        ...(l.annotations ? { annotations: l.annotations } : {}),
      };
    }),
  };
  return fake.storeManifest(repository, Buffer.from(JSON.stringify(manifest)), MEDIA_TYPE.OCI_MANIFEST, tag);
}

export function sigTag(imageDigest: string): string {
  return `${imageDigest.replace(':', '-')}.sig`;
}

export function attTag(imageDigest: string): string {
  return `${imageDigest.replace(':', '-')}.att`;
}

/** A signed simple-signing layer for `imageDigest`. */
export function signatureLayer(
  signer: TestSigner,
  imageDigest: string,
  opts: { encoding?: 'der' | 'ieee-p1363'; payload?: Buffer } = {},
): TestLayer {
  const payload = opts.payload ?? simpleSigningPayload(imageDigest);
  return { payload, annotations: { 'dev.cosignproject.cosign/signature': sign(signer, payload, opts.encoding).toString('base64') } };
}

export function statement(
  imageDigest: string,
  predicateType: string,
  predicate: unknown,
  type = 'https://in-toto.io/Statement/v1',
): Buffer {
  return Buffer.from(
    JSON.stringify({
      _type: type,
      subject: [{ name: 'registry.example/team/app', digest: { sha256: imageDigest.replace(/^sha256:/, '') } }],
      predicateType,
      predicate,
    }),
  );
}

/** A DSSE envelope (cosign `.att` layer blob) signing `payload` with each signer. */
export function dsseEnvelope(payload: Buffer, signers: TestSigner[], payloadType = 'application/vnd.in-toto+json'): Buffer {
  const pae = preAuthEncoding(payloadType, payload);
  return Buffer.from(
    JSON.stringify({
      payloadType,
      payload: payload.toString('base64'),
      signatures: signers.map((s) => ({ keyid: '', sig: sign(s, pae).toString('base64') })),
    }),
  );
}

export function attestationLayer(envelope: Buffer, predicateType: string): TestLayer {
  return { payload: envelope, annotations: { predicateType, 'dev.cosignproject.cosign/signature': '' } };
}

/** A random image digest (no image needs to exist for its signatures to be read). */
export function randomDigest(): string {
  return sha256Digest(crypto.randomBytes(16));
}
