import { jsonDepthViolation, JsonTooDeepError, MAX_JSON_DEPTH, parseJsonWithinDepth } from '../../../src/shared/json-depth';

/** `{"a":{"a":…{}…}}` nested `levels` deep (the outermost object is level 1). */
export function nestedObjects(levels: number): string {
  return `${'{"a":'.repeat(levels - 1)}{}${'}'.repeat(levels - 1)}`;
}

describe('jsonDepthViolation', () => {
  test('counts arrays and objects alike; the top level is level 1', () => {
    expect(jsonDepthViolation('{}', 1)).toBeUndefined();
    expect(jsonDepthViolation('[[]]', 1)).toMatchObject({ limit: 1, offset: 1, line: 1, column: 2 });
    expect(jsonDepthViolation('{"a":[{"b":[]}]}', 4)).toBeUndefined();
    expect(jsonDepthViolation('{"a":[{"b":[]}]}', 3)).toMatchObject({ offset: 11 });
    expect(jsonDepthViolation('[1, 2, "x"]', 1)).toBeUndefined();
  });

  test('brackets inside strings (escaped quotes included) do not count', () => {
    expect(jsonDepthViolation('{"k":"[[[[{{{{"}', 1)).toBeUndefined();
    expect(jsonDepthViolation('{"k":"\\"[[[[\\\\", "j": "\\u005b["}', 1)).toBeUndefined();
    expect(jsonDepthViolation('{"k\\"[":[[]]}', 2)).toMatchObject({ limit: 2 });
  });

  test('siblings do not add up: depth is nesting, not count', () => {
    const wide = `[${Array.from({ length: 10_000 }, () => '[[]]').join(',')}]`;
    expect(jsonDepthViolation(wide, 3)).toBeUndefined();
    expect(jsonDepthViolation(wide, 2)).toBeDefined();
  });

  test('reports the line and column where the limit is first exceeded', () => {
    expect(jsonDepthViolation('{\n  "a": {\n    "b": [1]\n  }\n}', 2)).toMatchObject({ line: 3, column: 10 });
  });

  test('a 1,000,000-deep document is measured without recursion', () => {
    const deep = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
    expect(jsonDepthViolation(deep)).toMatchObject({ limit: MAX_JSON_DEPTH, offset: MAX_JSON_DEPTH });
  });
});

describe('parseJsonWithinDepth', () => {
  test(`accepts ${MAX_JSON_DEPTH} levels, refuses ${MAX_JSON_DEPTH + 1} with an error naming the limit`, () => {
    expect(parseJsonWithinDepth(nestedObjects(MAX_JSON_DEPTH))).toBeInstanceOf(Object);
    let err: unknown;
    try {
      parseJsonWithinDepth(nestedObjects(MAX_JSON_DEPTH + 1));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(JsonTooDeepError);
    expect(err).toBeInstanceOf(SyntaxError);
    expect((err as Error).message).toContain(`deeper than ${MAX_JSON_DEPTH} levels`);
  });

  test('still throws SyntaxError for text that is not JSON, and parses scalars', () => {
    expect(() => parseJsonWithinDepth('{')).toThrow(SyntaxError);
    expect(parseJsonWithinDepth('"[[["')).toBe('[[[');
    expect(parseJsonWithinDepth('null')).toBeNull();
  });
});
