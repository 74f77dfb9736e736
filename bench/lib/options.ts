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

/** `--name=<value>` from argv, or undefined. */
export function stringFlag(argv: readonly string[], name: string): string | undefined {
  const arg = argv.find((a) => a.startsWith(`--${name}=`));
  return arg === undefined ? undefined : arg.slice(name.length + 3);
}

/** `--name=a,b,c` from argv as a list, or null when absent. */
export function listFlag(argv: readonly string[], name: string): string[] | null {
  return stringFlag(argv, name)?.split(',') ?? null;
}

/** `--name=<x>` from argv as a positive number (seconds may be fractional), or `fallback`; throws on a bad value. */
export function numberFlag(argv: readonly string[], name: string, fallback: number): number {
  const text = stringFlag(argv, name);
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!(v > 0)) throw new Error(`bad --${name}=${text}`);
  return v;
}

/** The measured window of the end-to-end suites (servers in their own processes, a load generator). */
export interface RunWindow {
  readonly quick: boolean;
  readonly rounds: number;
  /** Seconds measured per run: 3, or `quick[0]` with --quick; `--time=<s>` where the suite reads it. */
  readonly duration: number;
  /** Seconds of warmup before each measured window: 1, or `quick[1]` with --quick. */
  readonly warmup: number;
}

/** Reads `--quick`, `--rounds=<n>` and, with `timeFlag`, `--time=<seconds>` for an end-to-end suite. */
export function runWindow(argv: readonly string[], quick: [duration: number, warmup: number], timeFlag = false): RunWindow {
  const q = argv.includes('--quick');
  const full = 3;
  return {
    quick: q,
    rounds: intFlag(argv, 'rounds', q ? 1 : 3),
    duration: timeFlag ? numberFlag(argv, 'time', q ? quick[0] : full) : q ? quick[0] : full,
    warmup: q ? quick[1] : 1,
  };
}
