/**
 * The chain rules for signatures anchored at a CA bundle (src/verification/x509-chain.ts), each
 * probed the way a pusher would: a chain is refused when any certificate on it breaks a rule, even
 * if it chains and the signature verifies. Closed by default: constraints Countersign does not
 * evaluate (name constraints) refuse the chain rather than being ignored.
 */
import { generateKeyPairSync, sign, X509Certificate, type KeyObject } from 'node:crypto';
import type { TrustedCaBundle } from '../../../src/trust/types';
import { verifyCaSignature } from '../../../src/verification/x509-chain';
import { certificate, extension, int, OIDS, seq, bool, type BuiltCert, type CertOptions } from '../../support/der-writer';

const NOW = new Date('2026-06-01T00:00:00Z');
const FROM = new Date('2025-01-01T00:00:00Z');
const UNTIL = new Date('2035-01-01T00:00:00Z');
const MESSAGE = Buffer.from('{"critical":{}}');
const ec = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

interface Ca {
  cert: BuiltCert;
  key: KeyObject;
  dn: Array<[string, string]>;
}

function ca(cn: string, issuer?: Ca, o: Partial<CertOptions> = {}): Ca {
  const keys = ec();
  const dn: Array<[string, string]> = [['CN', cn]];
  const cert = certificate({
    subject: dn,
    publicKey: keys.publicKey,
    ...(issuer ? { issuer: { name: issuer.dn, key: issuer.key } } : { key: keys.privateKey }),
    notBefore: FROM,
    notAfter: UNTIL,
    ca: true,
    ...o,
  });
  return { cert, key: keys.privateKey, dn };
}

function leaf(issuer: Ca, o: Partial<CertOptions> = {}): { cert: X509Certificate; key: KeyObject } {
  const keys = ec();
  const cert = certificate({
    subject: [['CN', 'release']],
    issuer: { name: issuer.dn, key: issuer.key },
    publicKey: keys.publicKey,
    notBefore: FROM,
    notAfter: UNTIL,
    eku: [OIDS.codeSigning],
    ...o,
  });
  return { cert: new X509Certificate(cert.der), key: keys.privateKey };
}

function bundle(...cas: Ca[]): TrustedCaBundle {
  return {
    id: 'bundle-id',
    name: 'acme',
    certificates: cas.map((c) => new X509Certificate(c.cert.der)),
  };
}

function check(signer: { cert: X509Certificate; key: KeyObject }, chain: Ca[], anchors: TrustedCaBundle, now = NOW) {
  const signature = sign('sha256', MESSAGE, signer.key);
  return verifyCaSignature(
    signer.cert,
    chain.map((c) => new X509Certificate(c.cert.der)),
    [anchors],
    MESSAGE,
    signature,
    now,
  );
}

/** basicConstraints CA:TRUE with a pathLenConstraint. */
const pathLen = (n: number) => extension('2.5.29.19', true, seq(bool(true), int(n)));
/** nameConstraints permitting one DNS subtree. */
const nameConstraints = (critical: boolean) =>
  extension(
    '2.5.29.30',
    critical,
    seq(Buffer.concat([Buffer.from([0xa0]), Buffer.from([0x0f]), seq(Buffer.from([0x82, 0x0b]), Buffer.from('example.com'))])),
  );

const reasonOf = (r: ReturnType<typeof check>): string => (r.ok ? 'ok' : r.reason);

test('the baseline chain (root in the bundle, intermediate carried, code-signing leaf) verifies, valid until the earliest notAfter', () => {
  const root = ca('Root');
  const mid = ca('Mid', root, { notAfter: new Date('2030-01-01T00:00:00Z') });
  const r = check(leaf(mid), [mid], bundle(root));
  expect(r).toMatchObject({ ok: true });
  expect(r.ok && r.validUntil.toISOString()).toBe('2030-01-01T00:00:00.000Z');
});

describe('the leaf', () => {
  const root = ca('Root');
  test('a CA certificate as the leaf is refused', () => {
    const leafCa = ca('Leaf CA', root);
    expect(reasonOf(check({ cert: new X509Certificate(leafCa.cert.der), key: leafCa.key }, [], bundle(root)))).toMatch(
      /is a CA certificate/,
    );
  });
  test('no key usage, or key usage without digitalSignature, or with keyCertSign', () => {
    expect(reasonOf(check(leaf(root, { keyUsage: null }), [], bundle(root)))).toMatch(/has no key usage; digitalSignature is required/);
    expect(reasonOf(check(leaf(root, { keyUsage: 0x40 }), [], bundle(root)))).toMatch(/key usage lacks digitalSignature/);
    expect(reasonOf(check(leaf(root, { keyUsage: 0x84 }), [], bundle(root)))).toMatch(/allows keyCertSign/);
  });
  test('an extended key usage without codeSigning (serverAuth; anyExtendedKeyUsage alone) is refused; none at all is accepted', () => {
    expect(reasonOf(check(leaf(root, { eku: ['1.3.6.1.5.5.7.3.1'] }), [], bundle(root)))).toMatch(/lacks id-kp-codeSigning/);
    expect(reasonOf(check(leaf(root, { eku: ['2.5.29.37.0'] }), [], bundle(root)))).toMatch(/lacks id-kp-codeSigning/);
    expect(check(leaf(root, { eku: undefined }), [], bundle(root))).toMatchObject({ ok: true });
  });
  test('an unknown critical extension is refused', () => {
    const odd = extension('1.2.3.4.5', true, Buffer.from([0x05, 0x00]));
    expect(reasonOf(check(leaf(root, { extensions: [odd] }), [], bundle(root)))).toMatch(/critical extension 1\.2\.3\.4\.5/);
  });
});

