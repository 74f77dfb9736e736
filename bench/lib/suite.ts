// A suite of benchmark cases run with tinybench. Each case says how much work one call does
// (frames, ops, bytes), so results come out per unit. Medians (p50) throughout: the machines
// these run on are noisy, and a median shrugs off the odd descheduled sample.
//
// With `--rounds=n` > 1 the whole suite runs several times, rotating the order of the cases inside each
// group every round (so no case always runs first, on a cold heap, or right after a heavy one),
// and each case reports the median of its per-round medians.
import { Bench } from 'tinybench';
import type { SuiteOptions } from './options.js';

export interface Case {
  /** Cases that do the same work share a group, e.g. 'frames 16 B'. */
  readonly group: string;
  /** The implementation, e.g. 'LinkBuffer'. */
  readonly name: string;
  /** The timed function. Return something derived from the work, so it cannot be optimized away. */
  readonly fn: () => unknown;
  /** Work units one call of `fn` performs, e.g. frames parsed or reads made. */
  readonly units: number;
  /** Name of one unit, singular: 'frame', 'read', 'batch'. */
  readonly unit: string;
  /** Payload bytes one call processes, for MB/s; omit when meaningless. */
  readonly bytes?: number;
}

export interface CaseResult {
  readonly case: Case;
  /** Median time of one call of `fn`, in ns (median over rounds of each round's p50). */
  readonly nsPerCall: number;
  readonly nsPerUnit: number;
  readonly unitsPerSec: number;
  /** MB/s (10^6 bytes) when the case declares `bytes`, else NaN. */
  readonly mbPerSec: number;
  /** Samples taken, over all rounds. */
  readonly samples: number;
  /** Median absolute deviation relative to the p50 (median over rounds): the noise of one round. */
  readonly mad: number;
  /** (max - min) / median of the per-round p50s; 0 with a single round. */
  readonly roundSpread: number;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const key = (c: Case): string => `${c.group} | ${c.name}`;

export class Suite {
  readonly #options: SuiteOptions;
  readonly #cases: Case[] = [];

  constructor(options: SuiteOptions) {
    this.#options = options;
  }

  add(c: Case): this {
    if (this.#cases.some((x) => key(x) === key(c))) throw new Error(`duplicate case ${key(c)}`);
    this.#cases.push(c);
    return this;
  }

  /** Runs every case `options.rounds` times; progress goes to stderr. */
  async run(): Promise<CaseResult[]> {
    const rounds = this.#options.rounds;
    const p50s = new Map<Case, number[]>();
    const mads = new Map<Case, number[]>();
    const samples = new Map<Case, number>();
    for (let round = 0; round < rounds; round++) {
      const bench = new Bench({ ...this.#options.bench, name: `round ${round + 1}` });
      const byName = new Map<string, Case>();
      for (const c of this.#ordered(round)) {
        byName.set(key(c), c);
        // A full GC before each task, so one task's garbage is not collected on another's clock.
        bench.add(key(c), c.fn, { beforeAll: () => globalThis.gc?.() });
      }
      bench.addEventListener('cycle', (e) => {
        const t = e.task;
        if (t !== undefined) process.stderr.write(`  [${round + 1}/${rounds}] ${t.name}\n`);
      });
      await bench.run();
      for (const task of bench.tasks) {
        const r = task.result;
        if (r.state !== 'completed') {
          throw new Error(`${task.name}: ${r.state}${r.state === 'errored' ? `: ${r.error.message}` : ''}`);
        }
        const c = byName.get(task.name)!;
        const p50 = r.latency.p50 * 1e6; // ms -> ns
        (p50s.get(c) ?? p50s.set(c, []).get(c)!).push(p50);
        (mads.get(c) ?? mads.set(c, []).get(c)!).push(r.latency.mad * 1e6 / p50);
        samples.set(c, (samples.get(c) ?? 0) + r.latency.samplesCount);
      }
    }
    return this.#cases.map((c) => {
      const ps = p50s.get(c)!;
      const ns = median(ps);
      return {
        case: c,
        nsPerCall: ns,
        nsPerUnit: ns / c.units,
        unitsPerSec: (c.units * 1e9) / ns,
        mbPerSec: c.bytes === undefined ? NaN : (c.bytes * 1e3) / ns,
        samples: samples.get(c)!,
        mad: median(mads.get(c)!),
        roundSpread: ps.length > 1 ? (Math.max(...ps) - Math.min(...ps)) / ns : 0,
      };
    });
  }

  /** The cases, each group's members rotated by `round`; groups keep their order. */
  #ordered(round: number): Case[] {
    const groups = new Map<string, Case[]>();
    for (const c of this.#cases) (groups.get(c.group) ?? groups.set(c.group, []).get(c.group)!).push(c);
    const out: Case[] = [];
    for (const members of groups.values()) {
      const k = round % members.length;
      out.push(...members.slice(k), ...members.slice(0, k));
    }
    return out;
  }
}
