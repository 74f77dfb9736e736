// bench/rpc's main generator: the compiled load generator (bench/loadgen, --proto rpc-framed) against
// the MessagePack-RPC servers of servers.ts (grpc-js excepted: it speaks HTTP/2). A Node client
// saturates its own core before a fast server does; this one keeps headroom, so the rate and the
// server's CPU per call (from /proc over the exact measured window, the headline) measure the server.
// Each call is [0, id, "echo", [bin 128]] and every reply's id and bytes are checked by the generator.
// A level of N calls in flight is 4 connections x N/4 (1 connection below 4).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printTable } from '../lib/table.js';
import { figure, median, recordFigures, spread, type Figure } from '../lib/results.js';
import { hasTaskset, V8_FLAGS } from '../lib/processes.js';
import { runLoadgen, type LoadgenResult } from '../lib/loadgen.js';

const here = dirname(fileURLToPath(import.meta.url));

/** Above this share of its core, the generator bounds the rate: its rows are marked. */
export const GEN_BOUND = 80;
export const GENERATOR = 'loadgen (C, epoll)';

export type LoadgenServer = 'nocopy' | 'net' | 'net-batch';

/** Medians of one server at one level. */
export interface LoadgenFigures {
  rps: number;
  p50us: number;
  p99us: number;
  serverUsPerCall: number;
  serverCpuPercent: number;
  writesPerCall: number;
  genCpuPercent: number;
}

export function shape(inflight: number, connections: number): { connections: number; perConnection: number } {
  const c = inflight >= connections && inflight % connections === 0 ? connections : 1;
  return { connections: c, perConnection: inflight / c };
}

function server(mode: string): ChildProcess {
  const args = [...V8_FLAGS, join(here, 'servers.js'), mode];
  const stdio: ('ignore' | 'inherit' | 'ipc')[] = ['ignore', 'inherit', 'inherit', 'ipc'];
  // taskset execs node: the child's pid is the server's, for /proc.
  return hasTaskset ? spawn('taskset', ['-c', '0', process.execPath, ...args], { stdio }) : spawn(process.execPath, args, { stdio });
}

async function runOne(mode: LoadgenServer, inflight: number, connections: number, duration: number, warmup: number): Promise<LoadgenResult> {
  const srv = server(mode);
  try {
    const [m] = (await Promise.race([once(srv, 'message'), once(srv, 'exit').then(() => { throw new Error(`${mode} server exited early`); })])) as [{ port: number }];
    const s = shape(inflight, connections);
    const r = await runLoadgen({ port: m.port, pid: srv.pid!, connections: s.connections, inflight: s.perConnection, size: 128, duration, warmup, cpu: 1, proto: 'rpc-framed' }, hasTaskset);
    if (r.errors > 0) throw new Error(`loadgen: ${r.errors} verification errors against ${mode}`);
    return r;
  } finally {
    if (srv.exitCode === null) {
      srv.send('exit');
      await once(srv, 'exit');
    }
  }
}

/**
 * Rounds of every server at one level (the order rotates each round); prints the table, records the
 * figures (group `<N> in flight (<c> x <n>), 128 B, loadgen`) and returns the medians.
 */
export async function loadgenLevel(
  inflight: number,
  servers: readonly LoadgenServer[],
  labels: Record<LoadgenServer, string>,
  o: { rounds: number; duration: number; warmup: number; connections: number },
): Promise<Map<LoadgenServer, LoadgenFigures>> {
  const runs = new Map<LoadgenServer, LoadgenResult[]>(servers.map((s) => [s, []]));
  for (let r = 0; r < o.rounds; r++) {
    for (let i = 0; i < servers.length; i++) {
      const s = servers[(i + r) % servers.length]!;
      runs.get(s)!.push(await runOne(s, inflight, o.connections, o.duration, o.warmup));
    }
  }
  const sh = shape(inflight, o.connections);
  const out = new Map<LoadgenServer, LoadgenFigures>();
  for (const s of servers) {
    const rs = runs.get(s)!;
    const med = (f: (r: LoadgenResult) => number) => median(rs.map(f));
    out.set(s, {
      rps: med((r) => r.rps),
      p50us: med((r) => r.p50us),
      p99us: med((r) => r.p99us),
      serverUsPerCall: med((r) => r.serverCpuUsPerReq ?? NaN),
      serverCpuPercent: med((r) => r.serverCpuPercent ?? NaN),
      writesPerCall: med((r) => r.serverWritesPerReq ?? NaN),
      genCpuPercent: med((r) => r.cpuPercent),
    });
  }
  const fmtRate = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(1)}k`);
  const fmtUs = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} ms` : `${x.toFixed(0)} µs`);
  console.log(`\n${inflight} call(s) in flight, ${sh.connections} connection(s) x ${sh.perConnection}  (${GENERATOR}, rpc-framed; * = generator above ${GEN_BOUND}% of its core: the rate measures it, read the CPU column)`);
  printTable(
    ['server', 'req/s', 'p50', 'p99', 'server µs/call', 'server CPU', 'writes/call', 'generator CPU', 'rounds'],
    servers.map((s) => {
      const f = out.get(s)!;
      const bound = f.genCpuPercent > GEN_BOUND;
      return [
        labels[s],
        `${fmtRate(f.rps)}${bound ? '*' : ''}`,
        fmtUs(f.p50us),
        fmtUs(f.p99us),
        f.serverUsPerCall.toFixed(2),
        `${f.serverCpuPercent.toFixed(0)}%`,
        f.writesPerCall.toFixed(3),
        `${f.genCpuPercent.toFixed(0)}%`,
        `±${((spread(runs.get(s)!.map((r) => r.rps)) * 100) / 2).toFixed(0)}%`,
      ];
    }),
  );
  const group = `${inflight} in flight (${sh.connections} x ${sh.perConnection}), 128 B, loadgen`;
  recordFigures(
    servers.flatMap((s): Figure[] => {
      const rs = runs.get(s)!;
      const base = { suite: 'rpc', group, subject: labels[s], generator: GENERATOR, ...(s !== 'net-batch' ? { baseline: labels['net-batch'] } : {}) };
      const fig = (metric: string, better: 'higher' | 'lower', f: (r: LoadgenResult) => number | undefined): Figure[] => {
        const v = rs.map(f).filter((x): x is number => x !== undefined && Number.isFinite(x));
        // A figure the generator could not give (no /proc) is left out, not NaN.
        return v.length === rs.length ? [figure({ ...base, metric, better }, v)] : [];
      };
      return [
        ...fig('req/s', 'higher', (r) => r.rps),
        ...fig('p50 ms', 'lower', (r) => r.p50us / 1000),
        ...fig('p99 ms', 'lower', (r) => r.p99us / 1000),
        ...fig('server µs/call', 'lower', (r) => r.serverCpuUsPerReq),
        ...fig('server CPU %', 'lower', (r) => r.serverCpuPercent),
        ...fig('generator CPU %', 'lower', (r) => r.cpuPercent),
      ];
    }),
  );
  return out;
}
