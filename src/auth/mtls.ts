/**
 * Mutual TLS: the server's TLS credentials, and the mapping from a verified client certificate
 * to an Identity through configured bindings.
 *
 * Only certificates that chain to the configured client CA count: grpc-js reports a peer
 * certificate (`call.getAuthContext().sslPeerCertificate`) only when the TLS socket is
 * `authorized`, i.e. the chain verified. A certificate the CA did not issue is therefore the same
 * as no certificate (UNAUTHENTICATED), never an identity.
 */
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { CountersignError } from '../shared/errors';
import { validateGrant } from './grants';
import type { Identity, Role } from './types';
import { scanPem } from '../formats/pem';

/**
 * Grants roles to the client certificates that match `subject`:
 * - `CN=<common name>`: the subject's common name, exactly (`CN=ci-team-a`);
 * - `URI:<pattern>`: a URI subject alternative name (`URI:spiffe://acme.example/ci/team-a`);
 *   `*` matches within one path segment (`URI:spiffe://acme.example/ci/*`);
 * - `DNS:<pattern>`: a DNS subject alternative name, case-insensitive (`DNS:ci.team-a.internal`);
 *   `*` matches within one label (`DNS:*.ci.acme.internal`).
 * A certificate matching several bindings gets the union of their roles and scopes.
 */
export interface MtlsBinding {
  subject: string;
  roles: Role[];
  /** Repository patterns for the signer role (required with it). */
  scopes?: string[];
}

interface CompiledBinding {
  kind: 'CN' | 'URI' | 'DNS';
  test: (value: string) => boolean;
  roles: Role[];
  scopes: string[];
}

/** OID of the extended key usage "TLS client authentication". */
const CLIENT_AUTH_EKU = '1.3.6.1.5.5.7.3.2';

/** Checks bindings from configuration; throws INVALID_ARGUMENT naming the bad one. */
export function validateBindings(bindings: unknown): MtlsBinding[] {
  if (bindings === undefined || bindings === null) return [];
  if (!Array.isArray(bindings)) {
    throw new CountersignError('INVALID_ARGUMENT', 'mTLS bindings must be a list of { subject, roles, scopes }');
  }
  return bindings.map((b: unknown, i) => {
    const what = `mTLS binding ${i + 1}`;
    if (typeof b !== 'object' || b === null)
      throw new CountersignError('INVALID_ARGUMENT', `${what} must be an object { subject, roles, scopes }`);
    const { subject, roles, scopes } = b as Record<string, unknown>;
    if (typeof subject !== 'string' || !/^(?:CN=|URI:|DNS:).+$/.test(subject)) {
      throw new CountersignError(
        'INVALID_ARGUMENT',
        `${what}: subject ${JSON.stringify(subject)} must be "CN=<common name>", "URI:<uri pattern>" or "DNS:<name pattern>"`,
      );
    }
    const grant = validateGrant(`${what} (${subject})`, roles, scopes);
    return { subject, roles: grant.roles, scopes: grant.scopes };
  });
}

function compile(binding: MtlsBinding): CompiledBinding {
  const scopes = [...(binding.scopes ?? [])];
  const roles = [...binding.roles];
  if (binding.subject.startsWith('CN=')) {
    const cn = binding.subject.slice(3);
    return { kind: 'CN', test: (v) => v === cn, roles, scopes };
  }
  const uri = binding.subject.startsWith('URI:');
  const pattern = binding.subject.slice(4);
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join(uri ? '[^/]*' : '[^.]+');
  const re = new RegExp(`^${body}$`, uri ? '' : 'i');
  return { kind: uri ? 'URI' : 'DNS', test: (v) => re.test(v), roles, scopes };
}

/** One name a certificate carries. */
interface CertName {
  kind: 'CN' | 'URI' | 'DNS' | 'other';
  value: string;
}

/**
 * Parses Node's `subjectaltname` ("DNS:a, URI:spiffe://x, IP Address:127.0.0.1"). Since Node 17.3
 * a value containing separators or quotes is written as a JSON string (`DNS:"a, b"`), so a
 * hostile certificate cannot smuggle a second entry into the list.
 */
export function parseSubjectAltName(text: string | undefined): Array<{ type: string; value: string }> {
  const out: Array<{ type: string; value: string }> = [];
  if (!text) return out;
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon === -1) break;
    const type = text.slice(i, colon);
    i = colon + 1;
    let value: string;
    if (text[i] === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(text.slice(i, j + 1)) as string;
      } catch {
        break; // Unparseable: ignore the rest rather than guess (the names only ever grant).
      }
      i = j + 1;
    } else {
      const end = text.indexOf(', ', i);
      value = end === -1 ? text.slice(i) : text.slice(i, end);
      i = end === -1 ? text.length : end;
    }
    out.push({ type, value });
    if (text.startsWith(', ', i)) i += 2;
  }
  return out;
}

