/**
 * Notary Project JWS envelopes (`application/jose+json`, flattened JSON serialization): what a
 * signature says and whether it is intact. Everything here is independent of trust, so that the
 * result can be cached per image digest; whether the signer is trusted, and whether the signature
 * is still acceptable today, is decided per call by src/policy/notation-trust.ts.
 *
 * Checked here (the "integrity" of the Notary trust-policy model): the protected header (alg, cty,
 * crit, signing scheme and its required time field), the signature over
 * ASCII(b64url(protected) '.' b64url(payload)) with the leaf key of `x5c`, the signed payload's
 * target artifact against the image, and that the certificates of `x5c` parse and form a chain
 * (each signed by the next). A failure throws NotationEnvelopeError with the reason.
 */
import { createHash, verify as cryptoVerify, constants, X509Certificate } from 'node:crypto';

import { isSigningScheme, MAX_NOTATION_ENVELOPE_BYTES, NOTARY_PAYLOAD_TYPE, type SigningScheme } from '../../formats/notation';
import { jsonDepthViolation } from '../../shared/json-depth';
import { oneLine, type NotationFacts } from '../../policy/notation-trust';
import { DerError } from '../../formats/der';
import { verifyTimestampToken } from './timestamp';
import { quoteUntrusted } from '../../shared/untrusted-text';
import { CertificateRequirementError, signingChainProblem, subjectAttributes } from '../../formats/x509';

/** The facts' type and the DN formatter live with their consumer, the policy's Notation trust judgement. */

export const H_SCHEME = 'io.cncf.notary.signingScheme';
export const H_SIGNING_TIME = 'io.cncf.notary.signingTime';
export const H_AUTHENTIC_TIME = 'io.cncf.notary.authenticSigningTime';
export const H_EXPIRY = 'io.cncf.notary.expiry';
/** Protected headers a Notary JWS may carry; any other (unknown) one is refused, as notation does. */
const KNOWN_PROTECTED = new Set([
  'alg',
  'cty',
  'crit',
  H_SCHEME,
  H_SIGNING_TIME,
  H_AUTHENTIC_TIME,
  H_EXPIRY,
  'io.cncf.notary.verificationPlugin',
  'io.cncf.notary.verificationPluginMinVersion',
]);
/** The headers crit may list: those whose meaning is checked here or by the trust policy. */
export const UNDERSTOOD_CRITICAL: ReadonlySet<string> = new Set([H_SCHEME, H_SIGNING_TIME, H_AUTHENTIC_TIME, H_EXPIRY]);
export const H_PLUGIN = 'io.cncf.notary.verificationPlugin';
export const H_PLUGIN_MIN_VERSION = 'io.cncf.notary.verificationPluginMinVersion';
/**
 * The RFC 3161 countersignature header. (The JWS spec's example also shows `io.cncf.notary.timestamp`;
 * notation-core-go reads and writes only this name, so only this one is a timestamp.)
 */
export const TIMESTAMP_HEADER = 'io.cncf.notary.timestampSignature';
/** A chain is a handful of certificates; more is an attempt to make us spend time. */
export const MAX_CHAIN = 10;

export class NotationEnvelopeError extends Error {}

export interface TargetDescriptor {
  digest: string;
  mediaType?: string;
  size?: number;
}

/**
 * Verifies a JWS Notary envelope. `target` is the image: the digest we resolved ourselves and,
 * when known, its media type and size as the registry resolves them (never the referrer's subject).
 */
