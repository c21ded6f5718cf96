import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { DSSEBundleBuilder } from '@sigstore/sign';
import { bundleToJSON } from '@sigstore/bundle';
import { COSIGN_SIGN_PREDICATE_TYPE } from '../../../src/formats/in-toto';
import { BUNDLE_V03_MEDIA_TYPE } from '../../../src/formats/sigstore-bundle';
import { bundleReferrer, imageStatement, sha256Digest, signStatement } from '../../../src/signing';
import { verifyBundle } from '../../support/independent-verify';
import { newSigningKey } from '../../support/managed-keys';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

async function key(name = 'k') {
  return newSigningKey(name);
}

describe('signStatement', () => {
  test('produces a v0.3 DSSE bundle that verifies with the public key alone', async () => {
    const k = await key();
    const statement = imageStatement({ digest: DIGEST, predicateType: COSIGN_SIGN_PREDICATE_TYPE, predicate: {} });
    const { json, bytes } = await signStatement(k, statement);
    expect(json.mediaType).toBe(BUNDLE_V03_MEDIA_TYPE);
    expect(JSON.parse(bytes.toString())).toEqual(json);
    const env = json.dsseEnvelope as { signatures: Array<{ keyid: string }>; payloadType: string };
    expect(env.signatures).toHaveLength(1);
    expect(env.signatures[0]!.keyid).toBe(k.id);
    expect((json.verificationMaterial as { publicKey: { hint: string } }).publicKey.hint).toBe(k.id);
    const verified = verifyBundle(json, k.publicKeyPem, DIGEST);
    expect(verified).toEqual(statement);
  });

  test('verification fails with another key or another digest', async () => {
    const k = await key('a');
    const other = await key('b');
    const { json } = await signStatement(k, imageStatement({ digest: DIGEST, predicateType: COSIGN_SIGN_PREDICATE_TYPE, predicate: {} }));
    expect(() => verifyBundle(json, other.publicKeyPem, DIGEST)).toThrow();
    expect(() => verifyBundle(json, k.publicKeyPem, `sha256:${'cd'.repeat(32)}`)).toThrow(/subject/);
  });

  test("the same bundle as sigstore-js's own DSSE builder makes (only the signature differs)", async () => {
    // sigstore-js is the reference for the bundle layout; Countersign builds it without loading
    // @sigstore/sign at run time (that package brings Fulcio/Rekor clients the service never uses).
    const k = await key();
    const statement = imageStatement({ digest: DIGEST, predicateType: COSIGN_SIGN_PREDICATE_TYPE, predicate: { x: [1] } });
    const { json, bytes } = await signStatement(k, statement);
    const signer = {
      sign: async (data: Buffer) => ({
        signature: k.sign(data),
        key: { $case: 'publicKey' as const, publicKey: k.publicKeyPem, hint: k.id },
      }),
    };
    const reference = bundleToJSON(
      await new DSSEBundleBuilder({ signer, witnesses: [] }).create({
        data: Buffer.from(JSON.stringify(statement)),
        type: 'application/vnd.in-toto+json',
      }),
    ) as unknown as Record<string, unknown>;
    const withoutSignatures = (b: Record<string, unknown>) => {
      const copy = JSON.parse(JSON.stringify(b)) as { dsseEnvelope: { signatures: Array<{ sig?: string }> } };
      for (const s of copy.dsseEnvelope.signatures) delete s.sig;
      return copy;
    };
    expect(withoutSignatures(json)).toEqual(withoutSignatures(reference));
    // Key order is part of the stored bytes (their digest is the layer's): the same as the reference's.
    expect(Object.keys(json)).toEqual(Object.keys(reference));
    expect(bytes.toString()).toBe(JSON.stringify(json));
  });

  test('signing does not load @sigstore/sign (nor its network clients) into the service', () => {
    const dist = path.resolve(__dirname, '../../../dist');
    const loaded = execFileSync(
      process.execPath,
      ['-e', `require(${JSON.stringify(path.join(dist, 'app.js'))});` + `process.stdout.write(JSON.stringify(Object.keys(require.cache)))`],
      { encoding: 'utf8' },
    );
    const modules = JSON.parse(loaded) as string[];
    expect(modules.some((m) => m.includes(`${path.sep}@sigstore${path.sep}bundle${path.sep}`))).toBe(true);
    expect(modules.filter((m) => /[\\/]node_modules[\\/](@sigstore[\\/]sign|make-fetch-happen|cacache)[\\/]/.test(m))).toEqual([]);
  });

  test('a tampered payload does not verify', async () => {
    const k = await key();
    const { json } = await signStatement(
      k,
      imageStatement({ digest: DIGEST, predicateType: 'https://example.com/p', predicate: { a: 1 } }),
    );
    const env = json.dsseEnvelope as { payload: string };
    const st = JSON.parse(Buffer.from(env.payload, 'base64').toString()) as { predicate: { a: number } };
    st.predicate.a = 2;
    env.payload = Buffer.from(JSON.stringify(st)).toString('base64');
    expect(() => verifyBundle(json, k.publicKeyPem, DIGEST)).toThrow();
  });
});

describe('imageStatement', () => {
  test('subject is the digest (plus optional name and signed annotations)', () => {
    expect(imageStatement({ digest: DIGEST, predicateType: 'u', predicate: {} }).subject).toEqual([
      { digest: { sha256: 'ab'.repeat(32) } },
    ]);
    const s = imageStatement({ digest: DIGEST, predicateType: 'u', predicate: {}, name: 'reg/repo', annotations: { a: 'b' } });
    expect(s.subject).toEqual([{ name: 'reg/repo', digest: { sha256: 'ab'.repeat(32) }, annotations: { a: 'b' } }]);
    expect(s._type).toBe('https://in-toto.io/Statement/v1');
  });
});

describe('bundleReferrer', () => {
  test('lays the manifest out as cosign v3 does and hashes the exact bytes', () => {
    const bundleBytes = Buffer.from('{"mediaType":"x"}');
    const subject = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: DIGEST, size: 123, annotations: { ignored: 'yes' } };
    const a = bundleReferrer({
      bundleBytes,
      subject,
      predicateType: COSIGN_SIGN_PREDICATE_TYPE,
      created: new Date('2026-01-02T03:04:05.678Z'),
    });
    expect(a.digest).toBe(sha256Digest(a.manifestBytes));
    expect(JSON.parse(a.manifestBytes.toString())).toEqual(a.manifest);
    expect(a.manifest.subject).toEqual({ mediaType: subject.mediaType, digest: DIGEST, size: 123 });
    expect(a.manifest.layers).toEqual([{ mediaType: BUNDLE_V03_MEDIA_TYPE, digest: sha256Digest(bundleBytes), size: bundleBytes.length }]);
    expect(a.manifest.annotations).toEqual({
      'dev.sigstore.bundle.content': 'dsse-envelope',
      'dev.sigstore.bundle.predicateType': COSIGN_SIGN_PREDICATE_TYPE,
      'org.opencontainers.image.created': '2026-01-02T03:04:05Z',
    });
    expect(a.blobs.map((b) => sha256Digest(b))).toEqual([sha256Digest(bundleBytes), a.manifest.config.digest]);
    expect(crypto.createHash('sha256').update('{}').digest('hex')).toBe(a.manifest.config.digest.slice(7));
  });
});
