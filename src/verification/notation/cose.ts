/**
 * Notary Project COSE envelopes (`application/cose`, notaryproject/specifications
 * signature-envelope-cose.md): a COSE_Sign1_Tagged message (CBOR tag 18) of
 * [protected bstr, unprotected map, payload bstr, signature bstr]. The same facts and the same
 * integrity rules as the JWS envelope (envelope.ts), in CBOR:
 *
 *   protected   1 alg (-37/-38/-39 PS256/384/512, -7/-35/-36 ES256/384/512), 2 crit, 3 content
 *               type, "io.cncf.notary.signingScheme", "io.cncf.notary.signingTime" /
 *               "io.cncf.notary.authenticSigningTime" / "io.cncf.notary.expiry" (tag 1 epoch seconds)
 *   unprotected 33 x5chain (one bstr or an array, leaf first), "io.cncf.notary.signingAgent",
 *               "io.cncf.notary.timestampSignature" (bstr: the RFC 3161 TimeStampToken)
 *   signed      Sig_structure ["Signature1", protected bstr, h'', payload]
 *
 * crit must list the signing scheme (and the expiry / authentic signing time when present); every
 * label it lists must be present and must be one this verifier understands, since a critical
 * header that is not understood must not be ignored (RFC 9052 §3.1). Unknown non-critical headers
 * may be ignored and are.
 */
import type { X509Certificate } from 'node:crypto';
import { isSigningScheme, MAX_NOTATION_ENVELOPE_BYTES, NOTARY_PAYLOAD_TYPE } from '../../formats/notation';
import type { NotationFacts } from '../../policy/notation-trust';
import { quoteUntrusted } from '../../shared/untrusted-text';
import { CborError, decodeCbor, encodeCbor, isTag, type CborValue } from './cbor';
import {
  checkTargetArtifact,
  envelopeFacts,
  H_AUTHENTIC_TIME,
  H_EXPIRY,
  H_PLUGIN,
  H_PLUGIN_MIN_VERSION,
  H_SCHEME,
  H_SIGNING_TIME,
  MAX_CHAIN,
  NotationEnvelopeError,
  parseCertificate,
  parseJson,
  refusePlugin,
  schemeTimes,
  TIMESTAMP_HEADER,
  verifyChainLinks,
  verifyWithAlg,
  type TargetDescriptor,
} from './envelope';
import { verifyTimestampBytes } from './timestamp';

const COSE_SIGN1_TAG = 18;
const LABEL = { ALG: 1, CRIT: 2, CONTENT_TYPE: 3, X5CHAIN: 33 } as const;
const COSE_ALGORITHMS: Record<number, string> = {
  [-37]: 'PS256',
  [-38]: 'PS384',
  [-39]: 'PS512',
  [-7]: 'ES256',
  [-35]: 'ES384',
  [-36]: 'ES512',
};
/** The critical headers this verifier understands (what they mean is checked below or by the trust policy). */
const UNDERSTOOD_CRITICAL = new Set<number | string>([H_SCHEME, H_SIGNING_TIME, H_AUTHENTIC_TIME, H_EXPIRY]);
/** An envelope is a few kilobytes of certificates; more is an attempt to make us spend time. */
const MAX_ENVELOPE_BYTES = MAX_NOTATION_ENVELOPE_BYTES;