export function verifyJwsEnvelope(bytes: Buffer, target: TargetDescriptor): NotationFacts {
  if (bytes.length > MAX_NOTATION_ENVELOPE_BYTES)
    throw new NotationEnvelopeError(`the JWS envelope is larger than ${MAX_NOTATION_ENVELOPE_BYTES} bytes`);
  const env = parseJson(bytes.toString('utf8'), 'the envelope');
  if (!isObject(env)) throw new NotationEnvelopeError('the envelope is not a JSON object');
  const { payload, protected: protectedB64, header, signature } = env;
  if (typeof payload !== 'string' || typeof protectedB64 !== 'string' || typeof signature !== 'string') {
    throw new NotationEnvelopeError('the envelope must have string payload, protected and signature (flattened JWS JSON)');
  }
  if (header !== undefined && !isObject(header)) throw new NotationEnvelopeError('the unprotected header is not an object');
  const unprotected = header ?? {};
  const prot = parseJson(b64urlDecode(protectedB64, 'protected header').toString('utf8'), 'the protected header');
  if (!isObject(prot)) throw new NotationEnvelopeError('the protected header is not a JSON object');
  const h = prot;

  const alg = h.alg;
  if (typeof alg !== 'string' || !Object.hasOwn(ALGORITHMS, alg))
    throw new NotationEnvelopeError(`unsupported alg ${quoteUntrusted(alg)}: Notary JWS uses PS256/384/512 or ES256/384/512`);
  if (h.cty !== NOTARY_PAYLOAD_TYPE)
    throw new NotationEnvelopeError(`the protected header's cty is ${quoteUntrusted(h.cty)}, not ${NOTARY_PAYLOAD_TYPE}`);
  for (const k of Object.keys(h))
    if (!KNOWN_PROTECTED.has(k)) throw new NotationEnvelopeError(`unknown protected header ${k.slice(0, 80)}`);
  refusePlugin(h[H_PLUGIN], h[H_PLUGIN_MIN_VERSION]);
  // One parameter, one value: a reader preferring the unprotected copy would see what nobody signed.
  for (const k of Object.keys(unprotected))
    if (Object.hasOwn(h, k)) throw new NotationEnvelopeError(`the header parameter ${k.slice(0, 80)} is both protected and unprotected`);
  const scheme = h[H_SCHEME];
  if (!isSigningScheme(scheme)) {
    throw new NotationEnvelopeError(`unknown signing scheme ${quoteUntrusted(scheme)} (notary.x509 or notary.x509.signingAuthority)`);
  }
  const crit = h.crit;
  if (!Array.isArray(crit) || crit.length === 0 || !crit.every((c) => typeof c === 'string'))
    throw new NotationEnvelopeError('the protected header has no crit list');
  for (const c of crit) {
    if (!Object.hasOwn(h, c) || c === 'alg' || c === 'cty' || c === 'crit')
      throw new NotationEnvelopeError(`crit names ${c.slice(0, 80)}, which the protected header does not carry (or must not list)`);
    if (!UNDERSTOOD_CRITICAL.has(c))
      throw new NotationEnvelopeError(`crit names ${c.slice(0, 80)}, a critical header Countersign does not understand`);
  }
  const mustBeCritical = [
    H_SCHEME,
    ...(Object.hasOwn(h, H_EXPIRY) ? [H_EXPIRY] : []),
    ...(Object.hasOwn(h, H_AUTHENTIC_TIME) ? [H_AUTHENTIC_TIME] : []),
  ];
  for (const c of mustBeCritical) if (!crit.includes(c)) throw new NotationEnvelopeError(`${c} must be listed in crit`);

  const times = schemeTimes(scheme, {
    signingTime: time(h[H_SIGNING_TIME], H_SIGNING_TIME),
    authentic: time(h[H_AUTHENTIC_TIME], H_AUTHENTIC_TIME),
    expiry: time(h[H_EXPIRY], H_EXPIRY),
  });

  const x5c = unprotected.x5c;
  if (!Array.isArray(x5c) || x5c.length === 0) throw new NotationEnvelopeError('the envelope carries no x5c certificate chain');
  if (x5c.length > MAX_CHAIN) throw new NotationEnvelopeError(`x5c has ${x5c.length} certificates; at most ${MAX_CHAIN} are read`);
  const certs = x5c.map((c, i) => {
    if (typeof c !== 'string') throw new NotationEnvelopeError(`x5c[${i}] is not a string`);
    return parseCertificate(Buffer.from(c, 'base64'), `x5c[${i}]`);
  });
  verifyChainLinks(certs);
  const leaf = certs[0]!;
  const signingInput = Buffer.from(`${protectedB64}.${payload}`, 'ascii');
  const sig = b64urlDecode(signature, 'signature');
  if (!verifyWithAlg(alg, leaf, signingInput, sig))
    throw new NotationEnvelopeError('the signature does not verify with the leaf certificate of x5c');

  // Only now is the payload signed content: it must name exactly the image we resolved.
  checkTargetArtifact(parseJson(b64urlDecode(payload, 'payload').toString('utf8'), 'the payload'), target);

  const ts = unprotected[TIMESTAMP_HEADER];
  // A countersignature that is not a string is a malformed timestamp, not a broken signature:
  // the signature stays intact and the trust policy decides whether the timestamp was needed.
  const timestamp =
    ts === undefined
      ? undefined
      : typeof ts === 'string'
        ? verifyTimestampToken(ts, sig)
        : { verified: false as const, reason: `the ${TIMESTAMP_HEADER} header is not a base64 string` };
  return envelopeFacts('jws', { ...times, alg, certs, timestamp, agent: unprotected['io.cncf.notary.signingAgent'] });
}

