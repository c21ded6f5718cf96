/** A self-signed P-256 server certificate from the openssl CLI, for tests that serve HTTPS. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Writes key.pem and cert.pem into `dir` (valid one day, CN `cn`, the given subjectAltName) and returns them. */
export function selfSignedServerCert(dir: string, cn: string, subjectAltName: string): { cert: string; key: string } {
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1'].concat([
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-subj',
      `/CN=${cn}`,
      '-addext',
      `subjectAltName=${subjectAltName}`,
    ]),
    { stdio: 'ignore' },
  );
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}
