// An SVG chart of the end-to-end suites, rendered from the results JSON with no dependencies:
// for each case, requests/s (higher is better) and, on the right, the echo's server CPU per request
// or the others' p99 latency (lower is better) per subject, each suite dated by its own run,
// nocopy highlighted.
import type { Figure } from './results.js';
import { renderCurves } from './curve-chart.js';

const W = 980;
const LABEL = 170;
const PANEL = (W - LABEL - 40) / 2;
const BAR = 14;
const GAP = 4;
const ACCENT = '#d1495b';
const MUTED = '#8d99ae';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function fmtRate(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M/s`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k/s`;
  return `${x.toFixed(0)}/s`;
}

function fmtMs(x: number): string {
  return x >= 10 ? `${x.toFixed(0)} ms` : x >= 1 ? `${x.toFixed(1)} ms` : `${(x * 1000).toFixed(0)} µs`;
}

export interface ChartMeta {
  title: string;
  subtitle: string;
  /** Per suite: the date and command of the run that measured it. */
  suites?: Record<string, string>;
}

/** The chart's title and its subtitle: the machine, Node, the date and the command that made it. */
export function chartMeta(r: { machine: { cpus: number; model: string; memoryGiB: number }; node: string; date: string; command: string; suites?: { name: string; date?: string; command?: string }[] }): ChartMeta {
  const m = r.machine;
  return {
    title: 'nocopy against what you would use instead',
    subtitle: `${m.cpus} × ${m.model}, ${m.memoryGiB} GiB, Node ${r.node}, ${r.date.slice(0, 10)} — \`${r.command}\`, medians`,
    suites: Object.fromEntries((r.suites ?? []).map((s) => [s.name, `${(s.date ?? r.date).slice(0, 10)}, \`${s.command ?? r.command}\``])),
  };
}

function fmtUs(x: number): string {
  return x >= 100 ? `${x.toFixed(0)} µs` : x >= 10 ? `${x.toFixed(1)} µs` : `${x.toFixed(2)} µs`;
}

/** Suites drawn, in order, with the throughput and latency metrics each one reports. */
const PANELS: readonly { suite: string; title: string; rate: string; latency: string; right: string; fmt: (x: number) => string }[] = [
  { suite: 'echo', title: 'Echo server (4-byte length-prefixed frames)', rate: 'req/s', latency: 'server CPU µs/req', right: 'server CPU per request (shorter is better)', fmt: fmtUs },
  { suite: 'rpc', title: 'RPC (unary, 128 B payload)', rate: 'req/s', latency: 'p99 ms', right: 'p99 latency (shorter is better)', fmt: fmtMs },
  { suite: 'proxy', title: 'TCP proxy in front of Redis (redis-benchmark)', rate: 'req/s', latency: 'p99 ms', right: 'p99 latency (shorter is better)', fmt: fmtMs },
];

export function renderChart(figures: readonly Figure[], meta: ChartMeta): string {
  const out: string[] = [];
  let y = 70;
  for (const p of PANELS) {
    const figs = figures.filter((f) => f.suite === p.suite);
    if (figs.length === 0) continue;
    const when = meta.suites?.[p.suite];
    out.push(`<text x="16" y="${y}" class="h2">${esc(p.title)}${when ? `<tspan class="sub"> — measured ${esc(when)}</tspan>` : ''}</text>`);
    y += 16;
    out.push(`<text x="${LABEL}" y="${y}" class="axis">requests/s (longer is better)</text>`);
    out.push(`<text x="${LABEL + PANEL + 30}" y="${y}" class="axis">${esc(p.right)}</text>`);
    // Only groups with a throughput figure are drawn (a suite may record other metrics per group).
    const groups = [...new Set(figs.filter((f) => f.metric === p.rate).map((f) => f.group))];
    for (const g of groups) {
      const rates = figs.filter((f) => f.group === g && f.metric === p.rate);
      const lats = figs.filter((f) => f.group === g && f.metric === p.latency);
      const subjects = rates.map((f) => f.subject);
      const maxRate = Math.max(...rates.map((f) => f.median), 1e-9);
      const maxLat = Math.max(...lats.map((f) => f.median), 1e-9);
      y += 16;
      out.push(`<text x="16" y="${y}" class="group">${esc(g)}</text>`);
      y += 6;
      for (const s of subjects) {
        const r = rates.find((f) => f.subject === s)!;
        const l = lats.find((f) => f.subject === s);
        const hi = s.startsWith('nocopy');
        const fill = hi ? ACCENT : MUTED;
        const cls = hi ? 'lbl hi' : 'lbl';
        out.push(`<text x="${LABEL - 8}" y="${y + BAR - 3}" class="${cls}" text-anchor="end">${esc(s)}</text>`);
        const rw = Math.max(1, (r.median / maxRate) * (PANEL - 70));
        out.push(`<rect x="${LABEL}" y="${y}" width="${rw.toFixed(1)}" height="${BAR}" fill="${fill}" rx="2"/>`);
        out.push(`<text x="${(LABEL + rw + 4).toFixed(1)}" y="${y + BAR - 3}" class="${cls}">${fmtRate(r.median)}</text>`);
        if (l !== undefined) {
          const x0 = LABEL + PANEL + 30;
          const lw = Math.max(1, (l.median / maxLat) * (PANEL - 70));
          out.push(`<rect x="${x0}" y="${y}" width="${lw.toFixed(1)}" height="${BAR}" fill="${fill}" rx="2"/>`);
          out.push(`<text x="${(x0 + lw + 4).toFixed(1)}" y="${y + BAR - 3}" class="${cls}">${p.fmt(l.median)}</text>`);
        }
        y += BAR + GAP;
      }
    }
    y += 24;
  }
  const curves = renderCurves(figures, y, LABEL - 120, PANEL + 60, meta.suites?.curves);
  out.push(...curves.out);
  y = curves.y;
  const h = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" font-family="Helvetica, Arial, sans-serif">`,
    '<style>.h1{font-size:18px;font-weight:bold;fill:#222}.sub{font-size:11px;fill:#555}.h2{font-size:14px;font-weight:bold;fill:#222}' +
      '.axis{font-size:11px;fill:#777}.group{font-size:12px;fill:#333;font-style:italic}.lbl{font-size:11px;fill:#444}.hi{fill:#a61e2f;font-weight:bold}.tick{font-size:10px;fill:#666}</style>',
    `<rect width="${W}" height="${h}" fill="#fff"/>`,
    `<text x="16" y="26" class="h1">${esc(meta.title)}</text>`,
    `<text x="16" y="44" class="sub">${esc(meta.subtitle)}</text>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}
