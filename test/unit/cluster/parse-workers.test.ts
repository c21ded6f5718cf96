import os from 'node:os';
import { availableCores, MAX_WORKERS, parseWorkers } from '../../../src/cluster/serve-cluster';

test('--workers: absent is the cores available; 1..64 accepted; anything else is a clear error', () => {
  expect(parseWorkers(undefined)).toBe(Math.min(MAX_WORKERS, availableCores()));
  expect(parseWorkers('1')).toBe(1);
  expect(parseWorkers(' 4 ')).toBe(4);
  expect(parseWorkers(String(MAX_WORKERS))).toBe(MAX_WORKERS);
  for (const bad of ['0', '-1', '1.5', 'two', '', '65', '1e3'])
    expect(() => parseWorkers(bad)).toThrow(/--workers must be a whole number from 1 to 64/);
});

test('the default follows a cgroup CPU quota below the CPUs visible (a container limited to fewer cores)', () => {
  const cpus = os.availableParallelism();
  expect(availableCores(() => undefined)).toBe(cpus);
  expect(availableCores(() => 'max 100000\n')).toBe(cpus);
  expect(availableCores(() => '100000 100000\n')).toBe(1);
  expect(availableCores(() => '50000 100000\n')).toBe(1); // half a core: still one worker
  expect(availableCores(() => `${(cpus + 8) * 100000} 100000\n`)).toBe(cpus); // never above the CPUs
  expect(availableCores(() => 'garbage')).toBe(cpus);
});
