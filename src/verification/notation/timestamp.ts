/**
 * RFC 3161 timestamp countersignatures of Notary signatures (`io.cncf.notary.timestampSignature`,
 * the DER TimeStampToken: a CMS SignedData whose content is a TSTInfo). The Notary signature
 * specification timestamps the *signature value*: the TSTInfo's message imprint is the hash of the
 * raw signature bytes (the decoded JWS `signature`, the COSE_Sign1 signature), hashed with the
 * algorithm the token names (SHA-256/384/512).
 *
 * Checked here, independently of trust (so the result is cached with the envelope): the token's
 * structure, the imprint over this signature, the CMS signature over the signed attributes with the
 * TSA certificate that the ESS signing-certificate attribute names, the signed content type and
 * message digest of the TSTInfo, and that the TSA certificate is a timestamping certificate (its
 * extended key usage is exactly id-kp-timeStamping and critical, RFC 3161 §2.3). Whether the TSA
 * chains to a trusted TSA root, and what the time means for the signing certificate, is the trust
 * policy's judgement (src/policy/notation-trust.ts). Any problem is a reason, never an exception:
 * the token is hostile input.
 */
import { createHash, verify as cryptoVerify, X509Certificate } from 'node:crypto';
import { oneLine as oneLineDn, type NotationTimestamp } from '../../policy/notation-trust';
import { children, ctx, ctxPrimitive, DerError, expect, generalizedTime, oid, parseDer, smallInt, TAG, type Der } from '../../formats/der';
import { certificateFields, CertificateRequirementError, EXT, keyUsage, KU, unknownCriticalExtension } from '../../formats/x509';

const OID = {
  SIGNED_DATA: '1.2.840.113549.1.7.2',
  TST_INFO: '1.2.840.113549.1.9.16.1.4',
  CONTENT_TYPE: '1.2.840.113549.1.9.3',
  MESSAGE_DIGEST: '1.2.840.113549.1.9.4',
  SIGNING_CERTIFICATE: '1.2.840.113549.1.9.16.2.12',
  SIGNING_CERTIFICATE_V2: '1.2.840.113549.1.9.16.2.47',
  TIME_STAMPING: '1.3.6.1.5.5.7.3.8',
} as const;

const HASHES: Record<string, string> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
const ESS_V1_HASH = 'sha1';

/** Signature algorithms of the SignerInfo: RSA PKCS #1 v1.5 (with the SignerInfo's digest) or ECDSA. */
const SIGNATURE_ALGORITHMS: Record<string, { key: 'rsa' | 'ec'; hash?: string }> = {
  '1.2.840.113549.1.1.1': { key: 'rsa' },
  '1.2.840.113549.1.1.11': { key: 'rsa', hash: 'sha256' },
  '1.2.840.113549.1.1.12': { key: 'rsa', hash: 'sha384' },
  '1.2.840.113549.1.1.13': { key: 'rsa', hash: 'sha512' },
  '1.2.840.10045.4.3.2': { key: 'ec', hash: 'sha256' },
  '1.2.840.10045.4.3.3': { key: 'ec', hash: 'sha384' },
  '1.2.840.10045.4.3.4': { key: 'ec', hash: 'sha512' },
};

/** A token is a few kilobytes (the Microsoft TSA's, with two certificates, is 6 KB). */
const MAX_TOKEN_BYTES = 64 * 1024;
const MAX_CERTIFICATES = 10;

class TimestampError extends Error {}

const MAX_ACCURACY_SECONDS = 86_400;

function bounded(n: number, min: number, max: number, what: string): number {
  if (n < min || n > max) throw new TimestampError(`TSTInfo ${what} is ${n}, outside ${min}..${max}`);
  return n;
}

/**
 * Verifies the countersignature `tokenBase64` over `signature` (the raw bytes of the signature it
 * timestamps). Never throws.
 */
export function verifyTimestampToken(tokenBase64: string, signature: Buffer): NotationTimestamp {
  try {
    return verifyToken(decodeToken(tokenBase64), signature);
  } catch (err) {
    return failure(err);
  }
}

