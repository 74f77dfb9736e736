// bench/echo: echo servers driven by the compiled load generator (bench/loadgen), CPU-pinned where
// taskset exists (server on CPU 0, generator on CPU 1). The headline is the server's CPU per request
// (from /proc/PID/stat over the measured window): on a shared machine it moves far less than req/s.
// Rounds interleave the servers so drift hits them all alike; each figure is the median over rounds.
// The Node load client (bench/load/client.ts) runs too, as a second generator, right after the
// compiled one against the same (warm) server process, on the servers the ratios need; its ratios to
// raw are checked against the compiled generator's (agreement.ts). --no-node-client skips it.
// The idle-memory case opens 8,000 connections, one echo each, and reads the server's RSS growth.
//   node bench/dist/echo/main.js [--quick] [--rounds=n] [--servers=raw,append,...] [--cases=1,2]
//                                [--no-node-client] [--node-servers=raw,append,...] [--no-memory] [--memory-only]
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { runWindow } from '../lib/options.js';
import { printTable } from '../lib/table.js';
import { figure, recordFigures, type Figure } from '../lib/results.js';
import { V8_FLAGS, hasTaskset, nextMessage, pinnedNode, type ServerCpu } from '../lib/processes.js';
import { holdIdle, loadgenPath, runLoadgen, type LoadgenResult } from '../lib/loadgen.js';
import { AGREE, GEN_BOUND, agreement, apart, type GenFigures } from './agreement.js';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const { quick, rounds, duration, warmup } = runWindow(argv, [0.3, 0.2]);

const allServers = ['raw', 'batch-views', 'batch-copy', 'naive', 'bl', 'append', 'writeBinary', 'copy'] as const;
type ServerName = (typeof allServers)[number];
const styles: ServerName[] = ['append', 'writeBinary', 'copy'];
const servers = (opt('servers')?.split(',') ?? (quick ? ['raw', 'batch-copy', 'naive', 'append', 'writeBinary', 'copy'] : [...allServers])) as ServerName[];
// The compiled generator; a quick (smoke) run without a C compiler falls back to the Node client,
// so that tests never need one.
let loadgen: string | null;
try {
  loadgen = loadgenPath(!quick);
} catch (err) {
  if (!quick) throw err;
  console.log(`echo: ${(err as Error).message}; --quick falls back to the Node load client`);
  loadgen = null;
}
if (!servers.includes('raw')) servers.unshift('raw');
// The second generator: the Node client, after the compiled one against the same warm server, on
// the servers the ratios need (raw, both batching servers, the three handler styles), in shorter
// windows. Off with --no-node-client, and when it is the only generator (the --quick fallback).
const nodeClientOn = loadgen !== null && !argv.includes('--no-node-client');
// A --quick (smoke) run only checks the path: raw and one style.
const nodeServers = (opt('node-servers')?.split(',') ?? (quick ? ['raw', 'append'] : ['raw', 'batch-views', 'batch-copy', ...styles])).filter((s) => servers.includes(s as ServerName)) as ServerName[];
if (!nodeServers.includes('raw')) nodeServers.unshift('raw');
const nodeDuration = quick ? 0.3 : 1.5;
const nodeWarmup = quick ? 0.2 : 0.5;
const allCases = [
  { name: '50 conns ping-pong 128 B', connections: 50, inflight: 1, size: 128 },
  { name: '50 conns x16 in flight 128 B', connections: 50, inflight: 16, size: 128 },
  { name: '10 conns ping-pong 16 KiB', connections: 10, inflight: 1, size: 16 * 1024 },
];
const cases = opt('cases') ? opt('cases')!.split(',').map((i) => allCases[Number(i) - 1]!) : allCases;
type Case = (typeof allCases)[number];

interface Run {
  gen: LoadgenResult;
  server: ServerCpu;
  node?: NodeClientResult;
}

