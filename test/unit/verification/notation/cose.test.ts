/**
 * Notary Project COSE envelopes (`application/cose`, issue 10 item 4) through the code Verify uses:
 * a COSE_Sign1 signed with notation's published TEST key (config/localkeys/e2e.key) is stored in a
 * fake registry as a signature referrer, collected, and judged by the same Notation trust policy
 * as a JWS. Each attack differs from the accepted envelope in one thing.
 */
import { createHash, generateKeyPairSync, sign as cryptoSign, constants, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parsePolicy } from '../../../../src/policy';
import { evaluate, type Decision } from '../../../../src/policy/evaluate';
import { RegistryClient } from '../../../../src/registry/client';
import { EMPTY_DESCRIPTOR, MEDIA_TYPE } from '../../../../src/registry/types';
import { judgeNotation } from '../../../../src/policy/notation-trust';
import { EvidenceCollector } from '../../../../src/verification/collector';
import { verifyCoseEnvelope } from '../../../../src/verification/notation/cose';
import { NotationEnvelopeError } from '../../../../src/verification/notation/envelope';
import { readOciLayout } from '../../../support/oci-layout';
import { cbor, tag, type CborIn } from '../../../support/cbor-writer';
import { certificate, OIDS, timestampToken } from '../../../support/der-writer';
import { FakeRegistry } from '../../registry/fake-registry';
import { staticTrust } from '../bundle-fixtures';