/** The same for a token given as bytes (COSE carries it as a byte string). */
export function verifyTimestampBytes(token: Buffer, signature: Buffer): NotationTimestamp {
  try {
    if (token.length === 0) throw new TimestampError('the timestamp token is empty');
    if (token.length > MAX_TOKEN_BYTES) throw new TimestampError(`the timestamp token is larger than ${MAX_TOKEN_BYTES} bytes`);
    return verifyToken(token, signature);
  } catch (err) {
    return failure(err);
  }
}

function failure(err: unknown): NotationTimestamp {
  if (err instanceof TimestampError || err instanceof CertificateRequirementError) return { verified: false, reason: err.message };
  return { verified: false, reason: `the timestamp token is malformed: ${(err as Error).message}` };
}

function decodeToken(text: string): Buffer {
  if (text.length > (MAX_TOKEN_BYTES * 4) / 3 + 4) throw new TimestampError(`the timestamp token is larger than ${MAX_TOKEN_BYTES} bytes`);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw new TimestampError('the timestamp token is not base64');
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length === 0) throw new TimestampError('the timestamp token is empty');
  return bytes;
}

function verifyToken(bytes: Buffer, signature: Buffer): NotationTimestamp {
  // ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT SignedData }
  const contentInfo = children(expect(parseDer(bytes), TAG.SEQUENCE, 'ContentInfo'));
  if (oid(contentInfo[0], 'ContentInfo.contentType') !== OID.SIGNED_DATA)
    throw new TimestampError('the timestamp token is not CMS SignedData');
  const signedData = children(expect(children(expect(contentInfo[1], ctx(0), 'ContentInfo.content'))[0], TAG.SEQUENCE, 'SignedData'));
  // SignedData ::= SEQUENCE { version, digestAlgorithms SET, encapContentInfo, [0] certificates, [1] crls, signerInfos SET }
  expect(signedData[1], TAG.SET, 'SignedData.digestAlgorithms');
  const encap = children(expect(signedData[2], TAG.SEQUENCE, 'EncapsulatedContentInfo'));
  if (oid(encap[0], 'eContentType') !== OID.TST_INFO) throw new TimestampError('the timestamp token does not encapsulate a TSTInfo');
  const tstBytes = expect(children(expect(encap[1], ctx(0), 'eContent'))[0], TAG.OCTET_STRING, 'eContent').content;
  const rest = signedData.slice(3);
  const certificatesEl = rest.find((e) => e.tag === ctx(0));
  const signerInfos = children(expect(rest.at(-1), TAG.SET, 'SignedData.signerInfos'));
  if (signerInfos.length !== 1)
    throw new TimestampError(`the timestamp token has ${signerInfos.length} signers; a TSA token has exactly one`);

  const tst = readTstInfo(tstBytes);
  const hash = HASHES[tst.imprintAlgorithm];
  if (!hash)
    throw new TimestampError(`the timestamp's message imprint uses hash ${tst.imprintAlgorithm}; SHA-256, SHA-384 or SHA-512 is required`);
  if (!createHash(hash).update(signature).digest().equals(tst.imprint)) {
    throw new TimestampError(
      'the timestamp is over other bytes than this signature (its message imprint is not the hash of the signature value)',
    );
  }

  const certificates = certificatesEl ? children(certificatesEl) : [];
  if (certificates.length > MAX_CERTIFICATES)
    throw new TimestampError(`the timestamp token carries ${certificates.length} certificates; at most ${MAX_CERTIFICATES} are read`);
  const parsed = certificates.map((c, i) => {
    if (c.tag !== TAG.SEQUENCE) throw new TimestampError(`certificate ${i + 1} of the timestamp token is not an X.509 certificate`);
    try {
      const cert = new X509Certificate(c.raw);
      // An undecodable key would otherwise throw only when used: read it now.
      if (cert.publicKey.type !== 'public') throw new TimestampError(`certificate ${i + 1} of the timestamp token has no public key`);
      return cert;
    } catch {
      throw new TimestampError(`certificate ${i + 1} of the timestamp token does not parse`);
    }
  });

  const signer = verifySignerInfo(signerInfos[0]!, tstBytes, parsed);
  return {
    verified: true,
    genTime: tst.genTime.toISOString(),
    accuracyMs: tst.accuracyMs,
    tsaSubject: signer.subject,
    certificates: [signer, ...parsed.filter((c) => c !== signer)].map((c) => c.raw.toString('base64')),
  };
}

