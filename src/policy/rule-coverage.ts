/**
 * Whether one rule's `match` covers another's: every request the later one could match, the
 * earlier one matches too. Rules are tried in document order and the first match decides
 * (match.ts), so a covered rule placed after its cover can never match, and the loader refuses it.
 *
 * The answer must be certain: `true` only when containment is proven for every selector (images,
 * namespaces, actions), `false` whenever it is not (patterns this module does not understand, a
 * comparison too large for the budget). A `false` for a rule that is in fact dead only leaves a
 * mistake unreported; a `true` for a live rule would refuse a valid policy.
 *
 * Image patterns are compared through their compiled form (src/shared/image-pattern.ts, the one
 * matcher), so host spellings, Docker Hub aliases and `docker.io/nginx` = `docker.io/library/nginx`
 * are already normalized: the compiled regular expression is read back as a glob over the
 * canonical name, and anything in it other than what that module's glob translation writes makes
 * the answer "not covered".
 */
import { compileImagePattern } from '../shared/image-pattern';
import type { Action } from './input';
import { ACTIONS } from './schema';
import type { MatchSpec } from './types';

/** In a glob read back from a pattern: `*` (any run of characters without `/`). */
const STAR = '\u0001';
/** In a glob read back from a pattern: `**` (any run of characters). */
const ANY = '\u0002';

/**
 * Work allowed for one policy (rule pairs compared plus glob comparison steps): a realistic
 * policy needs a few thousand; a hostile one (thousands of rules, huge patterns) gets "not
 * covered" once it is spent, so loading stays bounded.
 */
export const COVERAGE_BUDGET = 2_000_000;

export class CoverageBudget {
  constructor(private left = COVERAGE_BUDGET) {}

  /**
   * Takes `steps` from the budget; false (and nothing taken) when that would overdraw it, so that
   * one oversized comparison is "not covered" without stopping the smaller ones.
   */
  spend(steps: number): boolean {
    if (steps > this.left) return false;
    this.left -= steps;
    return true;
  }
}

/** Whether every request `later` could match is matched by `earlier` (absent = matches everything). */
export function matchCovers(earlier: MatchSpec | undefined, later: MatchSpec | undefined, budget: CoverageBudget): boolean {
  if (!budget.spend(1)) return false;
  return (
    actionsCover(earlier?.actions, later?.actions) &&
    listCovers(earlier?.namespaces, later?.namespaces, (a, b) => namespaceCovers(a, b, budget)) &&
    listCovers(earlier?.images, later?.images, (a, b) => imagePatternCovers(a, b, budget))
  );
}

function actionsCover(earlier: readonly Action[] | undefined, later: readonly Action[] | undefined): boolean {
  const covered = earlier ?? ACTIONS;
  return (later ?? ACTIONS).every((a) => covered.includes(a));
}

/**
 * An absent list matches everything (for namespaces, even a request without one; for images,
 * even a name no pattern matches), which no given list covers; a given list is covered when
 * each of its entries is covered by one entry of the earlier list.
 */
function listCovers(
  earlier: readonly string[] | undefined,
  later: readonly string[] | undefined,
  covers: (a: string, b: string) => boolean,
): boolean {
  if (earlier === undefined) return true;
  if (later === undefined) return false;
  return later.every((b) => earlier.some((a) => covers(a, b)));
}

/** Namespace globs (match.ts's matchesGlob): `*` is any run of characters. */
function namespaceCovers(a: string, b: string, budget: CoverageBudget): boolean {
  if (!budget.spend(1)) return false;
  return a === b || globCovers(a.replace(/\*+/g, ANY), b.replace(/\*+/g, ANY), budget);
}

function imagePatternCovers(a: string, b: string, budget: CoverageBudget): boolean {
  if (!budget.spend(1)) return false;
  const pa = compileImagePattern(a, 'policy');
  const pb = compileImagePattern(b, 'policy');
  if (pa === null || pb === null) return false;
  if (pa.digest !== undefined && pa.digest !== pb.digest) return false;
  if (pa.tag !== undefined && (pb.tag === undefined || !regexCovers(pa.tag, pb.tag, budget))) return false;
  return regexCovers(pa.name, pb.name, budget);
}

/** Two compiled globs: the same expression, or globs read back from them of which `a` covers `b`. */
function regexCovers(a: RegExp, b: RegExp, budget: CoverageBudget): boolean {
  if (a.source === b.source && a.flags === b.flags) return true;
  const ga = globOf(a);
  const gb = globOf(b);
  return ga !== undefined && gb !== undefined && globCovers(ga, gb, budget);
}

/**
 * The glob a compiled pattern (`^…$`, image-pattern.ts's translation: `.*` for `**`, `[^/]*` for
 * `*`, other characters literal or escaped) stands for; undefined for anything else, such as the
 * optional port of `host:*`.
 */
function globOf(re: RegExp): string | undefined {
  if (globs.has(re)) return globs.get(re);
  const glob = readGlob(re.source);
  globs.set(re, glob);
  return glob;
}

/** Compiled patterns are cached (image-pattern.ts), and so are the globs read back from them. */
const globs = new WeakMap<RegExp, string | undefined>();

function readGlob(s: string): string | undefined {
  if (!s.startsWith('^') || !s.endsWith('$')) return undefined;
  let out = '';
  for (let i = 1; i < s.length - 1;) {
    if (s.startsWith('.*', i)) {
      out += ANY;
      i += 2;
    } else if (s.startsWith('[^/]*', i) || s.startsWith('[^\\/]*', i)) {
      out += STAR;
      i += s[i + 2] === '/' ? 5 : 6;
    } else if (s[i] === '\\' && i + 2 < s.length && /^[.+?^${}()|[\]\\/-]$/.test(s[i + 1]!)) {
      out += s[i + 1]!;
      i += 2;
    } else if (/^[A-Za-z0-9_:/]$/.test(s[i]!)) {
      out += s[i]!;
      i += 1;
    } else {
      return undefined;
    }
  }
  return out;
}

/**
 * Whether glob `a` matches every string glob `b` matches, where both hold literal characters,
 * STAR and ANY. A literal of `a` matches only the same literal of `b`, a STAR of `a` any run of
 * `b` without `/` or ANY, an ANY of `a` any run: sound (each part of `b` that a part of `a` takes
 * expands only to strings that part matches), not complete. Dynamic programming over both, so
 * no input backtracks; larger than the budget allows is "not covered".
 */
function globCovers(a: string, b: string, budget: CoverageBudget): boolean {
  if (!budget.spend((a.length + 1) * (b.length + 1))) return false;
  // row[j]: a[0, i) matches b[0, j).
  let row: boolean[] = [true, ...Array<boolean>(b.length).fill(false)];
  for (let i = 1; i <= a.length; i++) {
    const c = a[i - 1]!;
    const next: boolean[] = [c === ANY || c === STAR ? row[0]! : false];
    for (let j = 1; j <= b.length; j++) {
      const d = b[j - 1]!;
      if (c === ANY) next.push(row[j]! || next[j - 1]!);
      else if (c === STAR) next.push(row[j]! || (next[j - 1]! && d !== '/' && d !== ANY));
      else next.push(row[j - 1]! && d === c);
    }
    row = next;
  }
  return row[b.length]!;
}