describe('the CAs on the path', () => {
  test('an intermediate without basicConstraints CA:TRUE is not a CA, whatever it signed', () => {
    const root = ca('Root');
    const notCa = ca('Not a CA', root, { ca: false, noBasicConstraints: true, keyUsage: 0x06 });
    expect(reasonOf(check(leaf(notCa), [notCa], bundle(root)))).toMatch(/the intermediate CN=Not a CA is not a CA certificate/);
    const notCa2 = ca('Not a CA either', root, { ca: false, keyUsage: 0x06 });
    expect(reasonOf(check(leaf(notCa2), [notCa2], bundle(root)))).toMatch(/is not a CA certificate/);
  });
  test('a CA without keyCertSign (key usage absent or without it) issues nothing, anchor or intermediate', () => {
    const root = ca('Root');
    const noKu = ca('No KU', root, { keyUsage: null });
    expect(reasonOf(check(leaf(noKu), [noKu], bundle(root)))).toMatch(/the intermediate CN=No KU has no key usage; a CA needs keyCertSign/);
    const crlOnly = ca('CRL only', root, { keyUsage: 0x02 });
    // With key usage present, Node's issuer check already refuses it as the issuer.
    expect(reasonOf(check(leaf(crlOnly), [crlOnly], bundle(root)))).toMatch(/does not chain to a trusted CA bundle/);
    const anchorNoKu = ca('Anchor without KU', undefined, { keyUsage: null });
    expect(reasonOf(check(leaf(anchorNoKu), [], bundle(anchorNoKu)))).toMatch(/its CA CN=Anchor without KU has no key usage/);
  });
  test('a path length constraint is enforced: pathLen 0 on the root refuses an intermediate below it', () => {
    const root = ca('Root', undefined, { noBasicConstraints: true, extensions: [pathLen(0)] });
    const mid = ca('Mid', root);
    expect(reasonOf(check(leaf(mid), [mid], bundle(root)))).toMatch(
      /its CA CN=Root allows 0 intermediate certificate\(s\) below it, the chain has 1/,
    );
    // pathLen 1 allows it; and pathLen 0 on the intermediate itself is fine (no intermediate below it).
    const root1 = ca('Root1', undefined, { noBasicConstraints: true, extensions: [pathLen(1)] });
    const mid0 = ca('Mid0', root1, { noBasicConstraints: true, extensions: [pathLen(0)] });
    expect(check(leaf(mid0), [mid0], bundle(root1))).toMatchObject({ ok: true });
  });
  test('name constraints on a CA, critical or not, refuse the chain (not evaluated, so not ignored)', () => {
    for (const critical of [true, false]) {
      const root = ca('Root');
      const mid = ca('Constrained', root, { extensions: [nameConstraints(critical)] });
      expect(reasonOf(check(leaf(mid), [mid], bundle(root)))).toMatch(
        /CN=Constrained (carries name constraints|has the critical extension 2\.5\.29\.30)/,
      );
      const anchor = ca('Constrained root', undefined, { extensions: [nameConstraints(critical)] });
      expect(reasonOf(check(leaf(anchor), [], bundle(anchor)))).toMatch(/its CA CN=Constrained root/);
    }
  });
  test('an intermediate whose extended key usage excludes code signing is refused; anyExtendedKeyUsage is fine', () => {
    const root = ca('Root');
    const tlsOnly = ca('TLS only', root, { eku: ['1.3.6.1.5.5.7.3.1'] });
    expect(reasonOf(check(leaf(tlsOnly), [tlsOnly], bundle(root)))).toMatch(/does not allow code signing/);
    const any = ca('Any', root, { eku: ['2.5.29.37.0'] });
    expect(check(leaf(any), [any], bundle(root))).toMatchObject({ ok: true });
  });
  test('a bad candidate does not hide a good one: a second intermediate of the same name and key that qualifies is used', () => {
    const root = ca('Root');
    const mid = ca('Mid', root);
    const keys = { key: mid.key, dn: mid.dn };
    // The same subject and key, re-issued without keyCertSign: listed first in the chain.
    const bad = certificate({
      subject: mid.dn,
      issuer: { name: root.dn, key: root.key },
      publicKey: new X509Certificate(mid.cert.der).publicKey,
      notBefore: FROM,
      notAfter: UNTIL,
      ca: true,
      keyUsage: 0x02,
    });
    expect(check(leaf(mid), [{ cert: bad, ...keys }, mid], bundle(root))).toMatchObject({ ok: true });
  });
});

describe('validity: every certificate on the path, at verification time', () => {
  test('an intermediate or anchor that expired, or is not yet valid, refuses the chain', () => {
    const root = ca('Root');
    const old = ca('Old', root, { notAfter: new Date('2026-01-01T00:00:00Z') });
    expect(reasonOf(check(leaf(old), [old], bundle(root)))).toMatch(/the intermediate CN=Old expired at 2026-01-01/);
    const future = ca('Future', root, { notBefore: new Date('2027-01-01T00:00:00Z') });
    expect(reasonOf(check(leaf(future), [future], bundle(root)))).toMatch(/is not valid before 2027-01-01/);
    const expiredRoot = ca('Expired root', undefined, { notAfter: new Date('2026-02-01T00:00:00Z') });
    expect(reasonOf(check(leaf(expiredRoot, { notAfter: new Date('2026-01-15T00:00:00Z') }), [], bundle(expiredRoot)))).toMatch(
      /the signing certificate \(CN=release\) expired at 2026-01-15/,
    );
    expect(reasonOf(check(leaf(expiredRoot), [], bundle(expiredRoot)))).toMatch(/its CA CN=Expired root expired at 2026-02-01/);
  });
});
