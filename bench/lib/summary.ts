// Turns recorded figures into the results file's ratios and its markdown tables.
import type { Figure } from './results.js';

export interface RatedFigure extends Figure {
  /** Against the baseline's median in the same group and metric, oriented so that > 1 is better. */
  readonly ratio?: number;
}

/** One suite's run: the date, command and Node version of the run that measured its figures. */
export interface SuiteRun {
  name: string;
  status: 'ok' | 'failed' | 'skipped';
  seconds: number;
  date: string;
  command: string;
  node: string;
  /** The machine of that run (kept suites may come from another machine than the file's). */
  machine?: Machine;
}

export interface Machine { cpus: number; model: string; memoryGiB: number; platform: string; release: string; arch: string }

export interface Results {
  /** The last run that wrote this file (a suite's own run may be older: see `suites`). */
  date: string;
  command: string;
  quick: boolean;
  node: string;
  /** `release` is the kernel. */
  machine: Machine;
  /** The load generators behind the figures, e.g. 'loadgen (C, epoll)'. */
  generators?: string[];
  suites: SuiteRun[];
  figures: RatedFigure[];
}

export function withRatios(figures: readonly Figure[]): RatedFigure[] {
  return figures.map((f) => {
    if (f.baseline === undefined) return f;
    const b = figures.find((x) => x.suite === f.suite && x.group === f.group && x.metric === f.metric && x.subject === f.baseline);
    if (b === undefined || b.median === 0 || f.median === 0) return f;
    return { ...f, ratio: f.better === 'higher' ? f.median / b.median : b.median / f.median };
  });
}

function num(x: number): string {
  if (!Number.isFinite(x)) return '-';
  const a = Math.abs(x);
  if (a >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(x / 1e3).toFixed(1)}k`;
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toFixed(3);
}

/** A cost curve's points as one table: x down, subject x metric across. */
function curveTables(figs: readonly RatedFigure[], lines: string[]): void {
  for (const curve of [...new Set(figs.map((f) => f.curve).filter((c) => c !== undefined))]) {
    const cf = figs.filter((f) => f.curve === curve && !f.metric.startsWith('knee'));
    const knees = figs.filter((f) => f.curve === curve && f.metric.startsWith('knee'));
    const subjects = [...new Set(cf.map((f) => f.subject))];
    const metrics = [...new Set(cf.map((f) => f.metric))].filter((m) => m !== 'p99 ms');
    const cols = subjects.flatMap((s) => metrics.map((m) => ({ s, m })));
    lines.push('', `### ${curve}: ${cf[0]!.axis ?? ''}`, '');
    lines.push(`| x | ${cols.map((c) => `${c.s} ${c.m}`).join(' | ')} |`, `|---:|${cols.map(() => '---:').join('|')}|`);
    for (const x of [...new Set(cf.map((f) => f.x!))].sort((a, b) => a - b)) {
      lines.push(`| ${x} | ${cols.map((c) => num(cf.find((f) => f.x === x && f.subject === c.s && f.metric === c.m)?.median ?? NaN)).join(' | ')} |`);
    }
    if (knees.length > 0) lines.push('', `Knee (largest bend on log-log axes) of the ${knees[0]!.metric.slice(8)}: ${knees.map((k) => `${k.subject} at ${k.median}`).join(', ')}.`);
  }
}

export function renderMarkdown(r: Results): string {
  const lines: string[] = [];
  lines.push(`# Benchmark results${r.quick ? ' (quick smoke run: numbers are not meaningful)' : ''}`, '');
  lines.push(`- date: ${r.date}`);
  lines.push(`- machine: ${r.machine.cpus} × ${r.machine.model}, ${r.machine.memoryGiB} GiB, ${r.machine.platform} ${r.machine.release} ${r.machine.arch}`);
  lines.push(`- Node ${r.node}`);
  lines.push(`- command: \`${r.command}\``);
  lines.push(`- every figure is the median over rounds; "±" is half the spread of the per-round values, (max - min) / 2 / median; "x" is the ratio to the baseline named in the heading, measured in the same run, oriented so that above 1 is better`, '');
  if (r.generators && r.generators.length > 0) lines.push(`- load generators: ${r.generators.join(', ')}`, '');
  lines.push('| suite | status | seconds | measured | command | Node |', '|---|---|---|---|---|---|');
  for (const s of r.suites) lines.push(`| ${s.name} | ${s.status} | ${s.seconds.toFixed(0)} | ${(s.date ?? r.date).slice(0, 16).replace('T', ' ')} UTC | \`${s.command ?? r.command}\` | ${s.node ?? r.node}${s.machine !== undefined && s.machine.model !== r.machine.model ? `, on ${s.machine.cpus} × ${s.machine.model}` : ''} |`);
  for (const suite of [...new Set(r.figures.map((f) => f.suite))]) {
    lines.push('', `## ${suite}`);
    const figs = r.figures.filter((f) => f.suite === suite);
    if (figs.some((f) => f.curve !== undefined)) {
      curveTables(figs, lines);
      continue;
    }
    for (const group of [...new Set(figs.map((f) => f.group))]) {
      const g = figs.filter((f) => f.group === group);
      const metrics = [...new Set(g.map((f) => f.metric))];
      const subjects = [...new Set(g.map((f) => f.subject))];
      const baseline = g.find((f) => f.baseline !== undefined)?.baseline;
      lines.push('', `### ${group}${baseline ? ` (baseline: ${baseline})` : ''}`, '');
      lines.push(`| | ${metrics.join(' | ')} |`, `|---|${metrics.map(() => '---:').join('|')}|`);
      for (const s of subjects) {
        const cells = metrics.map((m) => {
          const f = g.find((x) => x.subject === s && x.metric === m);
          if (f === undefined) return '';
          const ratio = f.ratio !== undefined ? ` (${f.ratio.toFixed(2)}x)` : '';
          const spread = f.spread > 0 ? ` ±${(f.spread * 50).toFixed(0)}%` : '';
          return `${num(f.median)}${ratio}${spread}`;
        });
        lines.push(`| ${s.startsWith('nocopy') || s === 'LinkBuffer' || s === 'onread' ? `**${s}**` : s} | ${cells.join(' | ')} |`);
      }
    }
  }
  return lines.join('\n') + '\n';
}
