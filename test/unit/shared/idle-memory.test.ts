import vm from 'node:vm';
import v8 from 'node:v8';
import { IdleMemoryReturn, memoryReducingGc } from '../../../src/shared/idle-memory';
import { loadConfig } from '../../../src/config/config';
import { idleMemoryReturn, memoryUpkeep } from '../../../src/app';

/**
 * A process whose CPU time and clock the test moves: each window() call spends `share` of one
 * core for one window, then ends the window.
 */
function harness(opts: { gcCpuMs?: number; countServed?: boolean } = {}) {
  let cpu = 0;
  let now = 0;
  let served = 0;
  const collected: number[] = [];
  const reports: Array<{ rssBefore: number; rssAfter: number; pauseMs: number }> = [];
  let rss = 300 * 2 ** 20;
  const m = new IdleMemoryReturn({
    windowMs: 10_000,
    cpuMicros: () => cpu,
    now: () => now,
    rss: () => rss,
    collect: () => {
      collected.push(now);
      // The GC takes time and CPU of its own.
      cpu += (opts.gcCpuMs ?? 150) * 1000;
      now += opts.gcCpuMs ?? 150;
      rss = 180 * 2 ** 20;
    },
    onReturn: (f) => reports.push(f),
    ...(opts.countServed ? { served: () => served } : {}),
  });
  /** One window spending `share` of a core, in which `requests` requests were served. */
  const window = (share: number, requests = 0): void => {
    cpu += share * 10_000 * 1000;
    now += 10_000;
    served += requests;
    m.endWindow();
  };
  return { m, window, collected, reports };
}

