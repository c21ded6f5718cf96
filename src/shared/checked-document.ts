/**
 * A strictly checked YAML (or JSON: JSON is YAML, so one parser serves both) document, for files
 * that configure security: the policy (src/policy/load.ts) and the service configuration
 * (src/config/config-file.ts). A misspelled field that is silently ignored ("maxSeverty",
 * "auth.mdoe") is a hole nobody notices, so readers built on this refuse unknown fields (with a
 * "did you mean"), wrong types and out-of-range values, and report every problem at once with its
 * line, column and field path, so that one edit can fix them all.
 *
 * This module knows nothing about what a document means: a reader walks the syntax tree with the
 * typed accessors below, each of which records its own problem and returns undefined on failure.
 */
import { CST, isAlias, isMap, isScalar, isSeq, Lexer, LineCounter, parseDocument, type Document, type Node, type Scalar } from 'yaml';
import { CountersignError } from './errors';
import { plainUntrusted, quoteUntrusted } from './untrusted-text';

export interface DocumentProblem {
  line: number;
  column: number;
  /** Field path such as `rules[0].require.signatures.keys`, or `(syntax)` / `(document)`. */
  path: string;
  message: string;
}

/** One field of a mapping: its key (for positions) and its value. */
export type Field = { key: Scalar; value: Node | null };

/**
 * The most nodes (scalars, mappings, lists) a checked document may hold. A policy or a service
 * configuration holds a few hundred; parsing is linear, but a 1 MiB document of tiny values
 * still takes seconds of the event loop (and SetPolicy parses in the request).
 */
export const DEFAULT_MAX_NODES = 20_000;

export interface CheckedDocumentOptions {
  /** Larger documents are refused before parsing (a mistake, or an attack on the YAML parser). */
  maxBytes: number;
  /** Documents with more nodes are refused, before parsing when the tokens already say so; default DEFAULT_MAX_NODES. */
  maxNodes?: number;
  /** What the document is, in messages: "the policy is larger than …", "… not supported in policies". */
  noun: { singular: string; plural: string };
}

/**
 * Walks a YAML syntax tree, collecting problems with their positions. Subclass it (or use it
 * directly) and read the document with `parse()` and the typed accessors.
 */
export class CheckedDocument {
  readonly problems: DocumentProblem[] = [];
  private readonly lines = new LineCounter();
  private document: Document | undefined;

  constructor(
    readonly source: string,
    private readonly text: string,
    private readonly options: CheckedDocumentOptions,
  ) {}

  /**
   * The document's root node: undefined when it could not be parsed (too large, syntax errors,
   * aliases; each already recorded as a problem), null when the document is empty.
   */
  parse(): Node | null | undefined {
    const { maxBytes, noun } = this.options;
    const maxNodes = this.options.maxNodes ?? DEFAULT_MAX_NODES;
    if (Buffer.byteLength(this.text, 'utf8') > maxBytes) {
      this.problemAt(0, '(document)', `the ${noun.singular} is larger than ${maxBytes} bytes`);
      return undefined;
    }
    const tooMany = `the ${noun.singular} holds more than ${maxNodes} values (keys, scalars, lists and mappings); ${noun.plural} hold a few hundred`;
    // Every scalar, alias and flow collection token is at least one node: a document of more
    // tokens than that is refused before the parser builds its tree.
    if (countValueTokens(this.text, maxNodes) > maxNodes) {
      this.problemAt(0, '(document)', tooMany);
      return undefined;
    }
    const doc = parseDocument(this.text, {
      lineCounter: this.lines,
      prettyErrors: false,
      // The parser's own check compares every key of a mapping with every other (quadratic in
      // the keys of one mapping); walkNodes below checks with one Set per mapping instead.
      uniqueKeys: false,
      strict: true,
      // Plain 1.2 core schema: `2027-01-31` stays a string, `no` is not false.
      version: '1.2',
      schema: 'core',
    });
    if (doc.errors.length > 0) {
      // A syntax error leaves a partial tree; field errors on it would only confuse.
      for (const e of doc.errors) this.problemAt(e.pos[0], '(syntax)', e.message.replace(/ at line \d+, column \d+.*$/s, ''));
      return undefined;
    }
    // Warnings are what the parser read past: an unknown tag (`!!js/function`, `!custom`) taken as
    // a plain value, an unknown directive. Another reader may take the same text differently.
    for (const w of doc.warnings) {
      const message = w.message.replace(/ at line \d+, column \d+.*$/s, '');
      this.problemAt(
        w.pos[0],
        '(document)',
        w.code === 'TAG_RESOLVE_FAILED'
          ? `${message}: tags other than the YAML core schema's are not supported in ${noun.plural}; write the value without the tag`
          : `${message}; remove it (${noun.plural} are plain YAML 1.2)`,
      );
    }
    if (this.problems.length > 0) return undefined;
    if (!this.walkNodes(doc.contents, maxNodes, tooMany)) return undefined;
    this.document = doc;
    const root = doc.contents;
    if (root === null || (isScalar(root) && (root.value === null || root.value === ''))) return null;
    return root;
  }

