/**
 * Junk must never crowd out a valid signature — also by cost. An Ed25519 trust anchor that does
 * not verify a signature purely is tried again as Ed25519ph in pure JS (some 20× a native check),
 * so junk `.sig` layers × trusted Ed25519 keys could spend the collection's time budget before a
 * valid layer is reached. The collection tries the native schemes on every layer first and
 * Ed25519ph only on layers that could be one: a 64-byte signature with a canonical S over a
 * payload that names this image. Time here is a counter the Ed25519ph tries advance (2 "ms" each),
 * so what the budget allows is deterministic.
 */
import { RegistryClient } from '../../../../src/registry/client';
import type { RepositoryRef } from '../../../../src/registry/types';
import type { TrustedKey } from '../../../../src/trust/types';
import { CollectionBudget } from '../../../../src/verification/collection-budget';
import { legacyCosignEvidence } from '../../../../src/verification/cosign-legacy';
import { ed25519phScheme } from '../../../../src/verification/legacy/crypto';
import { FakeRegistry } from '../../registry/fake-registry';
import {
  attTag,
  randomDigest,
  sigTag,
  simpleSigningPayload,
  statement,
  storeLegacyTag,
  trustedKey,
  type TestLayer,
} from '../legacy-fixtures';
import crypto from 'node:crypto';
import { preAuthEncoding } from '../../../../src/verification/legacy/crypto';
import { ed25519, ed25519ph } from '../../../support/noble-ed25519';

const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
const DSSE = 'application/vnd.dsse.envelope.v1+json';
const SIGNATURE = 'dev.cosignproject.cosign/signature';
const MS_PER_ED25519PH_TRY = 2;

let fake: FakeRegistry;
let client: RegistryClient;
let now: number;
let tries: number;
const repo = (): RepositoryRef => ({ registry: fake.host, repository: 'team/app' });

beforeEach(async () => {
  fake = await FakeRegistry.start();
  client = new RegistryClient({ maxRetries: 0, retryBaseMs: 1 });
  now = 0;
  tries = 0;
  const verify = ed25519phScheme.verify.bind(ed25519phScheme);
  jest.spyOn(ed25519phScheme, 'verify').mockImplementation((signature, message, publicKey) => {
    tries++;
    now += MS_PER_ED25519PH_TRY;
    return verify(signature, message, publicKey);
  });
});

afterEach(async () => {
  jest.restoreAllMocks();
  await client.close();
  await fake.close();
});

interface Ed25519Signer {
  secret: Uint8Array;
  trusted: TrustedKey;
}

