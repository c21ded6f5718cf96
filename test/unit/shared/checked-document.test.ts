import { CheckedDocument, closest } from '../../../src/shared/checked-document';

describe('closest: the "did you mean" of every checked document', () => {
  it.each<[string, string | undefined]>([
    ['mdoe', 'mode'], // two neighbouring letters swapped: one edit
    ['MODE', 'mode'],
    ['mod', 'mode'],
    ['cacheTtl', 'cacheTtlMs'],
    ['insecureHost', 'insecureHosts'],
    ['xyz', undefined],
    ['tls', 'tls'],
  ])('%s → %s', (name, expected) => {
    expect(closest(name, ['mode', 'tls', 'cacheTtlMs', 'insecureHosts'])).toBe(expected);
  });
});

describe('CheckedDocument', () => {
  it('refuses a document larger than its limit before parsing, naming what it is', () => {
    const doc = new CheckedDocument('big.yaml', 'a: 1\n'.repeat(100), {
      maxBytes: 100,
      noun: { singular: 'widget file', plural: 'widget files' },
    });
    expect(doc.parse()).toBeUndefined();
    expect(doc.problems).toEqual([{ line: 1, column: 1, path: '(document)', message: 'the widget file is larger than 100 bytes' }]);
  });

  it('an empty document is null, not an error', () => {
    const doc = new CheckedDocument('empty.yaml', '# only a comment\n', { maxBytes: 100, noun: { singular: 'x', plural: 'xs' } });
    expect(doc.parse()).toBeNull();
    expect(() => doc.throwIfProblems('x is invalid')).not.toThrow();
  });
});

describe('CheckedDocument: what the parser would read past is refused', () => {
  const noun = { singular: 'widget file', plural: 'widget files' };
  const parse = (text: string, opts: { maxNodes?: number } = {}) => {
    const doc = new CheckedDocument('w.yaml', text, { maxBytes: 1024 * 1024, noun, ...opts });
    return { root: doc.parse(), problems: doc.problems };
  };

  it('a key written twice in one mapping, at any depth, in YAML or JSON, is refused at the second one', () => {
    for (const [text, line, column] of [
      ['a: 1\nb: 2\na: 3\n', 3, 1],
      ['a:\n  x: 1\n  x: 2\n', 3, 3],
      ['- { x: 1 }\n- { y: 1, "y": 2 }\n', 2, 11],
      ['{"a": {"b": 1, "\\u0062": 2}}', 1, 16],
    ] as const) {
      const { root, problems } = parse(text);
      expect({ text, root, where: problems.map((p) => [p.line, p.column, p.path]) }).toEqual({
        text,
        root: undefined,
        where: [[line, column, '(syntax)']],
      });
      expect(problems[0]!.message).toMatch(/^Map keys must be unique; the key "[a-z]" is written twice$/);
    }
  });

  it('the same key in different mappings, and keys of different types, are not duplicates', () => {
    expect(parse('a: { x: 1 }\nb: { x: 1 }\nc: [{ x: 1 }, { x: 2 }]\n').problems).toEqual([]);
    expect(parse('1: a\n"1": b\n').problems).toEqual([]);
  });

  it('the duplicate check is linear: a large mapping (within the node bound) is checked in well under a second', () => {
    const keys = Array.from({ length: 9_000 }, (_, i) => `k${i}: 1`).join('\n');
    const started = Date.now();
    expect(parse(`${keys}\nk0: 2\n`).problems).toEqual([expect.objectContaining({ line: 9001, path: '(syntax)' })]);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('the node count is bounded: block collections counted in the tree, flow and scalars before the tree is built', () => {
    // 1 mapping + 2 × 4 scalars = 9 nodes.
    const text = 'a: 1\nb: 2\nc: 3\nd: 4\n';
    expect(parse(text, { maxNodes: 9 }).problems).toEqual([]);
    const block = parse(text, { maxNodes: 8 });
    expect(block.root).toBeUndefined();
    expect(block.problems).toEqual([
      {
        line: 1,
        column: 1,
        path: '(document)',
        message: 'the widget file holds more than 8 values (keys, scalars, lists and mappings); widget files hold a few hundred',
      },
    ]);
    // 9 scalar tokens: refused by the token count, before parsing.
    expect(parse('{a: 1, b: 2, c: 3, d: 4, e: 5}', { maxNodes: 9 }).problems.map((p) => p.path)).toEqual(['(document)']);
    expect(parse(`x: [${'[]'.repeat(20)}]`, { maxNodes: 10 }).problems.map((p) => p.path)).toEqual(['(document)']);
  });

  it('the default bound refuses a document of tens of thousands of values up front, and admits a large real one', () => {
    const started = Date.now();
    const many = parse(`a: [${Array.from({ length: 130_000 }, () => '1').join(',')}]\n`);
    expect(many.problems.map((p) => p.path)).toEqual(['(document)']);
    expect(Date.now() - started).toBeLessThan(3_000);
    const rules = Array.from(
      { length: 500 },
      (_, i) => `  - { name: r${i}, match: { images: ["registry.example.com/t${i}/**"] }, deny: x }`,
    );
    expect(parse(`rules:\n${rules.join('\n')}\n`).problems).toEqual([]);
  });

  it.each([
    ['!!js/function "function () {}"', 'Unresolved tag: tag:yaml.org,2002:js/function'],
    ['!!python/object:os.system "id"', 'Unresolved tag: tag:yaml.org,2002:python/object:os.system'],
    ['!custom x', 'Unresolved tag: !custom'],
    ['!<tag:example.com,2024:thing> x', 'Unresolved tag: tag:example.com,2024:thing'],
  ])('an unknown tag (%s) is refused, not read as a plain value', (tagged, message) => {
    const { root, problems } = parse(`a: ${tagged}\n`);
    expect(root).toBeUndefined();
    expect(problems).toEqual([
      {
        line: 1,
        column: 4,
        path: '(document)',
        message: `${message}: tags other than the YAML core schema's are not supported in widget files; write the value without the tag`,
      },
    ]);
  });

  it('the core schema tags still read as before', () => {
    expect(
      parse('a: !!str 2\nb: !!int "3"\nc: !!map { x: 1 }\nd: !!seq [1]\ne: !!null\nf: !!bool true\ng: !!float 1.5\n').problems,
    ).toEqual([]);
  });

  it('an unknown directive is refused', () => {
    const { problems } = parse('%FOO bar\n---\na: 1\n');
    expect(problems.map((p) => p.path)).toEqual(['(document)']);
    expect(problems[0]!.message).toContain('Unknown directive %FOO');
  });

  it('aliases are still refused, wherever they are', () => {
    expect(parse('a: &x 1\nb: [{ c: *x }]\n').problems).toEqual([
      expect.objectContaining({ path: '(document)', message: 'alias *x is not supported in widget files; write the value out' }),
    ]);
  });
});
