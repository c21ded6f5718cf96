/**
 * Push-side constraints of a rule (`push:`), checked on action push before any evidence: who may
 * push, what a tag may be called, and which tags never move. They judge a TAG write; a content
 * write (a manifest or blob by digest, an evidence tag: operation `content`) has nothing to name
 * or move, so only `identities` applies to it. Content is judged at all because whoever may write
 * into a repository can also spoil what is there: an evidence tag such as the `sha256-<hex>`
 * referrers fallback index, overwritten empty, hides every signature of an image.
 *
 * The tag's current target is not something Countersign can look up safely at decision time
 * (the gate is in the middle of writing it), so the caller states it in a context label. A
 * missing label under an immutable-tag rule is a deny: unknown is not "not set yet".
 */
import type { ImageFacts, RequestContext } from './input';
import { matchesGlob } from './match';
import type { PushRules } from './types';

/** Context labels a push request carries (the registry gate sets them). */
export const PUSH_LABELS = {
  /** The digest the tag points at now in the registry; '' when the tag does not exist. */
  currentDigest: 'gate.countersign.dev/current-digest',
  /**
   * 'write' (default: a tag is pointed at an image), 'delete' (a manifest or blob removed), or
   * 'content' (a manifest or blob stored by digest, or an evidence tag written: referrer
   * artifacts, cosign `.sig`/`.att`, the `sha256-<hex>` fallback index).
   */
  operation: 'gate.countersign.dev/operation',
  /** The tag written (also in the image reference). */
  tag: 'gate.countersign.dev/tag',
  /** How the gate obtained the identity: basic, bearer, none. */
  identitySource: 'gate.countersign.dev/identity-source',
} as const;

export interface PushCheck {
  requirement: string;
  satisfied: boolean;
  message: string;
}

export function isDelete(context: RequestContext): boolean {
  return context.labels?.[PUSH_LABELS.operation] === 'delete';
}

/** A content write: no tag is pointed at an image, so only who writes is judged, never evidence. */
export function isContentWrite(context: RequestContext): boolean {
  return context.labels?.[PUSH_LABELS.operation] === 'content';
}

export function checkPushRules(rules: PushRules, ruleName: string, image: ImageFacts, context: RequestContext): PushCheck[] {
  const out: PushCheck[] = [];
  const where = `${image.registry}/${image.repository}`;
  if (rules.identities) {
    const who = context.identity;
    const ok = who !== undefined && rules.identities.some((g) => matchesGlob(g, who));
    out.push({
      requirement: 'push.identities',
      satisfied: ok,
      message: ok
        ? `${who} may push to ${where} (rule ${ruleName})`
        : // Who was refused and by which rule; never who would be accepted: this reason reaches the
          // pusher (the gate's 403), and the list is one of accounts worth stealing. The policy says it.
          `${who === undefined ? 'an unidentified pusher' : who} may not push to ${where}: rule ${ruleName} does not list this identity`,
    });
  }
  // An evidence tag is content: it must stay writable (cosign and Countersign append to it), so
  // neither the naming rule nor immutability is about it.
  const tag = isContentWrite(context) ? undefined : image.tag;
  const deleting = isDelete(context);
  if (tag === undefined) {
    // A manifest deleted by digest takes every tag on it along, immutable ones included; a blob
    // deleted by digest breaks every image made of it.
    if (deleting && rules.immutableTags) {
      out.push({
        requirement: 'push.immutableTags',
        satisfied: false,
        message: `${where} has immutable tags (${rules.immutableTags.join(', ')}): manifests and blobs cannot be deleted by digest (rule ${ruleName})`,
      });
    }
    return out;
  }
  if (rules.tagPattern && !deleting) {
    const ok = rules.tagPattern.regex.test(tag);
    out.push({
      requirement: 'push.tagPattern',
      satisfied: ok,
      message: ok
        ? `tag ${tag} follows the naming rule`
        : `tag "${tag}" does not follow the naming rule of rule ${ruleName}: it must match ${rules.tagPattern.source}`,
    });
  }
  const immutable = rules.immutableTags?.find((g) => matchesGlob(g, tag));
  if (immutable !== undefined) {
    const current = context.labels?.[PUSH_LABELS.currentDigest];
    let satisfied: boolean;
    let message: string;
    if (current === undefined) {
      satisfied = false;
      message = `tag ${tag} is immutable (${immutable}) and the request does not say what it points at now (label ${PUSH_LABELS.currentDigest}): denied`;
    } else if (deleting) {
      satisfied = current === '';
      message = satisfied
        ? `tag ${tag} does not exist`
        : `tag ${tag} is immutable (${immutable}): it cannot be deleted (it points at ${current})`;
    } else if (current === '' || current === image.digest) {
      satisfied = true;
      message =
        current === ''
          ? `immutable tag ${tag} is written for the first time`
          : `immutable tag ${tag} already points at ${image.digest} (re-push of the same digest)`;
    } else {
      satisfied = false;
      message = `tag ${tag} is immutable (${immutable}): it points at ${current} and cannot be moved to ${image.digest}`;
    }
    out.push({ requirement: 'push.immutableTags', satisfied, message });
  }
  return out;
}
