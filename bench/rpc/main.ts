// bench/rpc: unary calls with a 128 B payload against three RPC stacks, each server in its own
// process (pinned to CPU 0 where taskset exists) and the load generator in another (CPU 1):
//   nocopy — nocopy-rpc, framing 'framed';  grpc — @grpc/grpc-js unary;  net — hand-written net + msgpackr,
//   one write per reply;  net-batch — the same server batching the replies of a chunk into one write.
// At 1, 32 and 256 calls in flight; rounds interleave the servers, every figure is a median over rounds.
// Then the offload effect: echo p99 while fib(30) calls run, fib offloaded to piscina vs inline.
// Then the cost of @nocopy/otel: server CPU per call at 32 in flight, without it, installed with
// sampling off, and with every call sampled.
//
// The main generator is the compiled one (bench/loadgen, rpc-framed; loadgen-rows.ts) for the
// MessagePack-RPC servers; the Node client (load.ts) runs second, and alone for grpc-js. Issue #25's
// targets against the batching hand-written server are read from the compiled generator's rows.
// Usage: node bench/dist/rpc/main.js [--quick] [--rounds=<n>] [--time=<seconds>] [--no-loadgen]
//        [--levels=1,32,256] [--servers=nocopy,grpc,net,net-batch] [--no-offload] [--no-fleet] [--no-otel] [--otel-only]
// Then one client over 2 nocopy-rpc servers against 1 (--no-fleet skips it).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { runWindow, listFlag } from '../lib/options.js';
import { printTable } from '../lib/table.js';
import { figure, median, recordFigures, spread, type Figure } from '../lib/results.js';
import { loadgenPath } from '../lib/loadgen.js';
import { GENERATOR, loadgenLevel, type LoadgenFigures, type LoadgenServer } from './loadgen-rows.js';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const { quick, rounds, duration, warmup } = runWindow(argv, [0.5, 0.3], true);
const CONNECTIONS = 4;

const allServers = ['nocopy', 'grpc', 'net', 'net-batch'] as const;
type ServerName = (typeof allServers)[number];
// For iterating on one case: --levels=32, --servers=nocopy,net-batch, --no-offload. Ratios need all four servers.
const servers: ServerName[] = (listFlag(argv, 'servers') as ServerName[] | null) ?? [...allServers];
const levels = (listFlag(argv, 'levels') ?? ['1', '32', '256']).map(Number);
const otelOnly = argv.includes('--otel-only');
const offload = !argv.includes('--no-offload') && !otelOnly;
const fleet = !argv.includes('--no-fleet') && !otelOnly;
const otel = !argv.includes('--no-otel');
const compare = allServers.every((s) => servers.includes(s));
const labels: Record<ServerName, string> = { nocopy: 'nocopy-rpc', grpc: 'grpc-js', net: 'net + msgpackr', 'net-batch': 'net + msgpackr, batching' };
/** The load generator's client for each server: both hand-written servers take the hand-written client. */
const clientOf = (s: ServerName): string => (s === 'net-batch' ? 'net' : s);

const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

// The compiled generator; a quick (smoke) run without a C compiler goes on with the Node client alone.
let loadgen: string | null = null;
if (!argv.includes('--no-loadgen')) {
  try {
    loadgen = loadgenPath(!quick);
  } catch (err) {
    if (!quick) throw err;
    console.log(`rpc: ${(err as Error).message}; --quick goes on with the Node client alone`);
  }
}

interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  fibPerSec: number;
  p50us: number;
  p99us: number;
  cpuPercent: number;
  note: string;
}
interface ServerResult {
  cpuUserMs: number;
  cpuSystemMs: number;
  wallMs: number;
  maxRssKiB: number;
}
interface Run {
  load: LoadResult;
  server: ServerResult;
  /** Server CPU over the measured window, as a share of one core. */
  serverCpuPercent: number;
  /** Server CPU time per completed call, µs. */
  serverUsPerCall: number;
}

