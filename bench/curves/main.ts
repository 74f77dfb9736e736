// bench/curves: how cost grows. The raw `net` echo and the nocopy `append` echo (bench/echo/servers.ts)
// driven by the compiled generator along three axes, one short point each: connections 1 -> 10,000
// (128 B, ping-pong), payload 16 B -> 1 MiB (10 connections, ping-pong), requests in flight 1 -> 256
// (50 connections, 128 B); and the server's memory per idle connection up to 10,000 connections.
// Every point records req/s, server CPU µs and read/write syscalls per request, requests per read
// (the batch the server sees) and the generator's share of its core: the evidence for each knee.
//   node bench/dist/curves/main.js [--quick] [--rounds=n] [--curves=connections,payload,in flight,memory]
//                                  [--v8-defaults]   memory without the fixed 16 MiB semi-spaces
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { printTable } from '../lib/table.js';
import { figure, median, recordFigures, type Figure } from '../lib/results.js';
import { V8_FLAGS, hasTaskset, nextMessage, pinnedNode, type ServerCpu } from '../lib/processes.js';
import { holdIdle, loadgenPath, runLoadgen, type LoadgenResult } from '../lib/loadgen.js';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const quick = argv.includes('--quick');
// A point is short: the curves show shape over 4 orders of magnitude, not 5% differences; the
// median of 3 rounds keeps one disturbed point (a shared machine) from bending a curve.
const rounds = Number(opt('rounds') ?? (quick ? 1 : 3));
// RSS growth barely moves between rounds: one, unless --rounds says otherwise.
const memoryRounds = Number(opt('rounds') ?? 1);
const duration = quick ? 0.2 : 1;
const warmup = quick ? 0.1 : 0.5;
const GENERATOR = 'loadgen (C, epoll)';

const SERVERS = [
  { mode: 'raw', subject: 'raw' },
  { mode: 'append', subject: 'nocopy append' },
] as const;

interface Curve {
  name: string;
  /** What the x axis is. */
  axis: string;
  xs: number[];
  spec: (x: number) => { connections: number; inflight: number; size: number };
}

const KiB = 1024;
const CURVES: Curve[] = [
  { name: 'connections', axis: 'connections (128 B, 1 in flight each)', xs: quick ? [1, 100] : [1, 10, 100, 1000, 10000], spec: (x) => ({ connections: x, inflight: 1, size: 128 }) },
  { name: 'payload', axis: 'payload bytes (10 connections, 1 in flight each)', xs: quick ? [16, 16 * KiB] : [16, 128, KiB, 16 * KiB, 256 * KiB, 1024 * KiB], spec: (x) => ({ connections: 10, inflight: 1, size: x }) },
  { name: 'in flight', axis: 'requests in flight per connection (50 connections, 128 B)', xs: quick ? [1, 16] : [1, 4, 16, 64, 256], spec: (x) => ({ connections: 50, inflight: x, size: 128 }) },
];
const SETTLE_MS = quick ? 0 : 4500;
// From 1,000: below, process-level changes of a few MB (V8 shrinking its heap once idle, the pool's
// decay) swamp the connections' share (100 connections read -40 KB each once settled).
const MEMORY_XS = quick ? [100, 1000] : [1000, 3000, 5000, 10000];
const selected = opt('curves')?.split(',') ?? [...CURVES.map((c) => c.name), 'memory'];

