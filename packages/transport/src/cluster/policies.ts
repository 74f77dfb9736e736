// gnet's three load-balancing policies, choosing among the workers that are ready now. Each returns
// an index into `loads` or -1 when no worker is ready.

export type Policy = 'round-robin' | 'least-connections' | 'source-hash';
export const POLICIES: readonly Policy[] = ['round-robin', 'least-connections', 'source-hash'];

/** One slot as a policy sees it: ready or not, and its connections (live plus handed but not yet counted). */
export interface SlotLoad {
  ready: boolean;
  load: number;
}

/** FNV-1a, 32 bits: cheap, stable across processes and versions (what source-hash routes by). */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The slot source-hash gives an address when every slot is ready: fnv1a(ip) mod slots. Only the IP
 * counts (gnet hashes ip:port, which spreads one client's connections; hashing the IP keeps a client
 * on one worker, which is what a user picks this policy for).
 */
export function sourceHashSlot(ip: string, slots: number): number {
  return fnv1a(ip) % slots;
}

export class Picker {
  readonly policy: Policy;
  #next = 0;
  constructor(policy: Policy) {
    this.policy = policy;
  }

  pick(loads: readonly SlotLoad[], ip: string | undefined): number {
    const n = loads.length;
    if (n === 0) return -1;
    if (this.policy === 'source-hash') {
      // A slot that is down (restarting) passes its clients to the next ready one; they come back when it is up.
      const start = sourceHashSlot(ip ?? '', n);
      for (let i = 0; i < n; i++) {
        const k = (start + i) % n;
        if (loads[k]!.ready) return k;
      }
      return -1;
    }
    const start = this.#next;
    this.#next = (start + 1) % n;
    if (this.policy === 'round-robin') {
      for (let i = 0; i < n; i++) {
        const k = (start + i) % n;
        if (loads[k]!.ready) return k;
      }
      return -1;
    }
    // least-connections; ties go round the slots, so equal workers share new connections evenly.
    let best = -1;
    for (let i = 0; i < n; i++) {
      const k = (start + i) % n;
      const s = loads[k]!;
      if (s.ready && (best < 0 || s.load < loads[best]!.load)) best = k;
    }
    return best;
  }
}
