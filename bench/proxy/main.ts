// bench/proxy: a real server (redis-server) and a real client (redis-benchmark), directly and through
// four TCP proxies, each in its own process: nocopy (packages/proxy's nocopy-proxy), a naive
// `socket.pipe()` proxy, the raw proxy (the cheapest on Node's public API, the floor for any Node
// proxy) and HAProxy in TCP mode (`nbthread 1`, checked). Each test (SET, GET by
// default) is its own redis-benchmark run (50 clients, the same -n), unpipelined (-P 1) and pipelined
// (-P 16), so that every row gets the proxy's CPU per request beside its rate and p99. The proxies run
// on CPU 0 and redis-benchmark on CPU 1 (taskset; redis-server is left to the scheduler); rounds
// interleave the targets in a rotating order and every figure is the median over rounds.
//   node bench/dist/proxy/main.js [--quick] [--rounds=<n>] [--requests=<n>] [--clients=<n>]
//        [--tests=set,get] [--pipelines=1,16] [--targets=direct,haproxy,pipe,raw,nocopy] [--no-pin]
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printTable } from '../lib/table.js';
import { intFlag as intFlagOf } from '../lib/options.js';
import { figure, median, recordFigures, spread, type Figure } from '../lib/results.js';
import { cpuMs, cpusAllowed, firstLine, hasTaskset, installCleanup, SKIPPED_EXIT_CODE, stopAll, threads, which } from './procs.js';
import { runRedisBenchmarkMeasured, type BenchRow } from './redis-benchmark.js';
import { startHaproxy, startNocopy, startPipe, startRaw, startRedis, type Target } from './targets.js';

const here = dirname(fileURLToPath(import.meta.url));
const NOCOPY_CLI = resolve(here, '../../../packages/proxy/dist/src/cli.js');
const PIPE_PROXY = join(here, 'pipe-proxy.js');
const RAW_PROXY = join(here, 'raw-proxy.js');

const argv = process.argv.slice(2);
const intFlag = (name: string, fallback: number): number => intFlagOf(argv, name, fallback);
const listFlag = (name: string, fallback: string): string[] =>
  (argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback).split(',').filter((x) => x !== '');
const quick = argv.includes('--quick');
const rounds = intFlag('rounds', quick ? 1 : 3);
const requests = intFlag('requests', quick ? 2000 : 200_000);
const clients = intFlag('clients', 50);
const PIPELINES = listFlag('pipelines', '1,16').map((p) => {
  const v = Number(p);
  if (!Number.isSafeInteger(v) || v <= 0) throw new Error(`bad --pipelines: ${p}`);
  return v;
});
const TESTS = listFlag('tests', 'set,get');
const ALL = ['direct', 'haproxy', 'pipe', 'raw', 'nocopy'] as const;
type Name = (typeof ALL)[number];
const ORDER: readonly Name[] = listFlag('targets', ALL.join(',')).map((n) => {
  if (!(ALL as readonly string[]).includes(n)) throw new Error(`bad --targets: ${n} (one of ${ALL.join(', ')})`);
  return n as Name;
});
const has = (n: Name): boolean => ORDER.includes(n);
const PROXIES: readonly Name[] = ORDER.filter((n) => n !== 'direct');
// Pinning as the issue measures it: every proxy on CPU 0, the client on CPU 1 (redis-server unpinned).
const pin = !argv.includes('--no-pin') && hasTaskset;
const PROXY_CPU = pin ? 0 : undefined;
const CLIENT_CPU = pin ? 1 : undefined;
// Targets from the issue: nocopy at least 1.0x HAProxy's requests/s with no more CPU per request and
// no higher p99, and ahead of the pipe proxy, in every case.
const VS_HAPROXY = 1.0;

interface Sample {
  rows: BenchRow[];
  /** The target process's CPU (user + system) per request over the whole run, in µs. */
  cpuUsPerReq: number;
  /** The target process's CPU time over the run's wall time: near 1, it was the bottleneck. */
  busy: number;
  /** redis-benchmark's CPU time over the run's wall time: near 1, the generator saturated its core. */
  clientBusy: number;
}

