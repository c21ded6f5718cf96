/**
 * `Link` header (RFC 8288) as used for referrers and tag-list pagination:
 * `<https://r/v2/x/referrers/sha256:…?last=…>; rel="next"`. Only the `next` relation matters to us,
 * but a header may carry several links, and the URL may itself contain ';' or ',', so we scan
 * `<…>` groups rather than splitting on separators.
 */
export function parseNextLink(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value.join(', ') : value;
  const linkRe = /<([^>]*)>((?:\s*;\s*[^;,<]+)*)/g;
  for (let m = linkRe.exec(text); m !== null; m = linkRe.exec(text)) {
    const params = m[2] ?? '';
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(params);
    const rels = (rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/);
    if (rels.includes('next')) return m[1];
  }
  return undefined;
}