function ed25519Signer(name: string): Ed25519Signer {
  const secret = ed25519.utils.randomSecretKey();
  const x = Buffer.from(ed25519.getPublicKey(secret)).toString('base64url');
  return { secret, trusted: trustedKey(name, crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' })) };
}

function layer(payload: Buffer, signature: Uint8Array): TestLayer {
  return { payload, annotations: { [SIGNATURE]: Buffer.from(signature).toString('base64') } };
}

/** Junk as costly as junk gets: a well-formed Ed25519ph signature (by a stranger) over a payload naming this image. */
function costlyJunk(image: string, i: number): TestLayer {
  const payload = simpleSigningPayload(image, `registry.example/j/${i}`);
  return layer(payload, ed25519ph.sign(payload, ed25519.utils.randomSecretKey()));
}

function collect(image: string, keys: TrustedKey[], maxMs: number) {
  const budget = new CollectionBudget({ maxBytes: 100_000_000, maxMs, clock: () => now });
  return legacyCosignEvidence({ client, repo: repo(), imageDigest: image, trustedKeys: keys, budget });
}

const signers = () => ['a', 'b', 'c', 'd'].map(ed25519Signer);

test('60 costly junk layers and 4 Ed25519 keys: a valid pure Ed25519 layer, read last, is verified before any Ed25519ph try', async () => {
  const keys = signers();
  const image = randomDigest();
  const junk = Array.from({ length: 60 }, (_, i) => costlyJunk(image, i));
  // The valid payload is the largest, so it is judged after every junk layer.
  const payload = simpleSigningPayload(image, 'registry.example/the/longest/reference/of/them/all');
  const valid = layer(payload, ed25519.sign(payload, keys[2]!.secret));
  storeLegacyTag(fake, 'team/app', sigTag(image), [...junk, valid], SIMPLE_SIGNING);

  // 60 × 4 Ed25519ph tries would be 480 "ms"; the budget allows 40.
  const list = await collect(
    image,
    keys.map((k) => k.trusted),
    40,
  );
  expect(list).toHaveLength(61);
  expect(list[60]).toMatchObject({ verified: true, keyName: 'c' });
  expect(list.slice(0, 60).every((e) => !e.verified)).toBe(true);
  // The Ed25519ph pass stopped at the budget: about 40 / 2 tries (one layer's keys may finish), the rest said so.
  expect(tries).toBeLessThanOrEqual(40 / MS_PER_ED25519PH_TRY + 4);
  expect(list.filter((e) => /not examined as Ed25519ph: the collection used its 40 ms budget/.test(e.reason ?? '')).length).toBeGreaterThan(
    40,
  );
});

test('a valid Ed25519ph layer behind 120 junk layers that cannot be Ed25519ph for this image costs 4 tries, not 480', async () => {
  const keys = signers();
  const image = randomDigest();
  const other = randomDigest();
  const junk: TestLayer[] = [];
  for (let i = 0; i < 40; i++) {
    const payload = simpleSigningPayload(image, `registry.example/s/${i}`);
    // A non-canonical S (top byte 0xff ≥ L): refused by any strict verifier.
    const sig = Buffer.from(ed25519ph.sign(payload, ed25519.utils.randomSecretKey()));
    sig[63] = 0xff;
    junk.push(layer(payload, sig));
    // Not 64 bytes: no Ed25519 signature at all.
    junk.push(layer(Buffer.from(`${payload.toString()} `), crypto.randomBytes(70)));
    // Well-formed, but over a payload for another image: could never count here, whoever signed it.
    const elsewhere = simpleSigningPayload(other, `registry.example/o/${i}`);
    junk.push(layer(elsewhere, ed25519ph.sign(elsewhere, keys[0]!.secret)));
  }
  const payload = simpleSigningPayload(image, 'registry.example/the/longest/reference/of/them/all');
  const valid = layer(payload, ed25519ph.sign(payload, keys[3]!.secret)); // as cosign signs with an Ed25519 key
  storeLegacyTag(fake, 'team/app', sigTag(image), [...junk, valid], SIMPLE_SIGNING);

  const list = await collect(
    image,
    keys.map((k) => k.trusted),
    40,
  );
  expect(list).toHaveLength(121);
  expect(list[120]).toMatchObject({ verified: true, keyName: 'd' });
  expect(list.slice(0, 120).every((e) => !e.verified)).toBe(true);
  expect(tries).toBe(4);
  // The layer signed for another image says why it was not tried further.
  expect(list[2]!.reason).toMatch(
    /^layer 2: the signature does not verify .*; not tried as Ed25519ph: signature is for sha256:[0-9a-f]{64}, not this image/,
  );
});

test('.att: costly junk envelopes do not crowd out a valid pure Ed25519 attestation', async () => {
  const keys = signers();
  const image = randomDigest();
  const envelope = (secret: Uint8Array, payload: Buffer, ph: boolean): Buffer => {
    const pae = preAuthEncoding('application/vnd.in-toto+json', payload);
    const sig = ph ? ed25519ph.sign(pae, secret) : ed25519.sign(pae, secret);
    return Buffer.from(
      JSON.stringify({
        payloadType: 'application/vnd.in-toto+json',
        payload: payload.toString('base64'),
        signatures: [{ keyid: '', sig: Buffer.from(sig).toString('base64') }],
      }),
    );
  };
  const att = (blob: Buffer): TestLayer => ({
    payload: blob,
    annotations: { predicateType: 'https://slsa.dev/provenance/v1', [SIGNATURE]: '' },
  });
  const junk = Array.from({ length: 40 }, (_, i) =>
    att(envelope(ed25519.utils.randomSecretKey(), statement(image, 'https://slsa.dev/provenance/v1', { i }), true)),
  );
  const valid = att(envelope(keys[1]!.secret, statement(image, 'https://slsa.dev/provenance/v1', { builder: 'the-longest-one' }), false));
  storeLegacyTag(fake, 'team/app', attTag(image), [...junk, valid], DSSE);

  const list = await collect(
    image,
    keys.map((k) => k.trusted),
    40,
  );
  expect(list).toHaveLength(41);
  expect(list[40]).toMatchObject({ verified: true, keyName: 'b', predicateType: 'https://slsa.dev/provenance/v1' });
  expect(tries).toBeLessThanOrEqual(40 / MS_PER_ED25519PH_TRY + 4);
});