function tools(): { redisServer: string; redisBenchmark: string; haproxy: string } | null {
  const redisServer = which('redis-server');
  const redisBenchmark = which('redis-benchmark');
  const haproxy = which('haproxy');
  const missing = [
    redisServer === null ? 'redis-server (package redis-server)' : '',
    redisBenchmark === null ? 'redis-benchmark (package redis-tools)' : '',
    haproxy === null ? 'haproxy (package haproxy)' : '',
  ].filter((m) => m !== '');
  if (missing.length > 0) {
    console.log(`proxy: SKIPPED, not found on PATH: ${missing.join(', ')}.`);
    console.log('Install them (Debian/Ubuntu) with:');
    console.log('  sudo apt-get update && sudo apt-get install -y redis-server redis-tools haproxy');
    return null;
  }
  return { redisServer: redisServer!, redisBenchmark: redisBenchmark!, haproxy: haproxy! };
}

const fmtRate = (x: number): string => (Number.isNaN(x) ? '-' : x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(1)}k`);
const fmtMs = (x: number): string => (Number.isNaN(x) ? '-' : `${x.toFixed(3)}`);
const fmtX = (x: number): string => (Number.isNaN(x) ? '-' : `${x.toFixed(2)}x`);
const fmtPct = (x: number): string => (Number.isNaN(x) ? '-' : `${(x * 100).toFixed(0)}%`);
const fmtUs = (x: number): string => (Number.isNaN(x) ? '-' : x.toFixed(2));

async function main(): Promise<void> {
  const bins = tools();
  if (bins === null) {
    process.exitCode = SKIPPED_EXIT_CODE;
    return;
  }
  if (!existsSync(NOCOPY_CLI)) {
    throw new Error(`${NOCOPY_CLI} not found: build packages/proxy first (npx tsc -b packages/proxy)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'nocopy-bench-proxy-'));
  installCleanup(() => rmSync(dir, { recursive: true, force: true }));
  try {
    await run(bins, dir);
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function run(bins: NonNullable<ReturnType<typeof tools>>, dir: string): Promise<void> {
  const redis = await startRedis(bins.redisServer, dir);
  const targets = new Map<Name, Target>([['direct', redis]]);
  if (has('haproxy')) targets.set('haproxy', await startHaproxy(bins.haproxy, dir, redis.port, PROXY_CPU));
  if (has('pipe')) targets.set('pipe', await startPipe(PIPE_PROXY, redis.port, PROXY_CPU));
  if (has('raw')) targets.set('raw', await startRaw(RAW_PROXY, redis.port, PROXY_CPU));
  if (has('nocopy')) targets.set('nocopy', await startNocopy(NOCOPY_CLI, redis.port, PROXY_CPU));

  console.log(
    `proxy: redis-benchmark -t <test> -c ${clients} -n ${requests} -P <${PIPELINES.join('|')}> for tests ${TESTS.join(', ')}, one run each, ${rounds} round(s), targets interleaved; medians over rounds`,
  );
  console.log(`  ${firstLine(bins.redisServer, ['--version'])}; ${firstLine(bins.redisBenchmark, ['--version'])}; node ${process.version} (pipe, nocopy)`);
  const h = targets.get('haproxy');
  if (h !== undefined) console.log(`  ${firstLine(bins.haproxy, ['-v'])}, TCP mode, nbthread 1: ${threads(h.proc.child.pid)} thread(s) running`);
  console.log(
    pin
      ? `  pinned: proxies on CPU ${cpusAllowed(targets.get(PROXIES[0] ?? 'direct')!.proc.child.pid)}, redis-benchmark on CPU ${CLIENT_CPU}, redis-server on CPU ${cpusAllowed(redis.proc.child.pid)} (taskset)`
      : `  not pinned${argv.includes('--no-pin') ? ' (--no-pin)' : ' (no taskset)'}: client, server and proxy share the CPUs`,
  );

  // JIT warm-up for the Node proxies (and a first connection for every target); not measured.
  for (const name of ORDER) {
    await runRedisBenchmarkMeasured(bins.redisBenchmark, { port: targets.get(name)!.port, tests: 'get,set', clients, requests: Math.min(requests, 20_000), pipeline: 1, timeout: 120_000, cpu: CLIENT_CPU });
  }

  const samples = new Map<string, Sample[]>(); // key: `${name} ${pipeline} ${test}`
  for (let r = 0; r < rounds; r++) {
    for (const pipeline of PIPELINES) {
      const order = ORDER.map((_, i) => ORDER[(i + r) % ORDER.length]!);
      for (const name of order) {
        const t = targets.get(name)!;
        const pid = t.proc.child.pid;
        for (const test of TESTS) {
          const before = cpuMs(pid);
          const run = await runRedisBenchmarkMeasured(bins.redisBenchmark, { port: t.port, tests: test, clients, requests, pipeline, timeout: 600_000, cpu: CLIENT_CPU });
          const cpu = cpuMs(pid) - before;
          // `-t ping` gives two rows (PING_INLINE, PING_MBULK): the run's CPU is shared between them.
          const sample: Sample = { rows: run.rows, cpuUsPerReq: (cpu * 1000) / (requests * run.rows.length), busy: cpu / run.wallMs, clientBusy: run.clientCpuMs / run.wallMs };
          for (const row of run.rows) {
            const key = `${name} ${pipeline} ${row.test}`;
            samples.set(key, [...(samples.get(key) ?? []), sample]);
          }
        }
      }
      if (!quick) process.stdout.write(`  round ${r + 1}/${rounds} -P ${pipeline} done\n`);
    }
  }
  report(samples);
}

function report(samples: Map<string, Sample[]>): void {
  const testsSeen = [...new Set([...samples.keys()].map((k) => k.split(' ')[2]!))];
  const sampleOf = (name: Name, pipeline: number, test: string): Sample[] => samples.get(`${name} ${pipeline} ${test}`) ?? [];
  const values = (name: Name, pipeline: number, test: string, f: (r: BenchRow) => number): number[] =>
    sampleOf(name, pipeline, test).map((s) => s.rows.find((row) => row.test === test)).filter((x) => x !== undefined).map((row) => f(row!));
  const med = (name: Name, pipeline: number, test: string, f: (r: BenchRow) => number): number => median(values(name, pipeline, test, f));
  const cpuValues = (name: Name, pipeline: number, test: string): number[] => sampleOf(name, pipeline, test).map((s) => s.cpuUsPerReq);

  const rpsRows: string[][] = [];
  const p99Rows: string[][] = [];
  const cpuRows: string[][] = [];
  const verdicts: string[][] = [];
  const figures: Figure[] = [];
  let missed = 0;
  let maxSpread = 0;
  const ratio = (a: Name, b: Name, f: (n: Name) => number): number => (has(a) && has(b) ? f(a) / f(b) : NaN);
  for (const pipeline of PIPELINES) {
    for (const test of testsSeen) {
      const rps = (n: Name): number => med(n, pipeline, test, (r) => r.rps);
      const p99 = (n: Name): number => med(n, pipeline, test, (r) => r.p99ms);
      const cpu = (n: Name): number => median(cpuValues(n, pipeline, test));
      const busy = (n: Name): number => median(sampleOf(n, pipeline, test).map((s) => s.busy));
      const clientBusy = median(ORDER.flatMap((n) => sampleOf(n, pipeline, test).map((s) => s.clientBusy)));
      for (const n of ORDER) maxSpread = Math.max(maxSpread, spread(values(n, pipeline, test, (r) => r.rps)));
      const label = [test, `P=${pipeline}`];
      rpsRows.push([...label, ...ORDER.map((n) => fmtRate(rps(n))), fmtX(ratio('nocopy', 'haproxy', rps)), fmtX(ratio('raw', 'haproxy', rps)), fmtX(ratio('nocopy', 'pipe', rps)), fmtX(ratio('nocopy', 'raw', rps)), fmtPct(clientBusy)]);
      p99Rows.push([...label, ...ORDER.map((n) => fmtMs(p99(n))), fmtX(ratio('nocopy', 'haproxy', p99)), fmtX(ratio('raw', 'haproxy', p99)), fmtX(ratio('pipe', 'haproxy', p99))]);
      cpuRows.push([...label, ...ORDER.map((n) => `${fmtUs(cpu(n))} (${fmtPct(busy(n))})`), fmtX(ratio('nocopy', 'haproxy', cpu)), fmtX(ratio('raw', 'haproxy', cpu)), fmtX(ratio('nocopy', 'raw', cpu))]);
      if (has('nocopy') && has('haproxy')) {
        const vsRate = rps('nocopy') / rps('haproxy');
        const vsCpu = cpu('nocopy') / cpu('haproxy');
        const vsP99 = p99('nocopy') / p99('haproxy');
        const vsPipe = ratio('nocopy', 'pipe', rps);
        const okR = vsRate >= VS_HAPROXY;
        const okC = vsCpu <= 1;
        const okL = vsP99 <= 1;
        const okP = Number.isNaN(vsPipe) || vsPipe > 1;
        missed += [okR, okC, okL, okP].filter((ok) => !ok).length;
        verdicts.push([...label, fmtX(vsRate), okR ? 'PASS' : 'MISS', fmtX(vsCpu), okC ? 'PASS' : 'MISS', fmtX(vsP99), okL ? 'PASS' : 'MISS', fmtX(vsPipe), okP ? 'PASS' : 'MISS']);
      }
      const group = `${test} P=${pipeline}`;
      for (const n of ORDER) {
        const base = { suite: 'proxy', group, subject: n, ...(n !== 'direct' ? { baseline: 'direct' } : {}) };
        figures.push(
          figure({ ...base, metric: 'req/s', better: 'higher' }, values(n, pipeline, test, (r) => r.rps)),
          figure({ ...base, metric: 'p99 ms', better: 'lower' }, values(n, pipeline, test, (r) => r.p99ms)),
          // The target process's CPU: for direct, redis-server's own; for a proxy, the proxy's alone.
          figure({ ...base, metric: 'CPU µs/req', better: 'lower' }, cpuValues(n, pipeline, test)),
        );
      }
    }
  }
  recordFigures(figures);

  console.log('\nrequests/s (median) and ratios; client = redis-benchmark CPU / wall time (near 100%: the generator saturated its core)');
  printTable(['test', 'pipeline', ...ORDER, 'nocopy/haproxy', 'raw/haproxy', 'nocopy/pipe', 'nocopy/raw', 'client'], rpsRows, 2);
  console.log('\np99 latency, ms (median over rounds of redis-benchmark p99) and ratios (lower is better)');
  printTable(['test', 'pipeline', ...ORDER, 'nocopy/haproxy', 'raw/haproxy', 'pipe/haproxy'], p99Rows, 2);
  console.log('\nCPU per request, µs (user + system of the target process over its run; direct = redis-server), and in () its CPU / wall time');
  console.log('raw/haproxy is the floor of a Node proxy against HAProxy: what the public API costs before any code of ours');
  printTable(['test', 'pipeline', ...ORDER, 'nocopy/haproxy', 'raw/haproxy', 'nocopy/raw'], cpuRows, 2);
  if (verdicts.length > 0) {
    console.log(`\ntargets: nocopy >= ${VS_HAPROXY}x HAProxy req/s, <= 1x its CPU per request, <= 1x its p99, and nocopy > pipe req/s, in every case`);
    printTable(['test', 'pipeline', 'rate', `>= ${VS_HAPROXY}x`, 'CPU/req', '<= 1x', 'p99', '<= 1x', 'vs pipe', '> 1x'], verdicts, 2);
  }
  if (rounds > 1) console.log(`largest spread of req/s over rounds: ${fmtPct(maxSpread)} ((max - min) / median; rerun if large)`);
  if (quick) console.log('--quick: tiny runs, numbers not meaningful');
  if (verdicts.length > 0) console.log(missed > 0 ? `${missed} target(s) missed` : 'all targets met');
}

main().catch(async (err) => {
  console.error(err);
  await stopAll();
  process.exit(1);
});
