// The soak run: baseline, mixed load with faults for the given time, orderly stop, then the checks.
import net from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Ledger, type SoakContext } from './ledger.js';
import { Registry } from './registry.js';
import { RpcLoad } from './rpc-load.js';
import { EchoLoad } from './echo-load.js';
import { rpc } from './rpc-module.js';
import { rand } from './payload.js';
import { within } from './util.js';
import { MiB, type Snapshot, collect, fdTargets, getGc, snapshot } from './resources.js';

export interface SoakOptions {
  /** Length of the load phase, in ms. */
  durationMs: number;
  /** Progress lines (every 10 s). */
  log?: (line: string) => void;
  /** Bounds for the memory checks. */
  maxHeapGrowth?: number;
  maxRssGrowth?: number;
  maxRssGrowthAfterWarmUp?: number;
}

export interface Check {
  name: string;
  ok: boolean;
  /** True when the check could not run here (no /proc): not counted as a failure. */
  skipped?: boolean;
  detail: string;
}

export interface SoakReport {
  pass: boolean;
  durationMs: number;
  loadMs: number;
  rpcSource: string;
  gcSource: string;
  calls: { started: number; completed: number; verified: number; byKind: Record<string, number> };
  failures: { total: number; expected: number; unexpected: number; byCode: Record<string, number>; unexpectedSamples: string[] };
  mismatchSamples: string[];
  faults: { total: number; byKind: Record<string, number> };
  serverErrors: Record<string, number>;
  /** Measurements by what (the unit is in the name): count, median and max. */
  timings: Record<string, { n: number; p50: number; max: number }>;
  problems: string[];
  connections: { opened: number; closed: number; live: number };
  eventLoopDelay: { p50Ms: number; p99Ms: number; maxMs: number };
  before: Snapshot;
  /** 10 s into the load (null for shorter runs). */
  warm: Snapshot | null;
  after: Snapshot;
  fdLeaks: string[];
  checks: Check[];
}

interface FaultKind {
  name: string;
  /** Relative frequency among the kinds that may run now. */
  weight: number;
  /** Rate bound: at most this many per minute of load (and one at a time per kind). */
  perMinute: number;
  run: () => Promise<boolean>;
}

/**
 * Codes that only the injected faults may produce in server-side onError reports: malformed and
 * oversized input, a handler's flush() failing because the peer reset the connection, or because it
 * stopped reading (the stalled-reader probe's write timeout).
 */
