/**
 * Who is pushing, as far as the gate can tell from the request's credentials, for the decision's
 * context (policy `identities` and the decision log).
 *
 * The gate does NOT authenticate anyone: the upstream registry does, with the same credentials,
 * and refuses the write when they are wrong. So the name is read without verifying anything:
 * the Basic user name, or the `sub` claim of a bearer JWT decoded WITHOUT checking its signature.
 * That is sound only because the write still needs the upstream's acceptance of those very
 * credentials; a registry that accepts anonymous pushes makes this identity a claim, not a fact,
 * and policies that restrict identities must only be used in front of a registry that
 * authenticates pushes.
 */
export interface PusherIdentity {
  identity?: string;
  source: 'basic' | 'bearer' | 'none';
}

const MAX_IDENTITY_CHARS = 256;

export function pusherIdentity(authorization: string | undefined): PusherIdentity {
  if (!authorization) return { source: 'none' };
  const m = /^(\S+)\s+(\S+)$/.exec(authorization.trim());
  if (!m) return { source: 'none' };
  const scheme = m[1]!.toLowerCase();
  if (scheme === 'basic') {
    const decoded = Buffer.from(m[2]!, 'base64').toString('utf8');
    const user = decoded.split(':')[0] ?? '';
    const name = clean(user);
    return name !== undefined ? { identity: name, source: 'basic' } : { source: 'none' };
  }
  if (scheme === 'bearer') {
    const parts = m[2]!.split('.');
    if (parts.length !== 3) return { source: 'none' };
    try {
      const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
      const sub = typeof claims.sub === 'string' ? clean(claims.sub) : undefined;
      return sub ? { identity: sub, source: 'bearer' } : { source: 'none' };
    } catch {
      return { source: 'none' };
    }
  }
  return { source: 'none' };
}

/**
 * The name exactly as the upstream authenticates it, or none: a name with control or format
 * characters (C0, DEL, C1, bidi overrides, zero-width: it ends up in logs and reasons) or longer
 * than MAX_IDENTITY_CHARS is no identity at all. Never a cleaned or shortened one: "alice\u0085"
 * is another account than "alice", and must not be judged as her.
 */
function clean(value: string): string | undefined {
  return value === '' || value.length > MAX_IDENTITY_CHARS || /[\p{Cc}\p{Cf}]/u.test(value) ? undefined : value;
}
