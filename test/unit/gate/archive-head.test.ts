import { gzipSync } from 'node:zlib';
import { ARCHIVE_HEAD_BYTES, isArchiveHead } from '../../../src/gate/archive-head';

/** A tar header block as archive/tar writes one: `magic` '' for a pre-POSIX V7 header. */
function tarHeader(name: string, opts: { magic?: string; checksum?: (sum: number) => string } = {}): Buffer {
  const block = Buffer.alloc(512, 0);
  block.write(name, 0, 'latin1');
  block.write('0000644\0', 100, 'latin1');
  block.write('0000000\0', 108, 'latin1');
  block.write('0000000\0', 116, 'latin1');
  block.write('00000000005\0', 124, 'latin1');
  block.write('14650000000\0', 136, 'latin1');
  block.write('0', 156, 'latin1');
  const magic = opts.magic ?? 'ustar\x0000';
  block.write(magic, 257, 'latin1');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write((opts.checksum ?? ((s: number) => `${s.toString(8).padStart(6, '0')}\0 `))(sum), 148, 'latin1');
  return block;
}

describe('isArchiveHead: what Docker would apply as a layer', () => {
  test.each([
    ['gzip', gzipSync(Buffer.from('x')).subarray(0, 16)],
    ['bzip2', Buffer.from('BZh91AY&SY')],
    ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x04])],
    ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x00])],
    ['a zstd skippable frame', Buffer.from([0x5e, 0x2a, 0x4d, 0x18, 0x00, 0x00])],
    ['a ustar header', tarHeader('bin/sh')],
    ['a pre-POSIX V7 header (no magic) whose first name looks like JSON', tarHeader('{"critical":{}}', { magic: '' })],
    [
      'a header with an old-style signed checksum',
      tarHeader('\xe9t\xe9', { checksum: (s) => `${(s - 2 * 256).toString(8).padStart(6, '0')}\0 ` }),
    ],
    ['a header with a checksum padded by spaces and NULs', tarHeader('a', { checksum: (s) => ` ${s.toString(8)}\0\0` })],
  ])('%s: an archive', (_what, head) => {
    expect(isArchiveHead(head)).toBe(true);
  });

  test.each([
    ['a simple-signing payload', Buffer.from(JSON.stringify({ critical: { identity: { 'docker-reference': 'r' } } }).padEnd(600, ' '))],
    ['a DSSE envelope', Buffer.from('{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}')],
    ['an empty blob', Buffer.alloc(0)],
    ['an all-zero block (the end of an empty archive: nothing to apply)', Buffer.alloc(ARCHIVE_HEAD_BYTES, 0)],
    ['a tar header with a wrong checksum', tarHeader('bin/sh', { checksum: (s) => `${(s + 1).toString(8).padStart(6, '0')}\0 ` })],
    ['a tar header cut short of 512 bytes', tarHeader('bin/sh').subarray(0, 511)],
    ['a checksum field that is not octal', tarHeader('bin/sh', { checksum: () => '0000009\0' })],
    ['one byte of a gzip magic', Buffer.from([0x1f])],
  ])('%s: not an archive', (_what, head) => {
    expect(isArchiveHead(head)).toBe(false);
  });
});
