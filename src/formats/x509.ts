/**
 * The Notary Project certificate requirements (notaryproject/specifications
 * signature-specification.md, "Certificate Requirements"), read from the DER because Node's
 * X509Certificate exposes neither the key usage bits, the path length nor which extensions are
 * critical. Checked for the signing chain of every envelope (JWS and COSE alike), leaf first:
 *
 *   leaf      not a CA; key usage present with digitalSignature and without keyCertSign/cRLSign;
 *             extended key usage, when present, with id-kp-codeSigning and without anyExtendedKeyUsage,
 *             serverAuth, emailProtection, timeStamping or OCSPSigning; RSA keys of 2048 bits or
 *             more, EC keys on P-256/384/521
 *   issuers   CA certificates whose key usage (when present) has keyCertSign, within their path
 *             length constraint; each signs the certificate before it
 *   all       no certificate twice, and no critical extension this verifier does not understand
 *             (a critical extension that is not understood must not be ignored, RFC 5280 §4.2;
 *             name and policy constraints are not enforced here, so a chain carrying them is refused
 *             rather than trusted beyond them)
 */
import type { X509Certificate } from 'node:crypto';
import { children, ctx, expect, oid, parseDer, TAG } from './der';

export const EXT = {
  SUBJECT_KEY_ID: '2.5.29.14',
  KEY_USAGE: '2.5.29.15',
  SUBJECT_ALT_NAME: '2.5.29.17',
  BASIC_CONSTRAINTS: '2.5.29.19',
  CERTIFICATE_POLICIES: '2.5.29.32',
  AUTHORITY_KEY_ID: '2.5.29.35',
  EXT_KEY_USAGE: '2.5.29.37',
} as const;

/** Critical extensions whose meaning is checked (or, for names, policies and key ids, harmless to accept). */
const UNDERSTOOD_CRITICAL = new Set<string>(Object.values(EXT));

export const EKU = {
  ANY: '2.5.29.37.0',
  SERVER_AUTH: '1.3.6.1.5.5.7.3.1',
  CODE_SIGNING: '1.3.6.1.5.5.7.3.3',
  EMAIL_PROTECTION: '1.3.6.1.5.5.7.3.4',
  TIME_STAMPING: '1.3.6.1.5.5.7.3.8',
  OCSP_SIGNING: '1.3.6.1.5.5.7.3.9',
} as const;
const EKU_EXCLUDED = new Set<string>([EKU.ANY, EKU.SERVER_AUTH, EKU.EMAIL_PROTECTION, EKU.TIME_STAMPING, EKU.OCSP_SIGNING]);

/** Key usage bits (RFC 5280 §4.2.1.3), as masks of the first byte of the BIT STRING. */
export const KU = { DIGITAL_SIGNATURE: 0x80, NON_REPUDIATION: 0x40, KEY_CERT_SIGN: 0x04, CRL_SIGN: 0x02 } as const;

export class CertificateRequirementError extends Error {}

export interface CertificateFields {
  serial: Buffer;
  issuer: Buffer;
  extensions: Map<string, { critical: boolean; value: Buffer }>;
}

/** The few TBSCertificate fields Node's X509Certificate does not expose as bytes. An extension twice is refused. */
export function certificateFields(cert: X509Certificate): CertificateFields {
  const tbs = children(expect(children(expect(parseDer(cert.raw), TAG.SEQUENCE, 'Certificate'))[0], TAG.SEQUENCE, 'TBSCertificate'));
  const off = tbs[0]?.tag === ctx(0) ? 1 : 0;
  const serial = expect(tbs[off], TAG.INTEGER, 'serialNumber').content;
  const issuer = expect(tbs[off + 2], TAG.SEQUENCE, 'issuer').raw;
  const extensions = new Map<string, { critical: boolean; value: Buffer }>();
  const extField = tbs.find((e) => e.tag === ctx(3));
  if (extField) {
    for (const ext of children(expect(children(extField)[0], TAG.SEQUENCE, 'extensions'))) {
      const parts = children(expect(ext, TAG.SEQUENCE, 'extension'));
      const critical = parts[1]?.tag === TAG.BOOLEAN ? parts[1].content[0] !== 0 : false;
      const value = expect(parts[parts[1]?.tag === TAG.BOOLEAN ? 2 : 1], TAG.OCTET_STRING, 'extnValue').content;
      const id = oid(parts[0], 'extnID');
      if (extensions.has(id)) throw new CertificateRequirementError(`the extension ${id} appears twice`);
      extensions.set(id, { critical, value });
    }
  }
  return { serial, issuer, extensions };
}