/** The figures a Run gives: how each is read from a run and which way is better. */
const RUN_METRICS = {
  'req/s': { better: 'higher', of: (r: Run) => r.load.rps },
  'p50 ms': { better: 'lower', of: (r: Run) => r.load.p50us / 1000 },
  'p99 ms': { better: 'lower', of: (r: Run) => r.load.p99us / 1000 },
  'server CPU %': { better: 'lower', of: (r: Run) => r.serverCpuPercent },
  'server µs/call': { better: 'lower', of: (r: Run) => r.serverUsPerCall },
  'client CPU %': { better: 'lower', of: (r: Run) => r.load.cpuPercent },
} as const;

/** The table cells of one subject's rounds (medians): req/s, p50, p99, server CPU, server µs/call (to `usDigits`), load CPU. */
function runCells(runs: Run[], usDigits: number): string[] {
  const m = (f: (r: Run) => number) => median(runs.map(f));
  return [
    fmtRate(m((r) => r.load.rps)),
    fmtUs(m((r) => r.load.p50us)),
    fmtUs(m((r) => r.load.p99us)),
    `${m((r) => r.serverCpuPercent).toFixed(0)}%`,
    m((r) => r.serverUsPerCall).toFixed(usDigits),
    `${m((r) => r.load.cpuPercent).toFixed(0)}%`,
  ];
}

/** The `metrics` of `runs` (rounds of one subject) as figures, each with the fields of `base`. */
function runFigures(base: Omit<Parameters<typeof figure>[0], 'metric' | 'better'>, runs: Run[], metrics: (keyof typeof RUN_METRICS)[]): Figure[] {
  return metrics.map((metric) => figure({ ...base, metric, better: RUN_METRICS[metric].better }, runs.map(RUN_METRICS[metric].of)));
}

/**
 * V8 flags of every server and load generator, whatever the stack: a young generation of a fixed
 * 16 MiB. Left to its heuristics, V8 sized it differently from run to run, and a run that kept a small
 * one spent ~14% of the client's CPU in scavenges and did 300k req/s instead of 500k (same code).
 */
const V8_FLAGS = ['--min-semi-space-size=16', '--max-semi-space-size=16'];

function node(cpu: number, args: string[]): ChildProcess {
  const stdio: ('ignore' | 'inherit' | 'ipc')[] = ['ignore', 'inherit', 'inherit', 'ipc'];
  const argv = [...V8_FLAGS, ...args];
  return hasTaskset ? spawn('taskset', ['-c', String(cpu), process.execPath, ...argv], { stdio }) : spawn(process.execPath, argv, { stdio });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

async function runOne(serverMode: string, loadMode: string, inflight: number, extra: string[] = [], serverCount = 1): Promise<Run> {
  // Every server of a run on CPU 0: with several, their CPU is summed (the cost of the calls, wherever they ran).
  const srvs = Array.from({ length: serverCount }, () => node(0, [join(here, 'servers.js'), serverMode]));
  const ports = await Promise.all(
    srvs.map((srv) => {
      const srvExit = exited(srv);
      return new Promise<number>((resolve, reject) => {
        srv.once('message', (m) => resolve((m as { port: number }).port));
        void srvExit.then((code) => reject(new Error(`${serverMode} server exited early (${code})`)));
      });
    }),
  );
  const srv = srvs[0]!;
  const srvExit = Promise.all(srvs.map(exited));
  const load = node(1, [
    join(here, 'load.js'),
    '--mode', loadMode,
    '--port', ports.join(','),
    '--inflight', String(inflight),
    '--connections', String(CONNECTIONS),
    '--duration', String(duration),
    '--warmup', String(warmup),
    ...extra,
  ]);
  const loadExit = exited(load);
  let result: LoadResult | null = null;
  let serverStats: Promise<ServerResult> | null = null;
  load.on('message', (m: { type: string } & LoadResult) => {
    if (m.type === 'measuring') for (const s of srvs) s.send('start');
    if (m.type === 'result') {
      result = m;
      serverStats = Promise.all(srvs.map((s) => new Promise<ServerResult>((resolve) => s.once('message', (x) => resolve(x as ServerResult))))).then(sumServers);
      for (const s of srvs) s.send('stop');
    }
  });
  const code = await loadExit;
  if (code !== 0 || result === null || serverStats === null) {
    for (const s of srvs) s.kill();
    throw new Error(`load generator failed against ${serverMode} (exit ${code})`);
  }
  const server = await (serverStats as Promise<ServerResult>);
  for (const s of srvs) s.send('exit');
  await srvExit;
  void srv;
  const r = result as LoadResult;
  const cpuMs = server.cpuUserMs + server.cpuSystemMs;
  return {
    load: r,
    server,
    serverCpuPercent: (cpuMs / server.wallMs) * 100,
    serverUsPerCall: r.requests > 0 ? ((cpuMs * 1000) / r.requests) * (r.seconds * 1000 / server.wallMs) : 0,
  };
}

/** Several servers' readings as one: CPU summed, the longest wall clock, the largest RSS. */
function sumServers(xs: ServerResult[]): ServerResult {
  return {
    cpuUserMs: xs.reduce((a, x) => a + x.cpuUserMs, 0),
    cpuSystemMs: xs.reduce((a, x) => a + x.cpuSystemMs, 0),
    wallMs: Math.max(...xs.map((x) => x.wallMs)),
    maxRssKiB: Math.max(...xs.map((x) => x.maxRssKiB)),
  };
}

const fmtRate = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)}k` : x.toFixed(0));
const fmtUs = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} ms` : `${x.toFixed(0)} µs`);
const fmtX = (x: number) => `${x >= 100 ? x.toFixed(0) : x.toFixed(x >= 10 ? 1 : 2)}x`;