interface TstInfo {
  imprintAlgorithm: string;
  imprint: Buffer;
  genTime: Date;
  accuracyMs: number;
}

/** TSTInfo ::= SEQUENCE { version 1, policy, messageImprint, serialNumber, genTime, accuracy?, ordering?, nonce?, tsa [0]?, extensions [1]? } */
function readTstInfo(bytes: Buffer): TstInfo {
  const f = children(expect(parseDer(bytes), TAG.SEQUENCE, 'TSTInfo'));
  if (smallInt(f[0], 'TSTInfo.version') !== 1) throw new TimestampError('the TSTInfo version is not 1');
  oid(f[1], 'TSTInfo.policy');
  const imprint = children(expect(f[2], TAG.SEQUENCE, 'TSTInfo.messageImprint'));
  const algorithm = oid(children(expect(imprint[0], TAG.SEQUENCE, 'messageImprint.hashAlgorithm'))[0], 'messageImprint.hashAlgorithm');
  const hashed = expect(imprint[1], TAG.OCTET_STRING, 'messageImprint.hashedMessage').content;
  expect(f[3], TAG.INTEGER, 'TSTInfo.serialNumber');
  const genTime = generalizedTime(f[4], 'TSTInfo.genTime');
  let accuracyMs = 0;
  const accuracy = f[5]?.tag === TAG.SEQUENCE ? children(f[5]) : undefined;
  if (accuracy) {
    // RFC 3161 §2.4.2: millis and micros are 1..999. Seconds are bounded here (a day): an accuracy
    // of years says the TSA does not know the time, and a huge one would make the validity window
    // of the signing certificate an invalid Date, which compares as neither before nor after.
    for (const a of accuracy) {
      if (a.tag === TAG.INTEGER) accuracyMs += bounded(smallInt(a, 'accuracy.seconds'), 0, MAX_ACCURACY_SECONDS, 'accuracy.seconds') * 1000;
      else if (a.tag === ctxPrimitive(0)) accuracyMs += bounded(smallInt(a, 'accuracy.millis', ctxPrimitive(0)), 1, 999, 'accuracy.millis');
      else if (a.tag === ctxPrimitive(1))
        accuracyMs += Math.ceil(bounded(smallInt(a, 'accuracy.micros', ctxPrimitive(1)), 1, 999, 'accuracy.micros') / 1000);
      else throw new DerError('unknown field in TSTInfo.accuracy');
    }
  }
  // TSTInfo extensions [1]: none is understood, so a critical one refuses the token (RFC 5280 §4.2 rule).
  const extensions = f.slice(5).find((e) => e.tag === ctx(1));
  if (extensions) {
    for (const ext of children(extensions)) {
      const parts = children(expect(ext, TAG.SEQUENCE, 'TSTInfo extension'));
      if (parts[1]?.tag === TAG.BOOLEAN && parts[1].content[0] !== 0)
        throw new TimestampError(
          `the TSTInfo has the critical extension ${oid(parts[0], 'extnID')}, which Countersign does not understand`,
        );
    }
  }
  return { imprintAlgorithm: algorithm, imprint: hashed, genTime, accuracyMs };
}

/**
 * SignerInfo ::= SEQUENCE { version, sid, digestAlgorithm, [0] signedAttrs, signatureAlgorithm,
 * signature, [1] unsignedAttrs? }. RFC 3161 requires the signed attributes, with the ESS
 * signing-certificate attribute naming the TSA certificate (so that it cannot be swapped).
 */
