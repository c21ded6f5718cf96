/**
 * KeyService handlers through a real gRPC server and client (no registry needed), so that what is
 * tested is what a caller's bytes decode to: proto3 `optional` fields must tell "not sent" from 0.
 */
import * as grpc from '@grpc/grpc-js';
import { call, type UnaryClient } from '../../../src/cli/client';
import { DEFAULT_ROTATION_OVERLAP_SECONDS, type ManagedKeyStore } from '../../../src/keys/managed-key-store';
import { keyUsability } from '../../../src/trust/usability';
import { startKeyService, type KeyServiceFixture } from './key-service-fixture';

const NOW = new Date('2026-11-01T00:00:00Z');

let fixture: KeyServiceFixture;
let store: ManagedKeyStore;
let client: UnaryClient;

beforeAll(async () => {
  fixture = await startKeyService(() => NOW);
  store = fixture.store;
  client = fixture.client;
});

afterAll(() => fixture?.stop());

interface KeyMsg {
  id: string;
  name: string;
  version: number;
  state: string;
  validUntil: string;
}
const rotate = (request: Record<string, unknown>) => call<{ previous: KeyMsg; current: KeyMsg }>(client, 'RotateKey', request, 10_000);

async function failure(p: Promise<unknown>): Promise<{ code: string; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { code: grpc.status[e.code] ?? String(e.code), details: e.details };
  }
  throw new Error('expected the call to fail');
}

describe('RotateKey overlap_seconds', () => {
  test('0 means zero overlap: the old version stops verifying at once', async () => {
    await store.createKey({ name: 'zero' }, 'test');
    const { previous, current } = await rotate({ key: 'zero', overlapSeconds: 0, reason: 'leak suspected' });
    expect(previous.state).toBe('KEY_STATE_ROTATED');
    expect(previous.validUntil).toBe(NOW.toISOString());
    expect(current.version).toBe(2);
    const old = store.trust.byId(previous.id)!;
    expect(keyUsability(old, NOW)).toMatchObject({ usable: false });
  });

  test('not sent means the default overlap (7 days)', async () => {
    await store.createKey({ name: 'unset' }, 'test');
    const { previous } = await rotate({ key: 'unset', reason: 'scheduled' });
    expect(new Date(previous.validUntil).getTime()).toBe(NOW.getTime() + DEFAULT_ROTATION_OVERLAP_SECONDS * 1000);
    expect(keyUsability(store.trust.byId(previous.id)!, NOW)).toEqual({ usable: true });
  });

  test('a positive value is used as given', async () => {
    await store.createKey({ name: 'hour' }, 'test');
    const { previous } = await rotate({ key: 'hour', overlapSeconds: 3600 });
    expect(previous.validUntil).toBe('2026-11-01T01:00:00.000Z');
  });

  test('negative or absurdly large values are INVALID_ARGUMENT and rotate nothing', async () => {
    const k = await store.createKey({ name: 'bad' }, 'test');
    for (const overlapSeconds of [-1, -86400, 9_000_000_000_000]) {
      const f = await failure(rotate({ key: 'bad', overlapSeconds }));
      expect(f.code).toBe('INVALID_ARGUMENT');
      expect(f.details).toMatch(/overlap_seconds/);
    }
    expect(await store.getKey('bad')).toMatchObject({ id: k.id, state: 'active' });
  });
});

describe('ListKeys active_only', () => {
  test('false (or not sent) lists every version; true only active ones', async () => {
    await store.createKey({ name: 'listed' }, 'test');
    await rotate({ key: 'listed', overlapSeconds: 0 });
    const all = await call<{ keys: KeyMsg[] }>(client, 'ListKeys', {}, 10_000);
    expect(all.keys.filter((k) => k.name === 'listed').map((k) => k.state).sort()).toEqual(['KEY_STATE_ACTIVE', 'KEY_STATE_ROTATED']);
    const explicitFalse = await call<{ keys: KeyMsg[] }>(client, 'ListKeys', { activeOnly: false }, 10_000);
    expect(explicitFalse.keys).toHaveLength(all.keys.length);
    const active = await call<{ keys: KeyMsg[] }>(client, 'ListKeys', { activeOnly: true }, 10_000);
    expect(active.keys.filter((k) => k.name === 'listed').map((k) => k.state)).toEqual(['KEY_STATE_ACTIVE']);
  });
});
