// Restart delays for a worker that keeps failing: exponential from `initial` up to `max`, each delay
// spread by ±jitter so that workers failing together (a bad deploy) do not restart in lockstep.
import { InvalidOptionError } from '../errors.js';
import { checkMs } from '../validate.js';

export interface RestartOptions {
  /** The delay after the first failure, in ms. Default 100. */
  initial?: number;
  /** The largest delay, in ms. Default 10000. */
  max?: number;
  /** Each delay is spread uniformly over ±jitter of itself, 0 to 1. Default 0.2. */
  jitter?: number;
  /** A worker that ran this long (ms) after it was ready counts its next exit as a first failure again. Default 10000. */
  resetAfter?: number;
}

export type ResolvedRestart = Required<RestartOptions>;

export function resolveRestart(o: RestartOptions | undefined): ResolvedRestart {
  if (o !== undefined && (o === null || typeof o !== 'object')) throw new InvalidOptionError('restart', o, 'an object');
  const initial = checkMs('restart.initial', o?.initial, 100);
  const max = checkMs('restart.max', o?.max, Math.max(10_000, initial));
  if (max < initial) throw new InvalidOptionError('restart.max', max, `at least restart.initial (${initial})`);
  const jitter = o?.jitter ?? 0.2;
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) throw new InvalidOptionError('restart.jitter', jitter, 'a number from 0 to 1');
  const resetAfter = checkMs('restart.resetAfter', o?.resetAfter, 10_000);
  return { initial, max, jitter, resetAfter };
}

/** The delay before restart number `failures` (1 for the first failure in a row). */
export function backoffDelay(failures: number, r: ResolvedRestart, random: () => number = Math.random): number {
  const base = Math.min(r.max, r.initial * 2 ** Math.min(Math.max(failures - 1, 0), 30));
  const spread = base * r.jitter * (2 * random() - 1);
  return Math.max(0, Math.min(r.max, Math.round(base + spread)));
}
