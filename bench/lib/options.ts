// Command-line options shared by every suite. `bench/run.ts` passes its `--flags` through.
import type { BenchOptions } from 'tinybench';

export interface SuiteOptions {
  /** `--quick`: a smoke run, each task measured only briefly. Numbers are not meaningful. */
  readonly quick: boolean;
  /** `--rounds=<n>`: how often the whole suite runs; each case reports the median of its round medians. */
  readonly rounds: number;
  /** Options for tinybench's `Bench`. */
  readonly bench: BenchOptions;
}

/** `--name=<n>` from argv as a positive integer, or `fallback` when absent; throws on a bad value. */
export function intFlag(argv: readonly string[], name: string, fallback: number): number {
  const arg = argv.find((a) => a.startsWith(`--${name}=`));
  if (arg === undefined) return fallback;
  const v = Number(arg.slice(name.length + 3));
  if (!Number.isSafeInteger(v) || v <= 0) throw new Error(`bad ${arg}: expected a positive integer`);
  return v;
}

/** Reads `--quick`, `--rounds=<n>` and `--time=<ms>` (time budget per task and round) from argv. */
export function suiteOptions(argv: readonly string[] = process.argv.slice(2)): SuiteOptions {
  const quick = argv.includes('--quick');
  const time = intFlag(argv, 'time', quick ? 50 : 1000);
  const rounds = intFlag(argv, 'rounds', quick ? 1 : 3);
  const bench: BenchOptions = quick
    ? { time, warmupTime: 10, iterations: 4, warmupIterations: 2, throws: true }
    : { time, warmupTime: 250, iterations: 32, warmupIterations: 16, throws: true };
  return { quick, rounds, bench };
}
