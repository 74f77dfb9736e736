// The one backoff of every layer: reconnects (subchannels, the session client, the RPC client) and
// the cluster's worker restarts.
// Reconnect delays: exponential from `initial` up to `max`, each shortened by a random part of up
// to `jitter` of itself, so that many clients that lost the same server do not return in step.
import { InvalidOptionError } from '../errors.js';
import { checkMs } from './validate.js';

export interface ReconnectOptions {
  /** The first delay after a failure, in ms. Default 100. */
  initial?: number;
  /** The largest delay, in ms. Default 10000. */
  max?: number;
  /** The share of each delay that is random, 0 to 1: the delay is d x (1 - jitter x random()). Default 0.5. */
  jitter?: number;
  /** A session that stayed open this long resets the delay to `initial`; one that closes sooner keeps it growing (no hot loop against a server that accepts and drops). Default 1000. */
  stableAfter?: number;
}

export interface Backoff {
  initial: number;
  max: number;
  jitter: number;
  stableAfter: number;
}

/** Checks the options; `name` prefixes the option names in errors, `defaults` are the caller's initial and max. */
export function resolveBackoff(o: ReconnectOptions = {}, name = 'reconnect', defaults = { initial: 100, max: 10_000 }): Backoff {
  if (o === null || typeof o !== 'object') throw new InvalidOptionError(name, o, 'an object');
  const max = checkMs(`${name}.max`, o.max, Math.max(defaults.max, o.initial ?? 0));
  // A max below the default initial lowers the initial with it.
  const initial = checkMs(`${name}.initial`, o.initial, Math.min(defaults.initial, max));
  if (max < initial) throw new InvalidOptionError(`${name}.max`, o.max, `at least ${name}.initial (${initial})`);
  const jitter = o.jitter ?? 0.5;
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) throw new InvalidOptionError(`${name}.jitter`, o.jitter, 'a number from 0 to 1');
  return { initial, max, jitter, stableAfter: checkMs(`${name}.stableAfter`, o.stableAfter, 1000) };
}

/** The delay before attempt `attempt` (0 = the first retry). */
export function backoffDelay(b: Pick<Backoff, 'initial' | 'max' | 'jitter'>, attempt: number, random: () => number = Math.random): number {
  const d = Math.min(b.max, b.initial * 2 ** Math.min(attempt, 30));
  return Math.round(d * (1 - b.jitter * random()));
}
