/**
 * The Notary Project trust-policy model, applied to the facts of one intact signature
 * (src/verification/notation/envelope.ts checks its integrity) at the time of the call:
 * authenticity (the chain ends at a CA of the trust store, the signer is a trusted identity),
 * authenticTimestamp (the certificates are valid when it matters), expiry and revocation. Pure
 * policy logic: the policy loads it (load.ts) and judges with it (requirements.ts). The verification level decides which failures are enforced and
 * which are only logged (notaryproject/specifications trust-store-trust-policy.md):
 *
 *   level        integrity  authenticity  authenticTimestamp  expiry  revocation
 *   strict       enforce    enforce       enforce             enforce enforce
 *   permissive   enforce    enforce       log                 log     log
 *   audit        enforce    log           log                 log     log
 *   skip         (nothing is verified, so a Notation signature never counts as a signer)
 *
 * Revocation: Countersign verifies offline. A certificate that names no CRL distribution point and
 * no OCSP responder is not revocable (notation: "non-revokable") and passes. One that names either
 * has an unknown status offline, which notation treats as a revocation failure: enforced at strict
 * (deny), logged at permissive and audit.
 *
 * Timestamps (notary.x509 only; signingAuthority signatures carry an authentic signing time):
 * as in notation, timestamp verification is on when the trust policy names a TSA trust store.
 * Then the signature must carry an RFC 3161 countersignature (its integrity is verified with the
 * envelope, src/verification/notation/timestamp.ts) whose TSA certificate chains, at the
 * timestamp's time, to a certificate of the TSA trust store, and every certificate of the signing
 * chain must be valid throughout the timestamp's range (genTime ± accuracy): the signature is then
 * judged at the timestamp, so a signing certificate that has expired since does not matter. The TSA
 * chain's revocation status is unknown offline, like the signing chain's: a TSA certificate naming a
 * CRL distribution point or an OCSP responder fails authenticTimestamp (notation: "revocation status
 * is unknown"). Without a TSA trust store, a timestamp is not used and every certificate must be
 * valid now; the same with `verifyTimestamp: afterCertExpiry` while no certificate has expired.
 */
import { X509Certificate } from 'node:crypto';
import type { SigningScheme } from '../formats/notation';
import {
  certificateFields,
  EKU,
  extendedKeyUsage,
  KU,
  keyUsage,
  pathLength,
  unknownCriticalExtension,
  type CertificateFields,
} from '../formats/x509';

/** The verified facts of one intact Notary signature (JSON-serializable: evidence is cached). */
export interface NotationFacts {
  envelope: 'jws' | 'cose';
  signingScheme: SigningScheme;
  alg: string;
  /** ISO 8601. For notary.x509 it is the signer's claim; for signingAuthority the authentic time. */
  signingTime: string;
  /** Set only for notary.x509.signingAuthority (the time the signing authority vouches for). */
  authenticSigningTime?: string;
  expiry?: string;
  /** Base64 DER, leaf first, as in the envelope (each verified to be signed by the next). */
  chain: string[];
  /** Leaf subject and issuer distinguished names, RFC 4514 order as Node prints them (one attribute a line): for messages. */
  subject: string;
  /**
   * The leaf's subject as read from its DER ([type, value] pairs), or why it cannot name a trusted
   * identity (a multi-valued RDN, an attribute twice): what identities are matched against.
   */
  subjectAttributes: Array<[string, string]> | string;
  issuer: string;
  /** SHA-256 fingerprint of the leaf (hex, lower case). */
  leafSha256: string;
  /** SHA-256 of the leaf's public key (SubjectPublicKeyInfo DER, hex): one key is one signer, however often certified. */
  leafKeySha256?: string;
  /** The RFC 3161 countersignature of the unprotected header, as far as it verifies without trust. */
  timestamp?: NotationTimestamp;
  signingAgent?: string;
}

/**
 * An RFC 3161 timestamp countersignature: verified (the imprint is over this signature, the CMS
 * signature verifies with the TSA certificate it names, which is a timestamping certificate) or
 * not, and why. Whether the TSA is trusted is judged per trust policy.
 */