/** Target verdicts, printed at the end. */
let missed = 0;
const checks: string[] = [];

async function main(): Promise<void> {
  console.log(
    `rpc: unary echo of a 128 B Buffer; ${rounds} round(s) of ${duration} s (+${warmup} s warmup) per server and level; ` +
      (hasTaskset ? 'server pinned to CPU 0, load generator to CPU 1' : 'taskset not found: processes not pinned'),
  );
  console.log(`connections: nocopy-rpc and net + msgpackr ${CONNECTIONS} TCP connections; grpc-js ${CONNECTIONS} channels (one HTTP/2 connection each)`);
  const all = new Map<number, Map<ServerName, Run[]>>();
  const allLg = new Map<number, Map<LoadgenServer, LoadgenFigures>>();
  const lgServers = servers.filter((s): s is LoadgenServer => s !== 'grpc');
  for (const inflight of otelOnly ? [] : levels) {
    // --quick (a smoke run inside npm test) drives the compiled generator at one level only, to stay short.
    const lgHere = loadgen !== null && lgServers.length > 0 && (!quick || inflight === levels[Math.min(1, levels.length - 1)]);
    const lg = lgHere ? await loadgenLevel(inflight, lgServers, labels, { rounds, duration, warmup, connections: CONNECTIONS }) : null;
    if (lg !== null) allLg.set(inflight, lg);
    const runs = new Map<ServerName, Run[]>(servers.map((s) => [s, []]));
    all.set(inflight, runs);
    for (let r = 0; r < rounds; r++) {
      const order = servers.map((_, i) => servers[(i + r) % servers.length]!);
      for (const s of order) runs.get(s)!.push(await runOne(s, clientOf(s), inflight));
    }
    const med = (s: ServerName, f: (r: Run) => number) => median(runs.get(s)!.map(f));
    console.log(`\n${inflight} call(s) in flight  (node client${lg !== null ? ', the second generator' : ''})`);
    printTable(
      ['server', 'req/s', 'p50', 'p99', 'server CPU', 'server µs/call', 'load CPU', 'rounds'],
      servers.map((s) => [
        labels[s],
        ...runCells(runs.get(s)!, 1),
        `±${((spread(runs.get(s)!.map((r) => r.load.rps)) * 100) / 2).toFixed(0)}%`,
      ]),
    );
    const group = `${inflight} in flight, 128 B`;
    recordFigures(
      servers.flatMap((s): Figure[] => {
        const rs = runs.get(s)!;
        const base = { suite: 'rpc', group, subject: labels[s], ...(s !== 'grpc' ? { baseline: labels.grpc } : {}) };
        return runFigures(base, rs, ['req/s', 'p50 ms', 'p99 ms', 'server CPU %', 'server µs/call', 'client CPU %']);
      }),
    );
    const saturated = servers.filter((s) => med(s, (r) => r.load.cpuPercent) >= 90);
    if (saturated.length > 0) {
      console.log(`  note: the load generator used >= 90% of its core against ${saturated.map((s) => labels[s]).join(', ')}: there the client bounds the rate`);
    }
    const has = (x: ServerName) => servers.includes(x);
    const rps = (s: ServerName) => med(s, (r) => r.load.rps);
    const p99 = (s: ServerName) => med(s, (r) => r.load.p99us);
    const us = (s: ServerName) => med(s, (r) => r.serverUsPerCall);
    if (has('nocopy')) {
      for (const other of (['grpc', 'net', 'net-batch'] as const).filter(has)) {
        console.log(
          `  nocopy-rpc vs ${`${labels[other]}:`.padEnd(26)} ${fmtX(rps('nocopy') / rps(other))} req/s, p99 ${(p99('nocopy') / p99(other)).toFixed(3)}x of its p99, ` +
            `server CPU/call ${(us('nocopy') / us(other)).toFixed(2)}x of its`,
        );
      }
    }
    const t: [string, boolean, string][] = [];
    if (inflight === 32 && has('nocopy') && has('grpc')) {
      const vsGrpc = rps('nocopy') / rps('grpc');
      t.push([`nocopy-rpc / grpc-js req/s at 32 in flight (node client): ${fmtX(vsGrpc)}`, vsGrpc >= 15, 'target >= 15x']);
    }
    // Issue #25's targets: 4 connections x 8 in flight (32) and x 64 (256) against the batching
    // hand-written server, from the compiled generator when it ran (else the Node client's).
    const want = inflight === 32 ? 1.5 : inflight === 256 ? 2 : 0;
    if (want > 0 && has('nocopy') && has('net-batch')) {
      const src = lg !== null && lg.has('nocopy') && lg.has('net-batch') ? GENERATOR : 'node client';
      const lgf = (s: LoadgenServer) => lg!.get(s)!;
      const vsBatch = src === GENERATOR ? lgf('nocopy').rps / lgf('net-batch').rps : rps('nocopy') / rps('net-batch');
      const p99Batch = src === GENERATOR ? lgf('nocopy').p99us / lgf('net-batch').p99us : p99('nocopy') / p99('net-batch');
      t.push([`nocopy-rpc / net + msgpackr, batching req/s at ${inflight} in flight (${src}): ${fmtX(vsBatch)}`, vsBatch >= want, `target >= ${want}x`]);
      t.push([`nocopy-rpc p99 / net + msgpackr, batching p99 at ${inflight} in flight (${src}): ${p99Batch.toFixed(2)}x`, p99Batch <= 1, 'target <= 1x']);
    }
    for (const [label, ok, target] of t) {
      if (!ok) missed++;
      checks.push(`  ${label}  ${ok ? 'PASS' : 'MISS'} (${target})`);
    }
  }

  if (allLg.size > 0 && lgServers.includes('nocopy') && lgServers.includes('net-batch')) {
    console.log(`\nratios (medians, ${GENERATOR}): nocopy-rpc over the hand-written servers; server CPU per call, the other's over nocopy-rpc's`);
    printTable(
      ['in flight', 'x batching req/s', 'batching p99 / ours', 'batching CPU/call / ours', ...(lgServers.includes('net') ? ['x per-reply req/s', 'per-reply CPU/call / ours'] : [])],
      [...allLg].map(([l, lg]) => {
        const f = (s: LoadgenServer) => lg.get(s)!;
        return [
          String(l),
          fmtX(f('nocopy').rps / f('net-batch').rps),
          fmtX(f('net-batch').p99us / f('nocopy').p99us),
          fmtX(f('net-batch').serverUsPerCall / f('nocopy').serverUsPerCall),
          ...(lgServers.includes('net') ? [fmtX(f('nocopy').rps / f('net').rps), fmtX(f('net').serverUsPerCall / f('nocopy').serverUsPerCall)] : []),
        ];
      }),
    );
  }

  if (compare && !otelOnly) {
    console.log('\nratios (medians): nocopy-rpc req/s over the other, the other\'s p99 over nocopy-rpc\'s, nocopy-rpc\'s server CPU per call over the other\'s');
    printTable(
      ['in flight', 'x grpc-js req/s', 'grpc-js p99 / ours', 'x net req/s', 'net p99 / ours', 'x batching req/s', 'batching p99 / ours', 'CPU/call vs batching'],
      levels.map((l) => {
        const runs = all.get(l)!;
        const med = (s: ServerName, f: (r: Run) => number) => median(runs.get(s)!.map(f));
        const rps = (s: ServerName) => med(s, (r) => r.load.rps);
        const p99 = (s: ServerName) => med(s, (r) => r.load.p99us);
        const us = (s: ServerName) => med(s, (r) => r.serverUsPerCall);
        return [
          String(l),
          fmtX(rps('nocopy') / rps('grpc')),
          fmtX(p99('grpc') / p99('nocopy')),
          fmtX(rps('nocopy') / rps('net')),
          fmtX(p99('net') / p99('nocopy')),
          fmtX(rps('nocopy') / rps('net-batch')),
          fmtX(p99('net-batch') / p99('nocopy')),
          fmtX(us('nocopy') / us('net-batch')),
        ];
      }),
    );
  }

  // ---- offload ----
  if (offload) {
    const variants = [
      { mode: 'fib-offload', label: 'fib offloaded (piscina)' },
      { mode: 'fib-inline', label: 'fib inline (event loop)' },
    ] as const;
    const fibRuns = new Map<string, Run[]>(variants.map((v) => [v.mode, []]));
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? variants : [...variants].reverse();
      for (const v of order) fibRuns.get(v.mode)!.push(await runOne(v.mode, 'nocopy', 32, ['--fib', '2', '--fibn', '30']));
    }
    const fmed = (m: string, f: (r: Run) => number) => median(fibRuns.get(m)!.map(f));
    console.log('\noffload: 32 echo calls in flight + 2 fib(30) calls in flight continuously (nocopy-rpc, same server process pinned to CPU 0, workers included)');
    printTable(
      ['fib registered', 'echo req/s', 'echo p50', 'echo p99', 'fib/s', 'server CPU'],
      variants.map((v) => [
        v.label,
        fmtRate(fmed(v.mode, (r) => r.load.rps)),
        fmtUs(fmed(v.mode, (r) => r.load.p50us)),
        fmtUs(fmed(v.mode, (r) => r.load.p99us)),
        fmed(v.mode, (r) => r.load.fibPerSec).toFixed(1),
        `${fmed(v.mode, (r) => r.serverCpuPercent).toFixed(0)}%`,
      ]),
    );
    recordFigures(
      variants.flatMap((v): Figure[] => {
        const rs = fibRuns.get(v.mode)!;
        const base = { suite: 'rpc', group: 'echo (32 in flight) while fib(30) runs (2 in flight)', subject: v.label, ...(v.mode === 'fib-offload' ? { baseline: 'fib inline (event loop)' } : {}) };
        return [
          figure({ ...base, metric: 'req/s', better: 'higher' }, rs.map((r) => r.load.rps)),
          figure({ ...base, metric: 'p99 ms', better: 'lower' }, rs.map((r) => r.load.p99us / 1000)),
          figure({ ...base, metric: 'fib/s', better: 'higher' }, rs.map((r) => r.load.fibPerSec)),
        ];
      }),
    );
    const off = fmed('fib-offload', (r) => r.load.p99us);
    const inl = fmed('fib-inline', (r) => r.load.p99us);
    console.log(`  echo p99: inline ${fmtUs(inl)} / offloaded ${fmtUs(off)} = ${fmtX(inl / off)} lower with offload`);
  }

  // ---- two servers ----
  // One client over 2 nocopy-rpc servers (both on CPU 0) against 1 server: what the client layer's
  // spreading costs. The servers share a core, so the rate cannot double; server CPU per call is the figure.
  if (fleet && servers.includes('nocopy')) {
    const variants = [1, 2] as const;
    const fleetRuns = new Map<number, Run[]>(variants.map((n) => [n, []]));
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? variants : [...variants].reverse();
      for (const n of order) fleetRuns.get(n)!.push(await runOne('nocopy', 'nocopy', 32, [], n));
    }
    console.log(`\nmany servers: one client, 32 calls in flight, ${CONNECTIONS} connections per server, round-robin; every server pinned to CPU 0`);
    printTable(
      ['servers', 'req/s', 'p50', 'p99', 'server CPU (sum)', 'server µs/call', 'load CPU'],
      variants.map((n) => [
        String(n),
        ...runCells(fleetRuns.get(n)!, 2),
      ]),
    );
    recordFigures(
      variants.flatMap((n): Figure[] => {
        const rs = fleetRuns.get(n)!;
        const base = { suite: 'rpc', group: 'one client over 1 or 2 servers, 32 in flight', subject: `${n} server${n > 1 ? 's' : ''}`, ...(n === 2 ? { baseline: '1 server' } : {}) };
        return runFigures(base, rs, ['req/s', 'p99 ms', 'server µs/call', 'client CPU %']);
      }),
    );
  }
  if (otel) await otelCost();

  console.log('\ntargets');
  for (const c of checks) console.log(c);
  if (missed > 0) console.log(`${missed} target(s) missed`);
  if (quick) console.log('(--quick: one short round; numbers are not meaningful)');
}

