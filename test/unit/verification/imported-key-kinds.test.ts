/**
 * Keys of every kind `keys import` accepts verify end to end: imported into the managed key store
 * (as SPKI PEM or as an X.509 certificate), then a cosign legacy `.sig` and a Sigstore bundle
 * referrer signed by the key — with the digest and padding cosign uses for that kind (FORMATS.md
 * §6.4: P-384 with SHA-384, P-521 with SHA-512, Ed25519 pure and Ed25519ph (cosign's default for
 * Ed25519 keys, §3.5), RSA PKCS#1 v1.5 with SHA-256) — are
 * allowed by VerificationService against a fake registry; the same evidence by another key of the
 * same kind is denied. Keys are generated here by node:crypto; certificates by openssl.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SigningKey } from '../../../src/keys/types';
import { keyIdOf } from '../../../src/keys/key-id';
import { ReferrerStore } from '../../../src/registry/referrer-store';
import { signedReferrer, storeImage } from './bundle-fixtures';
import { useKeyStoreVerification } from './key-store-verification';
import { sigTag, simpleSigningPayload, storeLegacyTag } from './legacy-fixtures';
import { ed25519ph } from '../../support/noble-ed25519';

const REPOSITORY = 'team/app';

/** Ed25519ph (RFC 8032 HashEdDSA) with a Node-generated key, as cosign signs with an Ed25519 key. */
function signEd25519ph(data: Buffer, privateKey: KeyObject): Buffer {
  const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
  return Buffer.from(ed25519ph.sign(data, seed));
}

interface Kind {
  name: string;
  kind: string;
  generate: () => crypto.KeyPairKeyObjectResult;
  /** How cosign signs with such a key. */
  sign: (data: Buffer, privateKey: KeyObject) => Buffer;
}

const KINDS: Kind[] = [
  {
    name: 'P-256',
    kind: 'ecdsa-p256',
    generate: () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    sign: (d, k) => crypto.sign('sha256', d, k),
  },
  {
    name: 'P-384 with SHA-384',
    kind: 'ecdsa-p384',
    generate: () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }),
    sign: (d, k) => crypto.sign('sha384', d, k),
  },
  {
    name: 'P-521 with SHA-512',
    kind: 'ecdsa-p521',
    generate: () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-521' }),
    sign: (d, k) => crypto.sign('sha512', d, k),
  },
  { name: 'Ed25519', kind: 'ed25519', generate: () => crypto.generateKeyPairSync('ed25519'), sign: (d, k) => crypto.sign(null, d, k) },
  { name: 'Ed25519ph', kind: 'ed25519', generate: () => crypto.generateKeyPairSync('ed25519'), sign: signEd25519ph },
  {
    name: 'RSA-2048 PKCS#1 v1.5 SHA-256',
    kind: 'rsa-2048',
    generate: () => crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }),
    sign: (d, k) => crypto.sign('sha256', d, { key: k, padding: crypto.constants.RSA_PKCS1_PADDING }),
  },
  {
    name: 'RSA-4096 PKCS#1 v1.5 SHA-256',
    kind: 'rsa-4096',
    generate: () => crypto.generateKeyPairSync('rsa', { modulusLength: 4096 }),
    sign: (d, k) => crypto.sign('sha256', d, { key: k, padding: crypto.constants.RSA_PKCS1_PADDING }),
  },
];

