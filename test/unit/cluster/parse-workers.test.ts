import os from 'node:os';
import { MAX_WORKERS, parseWorkers } from '../../../src/cluster/serve-cluster';

test('--workers: absent is the cores available; 1..64 accepted; anything else is a clear error', () => {
  expect(parseWorkers(undefined)).toBe(Math.min(MAX_WORKERS, os.availableParallelism()));
  expect(parseWorkers('1')).toBe(1);
  expect(parseWorkers(' 4 ')).toBe(4);
  expect(parseWorkers(String(MAX_WORKERS))).toBe(MAX_WORKERS);
  for (const bad of ['0', '-1', '1.5', 'two', '', '65', '1e3']) expect(() => parseWorkers(bad)).toThrow(/--workers must be a whole number from 1 to 64/);
});
