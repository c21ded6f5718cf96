/**
 * A three-level PKI built in a test (root CA → intermediate CA → code-signing certificates) with
 * test/support/der-writer.ts, for the tests of chains: Notary trust stores, CA bundles.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { certificate, OIDS, type BuiltCert } from './der-writer';

export type DistinguishedName = Array<[string, string]>;

export interface TestPki {
  root: BuiltCert;
  rootKey: KeyObject;
  intermediate: BuiltCert;
  intermediateKey: KeyObject;
  /** A code-signing certificate issued by the intermediate, and its private key. */
  signer(o?: { cn?: string; notBefore?: Date; notAfter?: Date }): { cert: BuiltCert; key: KeyObject };
  /** The distinguished name this PKI gives a common name. */
  name(cn: string): DistinguishedName;
}

const ec = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

/** A self-signed CA certificate with a fresh key (a root, or an impostor of one). */
export function selfSignedCa(subject: DistinguishedName, notBefore: Date, notAfter: Date): { cert: BuiltCert; key: KeyObject } {
  const keys = ec();
  return {
    cert: certificate({ subject, publicKey: keys.publicKey, key: keys.privateKey, notBefore, notAfter, ca: true }),
    key: keys.privateKey,
  };
}

export function testPki(o: { name?: (cn: string) => DistinguishedName; org?: string } = {}): TestPki {
  const name =
    o.name ??
    ((cn: string): DistinguishedName => [
      ['O', o.org ?? 'Acme'],
      ['CN', cn],
    ]);
  const rootKeys = ec();
  const root = certificate({
    subject: name('Root CA'),
    publicKey: rootKeys.publicKey,
    key: rootKeys.privateKey,
    notBefore: new Date('2025-01-01T00:00:00Z'),
    notAfter: new Date('2040-01-01T00:00:00Z'),
    ca: true,
  });
  const intermediateKeys = ec();
  const intermediate = certificate({
    subject: name('Intermediate CA'),
    issuer: { name: name('Root CA'), key: rootKeys.privateKey },
    publicKey: intermediateKeys.publicKey,
    notBefore: new Date('2025-01-01T00:00:00Z'),
    notAfter: new Date('2039-01-01T00:00:00Z'),
    ca: true,
  });
  return {
    root,
    rootKey: rootKeys.privateKey,
    intermediate,
    intermediateKey: intermediateKeys.privateKey,
    name,
    signer: (s = {}) => {
      const keys = ec();
      const cert = certificate({
        subject: name(s.cn ?? 'release'),
        issuer: { name: name('Intermediate CA'), key: intermediateKeys.privateKey },
        publicKey: keys.publicKey,
        notBefore: s.notBefore ?? new Date('2025-06-01T00:00:00Z'),
        notAfter: s.notAfter ?? new Date('2038-01-01T00:00:00Z'),
        eku: [OIDS.codeSigning],
      });
      return { cert, key: keys.privateKey };
    },
  };
}