export type NotationTimestamp =
  | {
      verified: true;
      genTime: string;
      accuracyMs: number;
      tsaSubject: string;
      /** Base64 DER: the TSA signing certificate first, then the token's other certificates. */ certificates: string[];
    }
  | { verified: false; reason: string };

export type NotationLevel = 'strict' | 'permissive' | 'audit' | 'skip';
export const NOTATION_LEVELS: readonly NotationLevel[] = ['strict', 'permissive', 'audit', 'skip'];
export type NotationCheck = 'integrity' | 'authenticity' | 'authenticTimestamp' | 'expiry' | 'revocation';

/** A Notation trust policy as a rule names it, with its trust store already loaded. */
export interface NotationTrust {
  /** How messages name it, e.g. "trust store ca/e2e.crt". */
  name: string;
  level: NotationLevel;
  /** The CA (or self-signed signer) certificates of the trust store. */
  trustStore: X509Certificate[];
  /** `*` (any signer the trust store vouches for) or `x509.subject: C=US, ST=WA, O=…` patterns. */
  identities: NotationIdentity[];
  /**
   * Signing authorities (notation's trust store type signingAuthority): the only certificates that
   * authenticate a notary.x509.signingAuthority signature, whose authentic signing time the
   * authority vouches for. `trustStore` (type ca) never does: there the signing time is only the
   * signer's claim, and accepting it as authentic would let any signer of the CA backdate a
   * signature into the validity of a certificate that has long expired.
   */
  signingAuthorityStore?: X509Certificate[];
  /** How messages name it, e.g. "signing-authority trust store sa/acme.pem". */
  signingAuthorityName?: string;
  /**
   * The TSA trust store (roots of timestamping authorities). Non-empty turns timestamp
   * verification on: a notary.x509 signature must then carry a timestamp from one of them.
   */
  tsaStore?: X509Certificate[];
  /** How messages name it, e.g. "TSA trust store tsa/acme-tsa.pem". */
  tsaName?: string;
  /**
   * With a TSA trust store: `always` (default) requires and verifies the timestamp; with
   * `afterCertExpiry` it is needed (and verified) only once a certificate of the chain has expired.
   */
  verifyTimestamp?: 'always' | 'afterCertExpiry';
}

export type NotationIdentity = { any: true; text: '*' } | { any?: false; text: string; attributes: Array<[string, string]> };

export interface NotationJudgement {
  accepted: boolean;
  /** Accepted although authenticity failed (logged only, level audit): the signer is whoever the certificate claims. */
  unauthenticated?: true;
  /** The first enforced failure (why it does not count). */
  reason?: string;
  /** Failures of logged checks (they do not prevent acceptance): warnings of the decision. */
  logged: string[];
}

const ENFORCED: Record<Exclude<NotationLevel, 'skip'>, ReadonlySet<NotationCheck>> = {
  strict: new Set(['integrity', 'authenticity', 'authenticTimestamp', 'expiry', 'revocation']),
  permissive: new Set(['integrity', 'authenticity']),
  audit: new Set(['integrity']),
};

/**
 * Judges one signature. `facts` undefined means integrity failed (`integrityReason` says why): that
 * is enforced at every level but skip.
 */
