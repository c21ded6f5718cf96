/**
 * What `keys list` / `keys show` print about a key's kind and origin: the kind verification uses
 * (ecdsa-p384, rsa-3072…), the format it was imported in, and for a key taken from an X.509
 * certificate, the certificate's subject, issuer, serial and validity.
 */
import type { Key__Output as KeyMsg } from '../grpc/generated/countersign/v1/Key';
import { timestampText } from './client';

export function keyKindLines(k: KeyMsg): string[] {
  const lines: string[] = [];
  if (k.kind) lines.push(`  kind:        ${k.kind}${k.source ? ` (from ${k.source})` : ''}`);
  const c = k.certificate;
  if (c) {
    // Distinguished names print one attribute per line (OpenSSL's form); one line reads better here.
    const dn = (name: string) => name.split('\n').filter(Boolean).join(', ');
    lines.push(
      `  certificate: ${dn(c.subject)}`,
      `    issuer:    ${dn(c.issuer)}`,
      `    serial:    ${c.serialNumber}`,
      `    valid:     ${timestampText(c.notBeforeTime)} to ${timestampText(c.notAfterTime)}`,
      `    sha256:    ${c.fingerprintSha256}`,
    );
  }
  return lines;
}
