// bench/cluster: the cost of the cluster path. The same RPC and echo servers as bench/rpc and
// bench/echo run (a) in one plain process, (b) behind runCluster() with 1 and 2 worker processes.
// The figure that matters is the server CPU per request (primary + workers, from /proc) of cluster-1
// against the single process: the price of the primary handing sockets to a worker. This machine
// has 2 cores and the load generator needs one, so 2 workers cannot show scaling here (see README).
//
// Usage: node bench/dist/cluster/main.js [--quick] [--rounds=<n>] [--time=<seconds>]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { runWindow } from '../lib/options.js';
import { printTable } from '../lib/table.js';
import { figure, median, spread, recordFigures, type Figure } from '../lib/results.js';
import { hasProc } from './cpu.js';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const { quick, rounds, duration, warmup } = runWindow(argv, [0.5, 0.3], true);

const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
/** As bench/rpc: a fixed young generation, or V8's sizing makes runs of the same code differ by 40%. */
const V8_FLAGS = ['--min-semi-space-size=16', '--max-semi-space-size=16'];

interface Variant {
  name: string;
  label: string;
  /** CPUs for the server processes and for the load generator (taskset lists). */
  serverCpus: string;
  loadCpus: string;
}
const allVariants: Variant[] = [
  { name: 'single', label: 'single process', serverCpus: '0', loadCpus: '1' },
  { name: 'cluster-1', label: 'cluster, 1 worker', serverCpus: '0', loadCpus: '1' },
  { name: 'cluster-2', label: 'cluster, 2 workers, 1 core', serverCpus: '0', loadCpus: '1' },
  { name: 'cluster-2', label: 'cluster, 2 workers, 2 cores shared with the load', serverCpus: '0,1', loadCpus: '0,1' },
];
// --quick (the smoke run inside npm test): only the pair the target compares.
const variants = quick ? allVariants.slice(0, 2) : allVariants;
const BASELINE = 'single process';

interface Case {
  kind: 'rpc' | 'echo';
  load: 'rpc' | 'echo' | 'churn';
  name: string;
  /** What one request is in this case. */
  unit: 'req' | 'conn';
}
const cases: Case[] = [
  { kind: 'rpc', load: 'rpc', name: 'rpc: 32 calls in flight over 4 connections, 128 B', unit: 'req' },
  { kind: 'echo', load: 'echo', name: 'echo: 50 connections x16 in flight, 128 B', unit: 'req' },
  { kind: 'echo', load: 'churn', name: 'churn: 16 lanes of connect, one 128 B echo, close', unit: 'conn' },
];

interface Run {
  rps: number;
  /** Server CPU (all its processes) per request, µs. */
  usPerReq: number;
  /** Server CPU as a share of one core (can exceed 100% with 2 workers on 2 cores). */
  serverCpu: number;
  loadCpu: number;
  processes: number;
}

function node(cpus: string, args: string[], stdio: ('ignore' | 'pipe' | 'inherit' | 'ipc')[]): ChildProcess {
  const a = [...V8_FLAGS, ...args];
  return hasTaskset ? spawn('taskset', ['-c', cpus, process.execPath, ...a], { stdio }) : spawn(process.execPath, a, { stdio });
}

function next<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`process exited early (${code})`));
    child.once('exit', onExit);
    child.once('message', (m) => {
      child.off('exit', onExit);
      resolve(m as T);
    });
  });
}

interface HostStats {
  cpuMs: number;
  wallMs: number;
  processes: number;
}

async function runOne(c: Case, v: Variant): Promise<Run> {
  const host = node(v.serverCpus, [join(here, 'host.js'), c.kind, v.name], ['ignore', 'inherit', 'inherit', 'ipc']);
  const hostExit = new Promise<void>((r) => host.once('exit', () => r()));
  const { port } = await next<{ port: number }>(host);
  let requests: number;
  let seconds: number;
  let loadCpu: number;
  let stats: HostStats;
  if (c.load === 'rpc') {
    const load = node(v.loadCpus, [join(here, '..', 'rpc', 'load.js'), '--mode', 'nocopy', '--port', String(port), '--inflight', '32', '--connections', '4', '--duration', String(duration), '--warmup', String(warmup)], ['ignore', 'inherit', 'inherit', 'ipc']);
    const loadExit = new Promise<number | null>((r) => load.once('exit', r));
    let statsP: Promise<HostStats> | null = null;
    let result: { requests: number; seconds: number; cpuPercent: number } | null = null;
    load.on('message', (m: { type: string; requests: number; seconds: number; cpuPercent: number }) => {
      if (m.type === 'measuring') host.send('start');
      if (m.type === 'result') {
        result = m;
        statsP = next<HostStats>(host);
        host.send('stop');
      }
    });
    const code = await loadExit;
    if (code !== 0 || result === null || statsP === null) throw new Error(`rpc load failed against ${v.label} (exit ${code})`);
    stats = await (statsP as Promise<HostStats>);
    const r = result as { requests: number; seconds: number; cpuPercent: number };
    requests = r.requests;
    seconds = r.seconds;
    loadCpu = r.cpuPercent;
  } else {
    const args =
      c.load === 'echo'
        ? [join(here, '..', 'load', 'client.js'), '--port', String(port), '--connections', '50', '--inflight', '16', '--size', '128']
        : [join(here, 'churn.js'), '--port', String(port), '--lanes', '16'];
    const load = node(v.loadCpus, [...args, '--duration', String(duration), '--warmup', String(warmup)], ['ignore', 'pipe', 'inherit']);
    let out = '';
    load.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const loadExit = new Promise<number | null>((r) => load.once('exit', r));
    // The client measures `duration` after `warmup`; the server's window is timed to match it.
    await new Promise((r) => setTimeout(r, warmup * 1000));
    host.send('start');
    await new Promise((r) => setTimeout(r, duration * 1000));
    const statsP = next<HostStats>(host);
    host.send('stop');
    stats = await statsP;
    const code = await loadExit;
    if (code !== 0) throw new Error(`echo load failed against ${v.label} (exit ${code})`);
    const r = JSON.parse(out.trim()) as { requests: number; seconds: number; cpuPercent: number; errors: number };
    if (r.errors > 0) throw new Error(`${r.errors} verification errors against ${v.label}`);
    requests = r.requests;
    seconds = r.seconds;
    loadCpu = r.cpuPercent;
  }
  host.send('exit');
  await hostExit;
  const rps = requests / seconds;
  // Requests in the server's window: its rate times its wall time.
  const inWindow = rps * (stats.wallMs / 1000);
  return {
    rps,
    usPerReq: inWindow > 0 ? (stats.cpuMs * 1000) / inWindow : 0,
    serverCpu: (stats.cpuMs / stats.wallMs) * 100,
    loadCpu,
    processes: stats.processes,
  };
}

