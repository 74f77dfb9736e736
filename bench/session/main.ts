// bench/session: what the session layer costs. (1) The same length-prefixed echo served by a
// hand-written EventLoop onRequest and by the session API, driven by bench/load's client (server on
// CPU 0, client on CPU 1), in one run: req/s, and server CPU per message, the figure the session
// layer must keep within 10% of the hand-written one. (2) 100,000 session timers with a 1 s period
// on the timing wheel against one setInterval each: CPU per second and heap.
//   node bench/dist/session/main.js [--quick] [--rounds=<n>]
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printTable } from '../lib/table.js';
import { figure, median, recordFigures, type Figure } from '../lib/results.js';
import { intervalCost, wheelCost, type TimerCost } from './wheel.js';
import { V8_FLAGS, hasTaskset, serveAndLoad } from '../lib/processes.js';

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const roundsArg = process.argv.find((a) => a.startsWith('--rounds='));
const rounds = roundsArg ? Number(roundsArg.split('=')[1]) : quick ? 1 : 5;
const duration = quick ? 0.5 : 3;
const warmup = quick ? 0.2 : 1;
const modes = ['loop', 'session'] as const;
type Mode = (typeof modes)[number];
const cases = [
  { name: '50 conns x16 in flight 128 B', connections: 50, inflight: 16, size: 128 },
  { name: '50 conns ping-pong 128 B', connections: 50, inflight: 1, size: 128 },
];

interface Run {
  rps: number;
  clientCpu: number;
  /** Server CPU µs per message (user + system over the client's whole run). */
  usPerMsg: number;
}


async function runOne(mode: Mode, c: (typeof cases)[number]): Promise<Run> {
  const { out, server: s } = await serveAndLoad([join(here, 'servers.js'), mode], (port) => [
    join(here, '..', 'load', 'client.js'),
    '--port', String(port), '--connections', String(c.connections), '--inflight', String(c.inflight),
    '--size', String(c.size), '--duration', String(duration), '--warmup', String(warmup),
  ], mode);
  const r = JSON.parse(out.trim()) as { requests: number; rps: number; cpuPercent: number; errors: number; seconds: number };
  if (r.errors > 0) throw new Error(`${r.errors} verification errors against ${mode}`);
  // The client counts requests over the measured window only; the server's CPU covers warmup too,
  // so scale the requests to the whole run at the measured rate.
  const total = r.rps * (duration + warmup);
  return { rps: r.rps, clientCpu: r.cpuPercent, usPerMsg: ((s.cpuUserMs + s.cpuSystemMs) * 1000) / total };
}

const fmtRate = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(1)}k`);

async function main(): Promise<void> {
  console.log(`session: ${rounds} round(s) of ${duration} s (+${warmup} s warmup) per server and case, interleaved; medians; ${hasTaskset ? 'server pinned to CPU 0, client to CPU 1' : 'taskset not found: not pinned'}; V8 ${V8_FLAGS.join(' ')}`);
  const figures: Figure[] = [];
  let missed = 0;
  for (const c of cases) {
    const runs = new Map<Mode, Run[]>(modes.map((m) => [m, []]));
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? modes : [...modes].reverse();
      for (const m of order) runs.get(m)!.push(await runOne(m, c));
    }
    const med = (m: Mode, f: (r: Run) => number) => median(runs.get(m)!.map(f));
    console.log(`\n${c.name}`);
    printTable(['server', 'req/s', 'server CPU µs/msg', 'vs loop', 'client CPU'], modes.map((m) => [
      m === 'loop' ? 'hand-written onRequest' : 'session API',
      fmtRate(med(m, (r) => r.rps)),
      med(m, (r) => r.usPerMsg).toFixed(3),
      `${((med(m, (r) => r.usPerMsg) / med('loop', (r) => r.usPerMsg) - 1) * 100).toFixed(1)}%`,
      `${med(m, (r) => r.clientCpu).toFixed(0)}%`,
    ]));
    for (const m of modes) {
      const base = { suite: 'session', group: c.name, subject: m, ...(m !== 'loop' ? { baseline: 'loop' } : {}) };
      figures.push(
        figure({ ...base, metric: 'req/s', better: 'higher' }, runs.get(m)!.map((r) => r.rps)),
        figure({ ...base, metric: 'server CPU µs/msg', better: 'lower' }, runs.get(m)!.map((r) => r.usPerMsg)),
      );
    }
    const over = med('session', (r) => r.usPerMsg) / med('loop', (r) => r.usPerMsg) - 1;
    const ok = over <= 0.1;
    if (!ok) missed++;
    console.log(`  session CPU per message vs hand-written: ${(over * 100).toFixed(1)}%  ${ok ? 'PASS' : 'MISS'} (target <= 10%)`);
  }

  const n = quick ? 10_000 : 100_000;
  const seconds = quick ? 1 : 5;
  const period = 1000;
  console.log(`\ntimers: ${n.toLocaleString('en')} session timers with a ${period} ms period, ${seconds} s, in one process${(globalThis as { gc?: unknown }).gc ? '' : ' (run with --expose-gc for exact heap figures)'}`);
  const costs = new Map<string, TimerCost>([
    ['timing wheel', await wheelCost(n, period, seconds)],
    ['setInterval each', await intervalCost(n, period, seconds)],
  ]);
  printTable(['timers', 'CPU ms/s', 'heap MiB', 'fires/s'], [...costs].map(([name, c]) => [name, c.cpuMsPerSec.toFixed(1), c.heapMiB.toFixed(1), fmtRate(c.firesPerSec)]));
  for (const [name, c] of costs) {
    const base = { suite: 'session', group: `${n} timers of ${period} ms`, subject: name, ...(name !== 'setInterval each' ? { baseline: 'setInterval each' } : {}) };
    figures.push(figure({ ...base, metric: 'CPU ms/s', better: 'lower' }, [c.cpuMsPerSec]), figure({ ...base, metric: 'heap MiB', better: 'lower' }, [c.heapMiB]));
  }
  recordFigures(figures);
  if (missed > 0) console.log(`\n${missed} target(s) missed`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