const DATA = path.resolve(__dirname, '../../../../../shared/vectors/notation/test/e2e/testdata');
const KEYS = path.join(DATA, 'config/localkeys');
const IMAGE = 'sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9';
const NOW = new Date('2026-12-01T00:00:00Z');
const KEY = createPrivateKey(readFileSync(path.join(KEYS, 'e2e.key')));
const CERT_DER = Buffer.from(readFileSync(path.join(KEYS, 'e2e.crt'), 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64');
const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-cose-'));

let fake: FakeRegistry;
let client: RegistryClient;

beforeAll(async () => {
  fake = await FakeRegistry.start({ referrersApi: true });
  client = new RegistryClient({ maxRetries: 0, retryBaseMs: 1 });
});

afterAll(async () => {
  await client.close();
  await fake.close();
});

function policy(notation: string): ReturnType<typeof parsePolicy> {
  const text = `rules:\n  - name: notation\n    require:\n      signatures: { notation: ${notation} }\n`;
  const file = path.join(dir, `policy-${createHash('sha256').update(text).digest('hex').slice(0, 8)}.yaml`);
  writeFileSync(file, text);
  return parsePolicy(text, file);
}
const store = (file: string) => JSON.stringify(file);
const trust = (level = 'strict', extra = '') =>
  policy(
    `{ trustStore: [${store(path.join(KEYS, 'e2e.crt'))}]${extra}, identities: ["x509.subject: C=US, ST=WA, O=Notary, CN=e2e"], level: ${level} }`,
  );

const PAYLOAD = (digest = IMAGE) =>
  Buffer.from(JSON.stringify({ targetArtifact: { digest, mediaType: MEDIA_TYPE.OCI_MANIFEST, size: 517 } }));
const SCHEME = 'io.cncf.notary.signingScheme';
const protectedHeader = (
  o: { alg?: number; crit?: CborIn[]; extra?: Array<[string | number, CborIn]>; drop?: Array<string | number> } = {},
) => {
  const m = new Map<string | number, CborIn>([
    [1, o.alg ?? -37],
    [2, o.crit ?? [SCHEME]],
    [3, 'application/vnd.cncf.notary.payload.v1+json'],
    [SCHEME, 'notary.x509'],
    ['io.cncf.notary.signingTime', tag(1, Math.floor(Date.parse('2026-11-30T10:00:00Z') / 1000))],
    ...(o.extra ?? []),
  ]);
  for (const k of o.drop ?? []) m.delete(k);
  return m;
};

interface CoseOptions {
  protected?: Map<string | number, CborIn>;
  payload?: Buffer;
  /** Bytes signed instead of the real Sig_structure (a tampered envelope). */
  signOver?: (toBeSigned: Buffer) => Buffer;
  unprotected?: Array<[string | number, CborIn]>;
  timestamp?: (signature: Buffer) => Buffer;
}

function cose(o: CoseOptions = {}): Buffer {
  const protectedBytes = cbor(o.protected ?? protectedHeader());
  const payload = o.payload ?? PAYLOAD();
  const toBeSigned = cbor(['Signature1', protectedBytes, Buffer.alloc(0), payload]);
  const signature = cryptoSign('sha256', o.signOver ? o.signOver(toBeSigned) : toBeSigned, {
    key: KEY,
    padding: constants.RSA_PKCS1_PSS_PADDING,
    saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
  });
  const unprotected = new Map<string | number, CborIn>([
    [33, [CERT_DER]],
    ['io.cncf.notary.signingAgent', 'countersign-test'],
    ...(o.unprotected ?? []),
  ]);
  if (o.timestamp) unprotected.set('io.cncf.notary.timestampSignature', o.timestamp(signature));
  return cbor(tag(18, [protectedBytes, unprotected, payload, signature]));
}

let repoCount = 0;
function attach(envelope: Buffer): string {
  const repository = `cose-${++repoCount}`;
  const image = readOciLayout(path.join(DATA, 'registry/oci_layout/e2e'));
  for (const b of image.blobs) fake.storeBlob(repository, b);
  for (const m of image.manifests) fake.storeManifest(repository, m.bytes, m.mediaType, m.tag);
  fake.storeBlob(repository, envelope);
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.OCI_MANIFEST,
    artifactType: 'application/vnd.cncf.notary.signature',
    config: EMPTY_DESCRIPTOR,
    layers: [
      { mediaType: 'application/cose', digest: `sha256:${createHash('sha256').update(envelope).digest('hex')}`, size: envelope.length },
    ],
    subject: { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest: IMAGE, size: 517 },
  };
  fake.storeManifest(repository, Buffer.from(JSON.stringify(manifest)), MEDIA_TYPE.OCI_MANIFEST);
  return repository;
}

async function decide(repository: string, p: ReturnType<typeof parsePolicy>): Promise<Decision> {
  const collector = new EvidenceCollector({ client, trust: staticTrust([]), legacy: false });
  const evidence = await collector.collect({ registry: fake.host, repository }, IMAGE);
  return evaluate(p, {
    image: {
      reference: `${fake.host}/${repository}@${IMAGE}`,
      registry: fake.host,
      repository,
      digest: IMAGE,
      mediaType: MEDIA_TYPE.OCI_MANIFEST,
    },
    action: 'deploy',
    context: {},
    evidence,
    now: NOW,
  });
}
const message = (d: Decision) => d.requirements.map((r) => r.message).join(' | ');

test('a COSE_Sign1 envelope signed with the e2e TEST key is admitted at strict, naming the signer; the evidence says COSE', async () => {
  const repo = attach(cose());
  const d = await decide(repo, trust());
  expect(d.allowed).toBe(true);
  expect(message(d)).toContain('Notation signer C=US, ST=WA, L=Seattle, O=Notary, CN=e2e');
  const collector = new EvidenceCollector({ client, trust: staticTrust([]), legacy: false });
  const [e] = await collector.collect({ registry: fake.host, repository: repo }, IMAGE);
  expect(e).toMatchObject({
    format: 'notation',
    notation: { envelope: 'cose', alg: 'PS256', signingScheme: 'notary.x509', signingTime: '2026-11-30T10:00:00.000Z' },
  });
});

test('under a trust policy naming another CA the COSE signature is present but not verified, and the deny says why', async () => {
  const d = await decide(attach(cose()), policy(`{ trustStore: [${store(path.join(KEYS, 'new_e2e.crt'))}], identities: ["*"] }`));
  expect(d.allowed).toBe(false);
  expect(message(d)).toMatch(
    /a Notary Project signature is present but is not verified: .*authenticity validation failed: the certificate chain of .*CN=e2e does not lead to a certificate of/,
  );
});

const attacks: Array<[string, CoseOptions, RegExp]> = [
  [
    'a payload naming another digest',
    { payload: PAYLOAD(`sha256:${'ab'.repeat(32)}`) },
    /the payload signs sha256:abab\w+, not this image/,
  ],
  [
    'a protected header altered after signing',
    { signOver: (tbs) => Buffer.concat([tbs, Buffer.from([0])]) },
    /the signature does not verify with the leaf certificate of x5chain/,
  ],
  ['alg ES256 for an RSA key', { protected: protectedHeader({ alg: -7 }) }, /alg ES256 does not match the leaf's key/],
  ['alg EdDSA (not a Notary algorithm)', { protected: protectedHeader({ alg: -8 }) }, /unsupported COSE alg -8/],
  ['no alg at all', { protected: protectedHeader({ drop: [1] }) }, /unsupported COSE alg null/],
  [
    'an expiry not listed in crit',
    { protected: protectedHeader({ extra: [['io.cncf.notary.expiry', tag(1, 4102444800)]] }) },
    /io\.cncf\.notary\.expiry must be listed in crit/,
  ],
  [
    'a crit list without the signing scheme',
    { protected: protectedHeader({ crit: ['io.cncf.notary.signingTime'] }) },
    /io\.cncf\.notary\.signingScheme must be listed in crit/,
  ],
  [
    'an unknown critical header',
    { protected: protectedHeader({ crit: [SCHEME, 'io.example.must-understand'], extra: [['io.example.must-understand', 'x']] }) },
    /crit names "io\.example\.must-understand", a critical header Countersign does not understand/,
  ],
  [
    'crit naming a header that is absent',
    { protected: protectedHeader({ crit: [SCHEME, 'io.cncf.notary.expiry'] }) },
    /crit names "io\.cncf\.notary\.expiry", which the protected header does not carry/,
  ],
  [
    'a signing time that is not a tag-1 date',
    { protected: protectedHeader({ extra: [['io.cncf.notary.signingTime', '2026-11-30T10:00:00Z']] }) },
    /signingTime is not a tag-1 epoch time/,
  ],
  [
    'a wrong content type',
    { protected: protectedHeader({ extra: [[3, 'application/json']] }) },
    /the protected content type is "application\/json"/,
  ],
];

test.each(attacks)('%s is an integrity failure at every level but skip', async (_name, o, why) => {
  const repo = attach(cose(o));
  for (const level of ['strict', 'audit']) {
    const d = await decide(repo, trust(level));
    expect({ level, allowed: d.allowed }).toEqual({ level, allowed: false });
    expect(message(d)).toMatch(/Notary Project signature is present but is not verified: .*integrity validation failed: /);
    expect(message(d)).toMatch(why);
  }
});

test('bytes that are not COSE (JSON in an application/cose layer, CBOR without tag 18, truncated CBOR) are integrity failures', async () => {
  const good = cose();
  for (const [bytes, why] of [
    [Buffer.from('{"payload":"x"}'), /not valid CBOR/],
    [cbor([Buffer.alloc(1), new Map(), Buffer.alloc(1), Buffer.alloc(1)]), /not a COSE_Sign1_Tagged message/],
    [good.subarray(0, good.length - 10), /not valid CBOR: truncated CBOR/],
  ] as Array<[Buffer, RegExp]>) {
    const d = await decide(attach(bytes), trust('audit'));
    expect(d.allowed).toBe(false);
    expect(message(d)).toMatch(why);
  }
});

test('an unknown non-critical protected header is ignored (RFC 9052), as notation does', async () => {
  expect((await decide(attach(cose({ protected: protectedHeader({ extra: [['io.example.note', 'hello']] }) })), trust())).allowed).toBe(
    true,
  );
});

test('a COSE signature with an RFC 3161 timestamp over its signature value: verified under a tsaTrustStore; over other bytes, denied', async () => {
  const ec = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const rootKeys = ec();
  const rootName: Array<[string, string]> = [
    ['C', 'US'],
    ['O', 'Countersign Test'],
    ['CN', 'COSE TSA Root'],
  ];
  const root = certificate({
    subject: rootName,
    publicKey: rootKeys.publicKey,
    key: rootKeys.privateKey,
    notBefore: new Date('2025-01-01T00:00:00Z'),
    notAfter: new Date('2035-01-01T00:00:00Z'),
    ca: true,
  });
  const tsaKeys = ec();
  const tsa = certificate({
    subject: [
      ['C', 'US'],
      ['O', 'Countersign Test'],
      ['CN', 'COSE TSA'],
    ],
    issuer: { name: rootName, key: rootKeys.privateKey },
    publicKey: tsaKeys.publicKey,
    notBefore: new Date('2025-01-01T00:00:00Z'),
    notAfter: new Date('2030-01-01T00:00:00Z'),
    eku: [OIDS.timeStamping],
  });
  writeFileSync(path.join(dir, 'cose-tsa-root.pem'), root.pem);
  const ts = (over: (sig: Buffer) => Buffer) => (sig: Buffer) =>
    timestampToken({
      imprinted: over(sig),
      tsaKey: tsaKeys.privateKey,
      tsaCert: tsa,
      tsaIssuerName: root.subjectName,
      genTime: new Date('2026-11-30T10:00:01Z'),
    });
  const withTsa = trust('strict', `, tsaTrustStore: [${store(path.join(dir, 'cose-tsa-root.pem'))}]`);
  expect((await decide(attach(cose({ timestamp: ts((s) => s) })), withTsa)).allowed).toBe(true);
  const wrong = await decide(attach(cose({ timestamp: ts((s) => Buffer.concat([s, s])) })), withTsa);
  expect(wrong.allowed).toBe(false);
  expect(message(wrong)).toMatch(
    /authenticTimestamp validation failed: the timestamp countersignature does not verify: the timestamp is over other bytes than this signature/,
  );
  // The same envelope without a timestamp fails under the TSA trust store (verification is on).
  expect(message(await decide(attach(cose()), withTsa))).toMatch(/no timestamp countersignature was found/);
});

test('every truncation and a flipped byte at every 3rd offset of a COSE envelope: never an exception, and only a change of unsigned text is still accepted', () => {
  const good = cose();
  const strict = trust().rules[0]!.require!.signatures!.notation!;
  const outcome = (b: Buffer): 'accepted' | 'rejected' | 'refused' => {
    try {
      return judgeNotation(strict, verifyCoseEnvelope(b, { digest: IMAGE }), undefined, NOW).accepted ? 'accepted' : 'rejected';
    } catch (err) {
      if (err instanceof NotationEnvelopeError) return 'refused';
      throw err;
    }
  };
  expect(outcome(good)).toBe('accepted');
  for (let n = 0; n < good.length; n += 11) expect(outcome(good.subarray(0, n))).toBe('refused');
  // The signing agent entry (key and value) is unprotected text: changing it changes nothing that is judged.
  const agentKey = good.indexOf(Buffer.from('io.cncf.notary.signingAgent')) - 1;
  const agentEnd = good.indexOf(Buffer.from('countersign-test')) + 16;
  const acceptedElsewhere: number[] = [];
  for (let i = 0; i < good.length; i += 3) {
    const flipped = Buffer.from(good);
    flipped[i] = flipped[i]! ^ 0x01;
    if (outcome(flipped) === 'accepted' && !(i >= agentKey && i < agentEnd)) acceptedElsewhere.push(i);
  }
  expect(acceptedElsewhere).toEqual([]);
});
