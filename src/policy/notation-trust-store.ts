/**
 * Notation trust stores as files: PEM bundles of CA certificates (several BEGIN CERTIFICATE blocks
 * in one file), or one DER certificate. Read when the policy is loaded, so that a missing or
 * unreadable file is a policy error naming the field, never a silent "trusts nothing". Read with a
 * bound (src/shared/bounded-file.ts): a symlink to /dev/zero, a FIFO or a huge file never hangs a reload.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readBoundedFileSync } from '../shared/bounded-file';
import { decodeBase64Strict, scanPem } from '../formats/pem';

/** A trust store file is a few certificates; a megabyte is a mistake. */
export const MAX_TRUST_STORE_BYTES = 1024 * 1024;

export interface TrustStoreFile {
  certificates: X509Certificate[];
  /** sha256 of the file's bytes: part of the policy revision, so that replacing a CA is a new revision. */
  sha256: string;
}

export function readTrustStoreFile(path: string): TrustStoreFile {
  let bytes: Buffer;
  try {
    bytes = readBoundedFileSync(path, MAX_TRUST_STORE_BYTES);
  } catch (err) {
    throw new Error((err as Error).message, { cause: err });
  }
  return { certificates: parseCertificates(bytes, path), sha256: createHash('sha256').update(bytes).digest('hex') };
}

export function parseCertificates(bytes: Buffer, what: string): X509Certificate[] {
  const text = bytes.toString('latin1');
  const blocks = scanPem(text).filter((b) => b.type === 'CERTIFICATE');
  if (blocks.length === 0) {
    if (text.includes('-----BEGIN'))
      throw new Error(
        `${what} holds no CERTIFICATE block (a public key is not a Notation trust anchor: Notation needs X.509 certificates)`,
      );
    try {
      return [new X509Certificate(bytes)];
    } catch {
      throw new Error(`${what} is neither PEM certificates nor one DER certificate`);
    }
  }
  return blocks.map((block, i) => {
    const der = block.body === null ? null : decodeBase64Strict(block.body, true);
    try {
      if (der === null) throw new Error('not base64');
      return new X509Certificate(der);
    } catch {
      throw new Error(`certificate ${i + 1} of ${what} does not parse${block.body === null ? ' (its END line is missing)' : ''}`);
    }
  });
}
