// Machine-readable results. Every suite records its figures here; `bench/run.ts` names the file
// (NOCOPY_BENCH_RESULTS) and turns all suites' figures into bench/results/latest.{json,md,svg}.
// Run on its own, a suite records nothing and just prints its tables.
import { appendFileSync } from 'node:fs';

export interface Figure {
  /** The suite: 'linkbuffer', 'echo', 'readpath', 'proxy', 'rpc'. */
  readonly suite: string;
  /** What was measured, the same for every subject compared: '50 conns x16 in flight 128 B'. */
  readonly group: string;
  /** Who was measured: 'nocopy', 'raw', 'bl', 'grpc-js', ... */
  readonly subject: string;
  /** The unit: 'req/s', 'p99 ms', 'ns/frame', 'MB/s', 'CPU ms/MB', ... */
  readonly metric: string;
  /** Median over rounds. */
  readonly median: number;
  /** Relative spread of the per-round values, (max - min) / median; 0 with one round. */
  readonly spread: number;
  /** Rounds (or samples) behind the median. */
  readonly rounds: number;
  /** Which way is better. */
  readonly better: 'higher' | 'lower';
  /** The subject in the same group and metric to express this figure against, e.g. 'raw'. */
  readonly baseline?: string;
  /** The load generator that measured it, e.g. 'loadgen (C, epoll)' or 'node client'. */
  readonly generator?: string;
  /** A point of a cost curve (bench/curves): the curve's name, what its x axis is, and x. */
  readonly curve?: string;
  readonly axis?: string;
  readonly x?: number;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** (max - min) / median of per-round values; 0 for fewer than two. */
export function spread(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = median(xs);
  return m === 0 ? 0 : (Math.max(...xs) - Math.min(...xs)) / m;
}

/** A figure from per-round values. */
export function figure(
  base: Omit<Figure, 'median' | 'spread' | 'rounds'>,
  values: readonly number[],
): Figure {
  return { ...base, median: median(values), spread: spread(values), rounds: values.length };
}

/** Appends figures for run.ts (JSON lines); a no-op when the suite runs on its own. */
export function recordFigures(figures: readonly Figure[]): void {
  const file = process.env.NOCOPY_BENCH_RESULTS;
  if (!file || figures.length === 0) return;
  appendFileSync(file, figures.map((f) => JSON.stringify(f)).join('\n') + '\n');
}
