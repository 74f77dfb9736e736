// Prints suite results as a table, and speed ratios between cases with optional targets.
import type { CaseResult } from './suite.js';
import { formatNs, formatPct, formatRate, printTable } from './table.js';

/** The result of case `name` in `group`; throws if there is none. */
export function find(results: readonly CaseResult[], group: string, name: string): CaseResult {
  const r = results.find((x) => x.case.group === group && x.case.name === name);
  if (r === undefined) throw new Error(`no result for ${group} | ${name}`);
  return r;
}

export function printResults(results: readonly CaseResult[]): void {
  const rows = results.map((r) => [
    r.case.group,
    r.case.name,
    formatNs(r.nsPerCall),
    `${formatNs(r.nsPerUnit)}/${r.case.unit}`,
    `${formatRate(r.unitsPerSec)}/s`,
    Number.isNaN(r.mbPerSec) ? '-' : r.mbPerSec.toFixed(1),
    `±${formatPct(r.mad)}`,
    r.roundSpread === 0 ? '-' : formatPct(r.roundSpread),
    String(r.samples),
  ]);
  printTable(['group', 'case', 'p50/call', 'p50/unit', 'units/s', 'MB/s', 'mad', 'rounds', 'samples'], rows, 2);
}

export interface Comparison {
  readonly subject: CaseResult;
  readonly baseline: CaseResult;
  /** The subject must be at least this many times faster than the baseline. */
  readonly target?: number;
}

/** How many times faster `subject` is than `baseline`, per unit of work (> 1: faster). */
export function speedup(subject: CaseResult, baseline: CaseResult): number {
  return baseline.nsPerUnit / subject.nsPerUnit;
}

/** Prints each ratio and whether its target is met; returns the number of missed targets. */
export function printComparisons(comparisons: readonly Comparison[]): number {
  let missed = 0;
  const rows = comparisons.map((c) => {
    const x = speedup(c.subject, c.baseline);
    let verdict = '';
    if (c.target !== undefined) {
      const ok = x >= c.target;
      if (!ok) missed++;
      verdict = `${ok ? 'PASS' : 'MISS'} (target >= ${c.target}x)`;
    }
    return [c.subject.case.group, `${c.subject.case.name} / ${c.baseline.case.name}`, `${x.toFixed(2)}x`, verdict];
  });
  printTable(['group', 'ratio (speedup, p50)', 'x', 'target'], rows, 2);
  return missed;
}