function certificateFor(privateKey: KeyObject): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-ikk-'));
  writeFileSync(path.join(dir, 'k.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const r = spawnSync(
    'openssl',
    ['req', '-x509', '-new', '-key', path.join(dir, 'k.pem'), '-subj', '/CN=signer', '-days', '30', '-out', path.join(dir, 'c.pem')],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return readFileSync(path.join(dir, 'c.pem'), 'utf8');
}

/** A signing handle over a key held by the test (as an external signer such as cosign would hold it). */
function externalSigner(pair: crypto.KeyPairKeyObjectResult, sign: Kind['sign']): SigningKey {
  return {
    id: keyIdOf(pair.publicKey),
    name: 'external',
    algorithm: 'external',
    publicKeyPem: pair.publicKey.export({ type: 'spki', format: 'pem' }) as string,
    createdAt: new Date(),
    publicKey: pair.publicKey,
    sign: (data: Buffer) => sign(data, pair.privateKey),
  };
}

const env = useKeyStoreVerification();

describe.each(KINDS)('$name', (k) => {
  test.each(['spki', 'x509'] as const)(
    'imported as %s: a legacy .sig and a bundle by the key are allowed; by another key of the kind, denied',
    async (source) => {
      const pair = k.generate();
      const pem = source === 'spki' ? (pair.publicKey.export({ type: 'spki', format: 'pem' }) as string) : certificateFor(pair.privateKey);
      const info = await env.keys.store.importPublicKey({ name: 'anchor' }, pem, 'test');
      expect(info).toMatchObject({ kind: k.kind, source });
      const stranger = k.generate();

      // Legacy .sig, on its own image.
      const legacyImage = storeImage(env.fake, REPOSITORY, `legacy ${k.name} ${source}`, 'legacy');
      const payload = simpleSigningPayload(legacyImage.digest);
      storeLegacyTag(
        env.fake,
        REPOSITORY,
        sigTag(legacyImage.digest),
        [{ payload, annotations: { 'dev.cosignproject.cosign/signature': k.sign(payload, pair.privateKey).toString('base64') } }],
        'application/vnd.dev.cosign.simplesigning.v1+json',
      );
      const legacy = await env.service().verify({ image: `${env.fake.host}/${REPOSITORY}@${legacyImage.digest}`, action: 'deploy' });
      expect(legacy).toMatchObject({ allowed: true });
      expect(legacy.evidence).toEqual([expect.objectContaining({ format: 'cosign-legacy-signature', verified: true, keyName: 'anchor' })]);

      // Bundle referrer, on another image.
      const bundleImage = storeImage(env.fake, REPOSITORY, `bundle ${k.name} ${source}`, 'bundle');
      const repo = { registry: env.fake.host, repository: REPOSITORY };
      await new ReferrerStore(env.client).attach(repo, await signedReferrer(externalSigner(pair, k.sign), bundleImage));
      const bundled = await env.service().verify({ image: `${env.fake.host}/${REPOSITORY}@${bundleImage.digest}`, action: 'deploy' });
      expect(bundled).toMatchObject({ allowed: true });
      expect(bundled.evidence).toEqual([expect.objectContaining({ verified: true, keyName: 'anchor' })]);

      // The same kinds of evidence by a key that was not imported.
      const otherImage = storeImage(env.fake, REPOSITORY, `stranger ${k.name} ${source}`, 'stranger');
      const otherPayload = simpleSigningPayload(otherImage.digest);
      storeLegacyTag(
        env.fake,
        REPOSITORY,
        sigTag(otherImage.digest),
        [
          {
            payload: otherPayload,
            annotations: { 'dev.cosignproject.cosign/signature': k.sign(otherPayload, stranger.privateKey).toString('base64') },
          },
        ],
        'application/vnd.dev.cosign.simplesigning.v1+json',
      );
      await new ReferrerStore(env.client).attach(repo, await signedReferrer(externalSigner(stranger, k.sign), otherImage));
      const denied = await env.service().verify({ image: `${env.fake.host}/${REPOSITORY}@${otherImage.digest}`, action: 'deploy' });
      expect(denied.allowed).toBe(false);
      expect(denied.evidence.length).toBe(2);
      expect(denied.evidence.every((e) => !e.verified)).toBe(true);
    },
  );
});

test('RSA: a PSS signature by the imported key is not taken for the PKCS#1 v1.5 signature cosign makes', async () => {
  const pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  await env.keys.store.importPublicKey({ name: 'rsa' }, pair.publicKey.export({ type: 'spki', format: 'pem' }) as string, 'test');
  const image = storeImage(env.fake, REPOSITORY, 'pss', 'pss');
  const payload = simpleSigningPayload(image.digest);
  const pss = crypto.sign('sha256', payload, { key: pair.privateKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING });
  storeLegacyTag(
    env.fake,
    REPOSITORY,
    sigTag(image.digest),
    [{ payload, annotations: { 'dev.cosignproject.cosign/signature': pss.toString('base64') } }],
    'application/vnd.dev.cosign.simplesigning.v1+json',
  );
  const r = await env.service().verify({ image: `${env.fake.host}/${REPOSITORY}@${image.digest}`, action: 'deploy' });
  expect(r.allowed).toBe(false);
});
