// bench/resp: the example Redis-protocol server on the nocopy session API (examples/dist/resp-server.js)
// against redis-server itself, both driven by redis-benchmark (-t <test> -c 50 -d 128, one run per test:
// PING_MBULK, SET, GET, in that order so that GET finds the value) at -P 1 and -P 16. Servers are pinned
// to CPU 0 and redis-benchmark to CPU 1 (where taskset exists); rounds interleave the two servers and
// every figure is the median over rounds. Besides the rate, the table gives each server's CPU per
// request, per test, and redis-benchmark's own CPU, to show whether the client had headroom (a
// saturated client measures itself, not the server). A third server, `raw` (raw-resp.ts), is the same
// protocol on plain `net` with one write per chunk: what Node itself costs per request, the floor
// under which the example cannot go without leaving Node's public API.
//   node bench/dist/resp/main.js [--quick] [--rounds=<n>] [--requests=<n>] [--clients=<n>]
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { printTable } from '../lib/table.js';
import { intFlag as intFlagOf } from '../lib/options.js';
import { figure, median, recordFigures, spread, type Figure } from '../lib/results.js';
import { cpuMs, firstLine, freePort, installCleanup, SKIPPED_EXIT_CODE, start, stopAll, waitForListenLine, waitForPort, which, type Proc } from '../proxy/procs.js';
import { runRedisBenchmarkMeasured, type BenchRow } from '../proxy/redis-benchmark.js';

const here = dirname(fileURLToPath(import.meta.url));
const RESP_SERVER = resolve(here, '../../../examples/dist/resp-server.js');
const RAW_SERVER = join(here, 'raw-resp.js');

const argv = process.argv.slice(2);
const intFlag = (name: string, fallback: number): number => intFlagOf(argv, name, fallback);
const quick = argv.includes('--quick');
const rounds = intFlag('rounds', quick ? 1 : 3);
const requests = intFlag('requests', quick ? 2000 : 300_000);
const clients = intFlag('clients', 50);
const DATA = 128;
const PIPELINES = [1, 16] as const;
// One redis-benchmark run per test, so that the server's CPU is known per test.
const TESTS = ['ping_mbulk', 'set', 'get'] as const;
const ORDER = ['redis', 'nocopy', 'raw'] as const;
type Name = (typeof ORDER)[number];
// Targets from issue #25: at -P 16 at least 0.8x redis-server's rate; at -P 1 no more than 1.0x its
// server CPU per request (PING_MBULK, SET, GET).
const RATE_TARGET = 0.8;
const CPU_TARGET = 1.0;
const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

interface Server {
  port: number;
  proc: Proc;
}
interface Sample {
  row: BenchRow;
  serverUsPerReq: number;
  /** redis-benchmark's CPU over the run, as a share of one core. */
  clientCpu: number;
}

const pin = (cmd: string, args: string[]): [string, string[]] => (hasTaskset ? ['taskset', ['-c', '0', cmd, ...args]] : [cmd, args]);

async function startRedis(bin: string, dir: string): Promise<Server> {
  const port = await freePort();
  const [cmd, args] = pin(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir, '--logfile', '']);
  const proc = start('redis-server', cmd, args);
  await waitForPort(port, proc);
  return { port, proc };
}

async function startNode(script: string, name: string): Promise<Server> {
  const [cmd, args] = pin(process.execPath, [script, '--port', '0']);
  const proc = start(name, cmd, args);
  const port = await waitForListenLine(proc);
  return { port, proc };
}