function namesOf(cert: PeerCertificate): CertName[] {
  const names: CertName[] = [];
  // Node gives an empty object for a peer without a certificate, whatever the declared type says.
  const cn = (cert as Partial<PeerCertificate>).subject?.CN;
  for (const value of Array.isArray(cn) ? cn : cn !== undefined ? [cn] : []) names.push({ kind: 'CN', value });
  for (const { type, value } of parseSubjectAltName(cert.subjectaltname)) {
    names.push({
      kind: type === 'URI' || type === 'DNS' ? type : 'other',
      value: type === 'URI' || type === 'DNS' ? value : `${type}:${value}`,
    });
  }
  return names;
}

function label(name: CertName): string {
  return name.kind === 'CN' ? `CN=${name.value}` : name.kind === 'other' ? name.value : `${name.kind}:${name.value}`;
}

/** Maps verified client certificates to identities. */
export class CertificateMapper {
  private readonly bindings: CompiledBinding[];

  constructor(bindings: readonly MtlsBinding[] = []) {
    this.bindings = validateBindings(bindings).map(compile);
  }

  /**
   * The identity of a verified client certificate: `cert:<name>` with the roles and scopes of
   * every binding that matches (none: no roles, so every call is PERMISSION_DENIED, with the
   * certificate's name in the audit trail). The name is the first name that matched a binding,
   * else the common name, else the first subject alternative name, else the SHA-256 fingerprint.
   * A certificate whose extended key usage excludes client authentication (a server
   * certificate from the same CA, say) is refused with UNAUTHENTICATED.
   */
  identityOf(cert: PeerCertificate): Identity {
    if (cert.ext_key_usage && cert.ext_key_usage.length > 0 && !cert.ext_key_usage.includes(CLIENT_AUTH_EKU)) {
      throw new CountersignError(
        'UNAUTHENTICATED',
        'the client certificate is not valid for TLS client authentication (its extended key usage lacks clientAuth)',
      );
    }
    const names = namesOf(cert);
    const roles = new Set<Role>();
    const scopes = new Set<string>();
    let matched: CertName | undefined;
    for (const binding of this.bindings) {
      const name = names.find((n) => n.kind === binding.kind && binding.test(n.value));
      if (name === undefined) continue;
      matched ??= name;
      for (const r of binding.roles) roles.add(r);
      // Scopes bound what a signer may sign: only a binding that makes it a signer widens them
      // (a verifier binding's scopes, ignored by that role as a token's are, must not).
      if (binding.roles.includes('signer')) for (const s of binding.scopes) scopes.add(s);
    }
    const shown = matched ?? names.find((n) => n.kind === 'CN') ?? names[0];
    const subject = `cert:${shown ? label(shown) : `sha256:${cert.fingerprint256}`}`;
    return { subject, roles: [...roles], scopes: [...scopes], via: 'mtls' };
  }
}

/** The verified client certificate of a call, if it came over TLS with one. */
export function peerCertificateOf(call: Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getAuthContext'>): PeerCertificate | undefined {
  let context: ReturnType<typeof call.getAuthContext> | undefined;
  try {
    context = typeof call.getAuthContext === 'function' ? call.getAuthContext() : undefined;
  } catch {
    return undefined;
  }
  const cert = context?.sslPeerCertificate;
  // An empty object means the peer sent no certificate.
  const raw: Buffer | undefined = cert?.raw;
  return cert && raw && raw.length > 0 ? cert : undefined;
}

export interface TlsFiles {
  /** Server certificate chain (PEM). */
  certFile: string;
  /** Server private key (PEM). */
  keyFile: string;
  /** CA certificates (PEM) that issue client certificates. Without it no client certificate is requested. */
  clientCaFile?: string;
  /**
   * true: the TLS handshake fails without a client certificate issued by `clientCaFile` (bearer
   * tokens alone are then not enough). false: a client certificate is requested but optional,
   * so callers may use tokens instead; an unverifiable certificate counts as none.
   */
  requireClientCert: boolean;
}

/**
 * gRPC server credentials for TLS, optionally mutual. Files are read and checked now, so that a
 * wrong path or a key that does not belong to the certificate fails at startup with a clear
 * message rather than as failed handshakes later.
 */
