import { isLoopbackAddress, isLoopbackListen, listenHost } from '../../src/shared/net';

describe('the one loopback rule', () => {
  test.each(['localhost', '127.0.0.1', '127.9.8.7', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1'])('%p is loopback', (h) => {
    expect(isLoopbackAddress(h)).toBe(true);
  });
  test.each(['', '0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'foo.localhost', 'localhost.evil.example', '::ffff:10.0.0.1'])('%p is not', (h) => {
    expect(isLoopbackAddress(h)).toBe(false);
  });
  test('listen addresses', () => {
    expect(listenHost('[::1]:8443')).toBe('::1');
    expect(listenHost('127.0.0.1:50051')).toBe('127.0.0.1');
    expect(isLoopbackListen('127.0.0.1:0')).toBe(true);
    expect(isLoopbackListen('0.0.0.0:50051')).toBe(false);
    expect(isLoopbackListen(':50051')).toBe(false);
  });
});
