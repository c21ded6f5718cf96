/**
 * Key-based bundles with the key types cosign and other tools write (FORMATS.md §6.4): bare
 * @sigstore/verify checks DSSE signatures with SHA-256 whatever the curve, so P-384/SHA-384 and
 * P-521/SHA-512 signatures failed; the core also checks them with the curve's own digest.
 */
import crypto from 'node:crypto';
import { bundleToJSON } from '@sigstore/bundle';
import { DSSEBundleBuilder, type Signer } from '@sigstore/sign';
import { verifySigstoreBundle } from '../../../../src/verification/sigstore/verify-bundle';

const STATEMENT = Buffer.from(
  JSON.stringify({
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ digest: { sha256: 'ab'.repeat(32) } }],
    predicateType: 'x',
    predicate: {},
  }),
);

async function bundleSignedWith(privateKey: crypto.KeyObject, publicKey: crypto.KeyObject, hash: string | null): Promise<Buffer> {
  const signer: Signer = {
    async sign(data) {
      return {
        signature: crypto.sign(hash, data, privateKey),
        key: { $case: 'publicKey', publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string, hint: 'h' },
      };
    },
  };
  const bundle = await new DSSEBundleBuilder({ signer, witnesses: [] }).create({ data: STATEMENT, type: 'application/vnd.in-toto+json' });
  return Buffer.from(JSON.stringify(bundleToJSON(bundle)));
}

const verifyWith = (bytes: Buffer, publicKey: crypto.KeyObject) => {
  const key = { id: 'k', publicKey };
  return verifySigstoreBundle(
    bytes,
    { roots: [], keys: { byHint: () => undefined, all: () => [key] } },
    { digest: `sha256:${'ab'.repeat(32)}` },
  );
};

test.each([
  ['P-256 with SHA-256', { type: 'ec', namedCurve: 'P-256' }, 'sha256'],
  ['P-384 with SHA-384', { type: 'ec', namedCurve: 'P-384' }, 'sha384'],
  ['P-384 with SHA-256', { type: 'ec', namedCurve: 'P-384' }, 'sha256'],
  ['P-521 with SHA-512', { type: 'ec', namedCurve: 'P-521' }, 'sha512'],
  ['Ed25519', { type: 'ed25519' }, null],
  ['RSA-3072 PKCS#1 v1.5 with SHA-256', { type: 'rsa', modulusLength: 3072 }, 'sha256'],
] as const)('%s verifies; another key of the same type does not', async (_name, spec, hash) => {
  const gen = () =>
    spec.type === 'ec'
      ? crypto.generateKeyPairSync('ec', { namedCurve: spec.namedCurve })
      : spec.type === 'rsa'
        ? crypto.generateKeyPairSync('rsa', { modulusLength: spec.modulusLength })
        : crypto.generateKeyPairSync('ed25519');
  const { privateKey, publicKey } = gen();
  const bytes = await bundleSignedWith(privateKey, publicKey, hash);
  expect(verifyWith(bytes, publicKey)).toMatchObject({ ok: true, signer: { kind: 'key' } });
  expect(verifyWith(bytes, gen().publicKey)).toMatchObject({ ok: false, reason: expect.stringMatching(/SIGNATURE_ERROR/) as unknown });
});
