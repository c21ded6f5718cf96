/**
 * RFC 3161 timestamp countersignatures of Notary signatures (issue 10, item 4): a valid trusted
 * timestamp makes an expired signing certificate acceptable at strict (the signature is judged at
 * the timestamp's time); a missing, malformed or untrusted one is an authenticTimestamp failure
 * whenever the trust policy names a TSA trust store. The PKI (CA, signer, TSA root and TSA) is
 * built here with node:crypto and test/support/der-writer.ts, so every attack differs from the
 * accepted case in one field. Plus notation's own timestamped layouts (shared/vectors/notation).
 */
import { createHash, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parsePolicy } from '../../../../src/policy';
import { judgeNotation, type NotationFacts, type NotationTrust } from '../../../../src/policy/notation-trust';
import { MEDIA_TYPE } from '../../../../src/registry/types';
import { verifyJwsEnvelope } from '../../../../src/verification/notation/envelope';
import { verifyTimestampBytes } from '../../../../src/verification/notation/timestamp';
import {
  certificate,
  extension,
  int,
  OIDS,
  seq,
  timestampToken,
  tlv,
  type BuiltCert,
  type TimestampOptions,
} from '../../../support/der-writer';

const IMAGE = `sha256:${'5e'.repeat(32)}`;
const NOW = new Date('2026-12-01T00:00:00Z');
const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-tsa-'));
const ec = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const d = (s: string) => new Date(s);

// Signing PKI: a CA and a leaf that expired on 2026-02-01 (signed 2026-01-15).
const caKeys = ec();
const CA_NAME: Array<[string, string]> = [
  ['C', 'US'],
  ['ST', 'WA'],
  ['O', 'Countersign Test'],
  ['CN', 'Signing CA'],
];
const ca = certificate({
  subject: CA_NAME,
  publicKey: caKeys.publicKey,
  key: caKeys.privateKey,
  notBefore: d('2025-01-01T00:00:00Z'),
  notAfter: d('2030-01-01T00:00:00Z'),
  ca: true,
});
const leafKeys = ec();
const LEAF_NAME: Array<[string, string]> = [
  ['C', 'US'],
  ['ST', 'WA'],
  ['O', 'Countersign Test'],
  ['CN', 'release'],
];
const leaf = certificate({
  subject: LEAF_NAME,
  issuer: { name: CA_NAME, key: caKeys.privateKey },
  publicKey: leafKeys.publicKey,
  notBefore: d('2026-01-01T00:00:00Z'),
  notAfter: d('2026-02-01T00:00:00Z'),
  eku: [OIDS.codeSigning],
});

// Timestamping PKI: a TSA root and its timestamping certificate (and a few wrong ones).
const tsaRootKeys = ec();
const TSA_ROOT_NAME: Array<[string, string]> = [
  ['C', 'US'],
  ['O', 'Countersign Test'],
  ['CN', 'TSA Root'],
];
const tsaRoot = certificate({
  subject: TSA_ROOT_NAME,
  publicKey: tsaRootKeys.publicKey,
  key: tsaRootKeys.privateKey,
  notBefore: d('2025-01-01T00:00:00Z'),
  notAfter: d('2035-01-01T00:00:00Z'),
  ca: true,
});
const tsaKeys = ec();
const tsaCert = (
  name: string,
  o: { eku?: string[]; ekuCritical?: boolean; notAfter?: string; crl?: string; keyUsage?: number | null } = {},
) =>
  certificate({
    subject: [
      ['C', 'US'],
      ['O', 'Countersign Test'],
      ['CN', name],
    ],
    issuer: { name: TSA_ROOT_NAME, key: tsaRootKeys.privateKey },
    publicKey: tsaKeys.publicKey,
    notBefore: d('2025-06-01T00:00:00Z'),
    notAfter: d(o.notAfter ?? '2028-01-01T00:00:00Z'),
    eku: o.eku ?? [OIDS.timeStamping],
    ...(o.ekuCritical !== undefined ? { ekuCritical: o.ekuCritical } : {}),
    ...(o.crl ? { crl: o.crl } : {}),
    ...(o.keyUsage !== undefined ? { keyUsage: o.keyUsage } : {}),
  });