const fmtRate = (x: number): string => (Number.isNaN(x) ? '-' : x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(1)}k`);
const fmtX = (x: number): string => (Number.isNaN(x) ? '-' : `${x.toFixed(2)}x`);

async function main(): Promise<void> {
  const redisServer = which('redis-server');
  const redisBenchmark = which('redis-benchmark');
  if (redisServer === null || redisBenchmark === null) {
    console.log('resp: SKIPPED, redis-server and redis-benchmark are needed (Debian: apt-get install -y redis-server redis-tools)');
    process.exitCode = SKIPPED_EXIT_CODE;
    return;
  }
  if (!existsSync(RESP_SERVER)) throw new Error(`${RESP_SERVER} not found: build first (npx tsc -b)`);
  const dir = mkdtempSync(join(tmpdir(), 'nocopy-bench-resp-'));
  installCleanup(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const servers = new Map<Name, Server>([
      ['redis', await startRedis(redisServer, dir)],
      ['nocopy', await startNode(RESP_SERVER, 'resp-server')],
      ['raw', await startNode(RAW_SERVER, 'raw-resp')],
    ]);
    console.log(`resp: redis-benchmark -t <test> (${TESTS.join(', ')}, one run each) -c ${clients} -n ${requests} -d ${DATA} at -P 1 and -P 16, ${rounds} round(s), servers interleaved; medians over rounds`);
    console.log(`  ${firstLine(redisServer, ['--version'])}; node ${process.version}; ${hasTaskset ? 'servers pinned to CPU 0, redis-benchmark to CPU 1' : 'taskset not found: not pinned'}`);
    // Warm-up (JIT, first connections); not measured.
    for (const name of ORDER) {
      await runRedisBenchmarkMeasured(redisBenchmark, { port: servers.get(name)!.port, tests: TESTS.join(','), clients, requests: Math.min(requests, 50_000), pipeline: 16, dataSize: DATA, cpu: 1, timeout: 120_000 });
    }
    const samples = new Map<string, Sample[]>();
    for (let r = 0; r < rounds; r++) {
      for (const pipeline of PIPELINES) {
        const order = r % 2 === 0 ? ORDER : [...ORDER].reverse();
        for (const name of order) {
          const s = servers.get(name)!;
          for (const test of TESTS) {
            const before = cpuMs(s.proc.child.pid);
            const run = await runRedisBenchmarkMeasured(redisBenchmark, { port: s.port, tests: test, clients, requests, pipeline, dataSize: DATA, cpu: 1, timeout: 600_000 });
            const cpu = cpuMs(s.proc.child.pid) - before;
            const row = run.rows[0];
            if (row === undefined) throw new Error(`redis-benchmark -t ${test} printed no row`);
            const key = `${name} ${pipeline} ${row.test}`;
            samples.set(key, [...(samples.get(key) ?? []), { row, serverUsPerReq: (cpu * 1000) / requests, clientCpu: run.clientCpuMs / run.wallMs }]);
          }
        }
        if (!quick) process.stdout.write(`  round ${r + 1}/${rounds} -P ${pipeline} done\n`);
      }
    }
    report(samples);
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(samples: Map<string, Sample[]>): void {
  const tests = [...new Set([...samples.keys()].map((k) => k.split(' ')[2]!))];
  const of = (n: Name, p: number, test: string, f: (s: Sample) => number): number[] => (samples.get(`${n} ${p} ${test}`) ?? []).map(f);
  const rows: string[][] = [];
  const verdicts: string[][] = [];
  const figures: Figure[] = [];
  let missed = 0;
  let maxSpread = 0;
  for (const p of PIPELINES) {
    for (const test of tests) {
      const med = (n: Name, f: (s: Sample) => number): number => median(of(n, p, test, f));
      const rps = (n: Name): number => med(n, (s) => s.row.rps);
      const us = (n: Name): number => med(n, (s) => s.serverUsPerReq);
      for (const n of ORDER) maxSpread = Math.max(maxSpread, spread(of(n, p, test, (s) => s.row.rps)));
      const ratio = rps('nocopy') / rps('redis');
      const cpuRatio = us('nocopy') / us('redis');
      rows.push([
        test, `P=${p}`, fmtRate(rps('redis')), fmtRate(rps('nocopy')), fmtRate(rps('raw')), fmtX(ratio),
        us('redis').toFixed(2), us('nocopy').toFixed(2), us('raw').toFixed(2), fmtX(cpuRatio), fmtX(us('raw') / us('redis')), fmtX(us('nocopy') / us('raw')),
        `${(med('redis', (s) => s.clientCpu) * 100).toFixed(0)}%`, `${(med('nocopy', (s) => s.clientCpu) * 100).toFixed(0)}%`,
        med('redis', (s) => s.row.p99ms).toFixed(3), med('nocopy', (s) => s.row.p99ms).toFixed(3),
      ]);
      const ok = p === 1 ? cpuRatio <= CPU_TARGET : ratio >= RATE_TARGET;
      if (!ok) missed++;
      verdicts.push([test, `P=${p}`, p === 1 ? `CPU/req ${fmtX(cpuRatio)}` : `rate ${fmtX(ratio)}`, p === 1 ? `<= ${CPU_TARGET}x` : `>= ${RATE_TARGET}x`, ok ? 'PASS' : 'MISS']);
      for (const n of ORDER) {
        const base = { suite: 'resp', group: `${test} P=${p}`, subject: n, ...(n !== 'redis' ? { baseline: 'redis' } : {}) };
        figures.push(
          figure({ ...base, metric: 'req/s', better: 'higher' }, of(n, p, test, (s) => s.row.rps)),
          figure({ ...base, metric: 'p99 ms', better: 'lower' }, of(n, p, test, (s) => s.row.p99ms)),
          figure({ ...base, metric: 'server CPU µs/req', better: 'lower' }, of(n, p, test, (s) => s.serverUsPerReq)),
        );
      }
    }
  }
  recordFigures(figures);
  console.log('\nrequests/s, server CPU µs per request (user + system), redis-benchmark CPU (share of its core), p99 ms; medians');
  console.log('raw: the same protocol on plain net, one write per chunk (raw-resp.ts): the floor of any Node server here');
  printTable(['test', 'pipeline', 'redis req/s', 'nocopy req/s', 'raw req/s', 'rate', 'redis µs', 'nocopy µs', 'raw µs', 'CPU', 'raw CPU', 'nocopy/raw CPU', 'client vs redis', 'client vs nocopy', 'redis p99', 'nocopy p99'], rows, 2);
  console.log(`\ntargets: at -P 16 nocopy >= ${RATE_TARGET}x redis-server's rate; at -P 1 <= ${CPU_TARGET}x its CPU per request`);
  printTable(['test', 'pipeline', 'nocopy/redis', 'target', ''], verdicts, 2);
  if (rounds > 1) console.log(`largest spread of req/s over rounds: ${(maxSpread * 100).toFixed(0)}% ((max - min) / median; rerun if large)`);
  if (quick) console.log('--quick: tiny runs, numbers not meaningful');
  console.log(missed > 0 ? `${missed} target(s) missed` : 'all targets met');
}

main().catch(async (err) => {
  console.error(err);
  await stopAll();
  process.exit(1);
});