// The generator and the servers raise their own descriptor limit to the hard limit (loadgen.c with
// setrlimit, Node at startup); 10,000 connections need about 10,000 each.
function nofileHard(): number {
  const m = /Max open files\s+\d+\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m === null ? NaN : m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

async function startServer(mode: string, v8Flags: readonly string[] = V8_FLAGS) {
  const srv = pinnedNode(0, [join(here, '..', 'echo', 'servers.js'), mode], true, v8Flags);
  const { port, pid } = await nextMessage<{ port: number; pid: number }>(srv);
  srv.send('start');
  return {
    port,
    pid,
    stop: async () => {
      const stats = nextMessage<ServerCpu>(srv);
      srv.send('stop');
      return stats;
    },
    pool: async () => {
      const got = nextMessage<{ pool: { bytesOutstanding: number; idleBytes: number; blocksOutstanding: number }; memory: NodeJS.MemoryUsage }>(srv);
      srv.send('pool');
      return await got;
    },
    gc: async () => {
      const done = nextMessage<string>(srv);
      srv.send('gc');
      await done;
    },
  };
}

const fmtRate = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)}k` : x.toFixed(0));
const fmtSize = (x: number) => (x >= KiB * KiB ? `${x / KiB / KiB} MiB` : x >= KiB ? `${x / KiB} KiB` : `${x} B`);

async function curve(c: Curve): Promise<void> {
  const runs = new Map<string, LoadgenResult[][]>(SERVERS.map((s) => [s.subject, c.xs.map(() => [])]));
  for (let r = 0; r < rounds; r++) {
    // One server process per curve and round, the points in order; raw and nocopy alternate first.
    for (const s of r % 2 === 0 ? SERVERS : [...SERVERS].reverse()) {
      const srv = await startServer(s.mode);
      try {
        for (const [i, x] of c.xs.entries()) {
          const spec = c.spec(x);
          // Big payloads complete few requests per second: give them the same wall time.
          runs.get(s.subject)![i]!.push(await runLoadgen({ port: srv.port, pid: srv.pid, ...spec, duration, warmup, cpu: 1 }, hasTaskset));
        }
      } finally {
        await srv.stop();
      }
    }
  }
  const med = (subject: string, i: number, f: (g: LoadgenResult) => number) => median(runs.get(subject)![i]!.map(f));
  const cpu = (g: LoadgenResult) => g.serverCpuUsPerReq ?? NaN;
  const reads = (g: LoadgenResult) => g.serverReadsPerReq ?? NaN;
  const writes = (g: LoadgenResult) => g.serverWritesPerReq ?? NaN;
  console.log(`\ncurve: ${c.axis}  (median of ${rounds} round(s) of ${duration} s; * = generator above 80% of its core)`);
  printTable(
    ['x', ...SERVERS.flatMap((s) => [`${s.subject} req/s`, 'CPU µs/req', 'reads+writes /req', 'req/read', 'gen'])],
    c.xs.map((x, i) => [
      c.name === 'payload' ? fmtSize(x) : String(x),
      ...SERVERS.flatMap((s) => {
        const gen = med(s.subject, i, (g) => g.cpuPercent);
        return [
          fmtRate(med(s.subject, i, (g) => g.rps)) + (gen > 80 ? '*' : ''),
          med(s.subject, i, cpu).toFixed(2),
          `${med(s.subject, i, reads).toFixed(3)}+${med(s.subject, i, writes).toFixed(3)}`,
          (1 / med(s.subject, i, reads)).toFixed(1),
          `${gen.toFixed(0)}%`,
        ];
      }),
    ]),
  );
  const figures: Figure[] = [];
  for (const s of SERVERS) {
    for (const [i, x] of c.xs.entries()) {
      const rs = runs.get(s.subject)![i]!;
      const base = { suite: 'curves', group: `${c.name} ${c.name === 'payload' ? fmtSize(x) : x}`, subject: s.subject, curve: c.name, axis: c.axis, x, generator: GENERATOR,
        ...(s.subject !== 'raw' ? { baseline: 'raw' } : {}) };
      figures.push(
        figure({ ...base, metric: 'req/s', better: 'higher' }, rs.map((g) => g.rps)),
        figure({ ...base, metric: 'server CPU µs/req', better: 'lower' }, rs.map(cpu)),
        figure({ ...base, metric: 'syscalls/req', better: 'lower' }, rs.map((g) => reads(g) + writes(g))),
        figure({ ...base, metric: 'requests/read', better: 'higher' }, rs.map((g) => 1 / reads(g))),
        figure({ ...base, metric: 'p99 ms', better: 'lower' }, rs.map((g) => g.p99us / 1000)),
        figure({ ...base, metric: 'generator CPU %', better: 'lower' }, rs.map((g) => g.cpuPercent)),
      );
    }
  }
  recordFigures(figures.filter((f) => Number.isFinite(f.median)));
  recordKnees(c.name, c.axis, 'server CPU µs/req', c.xs, (s, i) => med(s, i, cpu));
}

/**
 * The knee of a curve: the interior point where its slope on log-log axes changes most (where the
 * cost per request stops falling, or starts rising). NaN with fewer than 3 points.
 */
export function knee(xs: readonly number[], ys: readonly number[]): number {
  let best = NaN;
  let bend = -1;
  const slope = (i: number) => (Math.log(ys[i + 1]!) - Math.log(ys[i]!)) / (Math.log(xs[i + 1]!) - Math.log(xs[i]!));
  for (let i = 1; i < xs.length - 1; i++) {
    const b = Math.abs(slope(i) - slope(i - 1));
    if (Number.isFinite(b) && b > bend) (bend = b), (best = xs[i]!);
  }
  return best;
}

/** Records each subject's knee of `metric` along a curve, as a figure whose median is the knee's x. */
function recordKnees(curveName: string, axis: string, metric: string, xs: readonly number[], ys: (subject: string, i: number) => number): void {
  recordFigures(SERVERS.map((s) => ({ suite: 'curves', group: `knee ${curveName}`, subject: s.subject, curve: curveName, axis, metric: `knee of ${metric}`, better: 'lower' as const,
    median: knee(xs, xs.map((_, i) => ys(s.subject, i))), spread: 0, rounds }))
    .filter((f) => Number.isFinite(f.median)));
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** Server RSS growth per idle connection (one 128 B echo each, read after a full GC), N = 100 .. 10,000. */
async function memory(): Promise<void> {
  const hard = nofileHard();
  const xs = MEMORY_XS.filter((n) => n + 100 <= hard);
  if (xs.length < MEMORY_XS.length) console.log(`curves: the descriptor limit (hard ${hard}) leaves out ${MEMORY_XS.filter((n) => !xs.includes(n)).join(', ')} connections`);
  const per = new Map<string, number[][]>(SERVERS.map((s) => [s.subject, xs.map(() => [])]));
  const poolNotes: string[] = [];
  // Steadier than RSS (which the young generation and V8's heap shrinking move by MBs): the JS heap
  // and the block-pool bytes each idle connection holds.
  const heapPer = new Map<string, number[][]>(SERVERS.map((s) => [s.subject, xs.map(() => [])]));
  const poolPer = new Map<string, number[][]>(SERVERS.map((s) => [s.subject, xs.map(() => [])]));
  const atOnce = new Map<string, number[][]>(SERVERS.map((s) => [s.subject, xs.map(() => [])]));
  for (let r = 0; r < memoryRounds; r++) {
    for (const s of SERVERS) {
      for (const [i, n] of xs.entries()) {
        // A fresh server per point: what one connection costs, not what the previous point left.
        const srv = await startServer(s.mode, [...(argv.includes('--v8-defaults') ? [] : V8_FLAGS), '--expose-gc']);
        // The baseline settled too: V8 shrinks a fresh process's heap once it idles, which, read only
        // after the connections, made small points negative.
        await sleep(SETTLE_MS || 200);
        await srv.gc();
        const before = rssKiB(srv.pid);
        const heap0 = (await srv.pool()).memory;
        const hold = holdIdle(srv.port, n, 128, hasTaskset);
        await hold.ready;
        await sleep(300);
        await srv.gc();
        atOnce.get(s.subject)![i]!.push(((rssKiB(srv.pid) - before) * 1024) / n / 1000);
        // The block pool keeps a burst's idle blocks for reuse and gives them back after a period
        // (decayMs, 2 s) in which no acquisition needed them: read again once that has passed, so
        // the figure is what an idle connection holds, not what the burst of first echoes left.
        await sleep(SETTLE_MS);
        await srv.gc();
        const after = rssKiB(srv.pid);
        const { pool, memory: heap1 } = await srv.pool();
        const perConn = (k: 'heapUsed' | 'external' | 'arrayBuffers') => ((heap1[k] - heap0[k]) / n / 1000).toFixed(2);
        heapPer.get(s.subject)![i]!.push((heap1.heapUsed - heap0.heapUsed) / n / 1000);
        poolPer.get(s.subject)![i]!.push(pool.bytesOutstanding / n);
        poolNotes.push(`${s.subject} ${n}: JS heap ${perConn('heapUsed')} KB/conn, external ${perConn('external')} KB/conn (array buffers ${perConn('arrayBuffers')}); ` +
          `block pool ${(pool.bytesOutstanding / n).toFixed(0)} B/conn outstanding (${pool.blocksOutstanding} blocks), ${(pool.idleBytes / 1e6).toFixed(1)} MB idle`);
        await hold.end();
        await srv.stop();
        per.get(s.subject)![i]!.push(((after - before) * 1024) / n / 1000);
      }
    }
  }
  console.log(`\ncurve: server RSS growth per idle connection (KB), one 128 B echo each, after a full GC: 0.3 s after the echoes, and ${SETTLE_MS / 1000} s later`);
  printTable(['connections', ...SERVERS.flatMap((s) => [`${s.subject} at once`, 'settled'])],
    xs.map((n, i) => [String(n), ...SERVERS.flatMap((s) => [median(atOnce.get(s.subject)![i]!).toFixed(2), median(per.get(s.subject)![i]!).toFixed(2)])]));
  for (const note of poolNotes) console.log(`  ${note}`);
  recordFigures(SERVERS.flatMap((s) => xs.map((n, i) => figure({ suite: 'curves', group: `memory ${n}`, subject: s.subject, curve: 'memory', axis: 'idle connections (one 128 B echo each)', x: n,
    metric: 'KB/conn 0.3 s after', better: 'lower', generator: GENERATOR, ...(s.subject !== 'raw' ? { baseline: 'raw' } : {}) }, atOnce.get(s.subject)![i]!))));
  recordFigures(SERVERS.flatMap((s) => xs.map((n, i) => figure({ suite: 'curves', group: `memory ${n}`, subject: s.subject, curve: 'memory', axis: 'idle connections (one 128 B echo each)', x: n,
    metric: 'KB/conn', better: 'lower', generator: GENERATOR, ...(s.subject !== 'raw' ? { baseline: 'raw' } : {}) }, per.get(s.subject)![i]!))));
  for (const [metric, m] of [['JS heap KB/conn', heapPer], ['pool B/conn', poolPer]] as const) {
    recordFigures(SERVERS.flatMap((s) => xs.map((n, i) => figure({ suite: 'curves', group: `memory ${n}`, subject: s.subject, curve: 'memory', axis: 'idle connections (one 128 B echo each)', x: n,
      metric, better: 'lower', generator: GENERATOR, ...(s.subject !== 'raw' ? { baseline: 'raw' } : {}) }, m.get(s.subject)![i]!))));
  }
  recordKnees('memory', 'idle connections (one 128 B echo each)', 'KB/conn', xs, (s, i) => median(per.get(s)![i]!));
}

async function main(): Promise<void> {
  let gen: string;
  try {
    gen = loadgenPath(!quick);
  } catch (err) {
    // Tests never need a C compiler: a smoke run without one records nothing and says why.
    if (!quick) throw err;
    console.log(`curves: ${(err as Error).message}; nothing measured in --quick`);
    recordFigures([figure({ suite: 'curves', group: 'skipped', subject: 'none', metric: 'points', better: 'higher' }, [0])]);
    return;
  }
  console.log(`curves: generator ${gen}; ${rounds} round(s), ${duration} s (+${warmup} s warmup) per point; ${hasTaskset ? 'server pinned to CPU 0, generator to CPU 1' : 'taskset not found: processes not pinned'}`);
  for (const c of CURVES) if (selected.includes(c.name)) await curve(c);
  if (selected.includes('memory')) await memory();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
