// Balancers: which usable subchannel takes the next call. A balancer sees only the candidates the
// channel keeps ready for it (connected, not draining, endpoint not ejected, best priority), so a
// pick is O(1) whatever the number of endpoints: round-robin is a counter, least-pending compares two
// random candidates' calls in flight (power of two choices: it adapts to a slow server without
// scanning them all, and without herding every client onto the one least-loaded server).
import { InvalidOptionError } from '../errors.js';

/** What a balancer may read of a candidate. */
export interface Pickable {
  /** Calls in flight on it now. */
  readonly load: number;
}

export interface Balancer {
  /**
   * Chooses one of `candidates` (never empty). `choose()` returns a random index that honours the
   * endpoints' weights (uniform when they are equal); `weighted` says whether they differ.
   */
  pick<S extends Pickable>(candidates: readonly S[], choose: () => number, weighted: boolean): S;
}

export type BalancerName = 'round-robin' | 'least-pending';

/** Each candidate in turn; with unequal weights, a weighted random choice. */
export function roundRobin(): Balancer {
  let next = 0;
  return {
    pick(candidates, choose, weighted) {
      if (weighted) return candidates[choose()]!;
      // Wraps long before 2^53; the modulo keeps it in range when the set shrinks.
      if (next >= candidates.length) next = 0;
      return candidates[next++]!;
    },
  };
}

/** Power of two choices over calls in flight: two random candidates (weighted), the less loaded wins; ties alternate. */
export function leastPending(): Balancer {
  let flip = false;
  return {
    pick(candidates, choose) {
      const n = candidates.length;
      if (n === 1) return candidates[0]!;
      const a = choose();
      let b = choose();
      if (b === a) b = (a + 1) % n;
      const x = candidates[a]!;
      const y = candidates[b]!;
      if (x.load !== y.load) return x.load < y.load ? x : y;
      flip = !flip;
      return flip ? x : y;
    },
  };
}

/** A balancer from an option: a name, or an object with pick(). */
export function resolveBalancer(option: unknown, name = 'balancer'): Balancer {
  if (option === undefined || option === 'round-robin') return roundRobin();
  if (option === 'least-pending') return leastPending();
  if (option !== null && typeof option === 'object' && typeof (option as Balancer).pick === 'function') return option as Balancer;
  throw new InvalidOptionError(name, option, '"round-robin", "least-pending" or an object with pick(candidates, choose, weighted)');
}