  /**
   * Every node of the tree, without recursion (nesting depth is the document's to choose): at most
   * `maxNodes` of them (false beyond), no alias (they hide where a value really comes from, and
   * can multiply a small document into a huge one), and no mapping with a key twice, checked with
   * one Set of key values per mapping. Problems are recorded; false when there were any.
   */
  private walkNodes(root: Node | null, maxNodes: number, tooMany: string): boolean {
    const { noun } = this.options;
    let ok = true;
    let count = 0;
    const stack: Array<Node | null> = [root];
    while (stack.length > 0) {
      const node = stack.pop();
      if (node === null || node === undefined) continue;
      if (++count > maxNodes) {
        this.problemAt(0, '(document)', tooMany);
        return false;
      }
      if (isAlias(node)) {
        this.problemAt(node.range?.[0] ?? 0, '(document)', `alias *${node.source} is not supported in ${noun.plural}; write the value out`);
        ok = false;
      } else if (isMap(node)) {
        // Scalar keys are the same key when their values are (`"onUnm\u0061tched"` is `onUnmatched`),
        // as for the parser's own uniqueKeys; other keys are refused where fields are read.
        const keys = new Set<unknown>();
        for (const pair of node.items) {
          const key = pair.key as Node | null;
          if (isScalar(key)) {
            if (keys.has(key.value)) {
              this.problemAt(
                key.range?.[0] ?? 0,
                '(syntax)',
                `Map keys must be unique; the key ${quoteUntrusted(key.value)} is written twice`,
              );
              ok = false;
            }
            keys.add(key.value);
          }
          stack.push(pair.value as Node | null, key);
        }
      } else if (isSeq(node)) {
        for (let i = node.items.length - 1; i >= 0; i--) stack.push(node.items[i] as Node | null);
      }
    }
    return ok;
  }

  /** The parsed document as plain data (after a successful `parse()`). */
  toJS(): unknown {
    return this.document?.toJS();
  }

