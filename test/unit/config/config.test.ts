import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, parseListen } from '../../../src/config/config';

describe('loadConfig', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-config-'));

  test('defaults', () => {
    const c = loadConfig({}, {}, dir);
    expect(c.listen).toBe('127.0.0.1:50051');
    expect(c.keysDir).toBe(path.join(dir, 'keys'));
    expect(c.dataDir).toBe(path.join(dir, '.data'));
  });

  test('precedence: file < environment < flags; file paths are relative to the file', () => {
    const file = path.join(dir, 'countersign.yaml');
    writeFileSync(file, 'listen: 0.0.0.0:6000\nkeysDir: ./filekeys\nregistry:\n  insecureHosts: [reg.internal:5000]\n  timeoutMs: 2500\n');
    const fromFile = loadConfig({ configFile: file }, {}, '/');
    expect(fromFile.listen).toBe('0.0.0.0:6000');
    expect(fromFile.keysDir).toBe(path.join(dir, 'filekeys'));
    expect(fromFile.registry.insecureHosts).toEqual(['reg.internal:5000']);
    expect(fromFile.registry.timeoutMs).toBe(2500);
    const fromEnv = loadConfig({ configFile: file }, { COUNTERSIGN_LISTEN: '127.0.0.1:7000', COUNTERSIGN_DATA_DIR: 'state' }, dir);
    expect(fromEnv.listen).toBe('127.0.0.1:7000');
    expect(fromEnv.dataDir).toBe(path.join(dir, 'state'));
    const fromFlags = loadConfig({ configFile: file, listen: '127.0.0.1:8000' }, { COUNTERSIGN_LISTEN: '127.0.0.1:7000' }, dir);
    expect(fromFlags.listen).toBe('127.0.0.1:8000');
  });

  test('errors name the setting', () => {
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'listne: 1.2.3.4:5\n');
    expect(() => loadConfig({ configFile: bad }, {}, dir)).toThrow(/bad.yaml:1:1: listne: unknown field; did you mean "listen"\?/);
    expect(() => loadConfig({}, { COUNTERSIGN_REGISTRY_TIMEOUT_MS: 'soon' }, dir)).toThrow(/COUNTERSIGN_REGISTRY_TIMEOUT_MS/);
    expect(() => loadConfig({ listen: 'nope' }, {}, dir)).toThrow(/HOST:PORT/);
  });

  test.each([
    ['127.0.0.1:50051', '127.0.0.1', 50051],
    ['[::1]:80', '[::1]', 80],
    ['0.0.0.0:0', '0.0.0.0', 0],
  ])('parseListen(%p)', (s, host, port) => {
    expect(parseListen(s)).toEqual({ host, port });
  });
});
