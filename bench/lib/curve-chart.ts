// The cost curves of bench/curves as SVG line plots, for the results chart: per curve, req/s and
// server CPU µs per request against x (both axes logarithmic), raw `net` muted and nocopy highlighted;
// a hollow point is one where the generator used more than 80% of its core (the rate measures it).
import type { Figure } from './results.js';

const ACCENT = '#d1495b';
const MUTED = '#8d99ae';
const H = 150;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function short(x: number): string {
  if (x >= 1e6) return `${+(x / 1e6).toPrecision(3)}M`;
  if (x >= 1e3) return `${+(x / 1e3).toPrecision(3)}k`;
  return `${+x.toPrecision(3)}`;
}

function xLabel(curve: string, x: number): string {
  if (curve !== 'payload') return short(x);
  return x >= 1024 * 1024 ? `${x / 1024 / 1024}M` : x >= 1024 ? `${x / 1024}K` : `${x}`;
}

/** One plot: lines per subject of `metric` against x, at (x0, y0), `w` wide. */
function plot(figs: readonly Figure[], curve: string, metric: string, title: string, x0: number, y0: number, w: number, logY: boolean): string[] {
  const out: string[] = [];
  const pts = figs.filter((f) => f.metric === metric && f.x !== undefined && Number.isFinite(f.median) && f.median > 0);
  if (pts.length === 0) return out;
  const xs = [...new Set(pts.map((f) => f.x!))].sort((a, b) => a - b);
  const ys = pts.map((f) => f.median);
  const ty = (v: number) => (logY ? Math.log10(v) : v);
  let lo = Math.min(...ys.map(ty));
  let hi = Math.max(...ys.map(ty));
  if (!logY) lo = Math.min(lo, 0);
  if (hi - lo < 1e-9) (hi += 0.5), (lo -= 0.5);
  const lx = Math.log10(xs[0]!);
  const hx = Math.log10(xs[xs.length - 1]!);
  const px = (x: number) => x0 + 30 + (hx > lx ? ((Math.log10(x) - lx) / (hx - lx)) * (w - 80) : (w - 80) / 2);
  const py = (v: number) => y0 + 28 + (1 - (ty(v) - lo) / (hi - lo)) * (H - 58);
  out.push(`<text x="${x0}" y="${y0 + 8}" class="axis">${esc(title)}</text>`);
  out.push(`<line x1="${x0 + 20}" y1="${y0 + H - 22}" x2="${x0 + w - 40}" y2="${y0 + H - 22}" stroke="#ccc"/>`);
  for (const x of xs) out.push(`<text x="${px(x).toFixed(1)}" y="${y0 + H - 8}" class="tick" text-anchor="middle">${esc(xLabel(curve, x))}</text>`);
  const gens = figs.filter((f) => f.metric === 'generator CPU %');
  for (const subject of [...new Set(pts.map((f) => f.subject))]) {
    const line = pts.filter((f) => f.subject === subject).sort((a, b) => a.x! - b.x!);
    const hiLite = subject.startsWith('nocopy');
    const color = hiLite ? ACCENT : MUTED;
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${line.map((f) => `${px(f.x!).toFixed(1)},${py(f.median).toFixed(1)}`).join(' ')}"/>`);
    for (const f of line) {
      const bound = (gens.find((g) => g.subject === subject && g.x === f.x)?.median ?? 0) > 80;
      out.push(`<circle cx="${px(f.x!).toFixed(1)}" cy="${py(f.median).toFixed(1)}" r="3" fill="${bound ? '#fff' : color}" stroke="${color}"/>`);
      out.push(`<text x="${(px(f.x!) + 4).toFixed(1)}" y="${(py(f.median) + (hiLite ? -5 : 12)).toFixed(1)}" class="tick" style="fill:${color}">${esc(short(f.median))}</text>`);
    }
  }
  return out;
}

const CURVES: readonly { curve: string; title: string }[] = [
  { curve: 'connections', title: 'as connections grow' },
  { curve: 'payload', title: 'as the payload grows' },
  { curve: 'in flight', title: 'as requests in flight grow' },
  { curve: 'memory', title: 'memory per idle connection' },
];

/** The curves section: SVG elements starting at y, and the y below them. */
export function renderCurves(figures: readonly Figure[], y: number, left: number, panel: number, when?: string): { out: string[]; y: number } {
  const out: string[] = [];
  const figs = figures.filter((f) => f.suite === 'curves' && f.curve !== undefined);
  if (figs.length === 0) return { out, y };
  out.push(`<text x="16" y="${y}" class="h2">How cost grows (bench/curves): raw net (grey) and nocopy append (red)${when ? `<tspan class="sub"> — measured ${esc(when)}</tspan>` : ''}</text>`);
  y += 14;
  for (const c of CURVES) {
    const cf = figs.filter((f) => f.curve === c.curve);
    if (cf.length === 0) continue;
    out.push(`<text x="16" y="${y + 12}" class="group">${esc(c.title)}: ${esc(cf[0]!.axis ?? '')}</text>`);
    y += 20;
    // The knee (recorded by bench/curves) and, at it, the evidence: syscalls and requests per read.
    const knees = cf.filter((f) => f.metric.startsWith('knee'));
    if (knees.length > 0) {
      const at = (subject: string, x: number, metric: string) => cf.find((f) => f.subject === subject && f.x === x && f.metric === metric)?.median;
      const parts = knees.map((k) => {
        const sys = at(k.subject, k.median, 'syscalls/req');
        const rpr = at(k.subject, k.median, 'requests/read');
        return `${k.subject} at ${xLabel(c.curve, k.median)}${sys !== undefined ? ` (there ${short(sys)} syscalls/req, ${short(rpr ?? NaN)} req/read)` : ''}`;
      });
      out.push(`<text x="16" y="${y + 8}" class="tick">knee of the ${esc(knees[0]!.metric.slice(8))} (largest bend, log-log): ${esc(parts.join('; '))}</text>`);
      y += 14;
    }
    if (c.curve === 'memory') {
      out.push(...plot(cf, c.curve, 'KB/conn', 'server RSS KB per connection', left, y, panel, false));
    } else {
      out.push(...plot(cf, c.curve, 'req/s', 'requests/s (log)', left, y, panel, true));
      out.push(...plot(cf, c.curve, 'server CPU µs/req', 'server CPU µs per request (log)', left + panel + 30, y, panel, true));
    }
    y += H + 6;
  }
  return { out, y: y + 10 };
}
