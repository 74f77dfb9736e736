// Option validators shared by every nocopy package: each returns the value (or its default) or throws
// InvalidOptionError (ERR_INVALID_OPTION) naming the option and what it must be.
import { InvalidOptionError } from '../errors.js';

/** An integer number of milliseconds from 0 to 2^31-1 (what Node's timers take). */
export function checkMs(name: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 2 ** 31 - 1) {
    throw new InvalidOptionError(name, v, 'an integer number of ms from 0 to 2^31-1');
  }
  return v;
}

/** A positive safe integer (a byte count). Without a default, the option is required. */
export function checkBytes(name: string, v: unknown, dflt: number | undefined): number {
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new InvalidOptionError(name, v, 'a positive integer');
  return v;
}

/** A positive safe integer, or Infinity when `infinite` allows it. */
export function checkCount(name: string, v: unknown, dflt: number, infinite = false): number {
  if (v === undefined) return dflt;
  if (infinite && v === Infinity) return v;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw new InvalidOptionError(name, v, infinite ? 'a positive integer or Infinity' : 'a positive integer');
  }
  return v;
}

/** A safe integer, at least `min` when given. */
export function checkSafeInteger(name: string, v: unknown, dflt: number, min = -Infinity): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new InvalidOptionError(name, v, min === -Infinity ? 'a safe integer' : `an integer of at least ${min}`);
  }
  return v;
}

/** One of `values`. */
export function checkEnum<T extends string | number>(name: string, v: unknown, values: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (!values.includes(v as T)) throw new InvalidOptionError(name, v, `one of ${values.map((x) => JSON.stringify(x)).join(', ')}`);
  return v as T;
}

export function checkFunction(name: string, v: unknown): void {
  if (v !== undefined && typeof v !== 'function') throw new InvalidOptionError(name, v, 'a function');
}

export function checkBoolean(name: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new InvalidOptionError(name, v, 'true or false');
  return v;
}

/** "host:port", "[v6]:port" or ":port" (127.0.0.1), as a host and a port. */
export function checkHostPort(name: string, v: unknown): { host: string; port: number } {
  if (typeof v !== 'string') throw new InvalidOptionError(name, v, 'a "host:port" string');
  const i = v.lastIndexOf(':');
  const portText = v.slice(i + 1);
  const port = Number(portText);
  let host = i < 0 ? '' : v.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (i < 0 || !/^\d+$/.test(portText) || port > 65535 || /[/\s]/.test(host) || (host.includes(':') && !v.startsWith('['))) {
    throw new InvalidOptionError(name, v, 'a "host:port" string');
  }
  return { host: host === '' ? '127.0.0.1' : host, port };
}