export function judgeNotation(
  trust: NotationTrust,
  facts: NotationFacts | undefined,
  integrityReason: string | undefined,
  now: Date,
): NotationJudgement {
  // A skipped verification is not evidence of anything: it must never count as a signer.
  if (trust.level === 'skip')
    return {
      accepted: false,
      reason: 'Notation verification skipped (level skip): not evidence of a signer, so it does not count toward minimum',
      logged: [],
    };
  const enforced = ENFORCED[trust.level];
  const logged: string[] = [];
  const fail = (check: NotationCheck, message: string): NotationJudgement | undefined => {
    const text = `${check} validation failed: ${message}`;
    if (enforced.has(check)) return { accepted: false, reason: text, logged };
    logged.push(`${text} (logged only: level ${trust.level})`);
    return undefined;
  };
  if (facts === undefined) {
    const why = integrityReason ?? 'the envelope does not verify';
    return { accepted: false, reason: why.startsWith('integrity validation failed') ? why : `integrity validation failed: ${why}`, logged };
  }
  const chain = certificatesOf(facts, facts.chain);
  const checks: Array<[NotationCheck, () => string | undefined]> = [
    ['authenticity', () => authenticity(trust, chain, facts.signingScheme, facts.subjectAttributes)],
    ['authenticTimestamp', () => authenticTimestamp(trust, facts, chain, now)],
    [
      'expiry',
      () =>
        facts.expiry !== undefined && Date.parse(facts.expiry) <= now.getTime() ? `the signature expired at ${facts.expiry}` : undefined,
    ],
    ['revocation', () => revocation(chain)],
  ];
  let unauthenticated = false;
  for (const [check, run] of checks) {
    const problem = run();
    if (problem !== undefined) {
      const verdict = fail(check, problem);
      if (verdict) return verdict;
      if (check === 'authenticity') unauthenticated = true;
    }
  }
  return unauthenticated ? { accepted: true, unauthenticated: true, logged } : { accepted: true, logged };
}

/**
 * Certificates of cached evidence, parsed once per evidence object rather than on every call: a
 * pusher can leave hundreds of intact signatures by strangers beside an image, and each Verify of
 * it judges them all.
 */
const parsed = new WeakMap<object, X509Certificate[]>();
function certificatesOf(owner: object, base64: readonly string[]): X509Certificate[] {
  let certs = parsed.get(owner);
  if (certs === undefined) {
    certs = base64.map((c) => new X509Certificate(Buffer.from(c, 'base64')));
    parsed.set(owner, certs);
  }
  return certs;
}

/**
 * The envelope carries the complete chain, from the signing certificate to a root (self-signed),
 * and the chain contains a certificate of the trust store for its signing scheme (notary.x509:
 * trustStore; notary.x509.signingAuthority: signingAuthorityTrustStore) — the store may hold the
 * root or an intermediate of the chain; and the leaf is a trusted identity. A chain that stops
 * below its root is refused even when the store holds the missing issuer: the Notary Project
 * requires the complete chain (trust-store-trust-policy.md, Validate Authenticity, and its FAQ:
 * revocation can only be checked exhaustively along the whole chain).
 */
function authenticity(
  trust: NotationTrust,
  chain: X509Certificate[],
  scheme: SigningScheme,
  subject: NotationFacts['subjectAttributes'],
): string | undefined {
  const authority = scheme === 'notary.x509.signingAuthority';
  if (authority && !trust.signingAuthorityStore?.length) {
    return `the signature uses signing scheme notary.x509.signingAuthority, but the trust policy names no signing authority (signingAuthorityTrustStore); ${trust.name} holds CAs, which do not vouch for an authentic signing time`;
  }
  const store = authority ? trust.signingAuthorityStore! : trust.trustStore;
  const storeName = authority ? (trust.signingAuthorityName ?? 'the signing-authority trust store') : trust.name;
  const top = chain.at(-1)!;
  if (!isSelfSigned(top)) {
    return (
      `the certificate chain of ${oneLine(chain[0]!.subject)} ends at ${oneLine(top.subject)}, which is not a root certificate (self-signed); ` +
      'the Notary Project requires the complete chain up to the root in the signature (sign with the full chain, e.g. notation sign with a key whose certificate file holds the chain)'
    );
  }
  if (!chain.some((c) => store.some((t) => t.raw.equals(c.raw))))
    return `the certificate chain of ${oneLine(chain[0]!.subject)} does not lead to a certificate of ${storeName}`;
  const leaf = chain[0]!;
  const have = subject;
  if (typeof have === 'string') return `signer ${oneLine(leaf.subject)} cannot be a trusted identity: ${have}`;
  if (!trust.identities.some((i) => identityMatches(i, have))) {
    return `signer ${oneLine(leaf.subject)} is not a trusted identity of ${trust.name} (${trust.identities.map((i) => i.text).join('; ')})`;
  }
  return undefined;
}

