/**
 * A tiny DER writer for tests: enough to build X.509 certificates and RFC 3161 timestamp tokens
 * with node:crypto keys, so that the timestamp verifier can be driven with chains whose every
 * field (validity, extended key usage, the imprinted bytes) the test chooses. TEST material only.
 */
import { createHash, sign as cryptoSign, type KeyObject } from 'node:crypto';

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export const tlv = (tag: number, ...parts: Buffer[]): Buffer => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
};
export const seq = (...parts: Buffer[]): Buffer => tlv(0x30, ...parts);
export const set = (...parts: Buffer[]): Buffer => tlv(0x31, ...parts);
export const explicit = (n: number, ...parts: Buffer[]): Buffer => tlv(0xa0 | n, ...parts);
export const octet = (b: Buffer): Buffer => tlv(0x04, b);
export const bitString = (b: Buffer): Buffer => tlv(0x03, Buffer.from([0]), b);
export const nul = (): Buffer => Buffer.from([0x05, 0x00]);
export const bool = (v: boolean): Buffer => Buffer.from([0x01, 0x01, v ? 0xff : 0x00]);
export const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));

export function int(v: number | bigint): Buffer {
  let hex = BigInt(v).toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let b = Buffer.from(hex, 'hex');
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

export function oid(text: string): Buffer {
  const arcs = text.split('.').map((a) => BigInt(a));
  const out: number[] = [Number(arcs[0]! * 40n + arcs[1]!)];
  for (const arc of arcs.slice(2)) {
    const bytes: number[] = [];
    let v = arc;
    do {
      bytes.unshift(Number(v & 0x7fn));
      v >>= 7n;
    } while (v > 0n);
    out.push(...bytes.map((b, i) => (i < bytes.length - 1 ? b | 0x80 : b)));
  }
  return tlv(0x06, Buffer.from(out));
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

export function generalizedTime(d: Date, withMillis = false): Buffer {
  const base = `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;
  return tlv(0x18, Buffer.from(`${base}${withMillis ? `.${pad(d.getUTCMilliseconds(), 3)}` : ''}Z`, 'latin1'));
}

/** X.509 validity: UTCTime before 2050, GeneralizedTime from then on (RFC 5280 §4.1.2.5). */
export function x509Time(d: Date): Buffer {
  if (d.getUTCFullYear() >= 2050) return generalizedTime(d);
  const s = `${pad(d.getUTCFullYear() % 100)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  return tlv(0x17, Buffer.from(s, 'latin1'));
}

const DN_OIDS: Record<string, string> = { C: '2.5.4.6', ST: '2.5.4.8', L: '2.5.4.7', O: '2.5.4.10', OU: '2.5.4.11', CN: '2.5.4.3' };

/** `[['C','US'],['O','Acme'],['CN','x']]` as a DER Name. */
export function name(attrs: Array<[string, string]>): Buffer {
  return seq(...attrs.map(([k, v]) => set(seq(oid(DN_OIDS[k]!), k === 'C' ? tlv(0x13, Buffer.from(v, 'latin1')) : utf8(v)))));
}

export const OIDS = {
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  signedData: '1.2.840.113549.1.7.2',
  tstInfo: '1.2.840.113549.1.9.16.1.4',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingCertificateV2: '1.2.840.113549.1.9.16.2.47',
} as const;

function signatureAlgorithm(key: KeyObject): { id: Buffer; sign: (data: Buffer) => Buffer } {
  if (key.asymmetricKeyType === 'ec') return { id: seq(oid(OIDS.ecdsaSha256)), sign: (d) => cryptoSign('sha256', d, key) };
  return { id: seq(oid(OIDS.sha256WithRsa), nul()), sign: (d) => cryptoSign('sha256', d, key) };
}

export interface CertOptions {
  subject: Array<[string, string]>;
  /** The issuer's name and key; absent = self-signed with `key`. */
  issuer?: { name: Array<[string, string]>; key: KeyObject };
  /** The certified public key, and (self-signed) the signing key. */
  publicKey: KeyObject;
  key?: KeyObject;
  notBefore: Date;
  notAfter: Date;
  ca?: boolean;
  /** Extended key usage OIDs; absent = no EKU extension. */
  eku?: string[];
  ekuCritical?: boolean;
  /** Adds a CRL distribution point (makes the certificate revocable). */
  crl?: string;
  serial?: number;
  /**
   * The first byte of the (critical) key usage bits: 0x80 digitalSignature, 0x04 keyCertSign,
   * 0x02 cRLSign. Default: 0x06 for a CA, 0x80 otherwise; null leaves the extension out.
   */
  keyUsage?: number | null;
  /** Leaves out basic constraints. */
  noBasicConstraints?: boolean;
  /** More extensions, each a DER Extension SEQUENCE (see `extension`). */
  extensions?: Buffer[];
}

/** An Extension SEQUENCE { extnID, critical?, extnValue }. */
export const extension = (id: string, critical: boolean, value: Buffer): Buffer =>
  seq(oid(id), ...(critical ? [bool(true)] : []), octet(value));

let serialCounter = 1000;

export interface BuiltCert {
  der: Buffer;
  pem: string;
  subjectName: Buffer;
  serial: number;
}

export function certificate(o: CertOptions): BuiltCert {
  const serial = o.serial ?? serialCounter++;
  const subjectName = name(o.subject);
  const issuerName = o.issuer ? name(o.issuer.name) : subjectName;
  const signingKey = o.issuer?.key ?? o.key;
  if (!signingKey) throw new Error('certificate(): a self-signed certificate needs its private key');
  const alg = signatureAlgorithm(signingKey);
  const extensions: Buffer[] = o.noBasicConstraints ? [] : [seq(oid('2.5.29.19'), bool(true), octet(o.ca ? seq(bool(true)) : seq()))];
  const keyUsage = o.keyUsage === undefined ? (o.ca ? 0x06 : 0x80) : o.keyUsage;
  if (keyUsage !== null) extensions.push(seq(oid('2.5.29.15'), bool(true), octet(bitString(Buffer.from([keyUsage])))));
  extensions.push(...(o.extensions ?? []));
  if (o.eku) extensions.push(seq(oid('2.5.29.37'), ...(o.ekuCritical === false ? [] : [bool(true)]), octet(seq(...o.eku.map(oid)))));
  if (o.crl) extensions.push(seq(oid('2.5.29.31'), octet(seq(seq(explicit(0, explicit(0, tlv(0x86, Buffer.from(o.crl, 'latin1')))))))));
  const tbs = seq(
    explicit(0, int(2)),
    int(serial),
    alg.id,
    issuerName,
    seq(x509Time(o.notBefore), x509Time(o.notAfter)),
    subjectName,
    o.publicKey.export({ type: 'spki', format: 'der' }),
    ...(extensions.length > 0 ? [explicit(3, seq(...extensions))] : []),
  );
  const der = seq(tbs, alg.id, bitString(alg.sign(tbs)));
  const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;
  return { der, pem, subjectName, serial };
}

export interface TimestampOptions {
  /** The bytes the TSA timestamps (for Notary: the raw signature value). */
  imprinted: Buffer;
  tsaKey: KeyObject;
  tsaCert: BuiltCert;
  /** The TSA certificate's issuer name (for the SignerInfo's issuerAndSerialNumber). */
  tsaIssuerName: Buffer;
  /** More certificates in the token (intermediates). */
  extraCerts?: Buffer[];
  genTime: Date;
  accuracySeconds?: number;
  /** Changes one thing after signing: the TSTInfo (so its signed digest no longer matches). */
  alterTstInfoAfterSigning?: boolean;
  /** Leaves out the ESS signing-certificate attribute. */
  omitSigningCertificate?: boolean;
  /** The TSTInfo accuracy as written (a DER SEQUENCE), instead of `accuracySeconds`. */
  accuracy?: Buffer;
  /** The genTime element as written (e.g. a GeneralizedTime that is not a real time). */
  genTimeRaw?: Buffer;
  /** TSTInfo extensions: Extension SEQUENCEs, written as [1] IMPLICIT Extensions. */
  tstExtensions?: Buffer[];
}

/** An RFC 3161 TimeStampToken (CMS ContentInfo with SignedData over a TSTInfo), DER. */
export function timestampToken(o: TimestampOptions): Buffer {
  const tstInfo = (t: Date) =>
    seq(
      int(1),
      oid('1.2.3.4.1'),
      seq(seq(oid(OIDS.sha256), nul()), octet(createHash('sha256').update(o.imprinted).digest())),
      int(424242),
      o.genTimeRaw ?? generalizedTime(t, true),
      ...(o.accuracy ? [o.accuracy] : o.accuracySeconds !== undefined ? [seq(int(o.accuracySeconds))] : []),
      ...(o.tstExtensions ? [tlv(0xa1, ...o.tstExtensions)] : []),
    );
  const signed = tstInfo(o.genTime);
  const attrs = [
    seq(oid(OIDS.contentType), set(oid(OIDS.tstInfo))),
    seq(oid(OIDS.messageDigest), set(octet(createHash('sha256').update(signed).digest()))),
    ...(o.omitSigningCertificate
      ? []
      : [seq(oid(OIDS.signingCertificateV2), set(seq(seq(seq(octet(createHash('sha256').update(o.tsaCert.der).digest()))))))]),
  ];
  const alg = signatureAlgorithm(o.tsaKey);
  const signature = alg.sign(set(...attrs));
  const signerInfo = seq(
    int(1),
    seq(o.tsaIssuerName, int(o.tsaCert.serial)),
    seq(oid(OIDS.sha256), nul()),
    explicit(0, ...attrs),
    alg.id,
    octet(signature),
  );
  const content = o.alterTstInfoAfterSigning ? tstInfo(new Date(o.genTime.getTime() - 86_400_000)) : signed;
  const signedData = seq(
    int(3),
    set(seq(oid(OIDS.sha256), nul())),
    seq(oid(OIDS.tstInfo), explicit(0, octet(content))),
    explicit(0, o.tsaCert.der, ...(o.extraCerts ?? [])),
    set(signerInfo),
  );
  return seq(oid(OIDS.signedData), explicit(0, signedData));
}