  /**
   * Throws CountersignError('INVALID_ARGUMENT') listing every problem as
   * `source:LINE:COL: field.path: what is wrong` (sorted by position) under `heading`, with the
   * problems in `details.problems`. Does nothing when there are none.
   */
  throwIfProblems(heading: string): void {
    if (this.problems.length === 0) return;
    const problems = [...this.problems].sort((a, b) => a.line - b.line || a.column - b.column);
    const lines = problems.map((p) => `${this.source}:${p.line}:${p.column}: ${p.path}: ${p.message}`);
    throw new CountersignError(
      'INVALID_ARGUMENT',
      `${heading} (${problems.length} ${problems.length === 1 ? 'problem' : 'problems'}):\n${lines.join('\n')}`,
      { details: { source: this.source, problems } },
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Typed accessors. Each reports its own problem and returns undefined on failure.

  /** The fields of a mapping, after refusing unknown and non-string keys. */
  fields(node: Node | null, path: string, allowed: readonly string[], example: string): Map<string, Field> | undefined {
    if (!isMap(node)) {
      this.problem(node, path || '(document)', `must be a mapping (object) such as ${example}, not ${describe(node)}`);
      return undefined;
    }
    const out = new Map<string, Field>();
    for (const pair of node.items) {
      const key = pair.key as Node | null;
      if (!isScalar(key) || typeof key.value !== 'string') {
        this.problem(key, path || '(document)', `field names must be strings, not ${describe(key)}`);
        continue;
      }
      const name = key.value;
      const fieldPath = path ? `${path}.${name}` : name;
      if (!allowed.includes(name)) {
        const suggestion = closest(name, allowed);
        this.problem(
          key,
          fieldPath,
          `unknown field${suggestion ? `; did you mean "${suggestion}"?` : ''} (allowed here: ${allowed.join(', ')})`,
        );
        continue;
      }
      out.set(name, { key, value: pair.value as Node | null });
    }
    return out;
  }

  required(f: Map<string, Field>, parent: Node, path: string, name: string, what: string): string | undefined {
    return this.requiredWith(f, parent, path, name, what, (node, at) => this.string(node, at, what));
  }

  /** A required field read by `read`, or its absence recorded. */
  private requiredWith<T>(
    f: Map<string, Field>,
    parent: Node,
    path: string,
    name: string,
    what: string,
    read: (node: Node | null, path: string) => T | undefined,
  ): T | undefined {
    const field = f.get(name);
    if (!field) {
      this.problem(parent, `${path}.${name}`, `is required: ${what}`);
      return undefined;
    }
    return read(field.value, `${path}.${name}`);
  }

  string(node: Node | null, path: string, what?: string): string | undefined {
    if (!isScalar(node) || typeof node.value !== 'string') {
      this.problem(node, path, `must be a string${what ? ` (${what})` : ''}, not ${describe(node)}`);
      return undefined;
    }
    if (node.value.trim() === '') {
      this.problem(node, path, `must not be empty${what ? ` (${what})` : ''}`);
      return undefined;
    }
    return node.value;
  }

  /**
   * Free text that reaches people (a deny message, an exception's reason and approver, a
   * description): a non-empty string without control, text-direction or invisible characters
   * (untrusted-text.ts's definition), which would forge lines or disguise text wherever it is
   * shown: decisions, audit records, logs, kubectl output. One line, unless `multiline`, where
   * line breaks and tabs may stay (descriptions written as YAML blocks).
   */
  plainText(node: Node | null, path: string, what?: string, opts: { multiline?: boolean } = {}): string | undefined {
    const value = this.string(node, path, what);
    if (value === undefined) return undefined;
    const unsafe = unsafeCharacter(value, opts.multiline === true);
    if (unsafe === undefined) return value;
    const code = `U+${unsafe.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    this.problem(
      node,
      path,
      unsafe === '\n'
        ? `holds a line break (${code}); write it on one line (a YAML block "|" or ">" keeps a final line break: use ">-" or a quoted string)`
        : `holds ${code}, a control, text-direction or invisible character, which can forge lines or disguise text where it is shown ` +
            '(decisions, logs, kubectl output); use plain text',
    );
    return undefined;
  }

  /** `required` for free text (see `plainText`). */
  requiredPlainText(f: Map<string, Field>, parent: Node, path: string, name: string, what: string): string | undefined {
    return this.requiredWith(f, parent, path, name, what, (node, at) => this.plainText(node, at, what));
  }

  integer(node: Node | null, path: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
    if (!isScalar(node) || typeof node.value !== 'number' || !Number.isSafeInteger(node.value)) {
      this.problem(node, path, `must be a whole number, not ${describe(node)}`);
      return undefined;
    }
    if (node.value < min) {
      this.problem(node, path, `must be at least ${min}, not ${node.value}`);
      return undefined;
    }
    if (node.value > max) {
      this.problem(node, path, `must be at most ${max}, not ${node.value}`);
      return undefined;
    }
    return node.value;
  }

  boolean(node: Node | null, path: string): boolean | undefined {
    if (!isScalar(node) || typeof node.value !== 'boolean') {
      this.problem(node, path, `must be true or false, not ${describe(node)}`);
      return undefined;
    }
    return node.value;
  }

  oneOf<T extends string>(node: Node | null, path: string, values: readonly T[]): T | undefined {
    if (isScalar(node) && typeof node.value === 'string' && (values as readonly string[]).includes(node.value)) return node.value as T;
    const shown = isScalar(node) && typeof node.value === 'string' ? `"${node.value}"` : describe(node);
    const lower = isScalar(node) && typeof node.value === 'string' ? node.value.toLowerCase() : '';
    const hint = (values as readonly string[]).includes(lower) ? ` (values are lower case: "${lower}")` : '';
    this.problem(node, path, `must be one of ${values.join(', ')}, not ${shown}${hint}`);
    return undefined;
  }

  list<T>(
    node: Node | null,
    path: string,
    item: (node: Node, path: string, index: number) => T | undefined,
    opts: { nonEmpty?: boolean } = {},
  ): T[] {
    if (!isSeq(node)) {
      this.problem(node, path, `must be a list, not ${describe(node)}`);
      return [];
    }
    if (opts.nonEmpty && node.items.length === 0) {
      this.problem(node, path, 'must not be an empty list; leave the field out instead');
      return [];
    }
    const out: T[] = [];
    node.items.forEach((child, i) => {
      const value = item(child as Node, `${path}[${i}]`, i);
      if (value !== undefined) out.push(value);
    });
    return out;
  }

  /** A list of distinct non-empty strings; non-empty unless `allowEmpty`. */
  stringList(
    node: Node | null,
    path: string,
    opts: { check?: (value: string) => string | undefined; emptyHint?: string; allowEmpty?: boolean } = {},
  ): string[] | undefined {
    if (!isSeq(node)) {
      this.problem(node, path, `must be a list of strings, not ${describe(node)}`);
      return undefined;
    }
    if (node.items.length === 0 && !opts.allowEmpty) {
      this.problem(node, path, `must not be an empty list${opts.emptyHint ? `; ${opts.emptyHint}` : ''}`);
      return undefined;
    }
    const out: string[] = [];
    let ok = true;
    for (const [i, child] of node.items.entries()) {
      const value = this.string(child as Node, `${path}[${i}]`);
      if (value === undefined) {
        ok = false;
        continue;
      }
      const error = opts.check?.(value);
      if (error !== undefined) {
        this.problem(child as Node, `${path}[${i}]`, error);
        ok = false;
      } else if (out.includes(value)) {
        this.problem(child as Node, `${path}[${i}]`, `"${value}" is listed twice`);
        ok = false;
      } else {
        out.push(value);
      }
    }
    return ok ? out : undefined;
  }

  enumList<T extends string>(node: Node | null, path: string, values: readonly T[]): T[] | undefined {
    return this.stringList(node, path, {
      check: (value) => ((values as readonly string[]).includes(value) ? undefined : `must be one of ${values.join(', ')}, not "${value}"`),
    }) as T[] | undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Positions

  pos(node: Node | null | undefined): { line: number; col: number } {
    return this.at(node?.range?.[0] ?? 0);
  }

  /** Before parsing (size check) the counter knows no lines yet: report those at 1:1. */
  private at(offset: number): { line: number; col: number } {
    const p = this.lines.linePos(offset);
    return p.line === 0 ? { line: 1, col: 1 } : p;
  }

  problem(node: Node | null | undefined, path: string, message: string): void {
    // An empty value (`keys:` with nothing after it) has a zero-width range right after the colon.
    const { line, col } = this.pos(node);
    this.problems.push({ line, column: col, path, message });
  }

  problemAt(offset: number, path: string, message: string): void {
    const { line, col } = this.at(offset);
    this.problems.push({ line, column: col, path, message });
  }
}

/**
 * The first character of `text` that untrusted-text.ts would escape, or undefined. A surrogate
 * pair is one character (an emoji) and stays, except the invisible tag characters U+E0000–U+E007F
 * (which spell hidden text); `multiline` lets line breaks and tabs stay.
 */
function unsafeCharacter(text: string, multiline: boolean): string | undefined {
  for (const c of text) {
    if (c.length === 2) {
      const code = c.codePointAt(0)!;
      if (code >= 0xe0000 && code <= 0xe007f) return c;
      continue;
    }
    if (multiline && (c === '\n' || c === '\t')) continue;
    if (plainUntrusted(c) === undefined) return c;
  }
  return undefined;
}

/** The lexer's tokens that each become at least one node (a block collection is no token of its own). */
const VALUE_TOKENS: ReadonlySet<string> = new Set([
  'scalar',
  'single-quoted-scalar',
  'double-quoted-scalar',
  'alias',
  'flow-map-start',
  'flow-seq-start',
]);

/**
 * Lower bound of the nodes of `text`: its scalar, alias and flow collection tokens (the parser's
 * lexer, which builds no tree). Stops counting past `limit`.
 */
function countValueTokens(text: string, limit: number): number {
  let count = 0;
  for (const token of new Lexer().lex(text)) {
    const type = CST.tokenType(token);
    if (type !== null && VALUE_TOKENS.has(type) && ++count > limit) return count;
  }
  return count;
}

export function describe(node: Node | null | undefined): string {
  if (node === null || node === undefined) return 'nothing';
  if (isAlias(node)) return 'an alias';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return 'an empty value';
    if (typeof v === 'string') {
      // A URL with credentials (a store URL written where a mapping belongs) is never quoted whole.
      if (/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(v)) return `a URL with credentials (${v.length} characters, not shown)`;
      return `the string "${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
    }
    if (typeof v === 'number') return `the number ${v}`;
    if (typeof v === 'boolean') return `the boolean ${v}`;
  }
  return 'an unsupported value';
}

/**
 * The allowed name closest to a misspelled one: differing only in case, or within an edit
 * distance of about a third of its length (at most 3), where swapping two neighbouring letters
 * (`mdoe`) counts as one edit.
 */
export function closest(name: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    const d = candidate.toLowerCase() === name.toLowerCase() ? 0 : editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.min(3, Math.max(1, Math.floor(name.length / 3))) ? best : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent transpositions. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      row.push(d);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}