function verifySignerInfo(si: Der, tstBytes: Buffer, certificates: X509Certificate[]): X509Certificate {
  const f = children(expect(si, TAG.SEQUENCE, 'SignerInfo'));
  const sid = f[1];
  const digestOid = oid(children(expect(f[2], TAG.SEQUENCE, 'SignerInfo.digestAlgorithm'))[0], 'SignerInfo.digestAlgorithm');
  const digest = HASHES[digestOid];
  if (!digest) throw new TimestampError(`the timestamp's signer uses digest ${digestOid}; SHA-256, SHA-384 or SHA-512 is required`);
  const signedAttrsEl = f[3];
  if (signedAttrsEl?.tag !== ctx(0)) throw new TimestampError('the timestamp signer has no signed attributes (RFC 3161 requires them)');
  const sigAlgOid = oid(children(expect(f[4], TAG.SEQUENCE, 'SignerInfo.signatureAlgorithm'))[0], 'SignerInfo.signatureAlgorithm');
  const sigValue = expect(f[5], TAG.OCTET_STRING, 'SignerInfo.signature').content;

  const attrs = new Map<string, Der[]>();
  for (const a of children(signedAttrsEl)) {
    const [type, values] = children(expect(a, TAG.SEQUENCE, 'signed attribute'));
    const name = oid(type, 'signed attribute type');
    if (attrs.has(name)) throw new TimestampError(`the signed attribute ${name} appears twice`);
    const vs = children(expect(values, TAG.SET, 'signed attribute values'));
    if (vs.length !== 1) throw new TimestampError(`the signed attribute ${name} has ${vs.length} values`);
    attrs.set(name, vs);
  }
  const contentType = attrs.get(OID.CONTENT_TYPE);
  if (!contentType || oid(contentType[0], 'content-type attribute') !== OID.TST_INFO)
    throw new TimestampError('the timestamp signer does not sign the TSTInfo content type');
  const messageDigest = attrs.get(OID.MESSAGE_DIGEST);
  if (!messageDigest) throw new TimestampError('the timestamp signer has no message-digest attribute');
  if (
    !createHash(digest)
      .update(tstBytes)
      .digest()
      .equals(expect(messageDigest[0], TAG.OCTET_STRING, 'message-digest attribute').content)
  ) {
    throw new TimestampError('the signed message digest does not match the TSTInfo (the timestamp content was altered)');
  }

  const signer = signingCertificate(attrs, certificates);
  if (!sidMatches(sid, signer))
    throw new TimestampError('the signer identifier does not name the certificate of the signing-certificate attribute');
  checkTimestampingUsage(signer);

  const alg = SIGNATURE_ALGORITHMS[sigAlgOid];
  if (!alg) throw new TimestampError(`the timestamp signature algorithm ${sigAlgOid} is not supported (RSA PKCS #1 v1.5 or ECDSA)`);
  const keyType = signer.publicKey.asymmetricKeyType;
  if ((alg.key === 'rsa' && keyType !== 'rsa') || (alg.key === 'ec' && keyType !== 'ec')) {
    throw new TimestampError(
      `the timestamp signature algorithm ${sigAlgOid} does not match the TSA certificate's ${keyType ?? 'unknown'} key`,
    );
  }
  // The signature is over the DER of the signed attributes as a SET OF (tag 0x31), not as [0].
  const signedBytes = Buffer.from(signedAttrsEl.raw);
  signedBytes[0] = TAG.SET;
  if (!cryptoVerify(alg.hash ?? digest, signedBytes, signer.publicKey, sigValue)) {
    throw new TimestampError(`the timestamp signature does not verify with the TSA certificate ${oneLineDn(signer.subject)}`);
  }
  return signer;
}

/** The certificate named by the first ESSCertID(v2) of the signing-certificate attribute. */
function signingCertificate(attrs: Map<string, Der[]>, certificates: X509Certificate[]): X509Certificate {
  let hash: string;
  let certHash: Buffer;
  const v2 = attrs.get(OID.SIGNING_CERTIFICATE_V2);
  const v1 = attrs.get(OID.SIGNING_CERTIFICATE);
  if (v2) {
    const ids = children(
      expect(children(expect(v2[0], TAG.SEQUENCE, 'SigningCertificateV2'))[0], TAG.SEQUENCE, 'SigningCertificateV2.certs'),
    );
    const id = children(expect(ids[0], TAG.SEQUENCE, 'ESSCertIDv2'));
    let i = 0;
    hash = 'sha256';
    if (id[0]?.tag === TAG.SEQUENCE) {
      const alg = oid(children(id[0])[0], 'ESSCertIDv2.hashAlgorithm');
      const h = HASHES[alg];
      if (!h) throw new TimestampError(`the signing-certificate attribute uses hash ${alg}`);
      hash = h;
      i = 1;
    }
    certHash = expect(id[i], TAG.OCTET_STRING, 'ESSCertIDv2.certHash').content;
  } else if (v1) {
    const ids = children(expect(children(expect(v1[0], TAG.SEQUENCE, 'SigningCertificate'))[0], TAG.SEQUENCE, 'SigningCertificate.certs'));
    hash = ESS_V1_HASH;
    certHash = expect(children(expect(ids[0], TAG.SEQUENCE, 'ESSCertID'))[0], TAG.OCTET_STRING, 'ESSCertID.certHash').content;
  } else {
    throw new TimestampError('the timestamp signer has no signing-certificate attribute (RFC 3161 requires it)');
  }
  const found = certificates.find((c) => createHash(hash).update(c.raw).digest().equals(certHash));
  if (!found) throw new TimestampError('the TSA certificate named by the signing-certificate attribute is not in the timestamp token');
  return found;
}