const tsa = tsaCert('TSA');
const otherRootKeys = ec();
const otherRoot = certificate({
  subject: [
    ['C', 'US'],
    ['O', 'Elsewhere'],
    ['CN', 'Other TSA Root'],
  ],
  publicKey: otherRootKeys.publicKey,
  key: otherRootKeys.privateKey,
  notBefore: d('2025-01-01T00:00:00Z'),
  notAfter: d('2035-01-01T00:00:00Z'),
  ca: true,
});

const write = (file: string, text: string) => {
  writeFileSync(path.join(dir, file), text);
  return JSON.stringify(path.join(dir, file));
};
const files = {
  ca: write('ca.pem', ca.pem),
  tsaRoot: write('tsa-root.pem', tsaRoot.pem),
  otherRoot: write('other-root.pem', otherRoot.pem),
};

function trust(o: { level?: string; tsa?: string | null; store?: string } = {}): NotationTrust {
  const tsaField = o.tsa === null ? '' : `, tsaTrustStore: [${o.tsa ?? files.tsaRoot}]`;
  const text = `rules:\n  - name: n\n    require:\n      signatures: { notation: { trustStore: [${o.store ?? files.ca}]${tsaField}, identities: ["*"], level: ${o.level ?? 'strict'} } }\n`;
  const file = path.join(dir, `policy-${createHash('sha256').update(text).digest('hex').slice(0, 8)}.yaml`);
  writeFileSync(file, text);
  return parsePolicy(text, file).rules[0]!.require!.signatures!.notation!;
}

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const HEADER = {
  alg: 'ES256',
  crit: ['io.cncf.notary.signingScheme'],
  cty: 'application/vnd.cncf.notary.payload.v1+json',
  'io.cncf.notary.signingScheme': 'notary.x509',
  'io.cncf.notary.signingTime': '2026-01-15T00:00:00Z',
};
const PAYLOAD = { targetArtifact: { digest: IMAGE, mediaType: MEDIA_TYPE.OCI_MANIFEST, size: 100 } };