/** Attribute types an identity may name (notation-go's, as go-ldap prints them), by OID. */
const DN_ATTRIBUTES: Record<string, string> = {
  '2.5.4.6': 'C',
  '2.5.4.8': 'ST',
  '2.5.4.7': 'L',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.3': 'CN',
  '2.5.4.5': 'SERIALNUMBER',
  '2.5.4.9': 'STREET',
  '2.5.4.17': 'POSTALCODE',
};

/**
 * The subject of `cert` as [type, value] pairs, read from its DER (not from a printed form, which
 * would have to be parsed back: Node escapes some characters, folds others, and prints a
 * multi-valued RDN like two attributes), with each value decoded exactly from its string type.
 * Refused, as notation-go refuses them (its DN parse fails, which is an authenticity failure): a
 * multi-valued RDN, and an attribute type twice (`O=partner, O=acme` must not match `O=acme`).
 * Types without a short name are kept under their OID: they can never match an identity.
 */
export function subjectAttributes(cert: X509Certificate): Array<[string, string]> | string {
  try {
    const tbs = children(expect(children(expect(parseDer(cert.raw), TAG.SEQUENCE, 'Certificate'))[0], TAG.SEQUENCE, 'TBSCertificate'));
    const off = tbs[0]?.tag === ctx(0) ? 1 : 0;
    const subject = expect(tbs[off + 4], TAG.SEQUENCE, 'subject');
    const out: Array<[string, string]> = [];
    for (const rdn of children(subject)) {
      const atvs = children(expect(rdn, TAG.SET, 'RelativeDistinguishedName'));
      if (atvs.length !== 1) return 'its subject has a multi-valued RDN';
      const [type, value] = children(expect(atvs[0], TAG.SEQUENCE, 'AttributeTypeAndValue'));
      const id = oid(type, 'attribute type');
      const name = DN_ATTRIBUTES[id] ?? id;
      if (out.some(([k]) => k === name)) return `its subject names ${name} twice`;
      const text = directoryString(value);
      if (text === undefined) return `its subject's ${name} is not a string`;
      out.push([name, text]);
    }
    return out;
  } catch (err) {
    return `its subject cannot be read (${err instanceof Error ? err.message : String(err)})`;
  }
}

/** A DirectoryString (or IA5String) value, decoded by its type; undefined for other types. */
function directoryString(el: { tag: number; content: Buffer } | undefined): string | undefined {
  if (!el) return undefined;
  switch (el.tag) {
    case 0x0c: // UTF8String
      return new TextDecoder('utf-8', { fatal: true }).decode(el.content);
    case 0x13: // PrintableString
    case 0x16: // IA5String
      return el.content.some((b) => b > 0x7f) ? undefined : el.content.toString('latin1');
    case 0x14: // TeletexString (T61): read as Latin-1, as Go does
      return el.content.toString('latin1');
    case 0x1e: // BMPString: UCS-2 big-endian
      if (el.content.length % 2 !== 0) return undefined;
      return Buffer.from(el.content).swap16().toString('utf16le');
    case 0x1c: {
      // UniversalString: UCS-4 big-endian
      if (el.content.length % 4 !== 0) return undefined;
      let text = '';
      for (let i = 0; i < el.content.length; i += 4) text += String.fromCodePoint(el.content.readUInt32BE(i));
      return text;
    }
    default:
      return undefined;
  }
}

/** The first byte of the key usage bits, or undefined without the extension. */
export function keyUsage(f: CertificateFields): number | undefined {
  const ku = f.extensions.get(EXT.KEY_USAGE);
  if (!ku) return undefined;
  const bits = expect(parseDer(ku.value), TAG.BIT_STRING, 'keyUsage').content;
  return bits.length >= 2 ? bits[1]! : 0;
}

/** basicConstraints pathLenConstraint, or undefined when absent. */
export function pathLength(f: CertificateFields): number | undefined {
  const bc = f.extensions.get(EXT.BASIC_CONSTRAINTS);
  if (!bc) return undefined;
  const last = children(expect(parseDer(bc.value), TAG.SEQUENCE, 'basicConstraints')).find((e) => e.tag === TAG.INTEGER);
  if (!last) return undefined;
  if (last.content.length === 0 || last.content.length > 4 || last.content[0]! & 0x80)
    throw new CertificateRequirementError('a path length constraint is not a small non-negative integer');
  return last.content.reduce((n, b) => n * 256 + b, 0);
}