describe('IdleMemoryReturn: one memory-reducing GC per idle period after load', () => {
  it('never while busy; once at the first idle window after load; not again until load comes back', () => {
    const { m, window, collected } = harness();
    window(0.9);
    window(0.5);
    expect(collected).toHaveLength(0);
    window(0.001);
    expect(collected).toHaveLength(1);
    window(0.001);
    window(0);
    expect(m.returns).toBe(1);
    window(0.3);
    window(0.005);
    expect(m.returns).toBe(2);
  });

  it('an idle process that never had load is left alone', () => {
    const { window, collected } = harness();
    for (let i = 0; i < 5; i++) window(0.004);
    expect(collected).toHaveLength(0);
  });

  it('a window between idle and busy neither returns memory nor counts as load', () => {
    const { window, collected } = harness();
    window(0.03);
    window(0);
    expect(collected).toHaveLength(0);
    window(0.5);
    window(0.03);
    expect(collected).toHaveLength(0);
    window(0.0);
    expect(collected).toHaveLength(1);
    // After the return, moderate windows do not re-arm it.
    window(0.03);
    window(0);
    expect(collected).toHaveLength(1);
  });

  it('a process whose own quiet floor is above 1% (timer wake-ups on a slow VM): idle is judged against that floor', () => {
    const { window, collected } = harness();
    for (let i = 0; i < 3; i++) window(0.04);
    window(0.5);
    expect(collected).toHaveLength(0);
    // Within 1.5x the floor of 4%: idle here, where a fixed 1% would never have been met.
    window(0.045);
    expect(collected).toHaveLength(1);
    // Noise around the floor is neither load nor a reason to return again.
    for (let i = 0; i < 5; i++) window(i % 2 ? 0.07 : 0.04);
    expect(collected).toHaveLength(1);
  });

  it('steady traffic is never idle, however long it lasts: idle is at most 5% of a core', () => {
    const { window, collected } = harness();
    for (let i = 0; i < 40; i++) window(0.2);
    expect(collected).toHaveLength(0);
    window(0.06);
    expect(collected).toHaveLength(0);
    window(0.01);
    expect(collected).toHaveLength(1);
  });

  it('the floor follows the last 5 minutes: a quiet window long ago does not hold it down', () => {
    const { window, collected } = harness();
    window(0);
    for (let i = 0; i < 30; i++) window(0.04);
    window(0.5);
    window(0.045);
    expect(collected).toHaveLength(1);
  });

  it("the GC's own CPU is not counted as load in the next window", () => {
    // A GC of 2 s of CPU would make a 10 s window look 20% busy, above the busy threshold.
    const { window, collected } = harness({ gcCpuMs: 2000 });
    window(0.9);
    window(0);
    expect(collected).toHaveLength(1);
    window(0);
    window(0);
    expect(collected).toHaveLength(1);
    window(0.9);
    window(0);
    expect(collected).toHaveLength(2);
  });

  describe('with the count of requests served', () => {
    it('a window that served none and was not busy is idle, above the CPU floor (timers and open connections of a slow VM)', () => {
      // 6% with nothing served: above the 5% cap, so the CPU alone never calls it idle...
      const cpuOnly = harness();
      cpuOnly.window(0.9);
      for (let i = 0; i < 3; i++) cpuOnly.window(0.06);
      expect(cpuOnly.collected).toHaveLength(0);
      // ...and with the count it is idle at the first such window.
      const counted = harness({ countServed: true });
      counted.window(0.9, 5000);
      counted.window(0.06);
      expect(counted.collected).toHaveLength(1);
      counted.window(0.06);
      expect(counted.collected).toHaveLength(1);
    });

    it('a window that served requests is judged by its CPU, as without the count', () => {
      const { window, collected } = harness({ countServed: true });
      window(0.9, 5000);
      // A trickle above the idle threshold: not idle.
      window(0.06, 3);
      expect(collected).toHaveLength(0);
      // A trickle below it: idle (probes and a rare call do not keep memory held).
      window(0.004, 1);
      expect(collected).toHaveLength(1);
    });

    it('a busy window is load even when it served nothing (work a request left running)', () => {
      const { window, collected } = harness({ countServed: true });
      window(0.06);
      window(0.9);
      expect(collected).toHaveLength(0);
      window(0.06);
      expect(collected).toHaveLength(1);
    });

    it('without load since the last return, a window with nothing served returns nothing', () => {
      const { window, collected } = harness({ countServed: true });
      for (let i = 0; i < 5; i++) window(0.06);
      expect(collected).toHaveLength(0);
    });
  });

  it('reports RSS before and after and the pause', () => {
    const { window, reports } = harness();
    window(1);
    window(0);
    expect(reports).toEqual([{ rssBefore: 300 * 2 ** 20, rssAfter: 180 * 2 ** 20, pauseMs: 150 }]);
  });

  it('thresholds must leave a gap between idle and busy', () => {
    expect(() => new IdleMemoryReturn({ idleCpuShare: 0.2, busyCpuShare: 0.1 })).toThrow(RangeError);
  });

  it('start() ends a window every windowMs on a timer that does not keep the process alive; stop() ends it', () => {
    jest.useFakeTimers();
    try {
      const m = new IdleMemoryReturn({ windowMs: 60_000, collect: () => undefined });
      const ended = jest.spyOn(m, 'endWindow');
      m.start();
      m.start(); // idempotent: still one timer
      const timer = (m as unknown as { timer: NodeJS.Timeout }).timer;
      expect(timer.hasRef()).toBe(false);
      jest.advanceTimersByTime(180_000);
      expect(ended).toHaveBeenCalledTimes(3);
      m.stop();
      jest.advanceTimersByTime(180_000);
      expect(ended).toHaveBeenCalledTimes(3);
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('memoryReducingGc', () => {
  it('runs a full GC without leaving a gc global in contexts made afterwards', async () => {
    // Another test file in this worker may have set --expose-gc for itself.
    v8.setFlagsFromString('--no-expose-gc');
    expect(vm.runInNewContext('typeof gc')).toBe('undefined');
    const ref = ((): WeakRef<object> => new WeakRef({ big: new Array(100_000).fill(0) }))();
    // A WeakRef's target is kept until the job that made the WeakRef ends.
    await new Promise((r) => setImmediate(r));
    memoryReducingGc();
    expect(ref.deref()).toBeUndefined();
    expect(vm.runInNewContext('typeof gc')).toBe('undefined');
    // And again (the gc function is kept, not fetched anew).
    memoryReducingGc();
    expect(vm.runInNewContext('typeof gc')).toBe('undefined');
  });
});

describe('memoryReducingGc in a process started with --expose-gc', () => {
  it("uses that gc, and leaves the operator's flag alone", () => {
    const given = jest.fn();
    const g = globalThis as { gc?: unknown };
    // A context made while another test had --expose-gc set has a gc of its own, which cannot be
    // deleted: put back what was there.
    const before = Object.getOwnPropertyDescriptor(g, 'gc');
    g.gc = given;
    try {
      // A fresh copy of the module: the one imported above has already taken its gc function.
      jest.isolateModules(() => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const fresh = require('../../../src/shared/idle-memory') as { memoryReducingGc(): void };
        fresh.memoryReducingGc();
      });
      expect(given).toHaveBeenCalledWith({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    } finally {
      if (before) g.gc = before.value;
      else delete g.gc;
    }
  });
});

describe('limits.returnMemoryWhenIdle', () => {
  it('is on by default and can be turned off from the environment', () => {
    expect(loadConfig({}, {}, '/tmp').limits.returnMemoryWhenIdle).toBe(true);
    expect(loadConfig({}, { COUNTERSIGN_RETURN_MEMORY_WHEN_IDLE: 'false' }, '/tmp').limits.returnMemoryWhenIdle).toBe(false);
    expect(() => loadConfig({}, { COUNTERSIGN_RETURN_MEMORY_WHEN_IDLE: 'off' }, '/tmp')).toThrow(/COUNTERSIGN_RETURN_MEMORY_WHEN_IDLE/);
  });
});

describe('the composition root (app.ts idleMemoryReturn)', () => {
  it('makes none when the setting is off, and one that logs what it gave back when it is on', () => {
    const lines: Array<{ obj: object; msg: string }> = [];
    const logger = { info: (obj: object, msg: string) => lines.push({ obj, msg }) } as unknown as Parameters<typeof idleMemoryReturn>[1];
    const off = loadConfig({}, { COUNTERSIGN_RETURN_MEMORY_WHEN_IDLE: 'false' }, '/tmp');
    expect(idleMemoryReturn(off, logger)).toBeUndefined();
    const on = idleMemoryReturn(loadConfig({}, {}, '/tmp'), logger);
    expect(on).toBeInstanceOf(IdleMemoryReturn);
    (on as unknown as { onReturn(f: object): void }).onReturn({ rssBefore: 394 * 2 ** 20, rssAfter: 182 * 2 ** 20, pauseMs: 170.4 });
    expect(lines).toEqual([
      {
        obj: { rssBeforeMb: 394, rssAfterMb: 182, pauseMs: 170 },
        msg: 'idle after load: memory returned to the system (one memory-reducing GC)',
      },
    ]);
  });
});

describe('the composition root (app.ts memoryUpkeep): the service and the gate start and stop both parts together', () => {
  const logger = { info: () => undefined } as unknown as Parameters<typeof memoryUpkeep>[1];
  it('each part as configured; start() and stop() reach both', () => {
    const both = memoryUpkeep(loadConfig({}, {}, '/tmp'), logger);
    expect(both.idleMemory).toBeInstanceOf(IdleMemoryReturn);
    expect(both.heapHeadroom).toBeDefined();
    const started = [jest.spyOn(both.idleMemory!, 'start'), jest.spyOn(both.heapHeadroom!, 'start')];
    const stopped = [jest.spyOn(both.idleMemory!, 'stop'), jest.spyOn(both.heapHeadroom!, 'stop')];
    both.start();
    both.stop();
    expect([...started, ...stopped].map((s) => s.mock.calls.length)).toEqual([1, 1, 1, 1]);
    const none = memoryUpkeep(
      loadConfig({}, { COUNTERSIGN_RETURN_MEMORY_WHEN_IDLE: 'false', COUNTERSIGN_HEAP_HEADROOM_MB: '0' }, '/tmp'),
      logger,
    );
    expect([none.idleMemory, none.heapHeadroom]).toEqual([undefined, undefined]);
    none.start();
    none.stop();
  });
});
