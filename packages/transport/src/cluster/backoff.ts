// The restart options of a worker that keeps failing. The delays come from the one backoff of the
// package (util/backoff.ts): exponential from `initial` up to `max`, each shortened by a random share of
// up to `jitter`, so that workers failing together (a bad deploy) do not restart in lockstep.
import { InvalidOptionError } from '../errors.js';
import { checkMs } from '../util/validate.js';

export interface RestartOptions {
  /** The delay after the first failure, in ms. Default 100. */
  initial?: number;
  /** The largest delay, in ms. Default 10000. */
  max?: number;
  /** The share of each delay that is random, 0 to 1: the delay is d x (1 - jitter x random()). Default 0.2. */
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
