// bench/proxy: a real server (redis-server) and a real client (redis-benchmark), directly and through
// three TCP proxies, each in its own process: nocopy (packages/proxy's nocopy-proxy), a naive
// `socket.pipe()` proxy, and HAProxy in TCP mode. The same redis-benchmark run (-t ping,set,get, 50
// clients, the same -n) goes against each target, unpipelined (-P 1) and pipelined (-P 16); rounds
// interleave the targets in a rotating order and every figure is the median over rounds.
//   node bench/dist/proxy/main.js [--quick] [--rounds=<n>] [--requests=<n>] [--clients=<n>]
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printTable } from '../lib/table.js';
import { intFlag as intFlagOf } from '../lib/options.js';
import { figure, median, recordFigures, spread, type Figure } from '../lib/results.js';
import { cpuMs, firstLine, installCleanup, SKIPPED_EXIT_CODE, stopAll, which } from './procs.js';
import { runRedisBenchmark, type BenchRow } from './redis-benchmark.js';
import { startHaproxy, startNocopy, startPipe, startRedis, type Target } from './targets.js';

const here = dirname(fileURLToPath(import.meta.url));
const NOCOPY_CLI = resolve(here, '../../../packages/proxy/dist/src/cli.js');
const PIPE_PROXY = join(here, 'pipe-proxy.js');

const argv = process.argv.slice(2);
const intFlag = (name: string, fallback: number): number => intFlagOf(argv, name, fallback);
const quick = argv.includes('--quick');
const rounds = intFlag('rounds', quick ? 1 : 3);
const requests = intFlag('requests', quick ? 2000 : 200_000);
const clients = intFlag('clients', 50);
const PIPELINES = [1, 16] as const;
const TESTS = 'ping,set,get';
const ORDER = ['direct', 'haproxy', 'pipe', 'nocopy'] as const;
type Name = (typeof ORDER)[number];
const PROXIES: readonly Name[] = ['haproxy', 'pipe', 'nocopy'];
// Targets from the issue: nocopy at least 0.95x HAProxy's requests/s, and ahead of the pipe proxy, in every case.
const VS_HAPROXY = 0.95;

interface Sample {
  rows: BenchRow[];
  /** The target process's CPU (user + system) per request over the whole run, in µs. */
  cpuUsPerReq: number;
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
const fmtPct = (x: number): string => `${(x * 100).toFixed(0)}%`;

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
  targets.set('haproxy', await startHaproxy(bins.haproxy, dir, redis.port));
  targets.set('pipe', await startPipe(PIPE_PROXY, redis.port));
  targets.set('nocopy', await startNocopy(NOCOPY_CLI, redis.port));

  console.log(
    `proxy: redis-benchmark -t ${TESTS} -c ${clients} -n ${requests} -P 1 and -P 16, ${rounds} round(s), targets interleaved; medians over rounds`,
  );
  console.log(`  ${firstLine(bins.redisServer, ['--version'])}; ${firstLine(bins.redisBenchmark, ['--version'])}`);
  console.log(`  ${firstLine(bins.haproxy, ['-v'])} (TCP mode, nbthread 1); node ${process.version} (pipe, nocopy); no CPU pinning`);

  // JIT warm-up for the Node proxies (and a first connection for every target); not measured.
  for (const name of ORDER) {
    await runRedisBenchmark(bins.redisBenchmark, { port: targets.get(name)!.port, tests: 'get,set', clients, requests: Math.min(requests, 20_000), pipeline: 1, timeout: 120_000 });
  }

  const samples = new Map<string, Sample[]>(); // key: `${name} ${pipeline}`
  for (let r = 0; r < rounds; r++) {
    for (const pipeline of PIPELINES) {
      const order = ORDER.map((_, i) => ORDER[(i + r) % ORDER.length]!);
      for (const name of order) {
        const t = targets.get(name)!;
        const pid = t.proc.child.pid;
        const before = cpuMs(pid);
        const rows = await runRedisBenchmark(bins.redisBenchmark, { port: t.port, tests: TESTS, clients, requests, pipeline, timeout: 600_000 });
        const cpu = cpuMs(pid) - before;
        const key = `${name} ${pipeline}`;
        samples.set(key, [...(samples.get(key) ?? []), { rows, cpuUsPerReq: (cpu * 1000) / (requests * rows.length) }]);
      }
      if (!quick) process.stdout.write(`  round ${r + 1}/${rounds} -P ${pipeline} done\n`);
    }
  }
  report(samples);
}