/**
 * notary.x509.signingAuthority: every certificate is valid at the authentic signing time.
 * notary.x509: the claimed signing time is the signer's word. Without a TSA trust store every
 * certificate must be valid now (and at the claimed time); with one, a trusted timestamp is
 * required and the certificates must be valid at its time instead (see the module comment).
 */
function authenticTimestamp(trust: NotationTrust, facts: NotationFacts, chain: X509Certificate[], now: Date): string | undefined {
  const at = new Date(facts.signingTime);
  for (const c of chain) {
    if (!validAt(c, at))
      return `certificate ${oneLine(c.subject)} (valid ${iso(from(c))} to ${iso(to(c))}) was not valid at signing time ${facts.signingTime}`;
  }
  if (facts.signingScheme !== 'notary.x509') return undefined;
  const tsaStore = trust.tsaStore ?? [];
  const expired = chain.some((c) => now.getTime() > to(c).getTime());
  if (tsaStore.length === 0 || (trust.verifyTimestamp === 'afterCertExpiry' && !expired)) {
    for (const c of chain) {
      if (!validAt(c, now)) {
        const ts =
          facts.timestamp !== undefined
            ? '; its RFC 3161 timestamp is not used: the trust policy names no TSA trust store (tsaTrustStore)'
            : ' and the signature has no timestamp';
        return `certificate ${oneLine(c.subject)} is not valid now (valid ${iso(from(c))} to ${iso(to(c))})${ts}`;
      }
    }
    return undefined;
  }
  const ts = facts.timestamp;
  if (ts === undefined)
    return `no timestamp countersignature was found in the signature envelope, and ${trust.tsaName ?? 'the TSA trust store'} requires one`;
  if (!ts.verified) return `the timestamp countersignature does not verify: ${ts.reason}`;
  const genTime = new Date(ts.genTime);
  // A time no TSA can have vouched for yet: its clock, or the token, is wrong.
  if (!(genTime.getTime() - ts.accuracyMs <= now.getTime())) return `the timestamp ${ts.genTime} is in the future`;
  const tsaProblem = tsaChainProblem(ts, tsaStore, genTime, trust.tsaName ?? 'the TSA trust store');
  if (tsaProblem !== undefined) return tsaProblem;
  const earliest = new Date(genTime.getTime() - ts.accuracyMs);
  const latest = new Date(genTime.getTime() + ts.accuracyMs);
  for (const c of chain) {
    // Written so that an invalid time (NaN, which compares false both ways) fails rather than passes.
    if (!(earliest.getTime() >= from(c).getTime() && latest.getTime() <= to(c).getTime())) {
      return `the timestamp ${ts.genTime}${ts.accuracyMs > 0 ? ` (±${ts.accuracyMs} ms)` : ''} is not within the validity of certificate ${oneLine(c.subject)} (valid ${iso(from(c))} to ${iso(to(c))})`;
    }
  }
  return undefined;
}

/** The TSA certificate chains, through the token's certificates, to the TSA trust store; each link valid at genTime. */
function tsaChainProblem(
  ts: Extract<NotationTimestamp, { verified: true }>,
  store: X509Certificate[],
  genTime: Date,
  storeName: string,
): string | undefined {
  const pool = certificatesOf(ts, ts.certificates);
  const signer = pool[0]!;
  const path: X509Certificate[] = [signer];
  let anchored = false;
  for (let cur = signer; path.length <= pool.length + 1;) {
    if (store.some((t) => t.raw.equals(cur.raw))) {
      anchored = true;
      break;
    }
    const root = store.find((t) => t.ca && cur.checkIssued(t) && cur.verify(t.publicKey));
    if (root) {
      path.push(root);
      anchored = true;
      break;
    }
    const next = pool.find((p) => p !== cur && !path.includes(p) && p.ca && cur.checkIssued(p) && cur.verify(p.publicKey));
    if (!next) break;
    path.push(next);
    cur = next;
  }
  if (!anchored) return `the timestamp's TSA certificate ${oneLine(ts.tsaSubject)} does not lead to a certificate of ${storeName}`;
  // The issuers of the path are held to what they certify, as Go's x509 verification with
  // KeyUsages [timeStamping] holds them (tspclient-go): CAs that may sign certificates, within
  // their path length, with no critical extension left unread, and an extended key usage, where
  // they have one, that allows timestamping (a code-signing CA under the same root mints no TSAs).
  for (const [i, c] of path.slice(1).entries()) {
    const problem = tsaIssuerProblem(c, i);
    if (problem !== undefined) return `TSA chain certificate ${oneLine(c.subject)} ${problem}`;
  }
  for (const c of path) {
    if (!validAt(c, genTime))
      return `TSA certificate ${oneLine(c.subject)} (valid ${iso(from(c))} to ${iso(to(c))}) was not valid at the timestamp ${ts.genTime}`;
  }
  const unknown = revocation(path.filter((c) => !store.some((t) => t.raw.equals(c.raw))));
  if (unknown !== undefined) return `the timestamp's TSA chain cannot be trusted offline: ${unknown}`;
  return undefined;
}

