/**
 * The context of a Verify (namespace, identity, labels): what the caller says about where and by
 * whom the image is used, matched by rules and exceptions. Bounded here, in the one entry every
 * caller goes through (gRPC Verify and VerifyBatch, the admission webhook, the registry gate), so
 * that a request cannot make the evaluation, its log or what a decision keeps as large as the
 * request size limit allows; and compared through a key, so that a decision kept for later calls
 * holds a few dozen characters of it, never the caller's objects.
 *
 * The limits admit every label Kubernetes admits (the webhook passes a workload's labels as they
 * are): Kubernetes' longest label key is 317 characters and its values have at most 63. Values
 * may be longer here (the gate's labels carry digests, up to 135 characters for sha512), but not
 * megabytes.
 */
import { createHash } from 'node:crypto';
import type { RequestContext } from '../policy/input';
import { CountersignError } from '../shared/errors';
import { quoteUntrusted } from '../shared/untrusted-text';

/**
 * All labels of a request together, keys and values, in characters: Kubernetes' own total for an
 * object's annotations. Kubernetes sets no count of labels (the webhook passes a workload's as
 * they are, and a Pod with a hundred must not be denied for it); a total bounds them all.
 */
export const MAX_CONTEXT_LABEL_CHARS = 256 * 1024;
/** Kubernetes' longest label key: a 253-character DNS-subdomain prefix, "/" and a 63-character name. */
export const MAX_LABEL_KEY_CHARS = 317;
/** Far above Kubernetes' 63 and the gate's digests, far below what would weigh on memory. */
export const MAX_LABEL_VALUE_CHARS = 4096;
/** The longest Kubernetes object name (a DNS subdomain); namespaces themselves have at most 63. */
export const MAX_NAMESPACE_CHARS = 253;
/** A service account, user or CI identity (an OIDC subject or a certificate's DN included). */
export const MAX_IDENTITY_CHARS = 4096;

/** `context` when it is within the limits above; INVALID_ARGUMENT naming the field otherwise. */
export function checkRequestContext(context: RequestContext | undefined): RequestContext {
  if (context === undefined) return {};
  const tooLong = (field: string, length: number, max: number, why: string): CountersignError =>
    new CountersignError('INVALID_ARGUMENT', `${field} is ${length} characters long; at most ${max} are accepted (${why})`);
  if (context.namespace !== undefined && context.namespace.length > MAX_NAMESPACE_CHARS) {
    throw tooLong('context.namespace', context.namespace.length, MAX_NAMESPACE_CHARS, 'a Kubernetes namespace has at most 63');
  }
  if (context.identity !== undefined && context.identity.length > MAX_IDENTITY_CHARS) {
    throw tooLong('context.identity', context.identity.length, MAX_IDENTITY_CHARS, 'the name of a service account, user or CI identity');
  }
  if (context.labels !== undefined) {
    const keys = Object.keys(context.labels);
    let total = 0;
    for (const key of keys) {
      total += key.length + context.labels[key]!.length;
      if (total > MAX_CONTEXT_LABEL_CHARS) {
        throw new CountersignError(
          'INVALID_ARGUMENT',
          `context.labels (${keys.length} labels) hold more than ${MAX_CONTEXT_LABEL_CHARS} characters of keys and values; pass the workload's labels, not data`,
        );
      }
      if (key.length > MAX_LABEL_KEY_CHARS) {
        throw tooLong(
          `context.labels key ${quoteUntrusted(key)}`,
          key.length,
          MAX_LABEL_KEY_CHARS,
          'Kubernetes\' limit: a 253-character prefix, "/" and a 63-character name',
        );
      }
      const value = context.labels[key]!;
      if (value.length > MAX_LABEL_VALUE_CHARS) {
        throw tooLong(`the value of context.labels[${quoteUntrusted(key)}]`, value.length, MAX_LABEL_VALUE_CHARS, 'Kubernetes allows 63');
      }
    }
  }
  return context;
}

/** Keys up to this length are kept as they are; a longer one by its SHA-256. */
const MAX_PLAIN_KEY_CHARS = 256;

/**
 * What tells one context from another, as requestContextKey(a) === requestContextKey(b): the
 * namespace, the identity (absent and empty differ, as they may for the policy) and the labels in
 * key order (their order in the request means nothing; absent labels are no labels), each
 * length-prefixed, so that no two contexts share a key. A key longer than MAX_PLAIN_KEY_CHARS is
 * replaced by the SHA-256 of its UTF-16 code units (every code unit counts, a lone surrogate
 * included), so what a decision memo keeps of a context is bounded by this, not by the limits.
 */
export function requestContextKey(context: RequestContext): string {
  const part = (s: string | undefined): string => (s === undefined ? '-' : `${s.length}:${s}`);
  let key = part(context.namespace) + part(context.identity);
  const labels = context.labels;
  if (labels !== undefined) for (const k of Object.keys(labels).sort()) key += part(k) + part(labels[k]);
  // A plain key starts with a digit or "-", a hashed one with "#": the two forms never meet.
  return key.length <= MAX_PLAIN_KEY_CHARS ? key : `#${createHash('sha256').update(Buffer.from(key, 'utf16le')).digest('base64')}`;
}
