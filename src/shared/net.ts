import { isIP } from 'node:net';

/**
 * The host part of a listen address (`127.0.0.1:50051`, `[::1]:8443`, `localhost`), lowercased;
 * undefined when it is not one.
 */
export function listenHost(listen: string): string | undefined {
  const text = listen.trim().toLowerCase();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(text);
  if (bracketed) return bracketed[1];
  if (isIP(text) === 6) return text;
  const m = /^([^:\s/]+)(?::\d{1,5})?$/.exec(text);
  return m ? m[1] : undefined;
}

/**
 * Loopback only: `localhost`, 127.0.0.0/8, ::1 (either spelling) and its IPv4-mapped form.
 * Wildcards (0.0.0.0, ::), LAN addresses and other host names are not. This one rule decides
 * every "local development only" relaxation (no authentication, a generated KEK, plain-HTTP
 * admission), so that they cannot disagree about what is local.
 */
export function isLoopbackAddress(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) {
    if (h === '::1' || /^(?:0{1,4}:){7}0{0,3}1$/.test(h)) return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    return mapped !== null && isIP(mapped[1] as string) === 4 && (mapped[1] as string).startsWith('127.');
  }
  return false;
}

/** Whether a listen address (`host:port`) is reachable from this machine only. */
export function isLoopbackListen(listen: string): boolean {
  const host = listenHost(listen);
  return host !== undefined && isLoopbackAddress(host);
}
