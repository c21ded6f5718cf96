/**
 * Manifests and indexes are read by Go programs (Distribution, containerd, skopeo, docker) whose
 * encoding/json matches object keys to struct fields case-insensitively, with Unicode simple
 * folding (`Layers`, `LAYERS`, `layerſ` and `laYers` all fill `layers`; K folds to k, İ to I),
 * the last matching key winning. JSON.parse matches exactly. A pusher can therefore write a body
 * that this project reads one way and every runtime another. Wherever a decision depends on what
 * a manifest says, a key a Go reader could take for another spelling of a field read here makes
 * the body unreadable as far as we are concerned.
 */

/** The fields a reader relies on, as given; compared case-insensitively. */
export type ReadFields = ReadonlyMap<string, string>;

export function readFields(names: readonly string[]): ReadFields {
  return new Map(names.map((f) => [f.toLowerCase(), f]));
}

/**
 * The first key (as a path, e.g. `manifests[0].Digest`) in `value` that a Go reader could map onto
 * one of `fields` under another spelling: a non-ASCII key (Unicode folding), or an ASCII one equal
 * to a field but for case. Undefined when there is none. Depth-bounded (JSON.parse's output is finite).
 */
export function misleadingKey(value: unknown, fields: ReadFields, path = '', depth = 0): string | undefined {
  if (depth > 16 || typeof value !== 'object' || value === null) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = misleadingKey(value[i], fields, `${path}[${i}]`, depth + 1);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  for (const key in value) {
    const at = path === '' ? key : `${path}.${key}`;
    // eslint-disable-next-line no-control-regex
    if (!/^[\x00-\x7f]*$/.test(key)) return at;
    const field = fields.get(key.toLowerCase());
    if (field !== undefined && field !== key) return at;
    // Annotations are a map in Go (map[string]string): its keys are matched exactly.
    if (key === 'annotations') continue;
    const found = misleadingKey((value as Record<string, unknown>)[key], fields, at, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}