/**
 * The cost of @nocopy/otel on the server (bench/rpc/servers.ts otel-off and otel-all), by server CPU per
 * call at 32 in flight: the machine is noisy, so rounds interleave the three and the medians are
 * compared. The load generator is the plain nocopy client (no trace context arrives: every server
 * span is a root, sampled or not by the server's sampler).
 */
async function otelCost(): Promise<void> {
  const variants = [
    { mode: 'nocopy', label: 'nocopy-rpc, no instrumentation' },
    { mode: 'otel-off', label: '@nocopy/otel, sampling off (traceRoots: false)' },
    { mode: 'otel-off-sdk', label: '@nocopy/otel, sampler off, non-recording spans' },
    { mode: 'otel-all', label: '@nocopy/otel, every call sampled' },
    { mode: 'otel-metrics', label: '@nocopy/otel, duration histograms only' },
  ] as const;
  const runs = new Map<string, Run[]>(variants.map((v) => [v.mode, []]));
  const n = Math.max(rounds, quick ? 1 : 5);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < variants.length; i++) {
      const v = variants[(i + r) % variants.length]!;
      runs.get(v.mode)!.push(await runOne(v.mode, 'nocopy', 32));
    }
  }
  const med = (m: string, f: (r: Run) => number) => median(runs.get(m)!.map(f));
  const base = med('nocopy', (r) => r.serverUsPerCall);
  console.log(`\nopentelemetry: 32 calls in flight, ${n} rounds interleaved; server CPU per call (medians)`);
  printTable(
    ['server', 'req/s', 'p99', 'server µs/call', 'vs none', 'rounds (µs/call)'],
    variants.map((v) => {
      const us = med(v.mode, (r) => r.serverUsPerCall);
      return [
        v.label,
        fmtRate(med(v.mode, (r) => r.load.rps)),
        fmtUs(med(v.mode, (r) => r.load.p99us)),
        us.toFixed(2),
        v.mode === 'nocopy' ? '' : `${us >= base ? '+' : ''}${(((us - base) / base) * 100).toFixed(1)}%`,
        `±${((spread(runs.get(v.mode)!.map((r) => r.serverUsPerCall)) * 100) / 2).toFixed(0)}%`,
      ];
    }),
  );
  recordFigures(
    variants.flatMap((v): Figure[] => {
      const rs = runs.get(v.mode)!;
      const b = { suite: 'rpc', group: 'opentelemetry, 32 in flight', subject: v.label, ...(v.mode !== 'nocopy' ? { baseline: variants[0].label } : {}) };
      return [
        figure({ ...b, metric: 'server µs/call', better: 'lower' }, rs.map((r) => r.serverUsPerCall)),
        figure({ ...b, metric: 'req/s', better: 'higher' }, rs.map((r) => r.load.rps)),
      ];
    }),
  );
  const off = med('otel-off', (r) => r.serverUsPerCall);
  const pct = ((off - base) / base) * 100;
  checks.push(`  @nocopy/otel with sampling off: ${pct >= 0 ? '+' : ''}${pct.toFixed(1)}% server CPU per call  ${pct <= 5 ? 'PASS' : 'MISS'} (target <= +5%)`);
  if (pct > 5) missed++;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