/** The signed times of an envelope, checked against its signing scheme's rules. */
export interface SchemeTimes {
  scheme: SigningScheme;
  signingTime: Date | undefined;
  authentic: Date | undefined;
  expiry: Date | undefined;
}

/**
 * The scheme's rules for the signed times (signature-specification.md): notary.x509 carries a
 * signing time and no authentic signing time; notary.x509.signingAuthority an authentic one.
 */
export function schemeTimes(scheme: SigningScheme, t: Omit<SchemeTimes, 'scheme'>): SchemeTimes {
  if (scheme === 'notary.x509' && t.signingTime === undefined)
    throw new NotationEnvelopeError(`scheme notary.x509 requires ${H_SIGNING_TIME}`);
  if (scheme === 'notary.x509' && t.authentic !== undefined)
    throw new NotationEnvelopeError(`scheme notary.x509 must not carry ${H_AUTHENTIC_TIME}`);
  if (scheme === 'notary.x509.signingAuthority' && t.authentic === undefined)
    throw new NotationEnvelopeError(`scheme notary.x509.signingAuthority requires ${H_AUTHENTIC_TIME}`);
  return { scheme, ...t };
}

/** What a verified signature of either envelope format reports: one shape for the trust policy. */
export function envelopeFacts(
  envelope: NotationFacts['envelope'],
  f: SchemeTimes & {
    alg: string;
    certs: readonly X509Certificate[];
    timestamp: NotationFacts['timestamp'];
    agent: unknown;
  },
): NotationFacts {
  const leaf = f.certs[0]!;
  return {
    envelope,
    signingScheme: f.scheme,
    alg: f.alg,
    signingTime: (f.authentic ?? f.signingTime)!.toISOString(),
    ...(f.authentic ? { authenticSigningTime: f.authentic.toISOString() } : {}),
    ...(f.expiry ? { expiry: f.expiry.toISOString() } : {}),
    chain: f.certs.map((c) => c.raw.toString('base64')),
    subject: leaf.subject,
    issuer: leaf.issuer,
    subjectAttributes: subjectAttributes(leaf),
    leafSha256: createHash('sha256').update(leaf.raw).digest('hex'),
    leafKeySha256: createHash('sha256')
      .update(leaf.publicKey.export({ type: 'spki', format: 'der' }))
      .digest('hex'),
    ...(f.timestamp ? { timestamp: f.timestamp } : {}),
    ...(typeof f.agent === 'string' ? { signingAgent: f.agent.slice(0, 200) } : {}),
  };
}

