/**
 * The hand-written DER reader (timestamp tokens) against hostile bytes: every malformed input is a
 * DerError naming the problem, never a RangeError or a stack overflow, and no value has a second
 * encoding the reader accepts.
 */
import { children, DerError, oid, parseDer, smallInt } from '../../../src/formats/der';

const fails = (run: () => unknown, why: RegExp) => {
  let thrown: unknown;
  try {
    run();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(DerError);
  expect((thrown as Error).message).toMatch(why);
};

test('100,000 levels of nesting: reading walks one level at a time (no recursion), and the depth costs nothing', () => {
  // Built back to front in one buffer (concatenating 100,000 times would be quadratic).
  const heads: Buffer[] = [];
  let len = 2;
  for (let i = 0; i < 100_000; i++) {
    const h =
      len < 0x80
        ? Buffer.from([0x30, len])
        : len < 0x100
          ? Buffer.from([0x30, 0x81, len])
          : len < 0x10000
            ? Buffer.from([0x30, 0x82, len >> 8, len & 0xff])
            : Buffer.from([0x30, 0x83, len >> 16, (len >> 8) & 0xff, len & 0xff]);
    heads.push(h);
    len += h.length;
  }
  const el = Buffer.concat([...heads.reverse(), Buffer.from([0x05, 0x00])]);
  let cur = parseDer(el);
  let depth = 0;
  while (cur.constructed) {
    cur = children(cur)[0]!;
    depth++;
  }
  expect(depth).toBe(100_000);
});

test.each([
  ['a length larger than the buffer', Buffer.from([0x30, 0x05, 0x00]), /longer than its container/],
  ['a 64-bit length', Buffer.from([0x30, 0x88, 0, 0, 0, 0, 0, 0, 0, 1, 0]), /DER length too large/],
  ['an indefinite length', Buffer.from([0x30, 0x80, 0x00, 0x00]), /indefinite lengths are not DER/],
  ['a non-minimal length', Buffer.from([0x04, 0x81, 0x01, 0x00]), /non-minimal DER length/],
  ['a length with a leading zero byte', Buffer.from([0x04, 0x82, 0x00, 0x81, ...Buffer.alloc(0x81)]), /non-minimal DER length/],
  ['trailing bytes', Buffer.from([0x05, 0x00, 0x00]), /bytes follow the DER element/],
  ['a multi-byte tag', Buffer.from([0x1f, 0x81, 0x00, 0x00]), /multi-byte DER tags/],
  ['one byte', Buffer.from([0x30]), /truncated/],
])('%s is refused', (_name, bytes, why) => {
  fails(() => parseDer(bytes), why);
});

test('an OID whose sub-identifier is padded with 0x80 is a second encoding of another OID: refused', () => {
  // 1.2.840.113549 written minimally, then with a padded arc.
  expect(oid(parseDer(Buffer.from([0x06, 0x06, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d])), 'x')).toBe('1.2.840.113549');
  fails(() => oid(parseDer(Buffer.from([0x06, 0x07, 0x2a, 0x80, 0x86, 0x48, 0x86, 0xf7, 0x0d])), 'x'), /not a valid OID/);
});

test('INTEGERs beyond Number.MAX_SAFE_INTEGER, negative or non-minimal are not small integers', () => {
  fails(
    () => smallInt(parseDer(Buffer.from([0x02, 0x08, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), 'n'),
    /not a small non-negative integer/,
  );
  fails(() => smallInt(parseDer(Buffer.from([0x02, 0x01, 0xff])), 'n'), /not a small non-negative integer/);
  fails(() => smallInt(parseDer(Buffer.from([0x02, 0x02, 0x00, 0x01])), 'n'), /not a small non-negative integer/);
  expect(smallInt(parseDer(Buffer.from([0x02, 0x02, 0x00, 0x80])), 'n')).toBe(128);
});
