/**
 * CA bundles as trust anchors end to end (issue 10 item 5): a bundle of CA certificates imported
 * into the managed key store anchors cosign legacy `.sig` signatures made with a certificate of
 * that PKI (`dev.sigstore.cosign/certificate`, intermediates in `dev.sigstore.cosign/chain`, as
 * cosign sign --certificate --certificate-chain writes): such a signature counts as the bundle's
 * (keyName) when the certificate chains to one of its CAs and verifies; everything else is
 * denied — no intermediate to reach the bundle, another PKI, a CA signing for itself, an expired
 * signing certificate, a signature by another key, a revoked bundle. The same for Sigstore bundle
 * referrers whose verification material is a certificate (v0.3) or a chain (v0.1) of that PKI.
 * The PKI is built in the test.
 */
import { createPublicKey, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { certificate, extension, seq, type BuiltCert, type CertOptions } from '../../support/der-writer';
import { testPki } from '../../support/test-pki';
import { COSIGN_SIGN_PREDICATE_TYPE } from '../../../src/formats/in-toto';
import { keyIdOf } from '../../../src/keys/key-id';
import type { SigningKey } from '../../../src/keys/types';
import { ReferrerStore } from '../../../src/registry/referrer-store';
import { mutated, referrerFor, signedReferrer, storeImage } from './bundle-fixtures';
import { useKeyStoreVerification } from './key-store-verification';
import { attTag, dsseEnvelope, sigTag, simpleSigningPayload, statement, storeLegacyTag } from './legacy-fixtures';
import { EvidenceCache } from '../../../src/verification/evidence-cache';

const REPOSITORY = 'team/app';
const ec = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

function pki(org = 'Acme') {
  const p = testPki({ org });
  return { ...p, signer: (notAfter?: string) => p.signer(notAfter ? { notAfter: new Date(notAfter) } : {}) };
}

const env = useKeyStoreVerification();

/** A legacy .sig on a fresh image, signed by `key`, carrying `cert` and `chain` as cosign writes them. */
async function verifySigned(
  label: string,
  key: KeyObject,
  cert: BuiltCert | undefined,
  chain: BuiltCert[],
  service = env.service(),
  attestation = false,
) {
  const image = storeImage(env.fake, REPOSITORY, label, label);
  const annotations: Record<string, string> = {};
  if (cert) annotations['dev.sigstore.cosign/certificate'] = cert.pem;
  if (chain.length) annotations['dev.sigstore.cosign/chain'] = chain.map((c) => c.pem).join('');
  if (attestation) {
    // cosign attest --certificate: a DSSE envelope over a statement for the image, the certificate on the layer.
    const signer = { privateKey: key, publicKey: createPublicKey(key) };
    const envelope = dsseEnvelope(statement(image.digest, COSIGN_SIGN_PREDICATE_TYPE, {}), [signer]);
    storeLegacyTag(
      env.fake,
      REPOSITORY,
      attTag(image.digest),
      [
        {
          payload: envelope,
          annotations: { ...annotations, predicateType: COSIGN_SIGN_PREDICATE_TYPE, 'dev.cosignproject.cosign/signature': '' },
        },
      ],
      'application/vnd.dsse.envelope.v1+json',
    );
  } else {
    const payload = simpleSigningPayload(image.digest);
    annotations['dev.cosignproject.cosign/signature'] = cryptoSign('sha256', payload, key).toString('base64');
    storeLegacyTag(
      env.fake,
      REPOSITORY,
      sigTag(image.digest),
      [{ payload, annotations }],
      'application/vnd.dev.cosign.simplesigning.v1+json',
    );
  }
  return service.verify({ image: `${env.fake.host}/${REPOSITORY}@${image.digest}`, action: 'deploy' });
}

test('imported with its kind; not a key: the CAs never verify a signature themselves', async () => {
  const acme = pki();
  const info = await env.keys.store.importCaBundle({ name: 'acme-pki' }, acme.root.pem + acme.intermediate.pem, 'test');
  expect(info).toMatchObject({ kind: 'ca-bundle', source: 'ca-bundle', purpose: 'verification' });
  expect(env.keys.store.trust.list()).toEqual([]);
  expect(env.keys.store.trust.caBundles!().map((b) => [b.name, b.certificates.length])).toEqual([['acme-pki', 2]]);
  // The root's own key signing (no certificate): not a signature by the bundle.
  const r = await verifySigned('root-key', acme.rootKey, undefined, []);
  expect(r.allowed).toBe(false);
});

test('a certificate issued through an intermediate the signature carries, the root in the bundle: allowed as the bundle', async () => {
  const acme = pki();
  await env.keys.store.importCaBundle({ name: 'acme-pki' }, acme.root.pem, 'test');
  const s = acme.signer();
  const r = await verifySigned('through-intermediate', s.key, s.cert, [acme.intermediate, acme.root]);
  expect(r.allowed).toBe(true);
  expect(r.evidence).toEqual([
    expect.objectContaining({
      format: 'cosign-legacy-signature',
      verified: true,
      keyName: 'acme-pki',
      certificateSubject: 'O=Acme, CN=release',
    }),
  ]);
});

test('the intermediate in the bundle, no chain in the signature: allowed', async () => {
  const acme = pki();
  await env.keys.store.importCaBundle({ name: 'acme-pki' }, acme.intermediate.pem, 'test');
  const s = acme.signer();
  expect((await verifySigned('intermediate-anchor', s.key, s.cert, [])).allowed).toBe(true);
});

test('cached evidence stops counting when the chain expires, even while the cache entry lives', async () => {
  const acme = pki();
  await env.keys.store.importCaBundle({ name: 'acme-pki' }, acme.root.pem, 'test');
  const s = acme.signer('2030-01-01T00:00:00Z');
  const cache = new EvidenceCache({ ttlMs: 3_600_000, refreshAfterMs: 0 });
  const image = storeImage(env.fake, REPOSITORY, 'expiring', 'expiring');
  const payload = simpleSigningPayload(image.digest);
  storeLegacyTag(
    env.fake,
    REPOSITORY,
    sigTag(image.digest),
    [
      {
        payload,
        annotations: {
          'dev.cosignproject.cosign/signature': cryptoSign('sha256', payload, s.key).toString('base64'),
          'dev.sigstore.cosign/certificate': s.cert.pem,
          'dev.sigstore.cosign/chain': acme.intermediate.pem,
        },
      },
    ],
    'application/vnd.dev.cosign.simplesigning.v1+json',
  );
  const request = { image: `${env.fake.host}/${REPOSITORY}@${image.digest}`, action: 'deploy' as const };
  let clock = new Date();
  const svc = env.service({ cache, now: () => clock });
  const today = await svc.verify(request);
  expect(today.allowed).toBe(true);
  expect(today.evidence[0]).toMatchObject({ verified: true, certificateValidUntil: '2030-01-01T00:00:00.000Z' });
  const reads = env.fake.requestsMatching('GET', /\/blobs\//).length;
  // Warm, the decision is reused up to the chain's notAfter (inclusive), and not a millisecond longer.
  const warm = await svc.verify(request);
  clock = new Date('2030-01-01T00:00:00Z');
  expect(await svc.verify(request)).toBe(warm);
  clock = new Date('2030-01-01T00:00:00.001Z');
  expect(await svc.verify(request)).toMatchObject({ allowed: false });
  // The same cache entry, judged after the signing certificate expired: no longer a signature.
  clock = new Date('2030-06-01T00:00:00Z');
  const later = await svc.verify(request);
  expect(env.fake.requestsMatching('GET', /\/blobs\//)).toHaveLength(reads); // answered from the cache
  expect(later.allowed).toBe(false);
  expect(later.evidence[0]!.reason).toMatch(/the certificate chain of this signature expired at 2030-01-01T00:00:00.000Z/);
});

describe('cosign .att attestations signed with a certificate of the PKI', () => {
  test('anchored like .sig: allowed as the bundle, naming the subject and predicate type', async () => {
    const acme = pki();
    await env.keys.store.importCaBundle({ name: 'acme-pki' }, acme.root.pem, 'test');
    const s = acme.signer();
    const r = await verifySigned('att-ca', s.key, s.cert, [acme.intermediate], env.service(), true);
    expect(r.allowed).toBe(true);
    expect(r.evidence).toEqual([
      expect.objectContaining({
        format: 'cosign-legacy-attestation',
        verified: true,
        keyName: 'acme-pki',
        certificateSubject: 'O=Acme, CN=release',
        predicateType: COSIGN_SIGN_PREDICATE_TYPE,
      }),
    ]);
  });

  test('denied: another PKI, another key than the certificate, no intermediate to reach the root', async () => {
    const acme = pki();
    const other = pki('Elsewhere');
    await env.keys.store.importCaBundle({ name: 'acme-pki' }, acme.root.pem, 'test');
    const stranger = other.signer();
    const a = await verifySigned('att-other', stranger.key, stranger.cert, [other.intermediate, other.root], env.service(), true);
    expect(a.allowed).toBe(false);
    expect(a.evidence[0]!.reason).toMatch(/O=Elsewhere, CN=release\) does not chain to a trusted CA bundle/);
    const s = acme.signer();
    const b = await verifySigned('att-wrong-key', ec().privateKey, s.cert, [acme.intermediate], env.service(), true);
    expect(b.allowed).toBe(false);
    expect(b.evidence[0]!.reason).toMatch(/does not verify with the key of its certificate/);
    const c = await verifySigned('att-no-chain', s.key, s.cert, [], env.service(), true);
    expect(c.allowed).toBe(false);
    expect(c.evidence[0]!.reason).toMatch(/no CA of the bundle issued the certificate/);
  });
});

describe('denied', () => {
  test('the root in the bundle but no intermediate in the signature to reach it', async () => {
    const acme = pki();
    await env.keys.store.importCaBundle({ name: 'acme-pki' }, acme.root.pem, 'test');
    const s = acme.signer();
    const r = await verifySigned('no-intermediate', s.key, s.cert, []);
    expect(r.allowed).toBe(false);
    expect(r.evidence[0]!.reason).toMatch(/does not chain to a trusted CA bundle \(acme-pki: no CA of the bundle issued the certificate/);
  });

  test('a certificate of another PKI, even carrying its own root', async () => {
    const acme = pki();
    const other = pki('Elsewhere');
    await env.keys.store.importCaBundle({ name: 'acme-pki' }, acme.root.pem, 'test');
    const s = other.signer();
    const r = await verifySigned('other-pki', s.key, s.cert, [other.intermediate, other.root]);
    expect(r.allowed).toBe(false);
    expect(r.evidence[0]!.reason).toMatch(/O=Elsewhere, CN=release\) does not chain to a trusted CA bundle/);
  });

  test('a CA certificate signing for itself', async () => {
    const acme = pki();
    await env.keys.store.importCaBundle({ name: 'acme-pki' }, acme.root.pem, 'test');
    const r = await verifySigned('ca-signs', acme.rootKey, acme.root, []);
    expect(r.allowed).toBe(false);
    expect(r.evidence[0]!.reason).toMatch(/is a CA certificate; a CA certifies signers/);
  });

  test('an expired signing certificate', async () => {
    const acme = pki();
    await env.keys.store.importCaBundle({ name: 'acme-pki' }, acme.root.pem, 'test');
    const s = acme.signer('2026-01-01T00:00:00Z');
    const r = await verifySigned('expired-leaf', s.key, s.cert, [acme.intermediate]);
    expect(r.allowed).toBe(false);
    expect(r.evidence[0]!.reason).toMatch(/the signing certificate \(O=Acme, CN=release\) expired at 2026-01-01/);
  });

  test('a signature by another key than the certificate names', async () => {
    const acme = pki();
    await env.keys.store.importCaBundle({ name: 'acme-pki' }, acme.root.pem, 'test');
    const s = acme.signer();
    const r = await verifySigned('wrong-key', ec().privateKey, s.cert, [acme.intermediate]);
    expect(r.allowed).toBe(false);
    expect(r.evidence[0]!.reason).toMatch(/does not verify with the key of its certificate/);
  });

  test('a revoked bundle', async () => {
    const acme = pki();
    await env.keys.store.importCaBundle({ name: 'acme-pki' }, acme.root.pem, 'test');
    await env.keys.store.revoke('acme-pki', 'PKI retired', 'test');
    const s = acme.signer();
    const r = await verifySigned('revoked', s.key, s.cert, [acme.intermediate]);
    expect(r.allowed).toBe(false);
    expect(r.evidence[0]!.reason).toMatch(/key acme-pki was revoked .*PKI retired/);
  });
});

test('a CA the chain rules would never let issue is refused at import, naming it: no keyCertSign, name constraints, TLS-only EKU', async () => {
  const when = { notBefore: new Date('2025-01-01T00:00:00Z'), notAfter: new Date('2040-01-01T00:00:00Z') };
  const selfSigned = (cn: string, o: Partial<CertOptions>) => {
    const k = ec();
    return certificate({ subject: [['CN', cn]], publicKey: k.publicKey, key: k.privateKey, ca: true, ...when, ...o });
  };
  const nameConstraints = extension(
    '2.5.29.30',
    true,
    seq(Buffer.from([0xa0, 0x0f]), seq(Buffer.from([0x82, 0x0b]), Buffer.from('example.com'))),
  );
  const cases: Array<[BuiltCert, RegExp]> = [
    [selfSigned('No KU', { keyUsage: null }), /certificate 1 of the CA bundle \(CN=No KU\) has no key usage; a CA needs keyCertSign/],
    [
      selfSigned('Constrained', { extensions: [nameConstraints] }),
      /\(CN=Constrained\) has the critical extension 2\.5\.29\.30|carries name constraints/,
    ],
    [selfSigned('TLS', { eku: ['1.3.6.1.5.5.7.3.1'] }), /\(CN=TLS\) extended key usage .* does not allow code signing/],
  ];
  for (const [cert, message] of cases) {
    await expect(env.keys.store.importCaBundle({ name: 'bad' }, cert.pem, 'test')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(message) as unknown,
    });
  }
  expect(env.keys.store.trust.caBundles!()).toEqual([]);
});

test('a bundle with a signing certificate in it is refused at import, naming it', async () => {
  const acme = pki();
  await expect(env.keys.store.importCaBundle({ name: 'bad' }, acme.root.pem + acme.signer().cert.pem, 'test')).rejects.toMatchObject({
    code: 'INVALID_ARGUMENT',
    message: expect.stringMatching(/certificate 2 of the CA bundle \(O=Acme, CN=release\) is not a CA certificate/) as unknown,
  });
  expect(env.keys.store.trust.caBundles!()).toEqual([]);
});

describe('Sigstore bundle referrers signed by a certificate of the PKI', () => {
  /** A DSSE bundle for a fresh image signed by `key`, its verification material replaced by `material`. */
  async function verifyBundle(label: string, key: KeyObject, material: Record<string, unknown>, mediaType?: string) {
    const image = storeImage(env.fake, REPOSITORY, label, label);
    const publicKey = createPublicKey(key);
    const signing: SigningKey = {
      id: keyIdOf(publicKey),
      name: 'external',
      algorithm: 'external',
      publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
      createdAt: new Date(),
      publicKey,
      sign: (data: Buffer) => cryptoSign('sha256', data, key),
    };
    const { bundleBytes } = await signedReferrer(signing, image);
    const bytes = mutated(JSON.parse(bundleBytes.toString('utf8')) as Record<string, unknown>, (b) => {
      b.verificationMaterial = material;
      if (mediaType) b.mediaType = mediaType;
    });
    await new ReferrerStore(env.client).attach(
      { registry: env.fake.host, repository: REPOSITORY },
      referrerFor(bytes, image, COSIGN_SIGN_PREDICATE_TYPE),
    );
    return env.service().verify({ image: `${env.fake.host}/${REPOSITORY}@${image.digest}`, action: 'deploy' });
  }
  const b64 = (c: BuiltCert) => ({ rawBytes: c.der.toString('base64') });

  test('v0.3 with the signing certificate, the intermediate in the CA bundle: allowed as the bundle', async () => {
    const acme = pki();
    await env.keys.store.importCaBundle({ name: 'acme-pki' }, acme.intermediate.pem, 'test');
    const s = acme.signer();
    const r = await verifyBundle('bundle-v03', s.key, { certificate: b64(s.cert), tlogEntries: [] });
    expect(r.allowed).toBe(true);
    expect(r.evidence).toEqual([
      expect.objectContaining({ format: 'sigstore-bundle', verified: true, keyName: 'acme-pki', certificateSubject: 'O=Acme, CN=release' }),
    ]);
  });

  test('v0.1 with the whole chain (the private root included), the root in the CA bundle: allowed', async () => {
    const acme = pki();
    await env.keys.store.importCaBundle({ name: 'acme-pki' }, acme.root.pem, 'test');
    const s = acme.signer();
    const r = await verifyBundle(
      'bundle-v01',
      s.key,
      { x509CertificateChain: { certificates: [b64(s.cert), b64(acme.intermediate), b64(acme.root)] }, tlogEntries: [] },
      'application/vnd.dev.sigstore.bundle+json;version=0.1',
    );
    expect(r.allowed).toBe(true);
  });

  test('denied: a certificate of another PKI; a signature by another key than the certificate', async () => {
    const acme = pki();
    const other = pki('Elsewhere');
    await env.keys.store.importCaBundle({ name: 'acme-pki' }, acme.intermediate.pem, 'test');
    const stranger = other.signer();
    const a = await verifyBundle('bundle-other', stranger.key, { certificate: b64(stranger.cert), tlogEntries: [] });
    expect(a.allowed).toBe(false);
    expect(a.evidence[0]!.reason).toMatch(/O=Elsewhere, CN=release\) does not chain to a trusted CA bundle/);
    const s = acme.signer();
    const b = await verifyBundle('bundle-wrong-key', ec().privateKey, { certificate: b64(s.cert), tlogEntries: [] });
    expect(b.allowed).toBe(false);
    expect(b.evidence[0]!.reason).toMatch(/does not verify with the key of its certificate/);
  });
});