/** A JWS by the (now expired) leaf, with a timestamp countersignature built by `ts` from its signature. */
function envelope(ts?: (signature: Buffer) => unknown): Buffer {
  const protectedB64 = b64url(HEADER);
  const payloadB64 = b64url(PAYLOAD);
  const signature = cryptoSign('sha256', Buffer.from(`${protectedB64}.${payloadB64}`), {
    key: leafKeys.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  const header: Record<string, unknown> = { x5c: [leaf.der.toString('base64'), ca.der.toString('base64')] };
  if (ts) header['io.cncf.notary.timestampSignature'] = ts(signature);
  return Buffer.from(JSON.stringify({ payload: payloadB64, protected: protectedB64, header, signature: signature.toString('base64url') }));
}

function token(signature: Buffer, o: Partial<TimestampOptions> & { cert?: BuiltCert; key?: KeyObject } = {}): string {
  const { cert, key, ...rest } = o;
  return timestampToken({
    imprinted: signature,
    tsaKey: key ?? tsaKeys.privateKey,
    tsaCert: cert ?? tsa,
    tsaIssuerName: tsaRoot.subjectName,
    genTime: d('2026-01-15T00:00:05Z'),
    ...rest,
  }).toString('base64');
}

const facts = (bytes: Buffer): NotationFacts => verifyJwsEnvelope(bytes, { digest: IMAGE });
const judge = (t: NotationTrust, bytes: Buffer, now = NOW) => judgeNotation(t, facts(bytes), undefined, now);

test('the accepted case: a trusted timestamp makes a signature whose certificate has expired since acceptable at strict', () => {
  const f = facts(envelope((sig) => token(sig)));
  expect(f.timestamp).toMatchObject({
    verified: true,
    genTime: '2026-01-15T00:00:05.000Z',
    tsaSubject: 'C=US\nO=Countersign Test\nCN=TSA',
  });
  expect(judgeNotation(trust(), f, undefined, NOW)).toEqual({ accepted: true, logged: [] });
});

test('a TSA certificate whose key usage is nonRepudiation (content commitment) alone, or with digitalSignature, is a timestamping certificate', () => {
  for (const keyUsage of [0x40, 0xc0]) {
    const f = facts(envelope((sig) => token(sig, { cert: tsaCert(`TSA ku ${keyUsage}`, { keyUsage }) })));
    expect(f.timestamp).toMatchObject({ verified: true });
    expect(judgeNotation(trust(), f, undefined, NOW)).toEqual({ accepted: true, logged: [] });
  }
});

test('without a TSA trust store the timestamp is not used: the expired certificate fails at strict', () => {
  const j = judge(
    trust({ tsa: null }),
    envelope((sig) => token(sig)),
  );
  expect(j.accepted).toBe(false);
  expect(j.reason).toMatch(
    /^authenticTimestamp validation failed: certificate .*CN=release is not valid now .*its RFC 3161 timestamp is not used: the trust policy names no TSA trust store/,
  );
});

test('with a TSA trust store a timestamp is required: an untimestamped signature fails even though its certificate is valid then', () => {
  const j = judge(trust(), envelope(), d('2026-01-20T00:00:00Z'));
  expect(j.accepted).toBe(false);
  expect(j.reason).toMatch(
    /^authenticTimestamp validation failed: no timestamp countersignature was found in the signature envelope, and TSA trust store .*tsa-root\.pem requires one/,
  );
});

const attacks: Array<[string, (sig: Buffer) => unknown, RegExp]> = [
  [
    'a timestamp over different bytes',
    (sig) => token(Buffer.concat([sig, Buffer.from([0])])),
    /the timestamp is over other bytes than this signature/,
  ],
  [
    'a TSA certificate without the timeStamping EKU',
    (sig) => token(sig, { cert: tsaCert('Code signer', { eku: [OIDS.codeSigning] }) }),
    /is not a timestamping certificate \(extended key usage 1\.3\.6\.1\.5\.5\.7\.3\.3/,
  ],
  [
    'a TSA certificate whose EKU is not critical',
    (sig) => token(sig, { cert: tsaCert('Lax TSA', { ekuCritical: false }) }),
    /non-critical extended key usage/,
  ],
  [
    'a TSA certificate without a key usage extension',
    (sig) => token(sig, { cert: tsaCert('Unbounded TSA', { keyUsage: null }) }),
    /the TSA certificate .*CN=Unbounded TSA has no key usage; digitalSignature or nonRepudiation is required/,
  ],
  [
    'a TSA certificate whose key usage is keyCertSign only',
    (sig) => token(sig, { cert: tsaCert('CA-ish TSA', { keyUsage: 0x04 }) }),
    /the TSA certificate .*CN=CA-ish TSA key usage has neither digitalSignature nor nonRepudiation/,
  ],
  [
    'a TSA certificate whose key usage is keyEncipherment only',
    (sig) => token(sig, { cert: tsaCert('Encrypting TSA', { keyUsage: 0x20 }) }),
    /CN=Encrypting TSA key usage has neither digitalSignature nor nonRepudiation/,
  ],
  [
    'a timestamp outside the TSA certificate validity',
    (sig) => token(sig, { cert: tsaCert('Old TSA', { notAfter: '2026-01-10T00:00:00Z' }) }),
    /TSA certificate .*CN=Old TSA .* was not valid at the timestamp 2026-01-15T00:00:05/,
  ],
  [
    'a genTime outside the signing certificate validity',
    (sig) => token(sig, { genTime: d('2026-03-01T00:00:00Z') }),
    /the timestamp 2026-03-01T00:00:00\.000Z is not within the validity of certificate .*CN=release/,
  ],
  [
    'an accuracy that reaches past the signing certificate expiry',
    (sig) => token(sig, { genTime: d('2026-01-31T23:59:00Z'), accuracySeconds: 120 }),
    /\(±120000 ms\) is not within the validity/,
  ],
  [
    'a TSTInfo altered after signing',
    (sig) => token(sig, { alterTstInfoAfterSigning: true }),
    /the signed message digest does not match the TSTInfo/,
  ],
  [
    'a token signed by another key than its TSA certificate',
    (sig) => token(sig, { key: ec().privateKey }),
    /the timestamp signature does not verify with the TSA certificate/,
  ],
  ['no ESS signing-certificate attribute', (sig) => token(sig, { omitSigningCertificate: true }), /no signing-certificate attribute/],
  ['a malformed token', () => Buffer.from('invalid\n').toString('base64'), /the timestamp token is malformed/],
  ['a countersignature that is not a string', () => 42, /header is not a base64 string/],
  [
    'a revocable TSA certificate (status unknown offline)',
    (sig) => token(sig, { cert: tsaCert('CRL TSA', { crl: 'http://crl.example/tsa.crl' }) }),
    /TSA chain cannot be trusted offline: certificate .*CN=CRL TSA names a CRL distribution point/,
  ],
];

test.each(attacks)('%s: authenticTimestamp fails at strict, and is only logged at permissive', (_name, ts, why) => {
  const bytes = envelope(ts);
  const strict = judge(trust(), bytes);
  expect(strict.accepted).toBe(false);
  expect(strict.reason).toMatch(/^authenticTimestamp validation failed: /);
  expect(strict.reason).toMatch(why);
  const permissive = judge(trust({ level: 'permissive' }), bytes);
  expect(permissive.accepted).toBe(true);
  expect(permissive.logged.join('\n')).toMatch(why);
});

test('a TSA that is not in the TSA trust store fails authenticTimestamp', () => {
  const j = judge(
    trust({ tsa: files.otherRoot }),
    envelope((sig) => token(sig)),
  );
  expect(j.accepted).toBe(false);
  expect(j.reason).toMatch(
    /the timestamp's TSA certificate C=US, O=Countersign Test, CN=TSA does not lead to a certificate of TSA trust store .*other-root\.pem/,
  );
});

test('the signing CA as TSA trust store does not make the signer a TSA (the chains are separate)', () => {
  const j = judge(
    trust({ tsa: files.ca }),
    envelope((sig) => token(sig)),
  );
  expect(j.accepted).toBe(false);
  expect(j.reason).toMatch(/does not lead to a certificate of TSA trust store/);
});

test('a tsaTrustStore that cannot be read is a policy error naming the field', () => {
  expect(() => trust({ tsa: JSON.stringify(path.join(dir, 'missing.pem')) })).toThrow(
    /signatures\.notation\.tsaTrustStore\[0\]: cannot read .*missing\.pem/,
  );
});

// -------------------------------------------------------------------------------------------------
// notation's timestamped layouts (INDEX.md §4): a real Microsoft TSA token

const LAYOUTS = path.resolve(__dirname, '../../../../../shared/vectors/notation/test/e2e/testdata/registry/oci_layout');

function layoutEnvelope(name: string): { bytes: Buffer; subject: string } {
  const blobs = path.join(LAYOUTS, name, 'blobs/sha256');
  const index = JSON.parse(readFileSync(path.join(LAYOUTS, name, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  for (const m of index.manifests) {
    const manifest = JSON.parse(readFileSync(path.join(blobs, m.digest.slice(7)), 'utf8')) as {
      subject?: { digest: string };
      layers: Array<{ digest: string }>;
    };
    if (manifest.subject)
      return { bytes: readFileSync(path.join(blobs, manifest.layers[0]!.digest.slice(7))), subject: manifest.subject.digest };
  }
  throw new Error(`no signature in ${name}`);
}

test('e2e-with-timestamped-signature: the Microsoft TSA token verifies over the JWS signature bytes (our imprint agrees with notation)', () => {
  const { bytes, subject } = layoutEnvelope('e2e-with-timestamped-signature');
  const f = verifyJwsEnvelope(bytes, { digest: subject });
  expect(f.timestamp).toMatchObject({ verified: true, genTime: '2025-01-21T09:17:46.641Z', accuracyMs: 500 });
  expect(f.timestamp!.verified && f.timestamp!.tsaSubject).toContain('CN=Microsoft Public RSA Time Stamping Authority');
  expect(f.timestamp!.verified && f.timestamp!.certificates).toHaveLength(2);

  // Trusting testcert7 and (the root not being included) the Microsoft timestamping CA: before the
  // signature's expiry, the chain is anchored, but the TSA certificate names a CRL distribution
  // point, so offline its status is unknown: strict denies, permissive admits with a warning.
  const env = JSON.parse(bytes.toString()) as { header: { x5c: string[] } };
  const testcert7 = write('testcert7.pem', `-----BEGIN CERTIFICATE-----\n${env.header.x5c[0]!}\n-----END CERTIFICATE-----\n`);
  const msCa = write(
    'ms-tsa-ca.pem',
    `-----BEGIN CERTIFICATE-----\n${(f.timestamp as { certificates: string[] }).certificates[1]!}\n-----END CERTIFICATE-----\n`,
  );
  const at = d('2025-01-21T10:00:00Z');
  const strict = judgeNotation(trust({ store: testcert7, tsa: msCa }), f, undefined, at);
  expect(strict.accepted).toBe(false);
  expect(strict.reason).toMatch(
    /authenticTimestamp validation failed: the timestamp's TSA chain cannot be trusted offline: certificate .*Microsoft Public RSA Time Stamping Authority names a CRL distribution point/,
  );
  const permissive = judgeNotation(trust({ store: testcert7, tsa: msCa, level: 'permissive' }), f, undefined, at);
  expect(permissive.accepted).toBe(true);
  // Another TSA store: the Microsoft TSA does not lead to it.
  const other = judgeNotation(trust({ store: testcert7, tsa: files.tsaRoot }), f, undefined, at);
  expect(other.reason).toMatch(/Microsoft Public RSA Time Stamping Authority does not lead to a certificate of TSA trust store/);
});

test('e2e-with-invalid-timestamped-signature: the malformed token is reported, and rejects whenever timestamp verification is required', () => {
  const { bytes, subject } = layoutEnvelope('e2e-with-invalid-timestamped-signature');
  const f = verifyJwsEnvelope(bytes, { digest: subject });
  expect(f.timestamp).toEqual({ verified: false, reason: expect.stringMatching(/^the timestamp token is malformed/) as unknown });
  const env = JSON.parse(bytes.toString()) as { header: { x5c: string[] } };
  const signer = write('invalid-ts-signer.pem', `-----BEGIN CERTIFICATE-----\n${env.header.x5c[0]!}\n-----END CERTIFICATE-----\n`);
  const j = judgeNotation(trust({ store: signer }), f, undefined, d('2025-01-21T10:00:00Z'));
  expect(j.accepted).toBe(false);
  expect(j.reason).toMatch(
    /authenticTimestamp validation failed: the timestamp countersignature does not verify: the timestamp token is malformed/,
  );
});

// -------------------------------------------------------------------------------------------------
// Hostile tokens: the verifier returns a reason, never throws, and never verifies altered signed bytes

test('every truncation and a flipped byte at every 5th offset of the Microsoft token: never an exception; the TSTInfo and the signed attributes never verify altered', () => {
  const { bytes, subject } = layoutEnvelope('e2e-with-timestamped-signature');
  const env = JSON.parse(bytes.toString()) as { header: Record<string, string>; signature: string };
  const token = Buffer.from(env.header['io.cncf.notary.timestampSignature']!, 'base64');
  const signature = Buffer.from(env.signature, 'base64url');
  expect(verifyJwsEnvelope(bytes, { digest: subject }).timestamp).toMatchObject({ verified: true });
  // The TSTInfo is the eContent octets (offset 64, 354 bytes: openssl asn1parse of the token).
  const tstInfo = token.indexOf(Buffer.from('3082015e020101', 'hex'));
  expect(tstInfo).toBeGreaterThan(0);
  let verifiedAltered = 0;
  for (let i = 0; i < token.length; i += 5) {
    const flipped = Buffer.from(token);
    flipped[i] = flipped[i]! ^ 0x01;
    const r = verifyTimestampBytes(flipped, signature);
    expect(typeof r.verified).toBe('boolean');
    if (r.verified && i >= tstInfo && i < tstInfo + 354) verifiedAltered++;
  }
  expect(verifiedAltered).toBe(0);
  for (let n = 0; n < token.length; n += 7) expect(verifyTimestampBytes(token.subarray(0, n), signature).verified).toBe(false);
});

// -------------------------------------------------------------------------------------------------
// verifyTimestamp: afterCertExpiry (notation's trust-policy option)

test('verifyTimestamp afterCertExpiry: a timestamp is required only once a certificate has expired', () => {
  const afterExpiry = (): NotationTrust => {
    const text = `rules:\n  - name: n\n    require:\n      signatures: { notation: { trustStore: [${files.ca}], tsaTrustStore: [${files.tsaRoot}], verifyTimestamp: afterCertExpiry, identities: ["*"] } }\n`;
    const file = path.join(dir, 'policy-after-expiry.yaml');
    writeFileSync(file, text);
    return parsePolicy(text, file).rules[0]!.require!.signatures!.notation!;
  };
  const whileValid = d('2026-01-20T00:00:00Z');
  // Certificates still valid: no timestamp needed (with "always", the default, one is).
  expect(judge(afterExpiry(), envelope(), whileValid)).toEqual({ accepted: true, logged: [] });
  expect(judge(trust(), envelope(), whileValid).accepted).toBe(false);
  // Expired since: the timestamp is required and used.
  expect(
    judge(
      afterExpiry(),
      envelope((sig) => token(sig)),
    ).accepted,
  ).toBe(true);
  expect(judge(afterExpiry(), envelope()).reason).toMatch(/no timestamp countersignature was found/);
  expect(
    judge(
      afterExpiry(),
      envelope((sig) => token(Buffer.concat([sig, sig]))),
    ).reason,
  ).toMatch(/over other bytes/);
});

test('verifyTimestamp must be always or afterCertExpiry', () => {
  const text = `rules:\n  - name: n\n    require:\n      signatures: { notation: { trustStore: [${files.ca}], verifyTimestamp: sometimes, identities: ["*"] } }\n`;
  expect(() => parsePolicy(text, path.join(dir, 'bad-verify-timestamp.yaml'))).toThrow(
    /signatures\.notation\.verifyTimestamp: is "sometimes"; use always or afterCertExpiry/,
  );
});

// -------------------------------------------------------------------------------------------------
// Red team: the TSA signs what it signs, but a token is still hostile input (issue 10)

describe('timestamp attacks', () => {
  const genTimeText = (text: string) => tlv(0x18, Buffer.from(text, 'latin1'));
  const judged = (o: Partial<TimestampOptions> & { cert?: BuiltCert }, now = NOW) =>
    judge(
      trust(),
      envelope((sig) => token(sig, o)),
      now,
    );

  test('a huge accuracy (2^46 s) does not turn the validity window into an invalid Date that passes every comparison', () => {
    // genTime after the leaf expired: only an accuracy that makes the window NaN could let it pass.
    const j = judged({ genTime: d('2026-06-01T00:00:00Z'), accuracy: seq(int(2 ** 46)) });
    expect(j.accepted).toBe(false);
    expect(j.reason).toMatch(/accuracy\.seconds is 70368744177664, outside 0\.\.86400/);
  });

  test('accuracy millis and micros outside 1..999 are malformed tokens (RFC 3161 §2.4.2)', () => {
    expect(judged({ accuracy: seq(tlv(0x80, Buffer.from([0x03, 0xe8]))) }).reason).toMatch(/accuracy\.millis is 1000, outside 1\.\.999/);
    expect(judged({ accuracy: seq(tlv(0x81, Buffer.from([0x00]))) }).reason).toMatch(/accuracy\.micros is 0, outside 1\.\.999/);
    // In range, it widens the window as it should: ±1 day reaches past the leaf's expiry.
    expect(judged({ genTime: d('2026-01-31T12:00:00Z'), accuracy: seq(int(86_400)) }).reason).toMatch(
      /±86400000 ms\) is not within the validity of certificate/,
    );
  });

  test.each([
    ['month 13', '20261315000005Z'],
    ['day 32', '20260132000005Z'],
    ['hour 24', '20260115240005Z'],
  ])('a genTime with %s is not a time (no second spelling of another time)', (_name, text) => {
    const f = facts(envelope((sig) => token(sig, { genTimeRaw: genTimeText(text) })));
    expect(f.timestamp).toMatchObject({
      verified: false,
      reason: expect.stringMatching(/TSTInfo\.genTime is not a valid time/) as unknown,
    });
  });

  test('a genTime in year 0026 is year 26, not 1926 (Date.UTC reads years 0..99 as 19xx)', () => {
    const f = facts(envelope((sig) => token(sig, { genTimeRaw: genTimeText('00260115000005Z') })));
    expect(f.timestamp).toMatchObject({ verified: true, genTime: '0026-01-15T00:00:05.000Z' });
  });

  test('a genTime in the future (beyond its accuracy) fails authenticTimestamp', () => {
    const j = judged({ genTime: d('2027-01-01T00:00:00Z') }, d('2026-01-20T00:00:00Z'));
    expect(j.accepted).toBe(false);
    expect(j.reason).toMatch(/the timestamp 2027-01-01T00:00:00\.000Z is in the future/);
  });

  test('a critical TSTInfo extension is not understood: the token does not verify; a non-critical one is ignored', () => {
    const critical = facts(envelope((sig) => token(sig, { tstExtensions: [extension('1.2.3.4.9', true, seq())] })));
    expect(critical.timestamp).toMatchObject({
      verified: false,
      reason: expect.stringMatching(/critical extension 1\.2\.3\.4\.9/) as unknown,
    });
    expect(judged({ tstExtensions: [extension('1.2.3.4.9', false, seq())] }).accepted).toBe(true);
  });

  test('a TSA certificate with an unknown critical extension does not verify', () => {
    const odd = certificate({
      subject: [
        ['C', 'US'],
        ['O', 'Countersign Test'],
        ['CN', 'odd TSA'],
      ],
      issuer: { name: TSA_ROOT_NAME, key: tsaRootKeys.privateKey },
      publicKey: tsaKeys.publicKey,
      notBefore: d('2025-06-01T00:00:00Z'),
      notAfter: d('2028-01-01T00:00:00Z'),
      eku: [OIDS.timeStamping],
      extensions: [extension('1.2.3.4.10', true, seq())],
    });
    const j = judged({ cert: odd });
    expect(j.accepted).toBe(false);
    expect(j.reason).toMatch(/the TSA certificate .*odd TSA has the critical extension 1\.2\.3\.4\.10/);
  });

  test('a TSA chain through an intermediate that is not a CA does not lead to the TSA root', () => {
    const midKeys = ec();
    const MID: Array<[string, string]> = [
      ['C', 'US'],
      ['O', 'Countersign Test'],
      ['CN', 'not a CA'],
    ];
    const mid = certificate({
      subject: MID,
      issuer: { name: TSA_ROOT_NAME, key: tsaRootKeys.privateKey },
      publicKey: midKeys.publicKey,
      notBefore: d('2025-06-01T00:00:00Z'),
      notAfter: d('2028-01-01T00:00:00Z'),
    });
    const under = certificate({
      subject: [
        ['C', 'US'],
        ['O', 'Countersign Test'],
        ['CN', 'TSA under a leaf'],
      ],
      issuer: { name: MID, key: midKeys.privateKey },
      publicKey: tsaKeys.publicKey,
      notBefore: d('2025-06-01T00:00:00Z'),
      notAfter: d('2028-01-01T00:00:00Z'),
      eku: [OIDS.timeStamping],
    });
    const j = judge(
      trust(),
      envelope((sig) =>
        timestampToken({
          imprinted: sig,
          tsaKey: tsaKeys.privateKey,
          tsaCert: under,
          tsaIssuerName: mid.subjectName,
          extraCerts: [mid.der],
          genTime: d('2026-01-15T00:00:05Z'),
        }).toString('base64'),
      ),
    );
    expect(j.accepted).toBe(false);
    expect(j.reason).toMatch(/TSA certificate .*TSA under a leaf does not lead to a certificate of/);
  });

  test('a token for another message (the imprint of another signature) does not verify', () => {
    const other = envelope();
    const otherSig = Buffer.from((JSON.parse(other.toString()) as { signature: string }).signature, 'base64url');
    const j = judge(
      trust(),
      envelope(() => token(Buffer.concat([otherSig, Buffer.from('x')]))),
    );
    expect(j.reason).toMatch(/the timestamp is over other bytes than this signature/);
  });
});
