// One hashed timing wheel (Varghese & Lauck; tao and getty run one per process) drives every
// session's cron, heartbeat, idle check and after()/every() timers: adding and cancelling are O(1),
// and a whole process of sessions costs one Node timer, which runs only while timers are pending.
import { performance } from 'node:perf_hooks';
import { checkCount, checkMs } from '../util/validate.js';
import { createWarner } from '../util/warner.js';

const warnTimerError = createWarner({ code: 'NOCOPY_TIMER_ERROR' });

export interface TimingWheelOptions {
  /** Resolution in ms: a timer fires within one tick after its time. Default 50. */
  tick?: number;
  /** Slots of the wheel (a power of two); timers further than slots x tick away wait whole rounds. Default 512. */
  slots?: number;
}

/** A timer on a wheel; cancel() is O(1) and safe to call more than once. */
export interface WheelTimer {
  /** Pending: neither fired (one-shot) nor cancelled. */
  readonly active: boolean;
  cancel(): void;
}

type Fire = (arg: any) => unknown;
type OnError = (err: unknown, arg: any) => void;

class Entry implements WheelTimer {
  prev: Entry | null = null;
  next: Entry | null = null;
  slot = -1;
  rounds = 0;
  constructor(
    readonly wheel: TimingWheel,
    readonly ticks: number,
    readonly periodic: boolean,
    readonly fn: Fire,
    readonly arg: unknown,
    readonly onError: OnError | undefined,
  ) {}
  cancelled = false;
  get active(): boolean {
    return this.slot !== -1 && !this.cancelled;
  }
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    if (this.slot !== -1) this.wheel[kUnlink](this);
  }
}

const kUnlink = Symbol('nocopy.wheelUnlink');

export class TimingWheel {
  /** Resolution in ms. */
  readonly tick: number;
  readonly #mask: number;
  readonly #heads: (Entry | null)[];
  #cursor = 0;
  #size = 0;
  #timer: NodeJS.Timeout | null = null;
  #firing = false;
  readonly #due: Entry[] = [];
  /** performance.now() of the tick the cursor stands at. */
  #at = 0;

  constructor(options: TimingWheelOptions = {}) {
    this.tick = checkMs('tick', options.tick, 50) || 1;
    const slots = checkCount('slots', options.slots, 512);
    if ((slots & (slots - 1)) !== 0) throw new RangeError(`slots must be a power of two, got ${slots}`);
    this.#mask = slots - 1;
    this.#heads = new Array<Entry | null>(slots).fill(null);
  }

  /** Timers pending. */
  get size(): number {
    return this.#size;
  }

  /**
   * Calls `fn(arg)` once, `ms` from now (rounded up to whole ticks, at least one). A throw goes to
   * `onError(err, arg)`, else to a process warning (NOCOPY_TIMER_ERROR).
   */
  after<A>(ms: number, fn: (arg: A) => unknown, arg?: A, onError?: (err: unknown, arg: A) => void): WheelTimer {
    return this.#add(ms, false, fn, arg, onError);
  }

  /** Calls `fn(arg)` every `ms` (whole ticks, at least one) until cancelled. */
  every<A>(ms: number, fn: (arg: A) => unknown, arg?: A, onError?: (err: unknown, arg: A) => void): WheelTimer {
    return this.#add(ms, true, fn, arg, onError);
  }

  #add(ms: number, periodic: boolean, fn: Fire, arg: unknown, onError: OnError | undefined): Entry {
    checkMs('ms', ms, 0);
    if (typeof fn !== 'function') throw new TypeError('the timer callback must be a function');
    const e = new Entry(this, Math.max(1, Math.ceil(ms / this.tick)), periodic, fn, arg, onError);
    this.#link(e);
    return e;
  }

  #link(e: Entry): void {
    if (this.#size++ === 0 && this.#timer === null) this.#start();
    this.#place(e);
  }

  /** Puts `e` in the slot `e.ticks` from the cursor (which may lag real time by under a tick: never early). */
  #place(e: Entry): void {
    const slots = this.#mask + 1;
    const slot = (this.#cursor + e.ticks) & this.#mask;
    e.rounds = Math.floor((e.ticks - 1) / slots);
    e.slot = slot;
    const head = this.#heads[slot]!;
    e.prev = null;
    e.next = head;
    if (head !== null) head.prev = e;
    this.#heads[slot] = e;
  }

  #detach(e: Entry): void {
    if (e.prev !== null) e.prev.next = e.next;
    else this.#heads[e.slot] = e.next;
    if (e.next !== null) e.next.prev = e.prev;
    e.prev = e.next = null;
    e.slot = -1;
  }

  /** @internal */
  [kUnlink](e: Entry): void {
    this.#detach(e);
    // While firing, the interval is stopped (if nothing is left) once the tick is done.
    if (--this.#size === 0 && !this.#firing) this.#stop();
  }

  #start(): void {
    this.#at = performance.now();
    // Unref'd like a socket's timeout: pending timers never keep the process alive on their own.
    this.#timer = setInterval(this.#onInterval, this.tick).unref();
  }

  #stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  readonly #onInterval = (): void => {
    // A blocked event loop delays ticks; catch up on every tick that has passed, in order.
    const due = Math.floor((performance.now() - this.#at) / this.tick);
    this.#firing = true;
    try {
      for (let i = 0; i < due; i++) {
        this.#at += this.tick;
        this.#cursor = (this.#cursor + 1) & this.#mask;
        this.#fireSlot(this.#cursor);
      }
    } finally {
      this.#firing = false;
      if (this.#size === 0) this.#stop();
    }
  };

  #fireSlot(slot: number): void {
    // First take the due timers out (a callback may cancel any timer, in this slot too), then fire
    // them. A timer added meanwhile goes to a later slot, or a whole round later: not in this batch.
    const due = this.#due;
    let e = this.#heads[slot] ?? null;
    while (e !== null) {
      const next: Entry | null = e.next;
      if (e.rounds > 0) {
        e.rounds--;
      } else {
        if (e.periodic) {
          this.#detach(e);
          this.#place(e);
        } else {
          this[kUnlink](e);
        }
        due.push(e);
      }
      e = next;
    }
    for (let i = 0; i < due.length; i++) {
      const t = due[i]!;
      if (t.cancelled) continue;
      try {
        t.fn(t.arg);
      } catch (err) {
        if (t.onError !== undefined) t.onError(err, t.arg);
        else warnTimerError(err);
      }
    }
    due.length = 0;
  }
}

/** The wheel sessions use unless given one. */
export const defaultWheel = new TimingWheel();