export function serverCredentials(files: TlsFiles): grpc.ServerCredentials {
  const certChain = readPem(files.certFile, 'TLS certificate');
  const privateKey = readPem(files.keyFile, 'TLS private key');
  let cert: crypto.X509Certificate;
  let key: crypto.KeyObject;
  try {
    cert = new crypto.X509Certificate(certChain);
  } catch (err) {
    throw new CountersignError('FAILED_PRECONDITION', `${files.certFile} is not a PEM certificate (${(err as Error).message})`, {
      cause: err,
    });
  }
  try {
    key = crypto.createPrivateKey(privateKey);
  } catch (err) {
    // The message of a key parse error never includes the key itself.
    throw new CountersignError(
      'FAILED_PRECONDITION',
      `${files.keyFile} is not an unencrypted PEM private key (${(err as Error).message})`,
      {
        cause: err,
      },
    );
  }
  if (!cert.checkPrivateKey(key)) {
    throw new CountersignError(
      'FAILED_PRECONDITION',
      `the private key in ${files.keyFile} does not belong to the certificate in ${files.certFile}`,
    );
  }
  // A certificate outside its validity would start the service and then fail every handshake.
  const now = Date.now();
  if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo)) {
    throw new CountersignError(
      'FAILED_PRECONDITION',
      `the TLS certificate in ${files.certFile} is not valid now (valid from ${cert.validFrom} to ${cert.validTo}): renew it`,
    );
  }
  const pairs = [{ cert_chain: certChain, private_key: privateKey }];

  if (files.clientCaFile === undefined) {
    if (files.requireClientCert) {
      // grpc-js would fall back to the public web roots, i.e. accept any publicly issued certificate.
      throw new CountersignError(
        'INVALID_ARGUMENT',
        'requireClientCert needs clientCaFile, the CA that issues client certificates (without it any publicly trusted certificate would be accepted)',
      );
    }
    return grpc.ServerCredentials.createSsl(null, pairs, false);
  }
  const ca = readPem(files.clientCaFile, 'client CA');
  // Every certificate of the file must be a CA: a leaf there (basicConstraints CA:false) is a
  // mistake no handshake would reveal (it verifies nobody, or worse, whatever OpenSSL makes of it).
  // Checked block by block as OpenSSL will read them; any other block (OpenSSL also trusts
  // TRUSTED CERTIFICATE and X509 CERTIFICATE blocks in a CA file) would escape the check.
  const pem = scanPem(ca.toString('utf8'));
  const blocks = pem.filter((b) => b.type === 'CERTIFICATE' && b.body !== null);
  if (blocks.length === 0)
    throw new CountersignError('FAILED_PRECONDITION', `${files.clientCaFile} is not a PEM certificate (it holds no CERTIFICATE block)`);
  const other = pem.find((b) => b.type !== 'CERTIFICATE' || b.body === null);
  if (other) {
    throw new CountersignError(
      'FAILED_PRECONDITION',
      `the client CA file ${files.clientCaFile} holds a ${other.type} block${other.body === null ? ' without its END line' : ''}: it must hold CERTIFICATE blocks only`,
    );
  }
  for (const [i, block] of blocks.entries()) {
    let c: crypto.X509Certificate;
    try {
      c = new crypto.X509Certificate(`-----BEGIN CERTIFICATE-----${block.body!}-----END CERTIFICATE-----\n`);
    } catch (err) {
      throw new CountersignError('FAILED_PRECONDITION', `${files.clientCaFile} is not a PEM certificate (${(err as Error).message})`, {
        cause: err,
      });
    }
    if (!c.ca) {
      throw new CountersignError(
        'FAILED_PRECONDITION',
        `certificate ${i + 1} of the client CA file ${files.clientCaFile} (${c.subject.split('\n').join(', ')}) is not a CA certificate (basicConstraints CA:TRUE): give the CA that issues client certificates`,
      );
    }
  }
  if (files.requireClientCert) return grpc.ServerCredentials.createSsl(ca, pairs, true);
  // createSsl(…, false) would not even ask for a client certificate; request one, optionally.
  return new OptionalClientCertCredentials(ca, certChain, privateKey);
}

/**
 * TLS that requests a client certificate but does not require one (`requestCert: true`,
 * `rejectUnauthorized: false`). Node then marks the socket `authorized` only when the client
 * sent a certificate that chains to `ca`, and grpc-js exposes the certificate only in that case.
 */
class OptionalClientCertCredentials extends grpc.ServerCredentials {
  constructor(ca: Buffer, cert: Buffer, key: Buffer) {
    const ciphers = process.env.GRPC_SSL_CIPHER_SUITES;
    super({ requestCert: true, rejectUnauthorized: false, ...(ciphers ? { ciphers } : {}) }, { ca, cert: [cert], key: [key] });
  }

  override _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new CountersignError(
      'FAILED_PRECONDITION',
      `cannot read the ${what} file ${file} (${code}): check the path and that the service user may read it`,
      {
        cause: err,
      },
    );
  }
}