async function startServer(server: ServerName, v8Flags: readonly string[] = V8_FLAGS) {
  const srv = pinnedNode(0, [join(here, 'servers.js'), server], true, v8Flags);
  const { port, pid } = await nextMessage<{ port: number; pid: number }>(srv);
  srv.send('start');
  const stop = async () => {
    const stats = nextMessage<ServerCpu>(srv);
    srv.send('stop');
    return stats;
  };
  /** A full collection; with `settle`, the young generation made resident first (see servers.ts). */
  const gc = async (settle = false) => {
    const done = nextMessage<string>(srv);
    srv.send(settle ? 'settle' : 'gc');
    await done;
  };
  return { port, pid, stop, gc };
}

/** What bench/load/client.ts prints; the server figures come from /proc, read as loadgen reads them. */
interface NodeClientResult {
  rps: number;
  requests: number;
  p50us: number;
  p99us: number;
  cpuPercent: number;
  serverCpuUsPerReq?: number;
  serverReadsPerReq?: number;
  serverWritesPerReq?: number;
}

async function nodeClient(port: number, pid: number, c: Case, seconds: number, warm: number): Promise<NodeClientResult> {
  const client = pinnedNode(1, [join(here, '..', 'load', 'client.js'), '--port', String(port), '--connections', String(c.connections),
    '--inflight', String(c.inflight), '--size', String(c.size), '--duration', String(seconds), '--warmup', String(warm), '--pid', String(pid)], false);
  let out = '';
  client.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => client.on('exit', resolve));
  if (code !== 0) throw new Error(`node load client failed (exit ${code})`);
  const r = JSON.parse(out.trim()) as NodeClientResult & { errors: number };
  if (r.errors > 0) throw new Error(`${r.errors} verification errors (node client)`);
  return r;
}

async function runOne(server: ServerName, c: Case): Promise<Run> {
  const s = await startServer(server);
  try {
    if (loadgen === null) {
      // The fallback: the Node client's figures; the server's CPU from /proc over its measured window,
      // or, without /proc, over the whole run (warmup included).
      const r = await nodeClient(s.port, s.pid, c, duration, warmup);
      const server = await s.stop();
      const gen: LoadgenResult = { generator: 'node client', requests: r.requests, seconds: duration, rps: r.rps, p50us: r.p50us, p99us: r.p99us, p999us: NaN,
        cpuPercent: r.cpuPercent, errors: 0, serverCpuUsPerReq: r.serverCpuUsPerReq ?? ((server.cpuUserMs + server.cpuSystemMs) * 1000) / Math.max(1, r.requests),
        ...(r.serverReadsPerReq !== undefined ? { serverReadsPerReq: r.serverReadsPerReq, serverWritesPerReq: r.serverWritesPerReq! } : {}) };
      return { gen, server };
    }
    const gen = await runLoadgen({ port: s.port, pid: s.pid, connections: c.connections, inflight: c.inflight, size: c.size, duration, warmup, cpu: 1 }, hasTaskset);
    const node = nodeClientOn && nodeServers.includes(server) ? await nodeClient(s.port, s.pid, c, nodeDuration, nodeWarmup) : undefined;
    return { gen, server: await s.stop(), ...(node ? { node } : {}) };
  } catch (err) {
    await s.stop().catch(() => {});
    throw err;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
const fmtRate = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(1)}k`);
const fmtUs = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} ms` : `${x.toFixed(0)} µs`);

