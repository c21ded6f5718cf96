import { parseListen } from '../../src/config/config-file';
import { hostForUrl, isLoopbackAddress, isLoopbackListen, listenHost, parseListenAddress } from '../../src/shared/net';

describe('the one loopback rule', () => {
  test.each(['localhost', '127.0.0.1', '127.9.8.7', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1'])('%p is loopback', (h) => {
    expect(isLoopbackAddress(h)).toBe(true);
  });
  test.each(['', '0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'foo.localhost', 'localhost.evil.example', '::ffff:10.0.0.1'])(
    '%p is not',
    (h) => {
      expect(isLoopbackAddress(h)).toBe(false);
    },
  );
  test('listen addresses', () => {
    expect(listenHost('[::1]:8443')).toBe('::1');
    expect(listenHost('127.0.0.1:50051')).toBe('127.0.0.1');
    expect(isLoopbackListen('127.0.0.1:0')).toBe(true);
    expect(isLoopbackListen('0.0.0.0:50051')).toBe(false);
    expect(isLoopbackListen(':50051')).toBe(false);
  });
});

describe('the one listen-address parser (gRPC, admission, gate, metrics)', () => {
  test.each([
    ['127.0.0.1:50051', '127.0.0.1', 50051],
    ['0.0.0.0:0', '0.0.0.0', 0],
    ['localhost:8443', 'localhost', 8443],
    ['[::1]:8443', '::1', 8443],
    ['[::]:8443', '::', 8443],
    ['[::ffff:127.0.0.1]:1', '::ffff:127.0.0.1', 1],
    [':8443', '', 8443],
    ['  127.0.0.1:80  ', '127.0.0.1', 80],
    ['127.0.0.1:65535', '127.0.0.1', 65535],
  ])('%p → host %p, port %p', (text, host, port) => {
    expect(parseListenAddress(text)).toEqual({ host, port });
  });

  test.each([
    ['127.0.0.1', /is not host:port/],
    ['', /is not host:port/],
    ['::1:8443', /write an IPv6 address in brackets/],
    ['[::1]', /is not host:port/],
    ['[127.0.0.1]:80', /is not host:port/],
    ['[nope]:80', /is not host:port/],
    ['my host:80', /is not host:port/],
    ['host/x:80', /is not host:port/],
    ['127.0.0.1:123456', /is not host:port/],
    ['127.0.0.1:70000', /port 70000 is out of range \(0 to 65535\)/],
    ['127.0.0.1:-1', /is not host:port/],
  ])('%p is refused', (text, message) => {
    expect(() => parseListenAddress(text, 'gate listen address')).toThrow(message);
    expect(() => parseListenAddress(text, 'gate listen address')).toThrow(/^gate listen /);
  });

  test('every message names HOST:PORT and examples', () => {
    expect(() => parseListenAddress('nope')).toThrow(
      'listen address "nope" is not host:port: expected HOST:PORT, e.g. 127.0.0.1:50051, 0.0.0.0:8443, [::]:8443, or :8443 for every interface',
    );
  });

  test('the gRPC listen (config) keeps IPv6 brackets, as grpc-js binds it, and refuses an empty host', () => {
    expect(parseListen('[::1]:80')).toEqual({ host: '[::1]', port: 80 });
    expect(() => parseListen(':50051')).toThrow(/has no host: the gRPC server needs one, e\.g\. 0\.0\.0\.0:50051 or \[::\]:50051/);
    expect(hostForUrl('::1')).toBe('[::1]');
    expect(hostForUrl('127.0.0.1')).toBe('127.0.0.1');
  });

  test('listenHost also reads a bare host (the loopback checks are asked about either); a listener needs a port', () => {
    expect(listenHost('localhost')).toBe('localhost');
    expect(listenHost('::1')).toBe('::1');
    expect(listenHost('[::1]')).toBe('::1');
    expect(listenHost('[nope]')).toBeUndefined();
    expect(listenHost('a b')).toBeUndefined();
    expect(listenHost('[::1]:1')).toBe('::1');
    expect(listenHost('LOCALHOST:1')).toBe('localhost');
    expect(() => parseListenAddress('localhost')).toThrow(/is not host:port/);
  });
});
