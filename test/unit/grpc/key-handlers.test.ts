/**
 * KeyService handlers through a real gRPC server and client (no registry needed), so that what is
 * tested is what a caller's bytes decode to: proto3 `optional` fields must tell "not sent" from 0.
 */
import * as grpc from '@grpc/grpc-js';
import { call, type UnaryClient } from '../../../src/cli/client';
import { statusName } from '../../../src/grpc/status';
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

afterAll(() => fixture.stop());

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
    return { code: statusName(e.code), details: e.details };
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
    expect(
      all.keys
        .filter((k) => k.name === 'listed')
        .map((k) => k.state)
        .sort(),
    ).toEqual(['KEY_STATE_ACTIVE', 'KEY_STATE_ROTATED']);
    const explicitFalse = await call<{ keys: KeyMsg[] }>(client, 'ListKeys', { activeOnly: false }, 10_000);
    expect(explicitFalse.keys).toHaveLength(all.keys.length);
    const active = await call<{ keys: KeyMsg[] }>(client, 'ListKeys', { activeOnly: true }, 10_000);
    expect(active.keys.filter((k) => k.name === 'listed').map((k) => k.state)).toEqual(['KEY_STATE_ACTIVE']);
  });
});

describe('google.protobuf.Timestamp / Duration fields beside the deprecated text and integer fields', () => {
  interface TypedKeyMsg extends KeyMsg {
    validFrom: string;
    createdAt: string;
    stateChangedAt: string;
    validFromTime: { seconds: number; nanos: number } | null;
    validUntilTime: { seconds: number; nanos: number } | null;
    stateChangeTime: { seconds: number; nanos: number } | null;
    createTime: { seconds: number; nanos: number } | null;
  }
  const seconds = (iso: string) => Date.parse(iso) / 1000;

  test('every key time goes out as a Timestamp and, for older clients, as RFC 3339 text', async () => {
    const until = '2027-01-02T03:04:05.678Z';
    const { key } = await call<{ key: TypedKeyMsg }>(
      client,
      'CreateKey',
      { name: 'typed-out', validUntilTime: { seconds: Math.floor(seconds(until)), nanos: 678_000_000 } },
      10_000,
    );
    expect(key.validUntil).toBe(until);
    expect(key.validUntilTime).toEqual({ seconds: Math.floor(seconds(until)), nanos: 678_000_000 });
    expect(key.createTime).toEqual({ seconds: seconds(NOW.toISOString()), nanos: 0 });
    expect(key.createdAt).toBe(NOW.toISOString());
    // Unset is unset on both: no Timestamp, empty text.
    expect(key.validFromTime).toBeNull();
    expect(key.validFrom).toBe('');
  });

  test('the deprecated text field still works, and giving both is INVALID_ARGUMENT', async () => {
    const { key } = await call<{ key: TypedKeyMsg }>(
      client,
      'CreateKey',
      { name: 'typed-text', validUntil: '2027-01-01T00:00:00Z' },
      10_000,
    );
    expect(key.validUntilTime).toEqual({ seconds: seconds('2027-01-01T00:00:00Z'), nanos: 0 });
    const f = await failure(
      call(
        client,
        'CreateKey',
        { name: 'typed-both', validUntil: '2027-01-01T00:00:00Z', validUntilTime: { seconds: 1, nanos: 0 } },
        10_000,
      ),
    );
    expect(f).toEqual({ code: 'INVALID_ARGUMENT', details: 'give valid_until_time or the deprecated valid_until, not both' });
  });

  test('a Timestamp outside its own range or with bad nanos is INVALID_ARGUMENT naming the field', async () => {
    const far = await failure(
      call(client, 'CreateKey', { name: 'typed-far', validUntilTime: { seconds: 253_402_300_800, nanos: 0 } }, 10_000),
    );
    expect(far.code).toBe('INVALID_ARGUMENT');
    expect(far.details).toContain('valid_until_time is outside the range of google.protobuf.Timestamp');
    const nanos = await failure(call(client, 'CreateKey', { name: 'typed-nanos', validUntilTime: { seconds: 1, nanos: -1 } }, 10_000));
    expect(nanos.details).toContain('valid_until_time.nanos must be from 0 to 999999999');
  });

  test('RotateKey overlap (Duration): zero is zero, unset is the default, fractions and negatives refused', async () => {
    await store.createKey({ name: 'dur-zero' }, 'test');
    const zero = await rotate({ key: 'dur-zero', overlap: { seconds: 0, nanos: 0 } });
    expect(zero.previous.validUntil).toBe(NOW.toISOString());
    await store.createKey({ name: 'dur-hour' }, 'test');
    expect((await rotate({ key: 'dur-hour', overlap: { seconds: 3600, nanos: 0 } })).previous.validUntil).toBe('2026-11-01T01:00:00.000Z');
    await store.createKey({ name: 'dur-bad' }, 'test');
    const fraction = await failure(rotate({ key: 'dur-bad', overlap: { seconds: 1, nanos: 500_000_000 } }));
    expect(fraction.details).toBe('overlap must be a whole number of seconds, got 1 s and 500000000 ns');
    const negative = await failure(rotate({ key: 'dur-bad', overlap: { seconds: -5, nanos: 0 } }));
    expect(negative.details).toMatch(/^overlap must be a whole number of seconds from 0/);
    const both = await failure(rotate({ key: 'dur-bad', overlap: { seconds: 5, nanos: 0 }, overlapSeconds: 5 }));
    expect(both.details).toBe('give overlap or the deprecated overlap_seconds, not both');
    expect(await store.getKey('dur-bad')).toMatchObject({ state: 'active', version: 1 });
  });
});