async function throughput(): Promise<number> {
  let missed = 0;
  for (const c of cases) {
    const runs = new Map<ServerName, Run[]>(servers.map((s) => [s, []]));
    for (let r = 0; r < rounds; r++) {
      const order = servers.map((_, i) => servers[(i + r) % servers.length]!);
      for (const s of order) runs.get(s)!.push(await runOne(s, c));
    }
    const med = (s: ServerName, f: (r: Run) => number) => median(runs.get(s)!.map(f));
    const rps = (s: ServerName) => med(s, (r) => r.gen.rps);
    const cpu = (s: ServerName) => med(s, (r) => r.gen.serverCpuUsPerReq ?? NaN);
    const gen = (s: ServerName) => med(s, (r) => r.gen.cpuPercent);
    console.log(`\n${c.name}  (${loadgen === null ? "node client" : "loadgen"}; * = generator above ${GEN_BOUND}% of its core: the rate measures it, read the CPU column)`);
    const spreadOf = (s: ServerName) => {
      const xs = runs.get(s)!.map((r) => r.gen.serverCpuUsPerReq ?? NaN);
      return xs.length > 1 ? `±${(((Math.max(...xs) - Math.min(...xs)) / 2 / median(xs)) * 100).toFixed(0)}%` : '';
    };
    printTable(
      ['server', 'req/s', 'x raw', 'server CPU µs/req', 'x raw', 'read+write /req', 'p50', 'p99', 'p99.9', 'gen CPU'],
      servers.map((s) => [
        s,
        fmtRate(rps(s)) + (gen(s) > GEN_BOUND ? '*' : ''),
        `${(rps(s) / rps('raw')).toFixed(2)}x`,
        `${cpu(s).toFixed(3)} ${spreadOf(s)}`,
        `${(cpu(s) / cpu('raw')).toFixed(2)}x`,
        `${med(s, (r) => r.gen.serverReadsPerReq ?? NaN).toFixed(3)} + ${med(s, (r) => r.gen.serverWritesPerReq ?? NaN).toFixed(3)}`,
        fmtUs(med(s, (r) => r.gen.p50us)),
        fmtUs(med(s, (r) => r.gen.p99us)),
        fmtUs(med(s, (r) => r.gen.p999us)),
        `${gen(s).toFixed(0)}%`,
      ]),
    );
    if (nodeClientOn) printNodeClient(c, runs);
    const figures: Figure[] = [];
    for (const s of servers) {
      // The handler styles are recorded as 'nocopy <style>': the chart and tables highlight nocopy.
      const rs = runs.get(s)!;
      const base = { suite: 'echo', group: c.name, subject: styles.includes(s) ? `nocopy ${s}` : s, ...(s !== 'raw' ? { baseline: 'raw' } : {}), generator: rs[0]!.gen.generator };
      figures.push(
        figure({ ...base, metric: 'req/s', better: 'higher' }, rs.map((r) => r.gen.rps)),
        figure({ ...base, metric: 'server CPU µs/req', better: 'lower' }, rs.map((r) => r.gen.serverCpuUsPerReq ?? NaN)),
        figure({ ...base, metric: 'syscalls/req', better: 'lower' }, rs.map((r) => (r.gen.serverReadsPerReq ?? NaN) + (r.gen.serverWritesPerReq ?? NaN))),
        figure({ ...base, metric: 'p50 ms', better: 'lower' }, rs.map((r) => r.gen.p50us / 1000)),
        figure({ ...base, metric: 'p99 ms', better: 'lower' }, rs.map((r) => r.gen.p99us / 1000)),
        figure({ ...base, metric: 'p99.9 ms', better: 'lower' }, rs.map((r) => r.gen.p999us / 1000)),
        figure({ ...base, metric: 'generator CPU %', better: 'lower' }, rs.map((r) => r.gen.cpuPercent)),
        figure({ ...base, metric: 'peak RSS MiB', better: 'lower' }, rs.map((r) => r.server.maxRssKiB / 1024)),
      );
      // The second generator's figures: metrics named by it, so that no table, ratio or chart mixes
      // them with the compiled generator's.
      if (nodeClientOn && nodeServers.includes(s)) {
        const nb = { ...base, generator: 'node client' };
        const nv = (f: (n: NodeClientResult) => number) => rs.map((r) => f(r.node!));
        figures.push(
          figure({ ...nb, metric: 'req/s (node client)', better: 'higher' }, nv((n) => n.rps)),
          figure({ ...nb, metric: 'server CPU µs/req (node client)', better: 'lower' }, nv((n) => n.serverCpuUsPerReq ?? NaN)),
          figure({ ...nb, metric: 'syscalls/req (node client)', better: 'lower' }, nv((n) => (n.serverReadsPerReq ?? NaN) + (n.serverWritesPerReq ?? NaN))),
          figure({ ...nb, metric: 'p50 ms (node client)', better: 'lower' }, nv((n) => n.p50us / 1000)),
          figure({ ...nb, metric: 'p99 ms (node client)', better: 'lower' }, nv((n) => n.p99us / 1000)),
          figure({ ...nb, metric: 'generator CPU % (node client)', better: 'lower' }, nv((n) => n.cpuPercent)),
        );
      }
    }
    // A figure the generator could not give (no /proc, the fallback client) is left out, not NaN.
    recordFigures(figures.filter((f) => Number.isFinite(f.median)));
    // The targets of issue 29, for every handler style present.
    const batch = (['batch-views', 'batch-copy'] as ServerName[]).filter((s) => servers.includes(s));
    for (const s of styles.filter((x) => servers.includes(x))) {
      const checks: [string, number, number, '>=' | '<='][] =
        c.inflight > 1
          ? [
              [`${s} rate / raw`, rps(s) / rps('raw'), 0.9, '>='],
              ...batch.map((b): [string, number, number, '>='] => [`${s} rate / ${b}`, rps(s) / rps(b), 1.0, '>=']),
              [`${s} CPU / raw`, cpu(s) / cpu('raw'), 1.1, '<='],
            ]
          : [[`${s} rate / raw`, rps(s) / rps('raw'), 0.95, '>=']];
      for (const [label, x, target, dir] of checks) {
        const ok = dir === '>=' ? x >= target : x <= target;
        if (!ok) missed++;
        console.log(`  ${label}: ${x.toFixed(2)}x  ${ok ? 'PASS' : 'MISS'} (target ${dir} ${target}x)`);
      }
    }
  }
  return missed;
}

