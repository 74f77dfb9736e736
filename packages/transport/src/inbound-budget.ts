// The input that all connections of one EventLoop may buffer together. maxInboundBytes bounds one
// connection; without a total, 200 peers that each send most of a large message and stall hold 200
// of them. Past the low-water mark (3/4), a connection holding partial input stops reading (it may
// not add more; its bytes wait in the kernel) while connections with nothing buffered read on, so
// small, complete calls keep flowing. When the limit is reached, or the total has stayed past the
// low-water mark with connections paused for RELIEF_MS (nobody can progress), the connections
// holding the most input, the oldest first among equals, are closed with InboundBudgetError until
// the total is back under the low-water mark; then the paused ones resume.
import process from 'node:process';
import { totalmem } from 'node:os';
import { InboundBudgetError } from './errors.js';

const MiB = 1024 * 1024;
/** How long the total may stay past the low-water mark with connections paused before some are closed. */
export const RELIEF_MS = 1000;

/**
 * The default total: 1/64 of the memory this process may use (the cgroup limit where one is set),
 * clamped to 32..256 MiB. 256 MiB is 64 messages of the RPC server's default 4 MiB limit.
 */
export function defaultInboundTotal(): number {
  // process.constrainedMemory() is experimental in Node 20 (undefined or 0 when there is no limit).
  const limit = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.() ?? 0;
  const mem = limit > 0 ? Math.min(limit, totalmem()) : totalmem();
  return Math.min(256 * MiB, Math.max(32 * MiB, Math.floor(mem / 64)));
}

/**
 * One connection's share: the bytes it buffers now, and since when it has held partial input. The
 * connection's side extends it with what the budget needs of a connection (one object a connection).
 */
export abstract class InboundAccount {
  readonly budget: InboundBudget;
  bytes = 0;
  since = 0;
  paused = false;
  constructor(budget: InboundBudget) {
    this.budget = budget;
  }

  /** Stop reading (the budget is past its low-water mark and this connection holds partial input). */
  abstract budgetPause(): void;
  /** Read again. */
  abstract budgetResume(): void;
  /** Close, to give the budget its memory back. */
  abstract budgetEvict(error: InboundBudgetError): void;

  /** The connection buffers `bytes` now (0 when it is drained or closed). */
  set(bytes: number): void {
    const delta = bytes - this.bytes;
    if (delta === 0) return;
    this.budget.update(this, bytes, delta);
  }
}

export class InboundBudget {
  readonly limit: number;
  readonly lowWater: number;
  #total = 0;
  #evicted = 0;
  readonly #holders = new Set<InboundAccount>();
  readonly #paused = new Set<InboundAccount>();
  #relieving = false;
  #timer: NodeJS.Timeout | null = null;

  constructor(limit: number) {
    this.limit = limit;
    this.lowWater = Math.floor(limit * 0.75);
  }

  /** Bytes buffered by every connection together. */
  get total(): number {
    return this.#total;
  }

  /** Connections closed to stay within the limit. */
  get evicted(): number {
    return this.#evicted;
  }

  /** Connections not reading because of the budget. */
  get paused(): number {
    return this.#paused.size;
  }

  update(a: InboundAccount, bytes: number, delta: number): void {
    if (a.bytes === 0) {
      a.since = Date.now();
      this.#holders.add(a);
    }
    a.bytes = bytes;
    this.#total += delta;
    if (bytes === 0) {
      this.#holders.delete(a);
      if (a.paused) {
        a.paused = false;
        this.#paused.delete(a);
      }
    }
    if (this.#relieving) return;
    if (this.#total > this.limit) this.#relieve();
    else if (delta > 0 && bytes > 0 && this.#total > this.lowWater && !a.paused) {
      a.paused = true;
      this.#paused.add(a);
      a.budgetPause();
      this.#timer ??= setTimeout(this.#onTimer, RELIEF_MS).unref();
    } else if (this.#total <= this.lowWater && this.#paused.size > 0) {
      this.#resumeAll();
    }
  }

  readonly #onTimer = (): void => {
    this.#timer = null;
    if (this.#paused.size === 0) return;
    if (this.#total > this.lowWater) this.#relieve();
    else this.#resumeAll();
  };

  #relieve(): void {
    this.#relieving = true;
    try {
      const order = [...this.#holders].sort((x, y) => y.bytes - x.bytes || x.since - y.since);
      const err = new InboundBudgetError(this.limit);
      for (const a of order) {
        if (this.#total <= this.lowWater) break;
        this.#evicted++;
        // Closing sets the account to 0 (Connection's close path).
        a.budgetEvict(err);
        if (a.bytes !== 0) a.set(0);
      }
    } finally {
      this.#relieving = false;
    }
    this.#resumeAll();
  }

  #resumeAll(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    const paused = [...this.#paused];
    this.#paused.clear();
    for (const a of paused) {
      a.paused = false;
      a.budgetResume();
    }
  }
}