function report(samples: Map<string, Sample[]>): void {
  const testsSeen = samples.get('direct 1')![0]!.rows.map((row) => row.test);
  const values = (name: Name, pipeline: number, test: string, f: (r: BenchRow) => number): number[] =>
    (samples.get(`${name} ${pipeline}`) ?? []).map((s) => s.rows.find((row) => row.test === test)).filter((x) => x !== undefined).map((row) => f(row!));
  const med = (name: Name, pipeline: number, test: string, f: (r: BenchRow) => number): number => median(values(name, pipeline, test, f));

  const rpsRows: string[][] = [];
  const p99Rows: string[][] = [];
  const verdicts: string[][] = [];
  const figures: Figure[] = [];
  let missed = 0;
  let maxSpread = 0;
  for (const pipeline of PIPELINES) {
    for (const test of testsSeen) {
      const rps = (n: Name): number => med(n, pipeline, test, (r) => r.rps);
      const p99 = (n: Name): number => med(n, pipeline, test, (r) => r.p99ms);
      for (const n of ORDER) maxSpread = Math.max(maxSpread, spread(values(n, pipeline, test, (r) => r.rps)));
      const label = [test, `P=${pipeline}`];
      rpsRows.push([...label, ...ORDER.map((n) => fmtRate(rps(n))), fmtX(rps('nocopy') / rps('direct')), fmtX(rps('nocopy') / rps('haproxy')), fmtX(rps('pipe') / rps('haproxy')), fmtX(rps('nocopy') / rps('pipe'))]);
      p99Rows.push([...label, ...ORDER.map((n) => fmtMs(p99(n))), fmtX(p99('nocopy') / p99('haproxy')), fmtX(p99('pipe') / p99('haproxy'))]);
      const vsHaproxy = rps('nocopy') / rps('haproxy');
      const vsPipe = rps('nocopy') / rps('pipe');
      const okH = vsHaproxy >= VS_HAPROXY;
      const okP = vsPipe > 1;
      if (!okH) missed++;
      if (!okP) missed++;
      verdicts.push([...label, fmtX(vsHaproxy), okH ? 'PASS' : 'MISS', fmtX(vsPipe), okP ? 'PASS' : 'MISS']);
      const group = `${test} P=${pipeline}`;
      for (const n of ORDER) {
        const base = { suite: 'proxy', group, subject: n, ...(n !== 'direct' ? { baseline: 'direct' } : {}) };
        figures.push(
          figure({ ...base, metric: 'req/s', better: 'higher' }, values(n, pipeline, test, (r) => r.rps)),
          figure({ ...base, metric: 'p99 ms', better: 'lower' }, values(n, pipeline, test, (r) => r.p99ms)),
        );
      }
    }
  }
  const cpuRows = PIPELINES.map((pipeline) => [
    `P=${pipeline}`,
    ...PROXIES.map((n) => {
      const v = median((samples.get(`${n} ${pipeline}`) ?? []).map((s) => s.cpuUsPerReq));
      figures.push(figure({ suite: 'proxy', group: `all tests P=${pipeline}`, subject: n, metric: 'proxy CPU µs/req', better: 'lower' }, (samples.get(`${n} ${pipeline}`) ?? []).map((s) => s.cpuUsPerReq)));
      return Number.isNaN(v) ? '-' : v.toFixed(2);
    }),
  ]);
  recordFigures(figures);

  console.log('\nrequests/s (median) and ratios');
  printTable(['test', 'pipeline', ...ORDER, 'nocopy/direct', 'nocopy/haproxy', 'pipe/haproxy', 'nocopy/pipe'], rpsRows, 2);
  console.log('\np99 latency, ms (median over rounds of redis-benchmark p99) and ratios (lower is better)');
  printTable(['test', 'pipeline', ...ORDER, 'nocopy/haproxy', 'pipe/haproxy'], p99Rows, 2);
  console.log('\nproxy process CPU per request, µs (user + system, all tests of a run)');
  printTable(['pipeline', ...PROXIES], cpuRows, 1);
  console.log(`\ntargets: nocopy >= ${VS_HAPROXY}x HAProxy req/s, and nocopy > pipe req/s, in every case`);
  printTable(['test', 'pipeline', 'nocopy/haproxy', `>= ${VS_HAPROXY}x`, 'nocopy/pipe', '> 1x'], verdicts, 2);
  if (rounds > 1) console.log(`largest spread of req/s over rounds: ${fmtPct(maxSpread)} ((max - min) / median; rerun if large)`);
  if (quick) console.log('--quick: tiny runs, numbers not meaningful');
  console.log(missed > 0 ? `${missed} target(s) missed` : 'all targets met');
}

main().catch(async (err) => {
  console.error(err);
  await stopAll();
  process.exit(1);
});
