/**
 * verifyMany: the one cap, dedupe, order and deadline race shared by VerifyBatch and the
 * admission webhook. The verifier here is a plain function recording its calls.
 */
import { CountersignError } from '../../../src/shared/errors';
import { MAX_IMAGES_PER_REQUEST, TooManyImagesError, VerifyDeadlineError, verifyMany } from '../../../src/verification/verify-many';

function recorder(answer: (image: string, signal: AbortSignal) => Promise<string> = async (image) => `ok:${image}`) {
  const calls: string[] = [];
  const signals: AbortSignal[] = [];
  const verify = (image: string, signal: AbortSignal): Promise<string> => {
    calls.push(image);
    signals.push(signal);
    return answer(image, signal);
  };
  return { calls, signals, verify };
}

const images = (n: number, prefix = 'reg.example.com/team/app'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}:1`);

describe('the image cap', () => {
  test('more distinct images than the cap is refused before any verification', async () => {
    const r = recorder();
    const err = await verifyMany(images(MAX_IMAGES_PER_REQUEST + 1), r.verify).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TooManyImagesError);
    expect((err as CountersignError).code).toBe('INVALID_ARGUMENT');
    expect((err as Error).message).toContain(`at most ${MAX_IMAGES_PER_REQUEST} distinct images`);
    expect((err as Error).message).toContain(`got ${MAX_IMAGES_PER_REQUEST + 1}`);
    expect(r.calls).toHaveLength(0);
  });

  test('exactly the cap is verified', async () => {
    const r = recorder();
    const out = await verifyMany(images(MAX_IMAGES_PER_REQUEST), r.verify);
    expect(out).toHaveLength(MAX_IMAGES_PER_REQUEST);
    expect(r.calls).toHaveLength(MAX_IMAGES_PER_REQUEST);
  });

  test('the cap counts distinct images: 10,000 entries naming 3 images cost 3 verifications', async () => {
    const r = recorder();
    const three = images(3);
    const many = Array.from({ length: 10_000 }, (_, i) => three[i % 3]!);
    const out = await verifyMany(many, r.verify);
    expect(r.calls.sort()).toEqual([...three].sort());
    expect(out).toHaveLength(10_000);
    expect(out[9_999]).toEqual({ image: three[9_999 % 3], result: `ok:${three[9_999 % 3]!}` });
  });

  test('a smaller cap can be given', async () => {
    await expect(verifyMany(images(3), recorder().verify, { maxImages: 2 })).rejects.toMatchObject({ count: 3, max: 2 });
  });
});

describe('order and outcomes', () => {
  test('outcomes come in request order, duplicates answered by the one call', async () => {
    // The first image answers last: order must not follow completion.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const r = recorder(async (image) => {
      if (image === 'a') await gate;
      else if (image === 'c') release();
      return `ok:${image}`;
    });
    const out = await verifyMany(['a', 'b', 'a', 'c'], r.verify);
    expect(out.map((o) => o.result)).toEqual(['ok:a', 'ok:b', 'ok:a', 'ok:c']);
    expect(r.calls).toEqual(['a', 'b', 'c']);
  });

  test('a verifier that throws (also synchronously) gives that image an error outcome, the others still answer', async () => {
    const boom = new CountersignError('INVALID_ARGUMENT', 'bad reference');
    const out = await verifyMany(['good', 'bad', 'sync'], (image) => {
      if (image === 'sync') throw new Error('thrown synchronously');
      return image === 'bad' ? Promise.reject(boom) : Promise.resolve('fine');
    });
    expect(out[0]).toEqual({ image: 'good', result: 'fine' });
    expect(out[1]).toEqual({ image: 'bad', error: boom });
    expect((out[2]!.error as Error).message).toBe('thrown synchronously');
  });

  test('an empty list is an empty answer', async () => {
    expect(await verifyMany([], recorder().verify)).toEqual([]);
  });
});

describe('one deadline race', () => {
  test('an image still running at the deadline gets a DEADLINE_EXCEEDED outcome and its signal fires', async () => {
    const r = recorder((image) => (image === 'hangs' ? new Promise<string>(() => undefined) : Promise.resolve('fine')));
    const out = await verifyMany(['quick', 'hangs'], r.verify, { deadline: Date.now() + 50 });
    expect(out[0]).toEqual({ image: 'quick', result: 'fine' });
    expect(out[1]!.error).toBeInstanceOf(VerifyDeadlineError);
    expect((out[1]!.error as CountersignError).code).toBe('DEADLINE_EXCEEDED');
    expect((out[1]!.error as Error).message).toMatch(/did not finish within the time budget of \d+ ms/);
    // One signal for the whole request, aborted by the race so that abandoned work stops.
    expect(new Set(r.signals).size).toBe(1);
    expect(r.signals[0]!.aborted).toBe(true);
  });

  test('a deadline already past answers every image without calling the verifier', async () => {
    const r = recorder();
    const out = await verifyMany(['a', 'b'], r.verify, { deadline: Date.now() - 1 });
    expect(r.calls).toHaveLength(0);
    expect(out.map((o) => (o.error as VerifyDeadlineError).budgetMs)).toEqual([0, 0]);
  });

  test("the caller's signal ends every image still running, with the caller's reason", async () => {
    const caller = new AbortController();
    const r = recorder(() => new Promise<string>(() => undefined));
    const pending = verifyMany(['a', 'b'], r.verify, { signal: caller.signal });
    caller.abort(new CountersignError('UNAVAILABLE', 'shutting down'));
    const out = await pending;
    expect(out.map((o) => (o.error as Error).message)).toEqual(['shutting down', 'shutting down']);
  });

  test('without a deadline nothing races: a slow answer is still the answer', async () => {
    const out = await verifyMany(['a'], async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return 'late but fine';
    });
    expect(out).toEqual([{ image: 'a', result: 'late but fine' }]);
  });
});
