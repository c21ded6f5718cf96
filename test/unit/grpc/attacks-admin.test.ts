/**
 * Adversarial review of key management, access control and the audit trail, through the real
 * gRPC API of the real service (createApp, access control enforced, bearer tokens).
 *
 * Every test states what a correct, demanding service answers. The review found eight holes,
 * closed since: RSA keys with e = 1 (anyone forges), audit listing lines forged through control
 * characters, denials left unrecorded and revocations failing as INTERNAL for the words "PRIVATE
 * KEY", a revocation by name sparing the rotated-out version, megabyte names echoed whole, and
 * unbounded owner teams and scope lists.
 */
import crypto from 'node:crypto';
import { call, keyClient, policyClient, type UnaryClient } from '../../../src/cli/client';
import { audit as auditCommand } from '../../../src/cli/commands/audit';
import { encryptCosignPrivateKey } from '../../../src/keys/crypto';
import { keyUsability } from '../../../src/trust/usability';
import { grpcFailure, startService, type RunningService } from '../../support/harness';
import { selfSignedCa } from '../../support/test-pki';
import { DatabaseSync } from 'node:sqlite';
import path from 'node:path';
import type { PeerCertificate } from 'node:tls';
import { AccessControl } from '../../../src/auth';
import { AuditLog, type AuditRecord } from '../../../src/audit';
import { openDatabase, SqliteStore } from '../../../src/store';
import { verifyWithKey } from '../../../src/verification/legacy/crypto';
import { fakeCall, tempDir, removeTempDirs } from '../auth/helpers';
import { storeImage } from '../verification/bundle-fixtures';
import { useKeyStoreVerification } from '../verification/key-store-verification';
import { sigTag, simpleSigningPayload, storeLegacyTag } from '../verification/legacy-fixtures';

let svc: RunningService;
let policy: UnaryClient;
const tokens: Record<string, string> = {};

type Role = 'signer' | 'verifier' | 'key-admin' | 'policy-admin';

interface KeyMsg {
  id: string;
  name: string;
  version: number;
  state: string;
  stateReason: string;
  publicKeyPem: string;
  ownerTeam: string;
  kind: string;
}

beforeAll(async () => {
  svc = await startService({ auth: { mode: 'enforce', mtlsBindings: [] } });
  policy = policyClient(svc.address);
  const mk = async (name: string, roles: Role[], scopes: string[] = []) =>
    (tokens[name] = (await svc.app.tokens.create({ name, roles, scopes, createdBy: 'test' })).token);
  await mk('secops', ['key-admin']);
  await mk('gate', ['verifier']);
  await mk('ci-any', ['signer'], ['**']);
  await mk('ci-team-a', ['signer'], ['registry.example.com/team-a/*']);
  await mk('policy-team', ['policy-admin']);
  await mk('to-revoke', ['key-admin']);
});

afterAll(async () => {
  policy.close();
  await svc.stop();
});

const admin = <Res>(method: string, request: unknown) => svc.call<Res>(method, request, 10_000, tokens.secops);
const as = <Res>(token: string | undefined, method: string, request: unknown) => svc.call<Res>(method, request, 10_000, token);

/**
 * A KeyService call as key-admin on a channel of its own: an answer the client cannot take (a
 * status message of a megabyte) destroys the HTTP/2 session it came on, which must not fail the
 * tests after it.
 */
async function adminAlone<Res>(method: string, request: unknown): Promise<Res> {
  const client = keyClient(svc.address);
  try {
    return await call<Res>(client, method, request, 10_000, tokens.secops);
  } finally {
    client.close();
  }
}

async function auditAll(): Promise<AuditRecord[]> {
  return svc.app.audit.list({ limit: 10_000 });
}

/** The number of key rows, as the store holds them. */
async function keyCount(): Promise<number> {
  return (await svc.app.keys.listKeys()).length;
}

/** Runs `countersign audit list` (plain text) on the service's data directory and returns what it printed. */
async function auditListText(): Promise<string> {
  const out: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  });
  try {
    const code = await auditCommand(['list', '--data-dir', svc.config.dataDir, '--limit', '10000']);
    expect(code).toBe(0);
  } finally {
    spy.mockRestore();
  }
  return out.join('');
}

