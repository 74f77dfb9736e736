// bench/echo: one load client process against each echo server process, CPU-pinned where taskset
// exists (server on CPU 0, client on CPU 1), for three cases. Rounds interleave the servers so drift
// on a noisy machine hits them all alike; each figure is the median over rounds.
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { printTable } from '../lib/table.js';
import { figure, recordFigures, type Figure } from '../lib/results.js';
import { hasTaskset, nextMessage, pinnedNode } from '../lib/processes.js';

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const roundsArg = process.argv.find((a) => a.startsWith('--rounds='));
const rounds = roundsArg ? Number(roundsArg.split('=')[1]) : quick ? 1 : 3;
const duration = quick ? 0.5 : 3;
const warmup = quick ? 0.2 : 1;

const servers = ['raw', 'nocopy', 'naive', 'bl'] as const;
type ServerName = (typeof servers)[number];
const cases = [
  { name: '50 conns ping-pong 128 B', connections: 50, inflight: 1, size: 128 },
  { name: '50 conns x16 in flight 128 B', connections: 50, inflight: 16, size: 128 },
  { name: '10 conns ping-pong 16 KiB', connections: 10, inflight: 1, size: 16 * 1024 },
];


interface ClientResult {
  requests: number;
  rps: number;
  p50us: number;
  p99us: number;
  cpuPercent: number;
  errors: number;
}
interface ServerResult {
  cpuUserMs: number;
  cpuSystemMs: number;
  maxRssKiB: number;
}
interface Run {
  client: ClientResult;
  server: ServerResult;
  serverCpuPercent: number;
}


async function runOne(server: ServerName, c: (typeof cases)[number]): Promise<Run> {
  const srv = pinnedNode(0, [join(here, 'servers.js'), server], true, []);
  const { port } = await nextMessage<{ port: number }>(srv);
  srv.send('start');
  const client = pinnedNode(1, [
    join(here, '..', 'load', 'client.js'),
    '--port', String(port),
    '--connections', String(c.connections),
    '--inflight', String(c.inflight),
    '--size', String(c.size),
    '--duration', String(duration),
    '--warmup', String(warmup),
  ], false, []);
  let out = '';
  client.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => client.on('exit', resolve));
  const stats = nextMessage<ServerResult>(srv);
  srv.send('stop');
  const server_ = await stats;
  if (code !== 0) throw new Error(`load client failed against ${server} (exit ${code})`);
  const result = JSON.parse(out.trim()) as ClientResult;
  if (result.errors > 0) throw new Error(`${result.errors} verification errors against ${server}`);
  // Server CPU over the whole client run (warmup included), as a share of one core.
  const serverCpuPercent = ((server_.cpuUserMs + server_.cpuSystemMs) / ((duration + warmup) * 1000)) * 100;
  return { client: result, server: server_, serverCpuPercent };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const fmtRate = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(1)}k`);
const fmtUs = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} ms` : `${x.toFixed(0)} µs`);

async function main(): Promise<void> {
  console.log(`echo: ${rounds} round(s) of ${duration} s (+${warmup} s warmup) per server and case; ${hasTaskset ? 'server pinned to CPU 0, client to CPU 1' : 'taskset not found: processes not pinned'}`);
  let missed = 0;
  for (const c of cases) {
    const runs = new Map<ServerName, Run[]>(servers.map((s) => [s, []]));
    for (let r = 0; r < rounds; r++) {
      const order = servers.map((_, i) => servers[(i + r) % servers.length]!);
      for (const s of order) runs.get(s)!.push(await runOne(s, c));
    }
    const med = (s: ServerName, f: (r: Run) => number) => median(runs.get(s)!.map(f));
    const raw = med('raw', (r) => r.client.rps);
    console.log(`\n${c.name}`);
    printTable(
      ['server', 'req/s', 'x raw', 'p50', 'p99', 'server CPU', 'peak RSS', 'client CPU'],
      servers.map((s) => [
        s,
        fmtRate(med(s, (r) => r.client.rps)),
        `${(med(s, (r) => r.client.rps) / raw).toFixed(2)}x`,
        fmtUs(med(s, (r) => r.client.p50us)),
        fmtUs(med(s, (r) => r.client.p99us)),
        `${med(s, (r) => r.serverCpuPercent).toFixed(0)}%`,
        `${(med(s, (r) => r.server.maxRssKiB) / 1024).toFixed(0)} MiB`,
        `${med(s, (r) => r.client.cpuPercent).toFixed(0)}%`,
      ]),
    );
    const figures: Figure[] = [];
    for (const s of servers) {
      const base = { suite: 'echo', group: c.name, subject: s, ...(s !== 'raw' ? { baseline: 'raw' } : {}) };
      const rs = runs.get(s)!;
      figures.push(
        figure({ ...base, metric: 'req/s', better: 'higher' }, rs.map((r) => r.client.rps)),
        figure({ ...base, metric: 'p50 ms', better: 'lower' }, rs.map((r) => r.client.p50us / 1000)),
        figure({ ...base, metric: 'p99 ms', better: 'lower' }, rs.map((r) => r.client.p99us / 1000)),
        figure({ ...base, metric: 'server CPU %', better: 'lower' }, rs.map((r) => r.serverCpuPercent)),
        figure({ ...base, metric: 'peak RSS MiB', better: 'lower' }, rs.map((r) => r.server.maxRssKiB / 1024)),
        figure({ ...base, metric: 'client CPU %', better: 'lower' }, rs.map((r) => r.client.cpuPercent)),
      );
    }
    recordFigures(figures);
    const nocopy = med('nocopy', (r) => r.client.rps);
    const naive = med('naive', (r) => r.client.rps);
    const checks: [string, number, number][] =
      c.inflight > 1
        ? [['nocopy / raw', nocopy / raw, 0.8], ['nocopy / naive', nocopy / naive, 5]]
        : [['nocopy / raw', nocopy / raw, 0.9]];
    for (const [label, x, target] of checks) {
      const ok = x >= target;
      if (!ok) missed++;
      console.log(`  ${label}: ${x.toFixed(2)}x  ${ok ? 'PASS' : 'MISS'} (target >= ${target}x)`);
    }
  }
  if (missed > 0) console.log(`\n${missed} target(s) missed`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