export function verifyCoseEnvelope(bytes: Buffer, target: TargetDescriptor): NotationFacts {
  if (bytes.length > MAX_ENVELOPE_BYTES) throw new NotationEnvelopeError(`the COSE envelope is larger than ${MAX_ENVELOPE_BYTES} bytes`);
  const message = decode(bytes, 'the COSE envelope');
  if (!isTag(message) || message.tag !== COSE_SIGN1_TAG)
    throw new NotationEnvelopeError('the envelope is not a COSE_Sign1_Tagged message (CBOR tag 18)');
  const parts = message.value;
  if (!Array.isArray(parts) || parts.length !== 4)
    throw new NotationEnvelopeError('a COSE_Sign1 message is an array of 4: protected, unprotected, payload, signature');
  const [protectedBytes, unprotected, payload, signature] = parts as [CborValue, CborValue, CborValue, CborValue];
  if (!Buffer.isBuffer(protectedBytes) || protectedBytes.length === 0)
    throw new NotationEnvelopeError('the COSE protected header is not a non-empty byte string');
  if (!(unprotected instanceof Map)) throw new NotationEnvelopeError('the COSE unprotected header is not a map');
  if (!Buffer.isBuffer(payload))
    throw new NotationEnvelopeError('the COSE payload is not a byte string (a detached payload is not a Notary signature)');
  if (!Buffer.isBuffer(signature) || signature.length === 0)
    throw new NotationEnvelopeError('the COSE signature is not a non-empty byte string');
  const h = decode(protectedBytes, 'the COSE protected header');
  if (!(h instanceof Map)) throw new NotationEnvelopeError('the COSE protected header is not a map');

  const algId = h.get(LABEL.ALG);
  const alg = typeof algId === 'number' ? COSE_ALGORITHMS[algId] : undefined;
  if (alg === undefined)
    throw new NotationEnvelopeError(
      `unsupported COSE alg ${quoteUntrusted(algId ?? null)}: Notary COSE uses PS256/384/512 (-37/-38/-39) or ES256/384/512 (-7/-35/-36)`,
    );
  if (h.get(LABEL.CONTENT_TYPE) !== NOTARY_PAYLOAD_TYPE)
    throw new NotationEnvelopeError(`the protected content type is ${describe(h.get(LABEL.CONTENT_TYPE))}, not ${NOTARY_PAYLOAD_TYPE}`);
  refusePlugin(h.get(H_PLUGIN), h.get(H_PLUGIN_MIN_VERSION));
  // RFC 9052 §3: a label is in one bucket only (a reader preferring the unprotected copy would see what nobody signed).
  for (const k of unprotected.keys())
    if (h.has(k)) throw new NotationEnvelopeError(`the header label ${quoteUntrusted(k)} is both protected and unprotected`);
  const scheme = h.get(H_SCHEME);
  if (!isSigningScheme(scheme)) {
    throw new NotationEnvelopeError(`unknown signing scheme ${describe(scheme)} (notary.x509 or notary.x509.signingAuthority)`);
  }
  const crit = h.get(LABEL.CRIT);
  if (!Array.isArray(crit) || crit.length === 0 || !crit.every((c) => typeof c === 'string' || typeof c === 'number'))
    throw new NotationEnvelopeError('the protected header has no crit list');
  for (const c of crit) {
    if (!UNDERSTOOD_CRITICAL.has(c))
      throw new NotationEnvelopeError(`crit names ${quoteUntrusted(c)}, a critical header Countersign does not understand`);
    if (!h.has(c)) throw new NotationEnvelopeError(`crit names ${quoteUntrusted(c)}, which the protected header does not carry`);
  }
  const mustBeCritical = [H_SCHEME, ...(h.has(H_EXPIRY) ? [H_EXPIRY] : []), ...(h.has(H_AUTHENTIC_TIME) ? [H_AUTHENTIC_TIME] : [])];
  for (const c of mustBeCritical) if (!(crit as unknown[]).includes(c)) throw new NotationEnvelopeError(`${c} must be listed in crit`);

  const times = schemeTimes(scheme, {
    signingTime: epochTime(h.get(H_SIGNING_TIME), H_SIGNING_TIME),
    authentic: epochTime(h.get(H_AUTHENTIC_TIME), H_AUTHENTIC_TIME),
    expiry: epochTime(h.get(H_EXPIRY), H_EXPIRY),
  });

  const certs = chainOf(unprotected.get(LABEL.X5CHAIN));
  verifyChainLinks(certs);
  const leaf = certs[0]!;
  const toBeSigned = encodeCbor(['Signature1', protectedBytes, Buffer.alloc(0), payload]);
  if (!verifyWithAlg(alg, leaf, toBeSigned, signature))
    throw new NotationEnvelopeError('the signature does not verify with the leaf certificate of x5chain');

  // Only now is the payload signed content: it must name exactly the image we resolved.
  checkTargetArtifact(parseJson(payload.toString('utf8'), 'the payload'), target);

  const ts = unprotected.get(TIMESTAMP_HEADER);
  const timestamp =
    ts === undefined
      ? undefined
      : Buffer.isBuffer(ts)
        ? verifyTimestampBytes(ts, signature)
        : { verified: false as const, reason: `the ${TIMESTAMP_HEADER} header is not a byte string` };
  return envelopeFacts('cose', { ...times, alg, certs, timestamp, agent: unprotected.get('io.cncf.notary.signingAgent') });
}

function decode(bytes: Buffer, what: string): CborValue {
  try {
    return decodeCbor(bytes);
  } catch (err) {
    if (err instanceof CborError) throw new NotationEnvelopeError(`${what} is not valid CBOR: ${err.message}`);
    throw err;
  }
}

/** x5chain (RFC 9360): one certificate as a byte string, or an array of them, leaf first. */
function chainOf(v: CborValue | undefined): X509Certificate[] {
  if (v === undefined) throw new NotationEnvelopeError('the envelope carries no x5chain certificate chain (unprotected label 33)');
  const list = Buffer.isBuffer(v) ? [v] : v;
  if (!Array.isArray(list) || list.length === 0)
    throw new NotationEnvelopeError('x5chain is neither a certificate nor a list of certificates');
  if (list.length > MAX_CHAIN) throw new NotationEnvelopeError(`x5chain has ${list.length} certificates; at most ${MAX_CHAIN} are read`);
  return list.map((c, i) => {
    if (!Buffer.isBuffer(c)) throw new NotationEnvelopeError(`x5chain[${i}] is not a byte string`);
    return parseCertificate(c, `x5chain[${i}]`);
  });
}

/** Notary COSE times are CBOR tag 1 (epoch-based date/time), integer seconds. */
function epochTime(v: CborValue | undefined, name: string): Date | undefined {
  if (v === undefined) return undefined;
  if (!isTag(v) || v.tag !== 1 || typeof v.value !== 'number' || !Number.isInteger(v.value))
    throw new NotationEnvelopeError(`${name} is not a tag-1 epoch time (integer seconds)`);
  const d = new Date(v.value * 1000);
  if (Number.isNaN(d.getTime())) throw new NotationEnvelopeError(`${name} is out of range`);
  return d;
}

function describe(v: CborValue | undefined): string {
  if (v === undefined) return '(absent)';
  if (typeof v === 'string' || typeof v === 'number') return quoteUntrusted(v);
  return 'a non-text value';
}