/** The Node client's table for one case, and its ratios to raw checked against the compiled generator's. */
function printNodeClient(c: Case, runs: Map<ServerName, Run[]>): void {
  const med = (s: ServerName, f: (r: Run) => number) => median(runs.get(s)!.map(f));
  const lg = (s: ServerName): GenFigures => ({ rps: med(s, (r) => r.gen.rps), cpuUsPerReq: med(s, (r) => r.gen.serverCpuUsPerReq ?? NaN), genCpu: med(s, (r) => r.gen.cpuPercent) });
  const nc = (s: ServerName): GenFigures => ({ rps: med(s, (r) => r.node!.rps), cpuUsPerReq: med(s, (r) => r.node!.serverCpuUsPerReq ?? NaN), genCpu: med(s, (r) => r.node!.cpuPercent) });
  console.log(`\n${c.name}  (second generator: the Node client, ${nodeDuration} s (+${nodeWarmup} s warmup) after loadgen on the same server; * = client above ${GEN_BOUND}% of its core: the rate measures the generator)`);
  printTable(
    ['server', 'req/s', 'x raw', 'server CPU µs/req', 'x raw', 'read+write /req', 'p50', 'p99', 'client CPU'],
    nodeServers.map((s) => {
      const n = nc(s);
      const raw = nc('raw');
      return [
        s,
        fmtRate(n.rps) + (n.genCpu > GEN_BOUND ? '*' : ''),
        `${(n.rps / raw.rps).toFixed(2)}x`,
        n.cpuUsPerReq.toFixed(3),
        `${(n.cpuUsPerReq / raw.cpuUsPerReq).toFixed(2)}x`,
        `${med(s, (r) => r.node!.serverReadsPerReq ?? NaN).toFixed(3)} + ${med(s, (r) => r.node!.serverWritesPerReq ?? NaN).toFixed(3)}`,
        fmtUs(med(s, (r) => r.node!.p50us)),
        fmtUs(med(s, (r) => r.node!.p99us)),
        `${n.genCpu.toFixed(0)}%${n.genCpu > GEN_BOUND ? ' measures the generator' : ''}`,
      ];
    }),
  );
  console.log(`  agreement of the ratios to raw, Node client vs loadgen (PASS within ${AGREE * 100}%; rates only where neither generator is above ${GEN_BOUND}% of its core):`);
  for (const s of nodeServers.filter((x) => x !== 'raw')) {
    const parts = agreement(lg(s), lg('raw'), nc(s), nc('raw')).map((a) =>
      `${a.what} ${a.loadgen.toFixed(2)}x vs ${a.node.toFixed(2)}x ${a.verdict === 'not compared' ? `not compared (${a.why ?? 'no figure'})` : `${a.verdict} (${apart(a)})`}`);
    console.log(`  ${s}: ${parts.join('; ')}`);
  }
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/**
 * Server RSS growth per idle connection: N connections, one 128 B echo each, then idle (after a full
 * GC). The marginal cost: 200 connections come and go first (code, the pool's first slab and other
 * one-time costs), and the young generation is resident before the baseline reading.
 */
async function idleMemory(): Promise<void> {
  const n = quick ? 1000 : 8000;
  const subjects: ServerName[] = ['raw', 'append'];
  const per = new Map<ServerName, number[]>(subjects.map((s) => [s, []]));
  for (let r = 0; r < (quick ? 1 : 2); r++) {
    for (const s of subjects) {
      // Both readings after a full collection: live memory, not garbage the next GC would take.
      const srv = await startServer(s, [...V8_FLAGS, '--expose-gc']);
      await sleep(300);
      const warm = holdIdle(srv.port, 200, 128, hasTaskset);
      await warm.ready;
      await warm.end();
      await sleep(300);
      await srv.gc(true);
      const before = rssKiB(srv.pid);
      const hold = holdIdle(srv.port, n, 128, hasTaskset);
      await hold.ready;
      await sleep(500);
      await srv.gc();
      const after = rssKiB(srv.pid);
      await hold.end();
      await srv.stop();
      per.get(s)!.push(((after - before) * 1024) / n / 1000);
    }
  }
  console.log(`\nidle connections: ${n} connections, one 128 B echo each; server RSS growth per connection`);
  printTable(['server', 'KB / connection', 'x raw'], subjects.map((s) => [s, median(per.get(s)!).toFixed(2), (median(per.get(s)!) / median(per.get('raw')!)).toFixed(2) + 'x']));
  const extra = median(per.get('append')!) - median(per.get('raw')!);
  console.log(`  nocopy - raw: ${extra.toFixed(2)} KB  ${extra <= 1.024 ? 'PASS' : 'MISS'} (target <= 1 KiB)`);
  recordFigures(subjects.map((s) => figure({ suite: 'echo', group: `${n} idle connections`, subject: s === 'append' ? 'nocopy' : s, metric: 'KB/conn', better: 'lower', ...(s !== 'raw' ? { baseline: 'raw' } : {}), generator: 'loadgen (C, epoll)' }, per.get(s)!)));
}

async function main(): Promise<void> {
  console.log(`echo: generator ${loadgen ?? 'the Node load client (bench/load/client.ts)'}; ${rounds} round(s) of ${duration} s (+${warmup} s warmup) per server and case; ${hasTaskset ? 'server pinned to CPU 0, generator to CPU 1' : 'taskset not found: processes not pinned'}`);
  if (nodeClientOn) console.log(`echo: second generator the Node load client (bench/load/client.ts), ${nodeDuration} s (+${nodeWarmup} s warmup) per round on ${nodeServers.join(', ')} (--no-node-client skips it)`);
  let missed = 0;
  if (!argv.includes('--memory-only')) missed += await throughput();
  if (!argv.includes('--no-memory') && loadgen !== null) await idleMemory();
  if (missed > 0) console.log(`\n${missed} target(s) missed`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