/** Why `ca`, with `below` intermediates under it in a TSA path, may not issue it, or undefined. */
function tsaIssuerProblem(ca: X509Certificate, below: number): string | undefined {
  let fields: CertificateFields;
  try {
    fields = certificateFields(ca);
  } catch (err) {
    return `cannot be read (${err instanceof Error ? err.message : String(err)})`;
  }
  const critical = unknownCriticalExtension(fields);
  if (critical !== undefined) return `has the critical extension ${critical}, which Countersign does not understand`;
  try {
    const ku = keyUsage(fields);
    if (ku !== undefined && !(ku & KU.KEY_CERT_SIGN)) return 'has a key usage without keyCertSign';
    const max = pathLength(fields);
    if (max !== undefined && below > max) return `allows ${max} intermediates below it, not ${below}`;
    const eku = extendedKeyUsage(fields);
    if (eku !== undefined && !eku.includes(EKU.TIME_STAMPING) && !eku.includes(EKU.ANY)) {
      return `has an extended key usage (${eku.join(', ') || 'empty'}) that does not allow timestamping`;
    }
  } catch (err) {
    return `has a malformed extension (${err instanceof Error ? err.message : String(err)})`;
  }
  return undefined;
}

/** CRL distribution points (2.5.29.31) or an OCSP responder make a certificate revocable; offline, its status is unknown. */
function revocation(chain: X509Certificate[]): string | undefined {
  const CRL_DP_OID = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x1f]);
  for (const c of chain) {
    const ocsp = /OCSP - URI:/.test(c.infoAccess ?? '');
    if (ocsp || c.raw.includes(CRL_DP_OID)) {
      return `certificate ${oneLine(c.subject)} names ${ocsp ? 'an OCSP responder' : 'a CRL distribution point'} and its revocation status cannot be checked offline`;
    }
  }
  return undefined;
}

/**
 * `x509.subject: C=US, ST=WA, O=Notary` matches a leaf whose subject has every listed attribute
 * with that value (notation's subset rule); attribute order does not matter.
 */
export /**
 * Issued by itself and signed with its own key, as a root is (Node's checkIssued would also demand
 * keyCertSign). Remembered per certificate object: cached evidence keeps its parsed certificates,
 * and every Verify judges every signature beside the image again.
 */
const selfSigned = new WeakMap<X509Certificate, boolean>();
function isSelfSigned(cert: X509Certificate): boolean {
  let known = selfSigned.get(cert);
  if (known === undefined) {
    known = cert.issuer === cert.subject && cert.verify(cert.publicKey);
    selfSigned.set(cert, known);
  }
  return known;
}

/** Every attribute of the identity, with exactly that value, in the leaf's subject (read from its DER: subjectAttributes). */
function identityMatches(identity: NotationIdentity, have: ReadonlyArray<readonly [string, string]>): boolean {
  if (identity.any) return true;
  return identity.attributes.every(([k, v]) => have.some(([hk, hv]) => hk === k && hv === v));
}