function spkiPem(key: crypto.KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

/** An RSA public key of 2048 bits with the given public exponent (base64url of its big-endian bytes). */
function rsaWithExponent(e: string): crypto.KeyObject {
  const { publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' });
  return crypto.createPublicKey({ key: { ...jwk, e }, format: 'jwk' });
}

/** A PKCS#1 v1.5 SHA-256 "signature" forged without any private key: with e = 1, s^e mod n = s = EM. */
function forgeWithExponentOne(message: Buffer, modulusBytes: number): Buffer {
  const digestInfo = Buffer.concat([
    Buffer.from('3031300d060960864801650304020105000420', 'hex'),
    crypto.createHash('sha256').update(message).digest(),
  ]);
  const ps = Buffer.alloc(modulusBytes - digestInfo.length - 3, 0xff);
  return Buffer.concat([Buffer.from([0, 1]), ps, Buffer.from([0]), digestInfo]);
}

// -----------------------------------------------------------------------------------------------
describe('privilege: lesser roles never reach admin operations', () => {
  const keyMethods: Array<[string, Record<string, unknown>]> = [
    ['CreateKey', { name: 'esc-create' }],
    ['ImportKey', { name: 'esc-import', publicKeyPem: spkiPem(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey) }],
    ['ListKeys', {}],
    ['GetKey', { key: 'esc-target' }],
    ['RotateKey', { key: 'esc-target', reason: 'takeover' }],
    ['RevokeKey', { key: 'esc-target', reason: 'takeover' }],
  ];

  beforeAll(async () => {
    await admin('CreateKey', { name: 'esc-target' });
  });

  test.each(['gate', 'ci-any', 'policy-team'])('%s: every KeyService call is PERMISSION_DENIED and changes nothing', async (who) => {
    const before = JSON.stringify(await svc.app.keys.listKeys());
    for (const [method, request] of keyMethods) {
      const f = await grpcFailure(as(tokens[who], method, request));
      expect([method, f.code]).toEqual([method, 'PERMISSION_DENIED']);
    }
    expect(JSON.stringify(await svc.app.keys.listKeys())).toBe(before);
    expect((await svc.app.keys.getKey('esc-target')).state).toBe('active');
  });

  test('no credentials, a malformed token, an unknown token: UNAUTHENTICATED for admin calls', async () => {
    for (const token of [undefined, 'cst_short', `cst_${'A'.repeat(43)}`]) {
      const f = await grpcFailure(as(token, 'RevokeKey', { key: 'esc-target', reason: 'x' }));
      expect(f.code).toBe('UNAUTHENTICATED');
    }
    expect((await svc.app.keys.getKey('esc-target')).state).toBe('active');
  });

  test('GetPolicy needs verifier or policy-admin: a signer and a key-admin are refused', async () => {
    for (const who of ['ci-any', 'secops']) {
      const f = await grpcFailure(call(policy, 'GetPolicy', {}, 10_000, tokens[who]));
      expect([who, f.code]).toEqual([who, 'PERMISSION_DENIED']);
    }
    await call(policy, 'GetPolicy', {}, 10_000, tokens.gate);
  });

  test('SetPolicy needs policy-admin: key-admin, signer and verifier are refused', async () => {
    const text = 'version: 1\nrules: []\n';
    for (const who of ['secops', 'ci-any', 'gate']) {
      const f = await grpcFailure(call(policy, 'SetPolicy', { text }, 10_000, tokens[who]));
      expect([who, f.code]).toEqual([who, 'PERMISSION_DENIED']);
    }
  });

  test('a revoked token stops at once, even a key-admin one', async () => {
    await as(tokens['to-revoke'], 'ListKeys', {});
    await svc.app.tokens.revoke('to-revoke', { revokedBy: 'test', reason: 'leaked' });
    const f = await grpcFailure(as(tokens['to-revoke'], 'RevokeKey', { key: 'esc-target', reason: 'after revocation' }));
    expect(f.code).toBe('UNAUTHENTICATED');
    expect((await svc.app.keys.getKey('esc-target')).state).toBe('active');
  });

  test('an expired token is refused', async () => {
    const { token } = await svc.app.tokens.create({
      name: 'short-lived',
      roles: ['key-admin'],
      expiresAt: new Date(Date.now() + 1500),
      createdBy: 'test',
    });
    await as(token, 'ListKeys', {});
    await new Promise((r) => setTimeout(r, 2000));
    const f = await grpcFailure(as(token, 'CreateKey', { name: 'by-expired-token' }));
    expect(f.code).toBe('UNAUTHENTICATED');
    await expect(svc.app.keys.getKey('by-expired-token')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  test('signer scope prefix tricks are denied before any registry work', async () => {
    for (const image of [
      'registry.example.com/team-a-evil/app:1', // the scope is team-a/*, not team-a*
      'registry.example.com/team-a/app/sub:1', // * is one segment
      'registry.example.com/team-a:1', // the parent itself
      'registry.example.com.evil.io/team-a/app:1', // host suffix
      'evil.io/registry.example.com/team-a/app:1', // host as a path
    ]) {
      const f = await grpcFailure(as(tokens['ci-team-a'], 'Sign', { image, key: 'esc-target' }));
      expect([image, f.code]).toEqual([image, 'PERMISSION_DENIED']);
    }
  });
});

// -----------------------------------------------------------------------------------------------
describe('the audit trail', () => {
  test('an anonymous caller cannot forge lines of `countersign audit list` through a denied request', async () => {
    // What an operator reading `audit list` would take for a real entry: a successful revocation by secops.
    const forged = '999999 2030-01-01T00:00:00.000Z success token:secops key.revoke ci-release — scheduled';
    const f = await grpcFailure(as(undefined, 'GetKey', { key: `probe\n${forged}` }));
    expect(f.code).toBe('UNAUTHENTICATED');
    // The denial is recorded, with the target as it was sent (JSON keeps it intact)...
    const recorded = (await auditAll()).find((e) => e.outcome === 'denied' && e.target?.includes('999999'));
    expect(recorded).toBeDefined();
    // ...but the listing must not show it as a line of its own.
    const lines = (await auditListText()).split('\n');
    expect(lines.filter((l) => l.startsWith('999999 '))).toEqual([]);
  });

  test('a key-admin reason cannot forge `audit list` lines either: a newline in a revocation reason is INVALID_ARGUMENT, the key unchanged', async () => {
    await admin('CreateKey', { name: 'reason-inject' });
    const f = await grpcFailure(
      admin('RevokeKey', {
        key: 'reason-inject',
        reason: 'rotation\n888888 2030-01-01T00:00:00.000Z success token:ciso key.create backdoor',
      }),
    );
    expect(f.code).toBe('INVALID_ARGUMENT');
    expect(f.details).toMatch(/control or text-direction characters/);
    expect(f.details).not.toContain('888888');
    expect(await svc.app.keys.getKey('reason-inject')).toMatchObject({ state: 'active' });
    const lines = (await auditListText()).split('\n');
    expect(lines.filter((l) => l.startsWith('888888 '))).toEqual([]);
  });

  test('a denial is recorded even when the request names "PRIVATE KEY"', async () => {
    const before = (await auditAll()).filter((e) => e.outcome === 'denied' && e.actor === 'token:gate').length;
    const f = await grpcFailure(as(tokens.gate, 'GetKey', { key: '-----BEGIN PRIVATE KEY-----' }));
    expect(f.code).toBe('PERMISSION_DENIED');
    const after = (await auditAll()).filter((e) => e.outcome === 'denied' && e.actor === 'token:gate').length;
    // Every access denial is audited (README): an attacker must not be able to switch that off.
    expect(after).toBe(before + 1);
  });

  test('free text naming "PRIVATE KEY" (a revocation reason, an owner team) is not an INTERNAL error', async () => {
    await admin('CreateKey', { name: 'leaked-key' });
    // An emergency revocation whose reason says what happened must work (or, at worst, be refused as the caller's mistake).
    const revoke = await grpcFailure(
      admin('RevokeKey', { key: 'leaked-key', reason: 'PRIVATE KEY of leaked-key found in a CI log' }),
    ).catch(() => ({ code: 'OK', details: '' }));
    const create = await grpcFailure(admin('CreateKey', { name: 'owner-text', ownerTeam: 'PRIVATE KEY custodians' })).catch(() => ({
      code: 'OK',
      details: '',
    }));
    expect([revoke.code, create.code]).toEqual([expect.not.stringMatching(/^INTERNAL$/), expect.not.stringMatching(/^INTERNAL$/)]);
  });

  test('failed operations leave no success record and no half-written state', async () => {
    await admin('CreateKey', { name: 'fail-probe' });
    await admin('CreateKey', { name: 'fail-active' });
    await admin('RevokeKey', { key: 'fail-probe', reason: 'first' });
    const beforeRecords = (await auditAll()).length;
    const beforeKeys = await keyCount();
    const failures = [
      admin('RevokeKey', { key: 'fail-probe', reason: 'second' }), // already revoked
      admin('RotateKey', { key: 'fail-probe', reason: 'rotate a revoked key' }),
      admin('CreateKey', { name: 'fail-probe' }), // duplicate name
      admin('ImportKey', { name: 'weak-rsa', publicKeyPem: spkiPem(crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey) }),
      admin('RevokeKey', { key: 'no-such-key', reason: 'x' }),
      admin('RevokeKey', { key: 'fail-active', reason: '   ' }),
      admin('RotateKey', { key: 'fail-active', overlap: { seconds: -1, nanos: 0 } }),
      admin('RotateKey', { key: 'fail-active', overlap: { seconds: 10, nanos: 5 } }),
      admin('RotateKey', { key: 'fail-active', overlapSeconds: 10, overlap: { seconds: 10, nanos: 0 } }),
    ];
    for (const p of failures)
      expect(['INVALID_ARGUMENT', 'FAILED_PRECONDITION', 'ALREADY_EXISTS', 'NOT_FOUND']).toContain((await grpcFailure(p)).code);
    const after = await auditAll();
    expect(after.length).toBe(beforeRecords);
    expect(await keyCount()).toBe(beforeKeys);
    expect(await svc.app.keys.getKey('fail-active')).toMatchObject({ state: 'active', version: 1 });
    expect(await svc.app.audit.verify()).toMatchObject({ ok: true });
  });

  test('JSON in names and reasons stays data: the chain verifies and the record holds the text as given', async () => {
    await admin('CreateKey', { name: 'json-probe' });
    const reason = '","outcome":"success","actor":"token:ciso"}{"seq":1';
    await admin('RevokeKey', { key: 'json-probe', reason });
    const entry = (await auditAll()).find((e) => e.action === 'key.revoke' && e.target === 'json-probe');
    expect(entry).toMatchObject({ actor: 'token:secops', outcome: 'success', reason });
    expect(await svc.app.audit.verify()).toMatchObject({ ok: true });
  });
});

// -----------------------------------------------------------------------------------------------
describe('key material never leaves the service', () => {
  const pkcs8 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const body = pkcs8.split('\n')[1]!; // the first line of base64: part of the private key

  test('a private key given as a public key, a CA bundle or a cosign key is refused without being echoed', async () => {
    const before = await keyCount();
    const attempts: Array<Record<string, unknown>> = [
      { name: 'pk-as-pub', publicKeyPem: pkcs8 },
      { name: 'pk-truncated', publicKeyPem: pkcs8.slice(0, pkcs8.indexOf('-----END')) },
      { name: 'pk-after-pub', publicKeyPem: spkiPem(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey) + pkcs8 },
      { name: 'pk-lowercase', publicKeyPem: pkcs8.replace(/PRIVATE KEY/g, 'private key') },
      { name: 'pk-as-bundle', caBundlePem: pkcs8 },
      { name: 'pk-as-cosign', cosignPrivateKeyPem: pkcs8, password: '' },
    ];
    for (const request of attempts) {
      const f = await grpcFailure(admin('ImportKey', request));
      expect([request.name, f.code]).toEqual([request.name, 'INVALID_ARGUMENT']);
      expect(f.details).not.toContain(body);
    }
    expect(await keyCount()).toBe(before);
    expect(svc.rawLogs()).not.toContain(body);
    expect(JSON.stringify(await auditAll())).not.toContain(body);
  });

  test('an imported cosign key signs, but no response, log line or audit record holds its private half or password', async () => {
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const password = 'correct horse battery staple 7f3a';
    const cosignPem = encryptCosignPrivateKey(privateKey, password);
    const der = privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64');
    const imported = await admin<{ key: KeyMsg }>('ImportKey', { name: 'cosign-imported', cosignPrivateKeyPem: cosignPem, password });
    const got = await admin<{ key: KeyMsg }>('GetKey', { key: 'cosign-imported' });
    const listed = await admin<{ keys: KeyMsg[] }>('ListKeys', {});
    const everything = [
      JSON.stringify(imported),
      JSON.stringify(got),
      JSON.stringify(listed),
      svc.rawLogs(),
      JSON.stringify(await auditAll()),
    ].join('\n');
    expect(everything).not.toMatch(/BEGIN [A-Z ]*PRIVATE KEY/);
    expect(everything).not.toContain(password);
    expect(everything).not.toContain(der.slice(40, 80));
    expect(everything).not.toContain(cosignPem.split('\n')[2]!);
    expect(got.key.publicKeyPem).toBe(spkiPem(crypto.createPublicKey(privateKey)));
  });

  test('a wrong cosign password is INVALID_ARGUMENT, and the password appears nowhere', async () => {
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const cosignPem = encryptCosignPrivateKey(privateKey, 'right-password');
    const f = await grpcFailure(admin('ImportKey', { name: 'cosign-wrong-pw', cosignPrivateKeyPem: cosignPem, password: 'WRONG-pw-91b2' }));
    expect(f.code).toBe('INVALID_ARGUMENT');
    expect(f.details + svc.rawLogs() + JSON.stringify(await auditAll())).not.toContain('WRONG-pw-91b2');
  });
});

// -----------------------------------------------------------------------------------------------
describe('weak or odd keys are refused with INVALID_ARGUMENT and nothing is stored', () => {
  test('RSA 1024, secp256k1, Ed448, X25519, a DSA key, a public key as cosign key, an RSA PKCS#1 block', async () => {
    const before = await keyCount();
    const pub = (k: { publicKey: crypto.KeyObject }) => spkiPem(k.publicKey);
    const cases: Array<Record<string, unknown>> = [
      { name: 'rsa-1024', publicKeyPem: pub(crypto.generateKeyPairSync('rsa', { modulusLength: 1024 })) },
      { name: 'k1', publicKeyPem: pub(crypto.generateKeyPairSync('ec', { namedCurve: 'secp256k1' })) },
      { name: 'ed448', publicKeyPem: pub(crypto.generateKeyPairSync('ed448')) },
      { name: 'x25519', publicKeyPem: pub(crypto.generateKeyPairSync('x25519')) },
      { name: 'dsa', publicKeyPem: pub(crypto.generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 256 })) },
      {
        name: 'pub-as-cosign',
        cosignPrivateKeyPem: pub(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })),
        password: '',
      },
      {
        name: 'pkcs1',
        publicKeyPem: crypto
          .generateKeyPairSync('rsa', { modulusLength: 2048 })
          .publicKey.export({ type: 'pkcs1', format: 'pem' })
          .toString(),
      },
      { name: 'empty-material', publicKeyPem: '' },
      { name: 'no-material' },
    ];
    for (const request of cases) {
      const f = await grpcFailure(admin('ImportKey', request));
      expect([request.name, f.code]).toEqual([request.name, 'INVALID_ARGUMENT']);
    }
    expect(await keyCount()).toBe(before);
  });

  test('an RSA key with public exponent 1 (or an even exponent) is refused — with e = 1 anyone forges signatures', async () => {
    const e1 = rsaWithExponent('AQ');
    // The forgery, shown without the service: a signature made with no private key verifies.
    const msg = Buffer.from('{"critical":{"image":{"docker-manifest-digest":"sha256:…"}}}');
    expect(crypto.verify('sha256', msg, e1, forgeWithExponentOne(msg, 256))).toBe(true);

    const before = await keyCount();
    const results: string[] = [];
    let forgedAccepted = false;
    for (const [name, key] of [
      ['rsa-e1', e1],
      ['rsa-e2', rsaWithExponent('Ag')],
    ] as const) {
      const outcome = await admin<{ key: KeyMsg }>('ImportKey', { name, publicKeyPem: spkiPem(key) }).then(
        (r) => {
          // As the service now trusts it: Verify's own signature check accepts the forgery.
          if (name === 'rsa-e1')
            forgedAccepted = verifyWithKey(svc.app.keys.trust.byId(r.key.id)!.publicKey, msg, forgeWithExponentOne(msg, 256));
          return 'OK';
        },
        (err: unknown) => String((err as { code?: number }).code),
      );
      results.push(`${name}:${outcome}`);
    }
    expect({ results, forgedAccepted }).toEqual({ results: ['rsa-e1:3', 'rsa-e2:3'], forgedAccepted: false }); // 3 = INVALID_ARGUMENT
    expect(await keyCount()).toBe(before);
  });

  test('an expired certificate is refused; a current one is imported as a verification key that cannot sign', async () => {
    const expired = await grpcFailure(
      admin('ImportKey', { name: 'cert-expired', publicKeyPem: selfSignedCertPem(new Date('2020-01-01'), new Date('2021-01-01')) }),
    );
    expect(expired.code).toBe('INVALID_ARGUMENT');
    const ok = await admin<{ key: KeyMsg & { purpose: string } }>('ImportKey', {
      name: 'cert-current',
      publicKeyPem: selfSignedCertPem(new Date(Date.now() - 86_400_000), new Date(Date.now() + 86_400_000)),
    });
    expect(ok.key.purpose).toBe('KEY_PURPOSE_VERIFICATION');
    const sign = await grpcFailure(as(tokens['ci-any'], 'Sign', { image: 'registry.example.com/team-a/app:1', key: 'cert-current' }));
    expect(sign.code).toBe('FAILED_PRECONDITION');
  });
});

// -----------------------------------------------------------------------------------------------
describe('rotation and revocation', () => {
  test('Sign with a revoked key, or with the id of a rotated-out version, is refused', async () => {
    const r = await admin<{ key: KeyMsg }>('CreateKey', { name: 'rot-sign' });
    const rotated = await admin<{ previous: KeyMsg; current: KeyMsg }>('RotateKey', { key: 'rot-sign', reason: 'scheduled' });
    expect(rotated.previous.id).toBe(r.key.id);
    const byOldId = await grpcFailure(as(tokens['ci-any'], 'Sign', { image: 'registry.example.com/x/app:1', key: r.key.id }));
    expect(byOldId.code).toBe('FAILED_PRECONDITION');
    await admin('RevokeKey', { key: 'rot-sign', reason: 'compromised' });
    const byName = await grpcFailure(as(tokens['ci-any'], 'Sign', { image: 'registry.example.com/x/app:1', key: 'rot-sign' }));
    expect(byName.code).toBe('FAILED_PRECONDITION');
    const byNewId = await grpcFailure(as(tokens['ci-any'], 'Sign', { image: 'registry.example.com/x/app:1', key: rotated.current.id }));
    expect(byNewId.code).toBe('FAILED_PRECONDITION');
    // Neither version may be rotated again.
    expect((await grpcFailure(admin('RotateKey', { key: 'rot-sign' }))).code).toBe('FAILED_PRECONDITION');
    expect((await grpcFailure(admin('RotateKey', { key: r.key.id }))).code).toBe('FAILED_PRECONDITION');
  });

  test('"keys revoke NAME --reason \'key leaked\'" after a rotation stops every signature by that key (the old version too)', async () => {
    const created = await admin<{ key: KeyMsg }>('CreateKey', { name: 'leak-after-rotation' });
    await admin('RotateKey', { key: 'leak-after-rotation', reason: 'scheduled' }); // default overlap: 7 days
    await admin('RevokeKey', { key: 'leak-after-rotation', reason: 'key leaked' });
    // README: "keys revoke ci-release --reason "key leaked"   # every signature by it fails from now on".
    const old = svc.app.keys.trust.byId(created.key.id)!;
    expect(keyUsability(old, new Date())).toMatchObject({ usable: false });
  });
});

// -----------------------------------------------------------------------------------------------
describe('huge or malformed request fields', () => {
  const MB = 'a'.repeat(1024 * 1024);

  test('empty names, control characters, unicode look-alikes: INVALID_ARGUMENT', async () => {
    for (const name of ['', ' ', 'ci\nrelease', 'ci\u0000x', 'ci\u202erelease', 'CI-Release', 'сi-release', '../etc', 'a'.repeat(64)]) {
      const f = await grpcFailure(adminAlone('CreateKey', { name }));
      expect([JSON.stringify(name), f.code]).toEqual([JSON.stringify(name), 'INVALID_ARGUMENT']);
    }
  });

  test('a 1 MB key name is INVALID_ARGUMENT with a bounded message (not echoed whole)', async () => {
    const f = await grpcFailure(adminAlone('CreateKey', { name: MB }));
    expect(f.code).toBe('INVALID_ARGUMENT');
    expect(f.details.length).toBeLessThan(4096);
  });

  test('a 1 MB key reference in GetKey / RevokeKey is answered with a bounded message', async () => {
    for (const method of ['GetKey', 'RevokeKey', 'RotateKey']) {
      const f = await grpcFailure(adminAlone(method, { key: MB, reason: 'x' }));
      expect([method, ['INVALID_ARGUMENT', 'NOT_FOUND'].includes(f.code), f.details.length < 4096]).toEqual([method, true, true]);
    }
  });

  test('a 1 MB owner team or 2,000 scopes are INVALID_ARGUMENT (not RESOURCE_EXHAUSTED from the audit layer)', async () => {
    const owner = await grpcFailure(adminAlone('CreateKey', { name: 'huge-owner', ownerTeam: MB }));
    const scopes = await grpcFailure(
      adminAlone('CreateKey', {
        name: 'many-scopes',
        scopes: Array.from({ length: 2000 }, (_, i) => `registry.example.com/team-${i}/app-*`),
      }),
    );
    expect([owner.code, scopes.code]).toEqual(['INVALID_ARGUMENT', 'INVALID_ARGUMENT']);
  });

  test('an owner team with control characters (terminal escapes, newlines) is refused', async () => {
    const f = await grpcFailure(adminAlone('CreateKey', { name: 'esc-owner', ownerTeam: 'platform\n  scopes:      **\u001b[2K' })).catch(
      () => ({
        code: 'OK',
        details: '',
      }),
    );
    expect(f.code).toBe('INVALID_ARGUMENT');
  });

  test('a 1 MB revocation or rotation reason is INVALID_ARGUMENT and changes nothing', async () => {
    await adminAlone('CreateKey', { name: 'huge-reason' });
    expect((await grpcFailure(adminAlone('RevokeKey', { key: 'huge-reason', reason: MB }))).code).toBe('INVALID_ARGUMENT');
    expect((await grpcFailure(adminAlone('RotateKey', { key: 'huge-reason', reason: MB }))).code).toBe('INVALID_ARGUMENT');
    const k = await svc.app.keys.getKey('huge-reason');
    expect([k.state, k.version]).toEqual(['active', 1]);
  });

  test('a 1 MB image in Sign and a 1 MB SetPolicy text get clear errors, never INTERNAL', async () => {
    const sign = await grpcFailure(as(tokens['ci-any'], 'Sign', { image: `registry.example.com/${MB}:1`, key: 'esc-target' }));
    expect(sign.code).toBe('INVALID_ARGUMENT');
    expect(sign.details.length).toBeLessThan(4096);
    const set = await grpcFailure(call(policy, 'SetPolicy', { text: `# ${MB}\nversion: 1\n` }, 10_000, tokens['policy-team']));
    expect(['INVALID_ARGUMENT', 'FAILED_PRECONDITION']).toContain(set.code);
    expect(set.details.length).toBeLessThan(4096);
  });

  test('the server is still healthy and the audit chain intact after all of this', async () => {
    expect((await admin<{ keys: KeyMsg[] }>('ListKeys', {})).keys.length).toBeGreaterThan(0);
    expect(await svc.app.audit.verify()).toMatchObject({ ok: true });
  });
});

/** A self-signed P-256 certificate (openssl-free: built with the test DER writer). */
function selfSignedCertPem(notBefore: Date, notAfter: Date): string {
  const { cert } = selfSignedCa([['CN', 'vendor signing']], notBefore, notAfter);
  return cert.pem;
}

// -----------------------------------------------------------------------------------------------
describe('an RSA key with e = 1, imported, admits any image (VerificationService over the key store, fake registry)', () => {
  const env = useKeyStoreVerification();

  test('a legacy .sig forged without any private key is not accepted for an image', async () => {
    const key = rsaWithExponent('AQ');
    // The same call ImportKey makes (key-handlers.ts → importPublicKey); an INVALID_ARGUMENT here ends the attack.
    const imported = await env.keys.store.importPublicKey({ name: 'partner-rsa' }, spkiPem(key), 'token:secops').then(
      () => true,
      () => false,
    );
    const image = storeImage(env.fake, 'team/app', 'forged by nobody', 'v1');
    const payload = simpleSigningPayload(image.digest);
    storeLegacyTag(
      env.fake,
      'team/app',
      sigTag(image.digest),
      [{ payload, annotations: { 'dev.cosignproject.cosign/signature': forgeWithExponentOne(payload, 256).toString('base64') } }],
      'application/vnd.dev.cosign.simplesigning.v1+json',
    );
    const r = await env.service().verify({ image: `${env.fake.host}/team/app@${image.digest}`, action: 'deploy' });
    expect({ imported, allowed: r.allowed }).toEqual({ imported: false, allowed: false });
  });
});

// -----------------------------------------------------------------------------------------------
describe('mTLS identities in the audit trail (AccessControl, as the service wires it)', () => {
  afterAll(() => removeTempDirs());

  test('a client certificate whose CN holds "PRIVATE KEY" cannot make its own denials go unrecorded', async () => {
    const db = await SqliteStore.open(openDatabase(path.join(tempDir('countersign-attacks-mtls-'), 'countersign.db')), {
      changeCheckMs: 0,
    });
    try {
      const log = await AuditLog.open(db);
      const access = new AccessControl({ mode: 'enforce', audit: log, mtlsBindings: [{ subject: 'CN=ci-team-a', roles: ['verifier'] }] });
      // Issued by the trusted client CA (a self-service PKI lets a requester choose the CN).
      const cert: Partial<PeerCertificate> = {
        subject: { CN: 'build-bot PRIVATE KEY' },
        raw: Buffer.from('x'),
        fingerprint256: 'AA:BB',
        ext_key_usage: ['1.3.6.1.5.5.7.3.2'],
      };
      for (let i = 0; i < 3; i++) {
        await expect(
          Promise.resolve().then(() => access.check(fakeCall([], { cert }), 'countersign.v1.KeyService/RevokeKey', { key: 'ci-release' })),
        ).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
      }
      const denied = (await log.list({ limit: 100 })).filter((e) => e.outcome === 'denied');
      expect(denied.length).toBe(3);
    } finally {
      await db.close();
    }
  });
});

// -----------------------------------------------------------------------------------------------
describe("tampering with the service's audit chain on disk is detected (runs last: it breaks the chain)", () => {
  test('an edited record (append-only trigger dropped, as someone with the file could) fails verify at that entry', async () => {
    const entry = (await auditAll()).find((e) => e.action === 'key.revoke' && e.target === 'json-probe')!;
    expect(entry).toBeDefined();
    expect(await svc.app.audit.verify()).toMatchObject({ ok: true });
    const raw = new DatabaseSync(path.join(svc.config.dataDir, 'countersign.db'));
    try {
      raw.exec('DROP TRIGGER audit_log_no_update');
      raw.prepare("UPDATE audit_log SET actor = 'token:someone-else' WHERE seq = ?").run(entry.seq);
    } finally {
      raw.close();
    }
    expect(await svc.app.audit.verify()).toMatchObject({ ok: false, brokenAt: entry.seq });
  });
});