const fmtRate = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(1)}k`);

async function main(): Promise<void> {
  console.log(
    `cluster: ${rounds} round(s) of ${duration} s (+${warmup} s warmup) per case and variant; ` +
      (hasTaskset ? 'pinned with taskset as each row says' : 'taskset not found: processes not pinned') +
      (hasProc ? '' : '; no /proc: worker CPU unknown, server CPU is the primary only'),
  );
  const checks: string[] = [];
  let missed = 0;
  for (const c of cases) {
    const runs = variants.map(() => [] as Run[]);
    for (let r = 0; r < rounds; r++) {
      // The order rotates, but single and cluster-1 always run one right after the other (paired).
      const order = (r % 2 === 0 ? [0, 1, 2, 3] : [2, 3, 1, 0]).filter((k) => k < variants.length);
      for (const k of order) runs[k]!.push(await runOne(c, variants[k]!));
    }
    const med = (k: number, f: (r: Run) => number) => median(runs[k]!.map(f));
    console.log(`\n${c.name}`);
    printTable(
      ['server', 'CPUs (server / load)', `${c.unit}/s`, `server µs/${c.unit}`, 'server CPU', 'load CPU', 'rounds'],
      variants.map((v, k) => [
        v.label,
        `${v.serverCpus} / ${v.loadCpus}`,
        fmtRate(med(k, (r) => r.rps)),
        med(k, (r) => r.usPerReq).toFixed(2),
        `${med(k, (r) => r.serverCpu).toFixed(0)}%`,
        `${med(k, (r) => r.loadCpu).toFixed(0)}%`,
        `±${((spread(runs[k]!.map((r) => r.rps)) * 100) / 2).toFixed(0)}%`,
      ]),
    );
    recordFigures(
      variants.flatMap((v, k): Figure[] => {
        const rs = runs[k]!;
        const base = { suite: 'cluster', group: c.name, subject: v.label, ...(v.label !== BASELINE ? { baseline: BASELINE } : {}) };
        return [
          figure({ ...base, metric: `${c.unit}/s`, better: 'higher' }, rs.map((r) => r.rps)),
          figure({ ...base, metric: `server µs/${c.unit}`, better: 'lower' }, rs.map((r) => r.usPerReq)),
          figure({ ...base, metric: 'server CPU %', better: 'lower' }, rs.map((r) => r.serverCpu)),
          figure({ ...base, metric: 'client CPU %', better: 'lower' }, rs.map((r) => r.loadCpu)),
        ];
      }),
    );
    // Paired per round (single and cluster-1 run next to each other in each round, so drift on a busy
    // machine hits both), then the median of the rounds' ratios.
    const ratio = median(runs[1]!.map((r, i) => r.usPerReq / runs[0]![i]!.usPerReq));
    const ratios = runs[1]!.map((r, i) => (r.usPerReq / runs[0]![i]!.usPerReq).toFixed(3)).join(', ');
    if (c.unit === 'req') {
      const ok = ratio <= 1.05;
      if (!ok) missed++;
      checks.push(`  ${c.load}: server CPU per request, cluster with 1 worker / single process: ${ratio.toFixed(3)}x (rounds: ${ratios})  ${ok ? 'PASS' : 'MISS'} (target <= 1.05x)`);
    } else {
      const extra = med(1, (r) => r.usPerReq) - med(0, (r) => r.usPerReq);
      checks.push(`  ${c.load}: server CPU per connection, cluster with 1 worker / single process: ${ratio.toFixed(2)}x (+${extra.toFixed(1)} µs per connection for the hand-over; no target)`);
    }
    const saturated = variants.filter((_, k) => med(k, (r) => r.loadCpu) >= 90).map((v) => v.label);
    if (saturated.length > 0) console.log(`  note: the load generator used >= 90% of a core against: ${saturated.join('; ')} — there it bounds the rate`);
  }
  console.log('\ntargets');
  for (const line of checks) console.log(line);
  if (missed > 0) console.log(`${missed} target(s) missed`);
  console.log('\nWhat 2 cores can show: the cost of the cluster path per request (rows pinned like the single process).');
  console.log('What they cannot: scaling with workers. The load generator needs a core of its own, so 2 workers get');
  console.log('one core (row 3) or share both with the load (row 4); a machine with more cores than workers + load is needed.');
  if (quick) console.log('(--quick: one short round; numbers are not meaningful)');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