/** Parses `x509.subject: …` (or `*`); undefined with a reason when malformed. */
export function parseNotationIdentity(text: string): NotationIdentity | string {
  if (text === '*') return { any: true, text: '*' };
  const m = /^x509\.subject:\s*(.+)$/.exec(text);
  if (!m) return 'must be "*" or "x509.subject: C=US, ST=WA, O=…"';
  const attributes = parseDn(m[1]!);
  if (typeof attributes === 'string') return attributes;
  if (attributes.length === 0) return 'has a malformed distinguished name (attributes KEY=value separated by commas)';
  const keys = new Set(attributes.map(([k]) => k));
  if (keys.size !== attributes.length) return 'names an attribute twice';
  const empty = attributes.find(([, v]) => v === '');
  if (empty) return `gives ${empty[0]} no value`;
  // Notation requires at least country, state and organization, so that `O=Acme` alone cannot match a stranger.
  for (const k of ['C', 'ST', 'O']) if (!keys.has(k)) return `must name at least C, ST and O (missing ${k})`;
  return { text, attributes };
}

/**
 * An identity's distinguished name, RFC 4514 as notation-go reads it (go-ldap ParseDN): `K=v`
 * pairs separated by commas, keys upper-cased; `\,` `\+` `\\` `\"` etc. and `\XX` hex escapes;
 * unescaped spaces around a value dropped, escaped ones kept. Refused as notation refuses them: a
 * multi-valued RDN (`O=a+CN=b`) and a `#hex` (BER-encoded) value.
 */
function parseDn(dn: string): Array<[string, string]> | string {
  const out: Array<[string, string]> = [];
  const malformed = 'has a malformed distinguished name (attributes KEY=value separated by commas)';
  let i = 0;
  while (i < dn.length) {
    const eq = dn.indexOf('=', i);
    if (eq < 0) return malformed;
    const key = dn.slice(i, eq).trim().toUpperCase();
    if (!/^[A-Z][A-Z0-9-]*$|^\d+(\.\d+)+$/.test(key)) return malformed;
    i = eq + 1;
    while (dn[i] === ' ') i++;
    if (dn[i] === '#') return `gives ${key} a #hex (BER) value, which notation does not accept in identities`;
    let value = '';
    let kept = 0; // length of `value` up to its last escaped character: trailing spaces before it stay
    const bytes: number[] = []; // consecutive \XX escapes: one UTF-8 sequence
    const flush = (): void => {
      if (bytes.length === 0) return;
      value += Buffer.from(bytes).toString('utf8');
      bytes.length = 0;
      kept = value.length;
    };
    for (; i < dn.length && dn[i] !== ','; i++) {
      const ch = dn[i]!;
      if (ch === '+') return 'has a multi-valued RDN (+), which notation does not accept in identities';
      if (ch === '\\') {
        const hex = /^[0-9a-fA-F]{2}/.exec(dn.slice(i + 1, i + 3));
        if (hex) {
          bytes.push(parseInt(hex[0], 16));
          i += 2;
          continue;
        }
        if (i + 1 >= dn.length) return malformed;
        flush();
        value += dn[++i]!;
        kept = value.length;
        continue;
      }
      flush();
      value += ch;
    }
    flush();
    // Unescaped trailing spaces are not part of the value; escaped ones (up to `kept`) are.
    let end = value.length;
    while (end > kept && value[end - 1] === ' ') end--;
    out.push([key, value.slice(0, end)]);
    if (dn[i] === ',') {
      i++;
      if (i >= dn.length) return malformed;
    }
  }
  return out;
}

function validAt(c: X509Certificate, at: Date): boolean {
  return from(c).getTime() <= at.getTime() && at.getTime() <= to(c).getTime();
}

function iso(d: Date): string {
  return d.toISOString().replace(/\.000Z$/, 'Z');
}

/** Node's validFrom/validTo strings ("Dec 19 02:43:39 2022 GMT"); validFromDate is not in every Node 24. */
function from(c: X509Certificate): Date {
  return new Date(c.validFrom);
}

function to(c: X509Certificate): Date {
  return new Date(c.validTo);
}

/** A distinguished name as Node prints it (one attribute a line), on one line for messages. */
export function oneLine(dn: string): string {
  return dn.split('\n').join(', ');
}