export function extendedKeyUsage(f: CertificateFields): string[] | undefined {
  const eku = f.extensions.get(EXT.EXT_KEY_USAGE);
  if (!eku) return undefined;
  return children(expect(parseDer(eku.value), TAG.SEQUENCE, 'extKeyUsage')).map((p) => oid(p, 'key purpose'));
}

/** A critical extension this verifier does not understand, named for the message; undefined if none. */
export function unknownCriticalExtension(f: CertificateFields, understood: ReadonlySet<string> = UNDERSTOOD_CRITICAL): string | undefined {
  for (const [id, e] of f.extensions) if (e.critical && !understood.has(id)) return id;
  return undefined;
}

/**
 * The Notary certificate requirements for a signing chain (leaf first), as a reason, or undefined
 * when they hold. `name(i)` says how messages name certificate i (e.g. "x5c[1] (CN=…)").
 */
export function signingChainProblem(certs: readonly X509Certificate[], name: (i: number) => string): string | undefined {
  const fields = certs.map((c) => certificateFields(c));
  for (let i = 0; i < certs.length; i++) {
    const f = fields[i]!;
    const critical = unknownCriticalExtension(f);
    if (critical !== undefined) return `${name(i)} has the critical extension ${critical}, which Countersign does not understand`;
    if (certs.findIndex((c) => c.raw.equals(certs[i]!.raw)) !== i) return `${name(i)} appears twice in the chain`;
  }
  const leaf = certs[0]!;
  const leafFields = fields[0]!;
  if (leaf.ca)
    return `the leaf certificate ${name(0)} is a CA certificate (basicConstraints CA:TRUE); a Notary signing certificate must not be`;
  const ku = keyUsage(leafFields);
  if (ku === undefined) return `the leaf certificate ${name(0)} has no key usage; digitalSignature is required`;
  if (!(ku & KU.DIGITAL_SIGNATURE)) return `the leaf certificate ${name(0)} key usage lacks digitalSignature`;
  if (ku & (KU.KEY_CERT_SIGN | KU.CRL_SIGN))
    return `the leaf certificate ${name(0)} key usage allows keyCertSign or cRLSign; a signing certificate must not`;
  const eku = extendedKeyUsage(leafFields);
  if (eku !== undefined) {
    if (!eku.includes(EKU.CODE_SIGNING))
      return `the leaf certificate ${name(0)} extended key usage (${eku.join(', ')}) lacks id-kp-codeSigning`;
    const excluded = eku.find((p) => EKU_EXCLUDED.has(p));
    if (excluded !== undefined)
      return `the leaf certificate ${name(0)} extended key usage includes ${excluded}, which a Notary signing certificate must not have`;
  }
  const key = leaf.publicKey;
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) return `the leaf certificate ${name(0)} has a ${bits}-bit RSA key; at least 2048 bits are required`;
  } else if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (!['prime256v1', 'secp384r1', 'secp521r1'].includes(curve ?? ''))
      return `the leaf certificate ${name(0)} has an EC key on ${curve ?? 'an unnamed curve'}; P-256, P-384 or P-521 is required`;
  } else {
    return `the leaf certificate ${name(0)} has a ${key.asymmetricKeyType ?? 'unknown'} key; RSA or EC is required`;
  }
  for (let i = 1; i < certs.length; i++) {
    const f = fields[i]!;
    if (!certs[i]!.ca) return `${name(i)} is not a CA certificate but issues ${name(i - 1)}`;
    const issuerKu = keyUsage(f);
    if (issuerKu !== undefined && !(issuerKu & KU.KEY_CERT_SIGN))
      return `${name(i)} issues ${name(i - 1)} but its key usage lacks keyCertSign`;
    const maxPath = pathLength(f);
    // Intermediates below certificate i (the leaf does not count; self-issued ones are not special-cased).
    if (maxPath !== undefined && i - 1 > maxPath)
      return `${name(i)} allows ${maxPath} intermediate certificates below it, the chain has ${i - 1}`;
  }
  return undefined;
}
