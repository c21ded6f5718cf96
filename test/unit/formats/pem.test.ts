/**
 * The one PEM scanner every reader uses (keys, CA bundles, Notation trust stores, the client CA
 * file, cosign's certificate annotations).
 */
import { pemCertificates, scanPem } from '../../../src/formats/pem';

const body = (bytes: string) => `\n${Buffer.from(bytes).toString('base64')}\n`;
const block = (type: string, bytes: string) => `-----BEGIN ${type}-----${body(bytes)}-----END ${type}-----\n`;

describe('scanPem', () => {
  test('every block with its type, and where text lies outside them', () => {
    const blocks = scanPem(`note\n${block('CERTIFICATE', 'a')}${block('PUBLIC KEY', 'b')}trailer`);
    expect(blocks.map((b) => [b.type, b.textBefore, b.outside])).toEqual([
      ['CERTIFICATE', true, true],
      ['PUBLIC KEY', false, true],
    ]);
    expect(blocks[1]!.textAfter).toBe(true);
  });

  test('a block without its END line: at the end, reported truncated (body null); before another block, that block is swallowed into it (and no certificate)', () => {
    expect(scanPem(`-----BEGIN PUBLIC KEY-----${body('x')}`)).toEqual([
      { type: 'PUBLIC KEY', body: null, outside: false, textBefore: false },
    ]);
    const swallowed = `${block('CERTIFICATE', 'a')}-----BEGIN CERTIFICATE-----${body('b')}${block('CERTIFICATE', 'c')}`;
    const blocks = scanPem(swallowed);
    expect(blocks).toHaveLength(2);
    expect(blocks[1]!.body).toContain('-----BEGIN CERTIFICATE-----');
    expect(pemCertificates(swallowed).map((d) => d.toString())).toEqual(['a']);
  });
});

describe('pemCertificates', () => {
  test('the DER of each CERTIFICATE block; other types, headers and bad base64 are no certificate', () => {
    const text = [
      block('CERTIFICATE', 'one'),
      block('TRUSTED CERTIFICATE', 'trusted'),
      `-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n${Buffer.from('hdr').toString('base64')}\n-----END CERTIFICATE-----\n`,
      '-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n',
      block('CERTIFICATE', 'two'),
    ].join('');
    expect(pemCertificates(text).map((d) => d.toString())).toEqual(['one', 'two']);
  });
});