/** The signed `targetArtifact` must be the image: digest always; media type and size when known. */
export function checkTargetArtifact(payload: unknown, target: TargetDescriptor): void {
  if (!isObject(payload) || !isObject(payload.targetArtifact)) throw new NotationEnvelopeError('the payload has no targetArtifact');
  const t = (payload as { targetArtifact: Record<string, unknown> }).targetArtifact;
  if (t.digest !== target.digest)
    throw new NotationEnvelopeError(
      `the payload signs ${typeof t.digest === 'string' ? t.digest.slice(0, 80) : '(no digest)'}, not this image ${target.digest}`,
    );
  if (typeof t.mediaType !== 'string' || typeof t.size !== 'number')
    throw new NotationEnvelopeError('the payload targetArtifact lacks mediaType or size');
  // Beyond 2^53 two different sizes parse to one double: no size an image can have.
  if (!Number.isSafeInteger(t.size) || t.size < 0)
    throw new NotationEnvelopeError('the payload targetArtifact size is not a non-negative integer');
  if (target.mediaType !== undefined && t.mediaType !== target.mediaType)
    throw new NotationEnvelopeError(
      `the payload targetArtifact mediaType ${t.mediaType.slice(0, 80)} is not the image's ${target.mediaType}`,
    );
  if (target.size !== undefined && t.size !== target.size)
    throw new NotationEnvelopeError(`the payload targetArtifact size ${t.size} is not the image's ${target.size}`);
}

/**
 * A DER certificate whose public key is usable: Node parses a certificate with an undecodable
 * SubjectPublicKeyInfo and throws only when the key is used, so the key is read here, where the
 * problem can be named.
 */
export function parseCertificate(der: Buffer, what: string): X509Certificate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch {
    throw new NotationEnvelopeError(`${what} is not a DER X.509 certificate`);
  }
  try {
    if (cert.publicKey.type !== 'public') throw new NotationEnvelopeError(`${what} has no public key`);
  } catch {
    throw new NotationEnvelopeError(`${what} has a public key that does not decode`);
  }
  return cert;
}

/**
 * Each certificate of the chain must be issued and signed by the next one (leaf first), and the
 * chain must meet the Notary certificate requirements (x509.ts: a signing leaf, issuing CAs, no
 * critical extension that is not understood).
 */
export function verifyChainLinks(certs: X509Certificate[]): void {
  const name = (i: number) => `x5c[${i}] (${oneLine(certs[i]!.subject).slice(0, 200)})`;
  for (let i = 0; i + 1 < certs.length; i++) {
    const child = certs[i]!;
    const parent = certs[i + 1]!;
    if (!parent.ca)
      throw new NotationEnvelopeError(`x5c[${i + 1}] (${oneLine(parent.subject)}) is not a CA certificate but issues x5c[${i}]`);
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey))
      throw new NotationEnvelopeError(`x5c[${i}] is not signed by x5c[${i + 1}]`);
  }
  let problem: string | undefined;
  try {
    problem = signingChainProblem(certs, name);
  } catch (err) {
    if (err instanceof DerError || err instanceof CertificateRequirementError)
      throw new NotationEnvelopeError(`a certificate of the chain is malformed: ${err.message}`);
    throw err;
  }
  if (problem !== undefined) throw new NotationEnvelopeError(problem);
}

/**
 * A signature naming a verification plugin expects that plugin's checks (revocation, a custom
 * trust model); notation fails it when the plugin is not installed. Countersign runs no plugins,
 * so such a signature is refused rather than judged without the checks its signer asked for.
 */
export function refusePlugin(plugin: unknown, minVersion: unknown): void {
  if (plugin === undefined && minVersion === undefined) return;
  const which = typeof plugin === 'string' ? plugin.slice(0, 80) : '(unnamed)';
  throw new NotationEnvelopeError(`the signature requires verification plugin ${which}, and Countersign runs no verification plugins`);
}