/** sid: issuerAndSerialNumber (SEQUENCE { issuer Name, serialNumber }) or [0] subjectKeyIdentifier. */
function sidMatches(sid: Der | undefined, cert: X509Certificate): boolean {
  const fields = certificateFields(cert);
  if (sid?.tag === TAG.SEQUENCE) {
    const [issuer, serial] = children(sid);
    return (
      issuer !== undefined &&
      serial !== undefined &&
      issuer.raw.equals(fields.issuer) &&
      serial.tag === TAG.INTEGER &&
      serial.content.equals(fields.serial)
    );
  }
  if (sid?.tag === ctxPrimitive(0)) {
    const ski = fields.extensions.get(EXT.SUBJECT_KEY_ID);
    return ski !== undefined && expect(parseDer(ski.value), TAG.OCTET_STRING, 'subjectKeyIdentifier').content.equals(sid.content);
  }
  return false;
}

/**
 * RFC 3161 §2.3: the TSA certificate's extended key usage is exactly id-kp-timeStamping, and
 * critical. Its key usage must let the key sign (digitalSignature, or nonRepudiation — content
 * commitment — as TSA profiles such as ETSI EN 319 422 ask): the Notary certificate requirements
 * for timestamping certificates demand the extension, and a key whose usage is only, say,
 * keyCertSign or keyEncipherment was not certified to sign tokens.
 */
function checkTimestampingUsage(cert: X509Certificate): void {
  const fields = certificateFields(cert);
  const eku = fields.extensions.get(EXT.EXT_KEY_USAGE);
  const name = oneLineDn(cert.subject);
  // A CA certifies; it does not sign tokens (notation-core-go validateLeafBasicConstraints).
  if (cert.ca) throw new TimestampError(`the TSA certificate ${name} is a CA certificate; a timestamping certificate must not be one`);
  const critical = unknownCriticalExtension(fields);
  if (critical !== undefined)
    throw new TimestampError(`the TSA certificate ${name} has the critical extension ${critical}, which Countersign does not understand`);
  if (!eku) throw new TimestampError(`the TSA certificate ${name} has no extended key usage; id-kp-timeStamping is required`);
  const purposes = children(expect(parseDer(eku.value), TAG.SEQUENCE, 'extKeyUsage')).map((p) => oid(p, 'key purpose'));
  if (purposes.length !== 1 || purposes[0] !== OID.TIME_STAMPING)
    throw new TimestampError(
      `the TSA certificate ${name} is not a timestamping certificate (extended key usage ${purposes.join(', ')}; exactly id-kp-timeStamping is required)`,
    );
  if (!eku.critical)
    throw new TimestampError(`the TSA certificate ${name} has a non-critical extended key usage; RFC 3161 requires it critical`);
  const ku = keyUsage(fields);
  if (ku === undefined)
    throw new TimestampError(`the TSA certificate ${name} has no key usage; digitalSignature or nonRepudiation is required`);
  if (!(ku & (KU.DIGITAL_SIGNATURE | KU.NON_REPUDIATION)))
    throw new TimestampError(
      `the TSA certificate ${name} key usage has neither digitalSignature nor nonRepudiation; it cannot sign timestamps`,
    );
}
