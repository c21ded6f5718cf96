import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../../src/config/config';
import { parseListen } from '../../../src/config/config-file';
import { gateOptions } from '../../../src/app';
import { createLogger } from '../../../src/logging/logger';

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

  test('the registry gate: file < environment < flags; an upstream is required; unknown gate settings are refused', () => {
    const file = path.join(dir, 'gate.yaml');
    writeFileSync(
      file,
      'gate:\n  listen: 0.0.0.0:5443\n  upstream: https://registry.internal:5000\n  upstreamCaFile: ./ca.pem\n  decisionTimeoutMs: 4000\n',
    );
    const fromFile = loadConfig({ configFile: file }, {}, '/');
    expect(fromFile.gate).toEqual({
      listen: '0.0.0.0:5443',
      upstream: 'https://registry.internal:5000',
      upstreamCaFile: path.join(dir, 'ca.pem'),
      allowPlainHttp: false,
      decisionTimeoutMs: 4000,
    });
    const fromEnv = loadConfig(
      { configFile: file },
      { COUNTERSIGN_GATE_LISTEN: '127.0.0.1:5001', COUNTERSIGN_GATE_REGISTRY_NAME: 'registry.example.com' },
      dir,
    );
    expect(fromEnv.gate).toMatchObject({ listen: '127.0.0.1:5001', registryName: 'registry.example.com' });
    expect(
      loadConfig({ configFile: file, gateListen: '127.0.0.1:5002', gateUpstream: 'http://127.0.0.1:5000' }, {}, dir).gate,
    ).toMatchObject({
      listen: '127.0.0.1:5002',
      upstream: 'http://127.0.0.1:5000',
    });
    expect(loadConfig({}, {}, dir).gate.listen).toBeUndefined();
    expect(() => loadConfig({ gateListen: '127.0.0.1:5002' }, {}, dir)).toThrow(/needs the registry it protects/);
    expect(() =>
      loadConfig(
        {},
        { COUNTERSIGN_GATE_LISTEN: '127.0.0.1:1', COUNTERSIGN_GATE_UPSTREAM: 'http://x', COUNTERSIGN_GATE_TLS_CERT: 'c.pem' },
        dir,
      ),
    ).toThrow(/both a TLS certificate and its key/);
    // How long an allow is reused: absent is the gate's default (1 s), 0 is "never", and either reaches the gate.
    expect(fromFile.gate.decisionCacheTtlMs).toBeUndefined();
    for (const ttl of [0, 250]) {
      const ttlFile = path.join(dir, `gate-ttl-${ttl}.yaml`);
      writeFileSync(ttlFile, `gate:\n  listen: 127.0.0.1:5443\n  upstream: http://127.0.0.1:5000\n  decisionCacheTtlMs: ${ttl}\n`);
      const config = loadConfig({ configFile: ttlFile }, {}, dir);
      expect(config.gate.decisionCacheTtlMs).toBe(ttl);
      expect(
        gateOptions(config, { verify: () => Promise.reject(new Error('unused')) }, createLogger({ level: 'silent' })).decisionCacheTtlMs,
      ).toBe(ttl);
    }
    const slow = path.join(dir, 'gate-manifest-timeout.yaml');
    writeFileSync(slow, 'gate:\n  listen: 127.0.0.1:5443\n  upstream: http://127.0.0.1:5000\n  manifestTimeoutMs: 5000\n');
    const slowConfig = loadConfig({ configFile: slow }, {}, dir);
    expect(fromFile.gate.manifestTimeoutMs).toBeUndefined();
    expect(slowConfig.gate.manifestTimeoutMs).toBe(5000);
    expect(
      gateOptions(slowConfig, { verify: () => Promise.reject(new Error('unused')) }, createLogger({ level: 'silent' })).manifestTimeoutMs,
    ).toBe(5000);
    const bad = path.join(dir, 'gate-bad.yaml');
    writeFileSync(bad, 'gate:\n  upstreem: http://x\n');
    expect(() => loadConfig({ configFile: bad }, {}, dir)).toThrow(/gate\.upstreem: unknown field; did you mean "upstream"/);
  });

  test('errors name the setting', () => {
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'listne: 1.2.3.4:5\n');
    expect(() => loadConfig({ configFile: bad }, {}, dir)).toThrow(/bad.yaml:1:1: listne: unknown field; did you mean "listen"\?/);
    expect(() => loadConfig({}, { COUNTERSIGN_REGISTRY_TIMEOUT_MS: 'soon' }, dir)).toThrow(/COUNTERSIGN_REGISTRY_TIMEOUT_MS/);
    expect(() => loadConfig({ listen: 'nope' }, {}, dir)).toThrow(/HOST:PORT/);
  });

  // One parser for every whole number from the environment, digits only, within the bounds the
  // config file's field has (they used to differ: Number() read "1e3" as 1000 and "0x10" as 16).
  const envNumbers: Array<[string, string, RegExp]> = [
    ['COUNTERSIGN_REGISTRY_TIMEOUT_MS', '1e3', /COUNTERSIGN_REGISTRY_TIMEOUT_MS must be a whole number \(1 or more\), got "1e3"/],
    ['COUNTERSIGN_REGISTRY_TIMEOUT_MS', '0x10', /must be a whole number/],
    ['COUNTERSIGN_REGISTRY_TIMEOUT_MS', '0', /\(1 or more\), got "0"/],
    ['COUNTERSIGN_MAX_PREDICATE_BYTES', '2.5', /COUNTERSIGN_MAX_PREDICATE_BYTES must be a whole number/],
    ['COUNTERSIGN_MAX_PREDICATE_BYTES', '-4', /must be a whole number/],
    ['COUNTERSIGN_HEAP_HEADROOM_MB', '65537', /COUNTERSIGN_HEAP_HEADROOM_MB must be a whole number \(0 to 65536\)/],
  ];
  test.each(envNumbers)('%s=%j is refused with the reason', (name, value, reason) => {
    expect(() => loadConfig({}, { [name]: value }, dir)).toThrow(reason);
  });

  test("whole numbers from the environment are read as written, up to the config file's bounds", () => {
    const c = loadConfig(
      {},
      { COUNTERSIGN_REGISTRY_TIMEOUT_MS: ' 700 ', COUNTERSIGN_MAX_PREDICATE_BYTES: '1', COUNTERSIGN_HEAP_HEADROOM_MB: '65536' },
      dir,
    );
    expect([c.registry.timeoutMs, c.limits.maxPredicateBytes, c.limits.heapHeadroomMb]).toEqual([700, 1, 65_536]);
    const file = path.join(dir, 'headroom.yaml');
    writeFileSync(file, 'limits: { heapHeadroomMb: 65537 }\n');
    expect(() => loadConfig({ configFile: file }, {}, dir)).toThrow(/limits\.heapHeadroomMb/);
  });

  test.each([
    ['127.0.0.1:50051', '127.0.0.1', 50051],
    ['[::1]:80', '[::1]', 80],
    ['0.0.0.0:0', '0.0.0.0', 0],
  ])('parseListen(%p)', (s, host, port) => {
    expect(parseListen(s)).toEqual({ host, port });
  });
});