const ALGORITHMS: Record<string, { hash: string; kind: 'rsa-pss' | 'ec'; curve?: string }> = {
  PS256: { hash: 'sha256', kind: 'rsa-pss' },
  PS384: { hash: 'sha384', kind: 'rsa-pss' },
  PS512: { hash: 'sha512', kind: 'rsa-pss' },
  ES256: { hash: 'sha256', kind: 'ec', curve: 'prime256v1' },
  ES384: { hash: 'sha384', kind: 'ec', curve: 'secp384r1' },
  ES512: { hash: 'sha512', kind: 'ec', curve: 'secp521r1' },
};

/** `alg` must match the leaf key (an RSA key cannot claim ES256, a P-256 key not ES384). */
export function verifyWithAlg(alg: string, leaf: X509Certificate, data: Buffer, sig: Buffer): boolean {
  const a = ALGORITHMS[alg]!;
  const key = leaf.publicKey;
  if (a.kind === 'rsa-pss') {
    if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'rsa-pss')
      throw new NotationEnvelopeError(`alg ${alg} does not match the leaf's ${key.asymmetricKeyType ?? 'unknown'} key`);
    return cryptoVerify(a.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, sig);
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== a.curve)
    throw new NotationEnvelopeError(`alg ${alg} does not match the leaf's key`);
  // JWS ECDSA signatures are r||s (IEEE P1363), not DER.
  return cryptoVerify(a.hash, data, { key, dsaEncoding: 'ieee-p1363' }, sig);
}

function time(v: unknown, name: string): Date | undefined {
  if (v === undefined) return undefined;
  // RFC 3339 with a zone (Z or ±hh:mm); Date.parse alone accepts far more.
  const m = typeof v === 'string' ? /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(v) : null;
  // Date.parse rolls February 30 and hour 24 over into another time: the fields must be in range.
  const [year, month, day, hour, minute, second] = m ? [1, 2, 3, 4, 5, 6].map((i) => Number(m[i])) : [];
  const daysInMonth = m ? new Date(Date.UTC(year!, month, 0)).getUTCDate() : 0;
  if (
    !m ||
    month! < 1 ||
    month! > 12 ||
    day! < 1 ||
    day! > daysInMonth ||
    hour! > 23 ||
    minute! > 59 ||
    second! > 59 ||
    Number.isNaN(Date.parse(v as string))
  ) {
    throw new NotationEnvelopeError(`${name} is not an RFC 3339 time`);
  }
  return new Date(Date.parse(v as string));
}

function b64urlDecode(s: string, what: string): Buffer {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) throw new NotationEnvelopeError(`the ${what} is not base64url`);
  return Buffer.from(s, 'base64url');
}

/** The deepest JSON a Notary envelope, header or payload may nest (real ones: 4 levels). */
const MAX_ENVELOPE_JSON_DEPTH = 32;

/**
 * Strict JSON for signed content: no key twice in one object (JSON.parse keeps the last, other
 * readers the first: one reader must not see one alg or digest and another reader another), and
 * bounded nesting.
 */
export function parseJson(text: string, what: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new NotationEnvelopeError(`${what} is not JSON`);
  }
  if (jsonDepthViolation(text, MAX_ENVELOPE_JSON_DEPTH) !== undefined)
    throw new NotationEnvelopeError(`${what} nests deeper than ${MAX_ENVELOPE_JSON_DEPTH} levels`);
  const dup = duplicateKey(text);
  if (dup !== undefined) throw new NotationEnvelopeError(`${what} has the key ${quoteUntrusted(dup)} twice in one object`);
  return value;
}

/**
 * The first key that appears twice in one object of `text` (valid JSON, nesting already bounded),
 * or undefined. One pass without recursion: a stack of the keys seen per open object.
 */
function duplicateKey(text: string): string | undefined {
  const stack: Array<Set<string> | null> = []; // null: an array
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack.at(-1);
      if (expectKey && top) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.has(key)) return key;
        top.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === '{') {
      stack.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      stack.push(null);
      expectKey = false;
    } else if (c === '}' || c === ']') {
      stack.pop();
      expectKey = false;
    } else if (c === ',') {
      expectKey = stack.at(-1) instanceof Set;
    }
  }
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