const SERVER_ERROR_CODES = new Set(['ERR_MALFORMED_MESSAGE', 'ERR_MESSAGE_TOO_LARGE', 'ERR_CONN_CLOSED', 'ERR_WRITE_TIMEOUT']);

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? (() => {});
  const maxHeapGrowth = options.maxHeapGrowth ?? 32 * MiB;
  const maxRssGrowth = options.maxRssGrowth ?? 128 * MiB;
  // Most RSS growth is the allocator and V8 sizing up to the load in the first seconds; a leak keeps growing after.
  const maxRssGrowthAfterWarmUp = options.maxRssGrowthAfterWarmUp ?? 64 * MiB;
  const t0 = Date.now();
  const { gc, source: gcSource } = getGc();
  const ledger = new Ledger();
  const registry = new Registry();

  const onUnhandled = (reason: unknown) => ledger.problem(`unhandled rejection: ${(reason as Error)?.stack ?? String(reason)}`);
  process.on('unhandledRejection', onUnhandled);
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${(w as { code?: string }).code ?? w.name}: ${w.message}`);
  process.on('warning', onWarning);

  // libuv opens a reserve descriptor (/dev/null, for its EMFILE trick) at the first listen() of the
  // process, and keeps it: listen once before the baseline, so that it is not counted as a leak.
  await warmUp();
  await collect(gc);
  const before = snapshot();
  const fdsBefore = fdTargets();

  let running = true;
  const loadEnd = Date.now() + options.durationMs;
  const ctx: SoakContext = { ledger, registry, running: () => running && Date.now() < loadEnd };
  registry.start();
  const rpcLoad = new RpcLoad(ctx);
  const echoLoad = new EchoLoad(ctx);
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();

  const kinds: FaultKind[] = [
    { name: 'rpc-abort', weight: 3, perMinute: 90, run: () => rpcLoad.abort() },
    { name: 'rpc-timeout', weight: 3, perMinute: 90, run: () => rpcLoad.timeout() },
    { name: 'rpc-client-close', weight: 2, perMinute: 30, run: () => rpcLoad.clientClose() },
    { name: 'rpc-reset-client-side', weight: 2, perMinute: 60, run: () => rpcLoad.resetClientSide() },
    { name: 'rpc-reset-server-side', weight: 2, perMinute: 60, run: () => rpcLoad.resetServerSide() },
    { name: 'rpc-server-restart', weight: 1, perMinute: 6, run: () => rpcLoad.restart() },
    { name: 'rpc-malformed-input', weight: 1, perMinute: 30, run: () => rpcLoad.malformed() },
    { name: 'rpc-stalled-reader', weight: 1, perMinute: 4, run: () => rpcLoad.stalledReader() },
    { name: 'rpc-burst-past-max-in-flight', weight: 1, perMinute: 6, run: () => rpcLoad.burst() },
    { name: 'echo-client-close', weight: 2, perMinute: 60, run: () => echoLoad.clientClose() },
    { name: 'echo-reset-client-side', weight: 2, perMinute: 60, run: () => echoLoad.resetClientSide() },
    { name: 'echo-reset-server-side', weight: 2, perMinute: 60, run: () => echoLoad.resetServerSide() },
    { name: 'echo-slow-reader', weight: 1, perMinute: 20, run: () => echoLoad.slowReader() },
    { name: 'echo-stalled-reader', weight: 1, perMinute: 4, run: () => echoLoad.stalledReader() },
    { name: 'echo-half-close', weight: 1, perMinute: 30, run: () => echoLoad.halfClose() },
    { name: 'echo-truncated-frame', weight: 1, perMinute: 20, run: () => echoLoad.truncated() },
    { name: 'echo-slow-loris', weight: 1, perMinute: 10, run: () => echoLoad.slowLoris() },
  ];
  const busy = new Set<string>();
  const inFlight = new Set<Promise<void>>();

  /** One fault: a kind under its rate bound and not already running; kinds not yet injected go first. */
  const injectOne = (): void => {
    const minutes = (Date.now() - loadStart) / 60_000;
    const eligible = kinds.filter((k) => !busy.has(k.name) && (ledger.faults.get(k.name) ?? 0) < Math.ceil(k.perMinute * minutes) + 1);
    if (eligible.length === 0) return;
    const fresh = eligible.filter((k) => !ledger.faults.has(k.name));
    const pool = fresh.length > 0 ? fresh : eligible;
    let x = Math.random() * pool.reduce((s, k) => s + k.weight, 0);
    const kind = pool.find((k) => (x -= k.weight) < 0) ?? pool[pool.length - 1]!;
    busy.add(kind.name);
    const p = kind
      .run()
      .then(
        (injected) => {
          if (injected) ledger.fault(kind.name);
        },
        (err: unknown) => ledger.problem(`fault ${kind.name} threw: ${(err as Error)?.stack ?? String(err)}`),
      )
      .finally(() => {
        busy.delete(kind.name);
        inFlight.delete(p);
      });
    inFlight.add(p);
  };

  let loadStart = Date.now();
  /** The first progress snapshot (10 s into the load): growth after it is what a leak would show. */
  let warm: Snapshot | null = null;
  try {
    await rpcLoad.start();
    await echoLoad.start();
    loadStart = Date.now();
    log(`soak: load for ${(options.durationMs / 1000).toFixed(0)} s; rpc servers ${rpcLoad.targets.map((t) => `${t.framing}@${t.port}`).join(', ')}, echo server @${echoLoad.port}; rpc from ${rpc.source}; gc via ${gcSource}`);
    let nextLog = loadStart + 10_000;
    // Faults: one every 100 to 400 ms, the last ones at least 1.5 s before the end.
    while (Date.now() < loadEnd) {
      await sleep(100 + rand(300));
      if (Date.now() < loadEnd - 1500) injectOne();
      if (Date.now() >= nextLog) {
        nextLog += 10_000;
        const s = snapshot();
        warm ??= s;
        log(
          `soak: ${((Date.now() - loadStart) / 1000).toFixed(0)} s: calls ${ledger.completed} (verified ${ledger.verified}), failures ${ledger.expectedFailures} expected / ${ledger.unexpectedFailures} unexpected, faults ${ledger.faultCount}, connections ${registry.live.size}, pool blocks out ${s.blocksOutstanding}, heap ${(s.heapUsed / MiB).toFixed(0)} MiB, rss ${(s.rss / MiB).toFixed(0)} MiB`,
        );
      }
    }
  } catch (err) {
    ledger.problem(`the load failed to start or run: ${(err as Error)?.stack ?? String(err)}`);
  }
  running = false;
  const loadMs = Date.now() - loadStart;
  log('soak: stopping: waiting for faults in progress, then workers, clients, servers');
  await within(Promise.all([...inFlight]), 30_000, 'faults in progress').catch(() => {});
  if (inFlight.size > 0) ledger.problem(`faults still running 30 s after the load stopped: ${[...busy].join(', ')}`);
  await rpcLoad.stop();
  await echoLoad.stop();
  delay.disable();

  // Settle: sockets close and blocks return asynchronously; give them a bounded moment.
  const settleUntil = Date.now() + 5000;
  for (;;) {
    await collect(gc);
    const s = snapshot();
    const fdsBack = s.fds === null || s.fds <= before.fds!;
    if ((fdsBack && s.blocksOutstanding <= before.blocksOutstanding && registry.live.size === 0) || Date.now() > settleUntil) break;
    await sleep(50);
  }
  registry.stop();
  await collect(gc);
  const after = snapshot();
  process.off('unhandledRejection', onUnhandled);
  process.off('warning', onWarning);
  for (const w of warnings.slice(0, 10)) ledger.problem(`process warning: ${w}`);

  // What the descriptors left open point at.
  const fdLeaks: string[] = [];
  const fdsAfter = fdTargets();
  if (fdsBefore !== null && fdsAfter !== null) {
    for (const [fd, target] of fdsAfter) if (fdsBefore.get(fd) !== target) fdLeaks.push(`${fd} -> ${target}`);
  }

  const failuresTotal = [...ledger.failures.values()].reduce((a, b) => a + b, 0);
  const unexpectedServerErrors = [...ledger.serverErrors].filter(([code]) => !SERVER_ERROR_CODES.has(code));
  const checks: Check[] = [
    {
      name: 'calls completed and verified',
      ok: ledger.completed > 0 && ledger.mismatches === 0 && ledger.verified === ledger.completed,
      detail: `${ledger.completed} completed, ${ledger.verified} verified, ${ledger.mismatches} mismatched`,
    },
    {
      name: 'every call accounted for',
      ok: ledger.started === ledger.completed + failuresTotal,
      detail: `${ledger.started} started = ${ledger.completed} completed + ${failuresTotal} failed`,
    },
    {
      name: 'every failure coded and explained by a fault',
      ok: ledger.unexpectedFailures === 0,
      detail: `${ledger.expectedFailures} expected, ${ledger.unexpectedFailures} unexpected`,
    },
    {
      name: 'server-side errors only from injected faults',
      ok: unexpectedServerErrors.length === 0,
      detail: unexpectedServerErrors.length === 0 ? 'none unexpected' : unexpectedServerErrors.map(([c, n]) => `${c} x${n}`).join(', '),
    },
    { name: 'faults injected', ok: ledger.faultCount > 0, detail: `${ledger.faultCount} faults of ${ledger.faults.size}/${kinds.length} kinds` },
    { name: 'no other problems', ok: ledger.problemCount === 0, detail: `${ledger.problemCount} problems` },
    {
      name: 'every connection closed',
      ok: registry.live.size === 0 && registry.opened === registry.closed,
      detail: `${registry.opened} opened, ${registry.closed} closed, ${registry.live.size} live`,
    },
    {
      name: 'pooled blocks back',
      ok: after.blocksOutstanding <= before.blocksOutstanding,
      detail: `blocksOutstanding ${before.blocksOutstanding} -> ${after.blocksOutstanding} (bytes ${before.bytesOutstanding} -> ${after.bytesOutstanding})`,
    },
    before.fds === null || after.fds === null
      ? { name: 'file descriptors back', ok: true, skipped: true, detail: 'skipped: no /proc/self/fd' }
      : { name: 'file descriptors back', ok: after.fds <= before.fds, detail: `${before.fds} -> ${after.fds}${fdLeaks.length > 0 ? ` (${fdLeaks.slice(0, 5).join(', ')})` : ''}` },
    {
      name: `heap growth < ${maxHeapGrowth / MiB} MiB${gc === null ? ' (no gc available: measured as is)' : ' (after gc)'}`,
      ok: after.heapUsed - before.heapUsed < maxHeapGrowth,
      detail: `${(before.heapUsed / MiB).toFixed(1)} -> ${(after.heapUsed / MiB).toFixed(1)} MiB`,
    },
    {
      name: `RSS growth < ${maxRssGrowth / MiB} MiB`,
      ok: after.rss - before.rss < maxRssGrowth,
      detail: `${(before.rss / MiB).toFixed(1)} -> ${(after.rss / MiB).toFixed(1)} MiB (pool idle ${(after.idleBytes / MiB).toFixed(1)} MiB, cap 64 MiB)`,
    },
    warm === null
      ? { name: 'RSS growth after warm-up', ok: true, skipped: true, detail: 'skipped: the load ran less than 10 s' }
      : {
          name: `RSS growth after warm-up < ${maxRssGrowthAfterWarmUp / MiB} MiB`,
          ok: after.rss - warm.rss < maxRssGrowthAfterWarmUp,
          detail: `${(warm.rss / MiB).toFixed(1)} MiB 10 s into the load -> ${(after.rss / MiB).toFixed(1)} MiB at the end`,
        },
  ];

  return {
    pass: checks.every((c) => c.ok),
    durationMs: Date.now() - t0,
    loadMs,
    rpcSource: rpc.source,
    gcSource,
    calls: { started: ledger.started, completed: ledger.completed, verified: ledger.verified, byKind: Object.fromEntries(ledger.completedBy) },
    failures: {
      total: failuresTotal,
      expected: ledger.expectedFailures,
      unexpected: ledger.unexpectedFailures,
      byCode: Object.fromEntries(ledger.failures),
      unexpectedSamples: ledger.unexpectedSamples,
    },
    mismatchSamples: ledger.mismatchSamples,
    faults: { total: ledger.faultCount, byKind: Object.fromEntries(kinds.map((k) => [k.name, ledger.faults.get(k.name) ?? 0])) },
    serverErrors: Object.fromEntries(ledger.serverErrors),
    timings: Object.fromEntries(
      [...ledger.timings].map(([k, v]) => {
        const sorted = [...v].sort((a, b) => a - b);
        return [k, { n: v.length, p50: sorted[sorted.length >> 1]!, max: sorted[sorted.length - 1]! }];
      }),
    ),
    problems: ledger.problems,
    connections: { opened: registry.opened, closed: registry.closed, live: registry.live.size },
    eventLoopDelay: { p50Ms: delay.percentile(50) / 1e6, p99Ms: delay.percentile(99) / 1e6, maxMs: delay.max / 1e6 },
    before,
    warm,
    after,
    fdLeaks,
    checks,
  };
}

async function warmUp(): Promise<void> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** The report as text. */
export function formatReport(r: SoakReport): string {
  const lines: string[] = [];
  const kv = (o: Record<string, number>) =>
    Object.entries(o)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none';
  const m = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
  lines.push('==== nocopy soak report ====');
  lines.push(`duration        ${(r.durationMs / 1000).toFixed(1)} s (load ${(r.loadMs / 1000).toFixed(1)} s)`);
  lines.push(`calls           ${r.calls.started} started, ${r.calls.completed} completed, ${r.calls.verified} verified`);
  lines.push(`  by kind       ${kv(r.calls.byKind)}`);
  lines.push(`failures        ${r.failures.total} (${r.failures.expected} expected, ${r.failures.unexpected} unexpected)`);
  lines.push(`  by code       ${kv(r.failures.byCode)}`);
  lines.push(`faults          ${r.faults.total}`);
  lines.push(`  by kind       ${kv(r.faults.byKind)}`);
  lines.push(`server errors   ${kv(r.serverErrors)}`);
  for (const [k, t] of Object.entries(r.timings)) lines.push(`measured        ${k}: ${t.n}x, median ${t.p50}, max ${t.max}`);
  lines.push(`connections     ${r.connections.opened} opened, ${r.connections.closed} closed, ${r.connections.live} live at the end`);
  lines.push(`event loop      delay p50 ${r.eventLoopDelay.p50Ms.toFixed(1)} ms, p99 ${r.eventLoopDelay.p99Ms.toFixed(1)} ms, max ${r.eventLoopDelay.maxMs.toFixed(1)} ms`);
  lines.push(`fds             ${r.before.fds ?? 'n/a'} before, ${r.after.fds ?? 'n/a'} after`);
  lines.push(`pool blocks     ${r.before.blocksOutstanding} before, ${r.after.blocksOutstanding} after (outstanding); idle ${m(r.after.idleBytes)} after`);
  lines.push(`heap used       ${m(r.before.heapUsed)} before, ${m(r.after.heapUsed)} after (gc: ${r.gcSource})`);
  lines.push(`rss             ${m(r.before.rss)} before, ${m(r.after.rss)} after (heap total ${m(r.before.heapTotal)} -> ${m(r.after.heapTotal)}, external ${m(r.before.external)} -> ${m(r.after.external)})`);
  if (r.warm !== null) lines.push(`after warm-up   rss ${m(r.warm.rss)}, heap used ${m(r.warm.heapUsed)} (10 s into the load, before gc)`);
  lines.push(`rpc module      ${r.rpcSource}`);
  for (const s of r.failures.unexpectedSamples) lines.push(`  unexpected: ${s}`);
  for (const s of r.mismatchSamples) lines.push(`  mismatch: ${s}`);
  for (const s of r.problems) lines.push(`  problem: ${s}`);
  for (const s of r.fdLeaks.slice(0, 20)) lines.push(`  fd not back: ${s}`);
  lines.push('checks:');
  for (const c of r.checks) lines.push(`  [${c.skipped ? 'SKIP' : c.ok ? ' ok ' : 'FAIL'}] ${c.name}: ${c.detail}`);
  lines.push(`RESULT: ${r.pass ? 'PASS' : 'FAIL'}`);
  return lines.join('\n');
}
