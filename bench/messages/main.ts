// bench/messages: WebSocket echo through the session API against a plain `ws` echo server, and UDP
// echo through the session API against a plain dgram echo, each pair with the same generator in the
// same run (server on CPU 0, generator on CPU 1), rounds interleaved; medians. The headline is the
// server's CPU per message (utime+stime from /proc/PID/stat over the measured window), beside the
// rate and the generator's own CPU: a generator above 80% of its core measures itself, not the server.
// Generators: UDP, the compiled udpgen (bench/loadgen/udpgen.c: exact window per socket, every reply
// verified, loss counted and resent); WebSocket, the compiled loadgen with --proto ws (masked binary
// frames, every reply checked). Without a C compiler a --quick run falls back to the Node client
// (client.ts), as does --node-client; its server CPU then covers its whole run, warm-up included.
//   node bench/dist/messages/main.js [--quick] [--rounds=<n>] [--cases=1,3] [--node-client]
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runWindow } from '../lib/options.js';
import { printTable } from '../lib/table.js';
import { figure, median, recordFigures, type Figure } from '../lib/results.js';
import { V8_FLAGS, hasTaskset, nextMessage, pinnedNode, serveAndLoad, type ServerCpu } from '../lib/processes.js';
import { loadgenPath, runLoadgen, runUdpgen, udpgenPath } from '../lib/loadgen.js';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const { quick, rounds, duration: seconds, warmup } = runWindow(argv, [0.5, 0.3]);
/** A generator above this share of its core measures itself. */
const GEN_BOUND = 80;

let compiled = false;
if (!argv.includes('--node-client')) {
  try {
    udpgenPath(!quick);
    loadgenPath(!quick);
    compiled = true;
  } catch (err) {
    if (!quick) throw err;
    console.log(`messages: ${(err as Error).message}; --quick falls back to the Node client`);
  }
}

const allCases = [
  { kind: 'ws', name: 'WebSocket echo, 50 conns x 16 in flight, 128 B', conns: 50, inflight: 16, size: 128, pair: ['ws-session', 'ws'], target: 1.0, cpuTarget: 1.0 },
  { kind: 'ws', name: 'WebSocket echo, 10 conns x 2 in flight, 16 KiB', conns: 10, inflight: 2, size: 16 * 1024, pair: ['ws-session', 'ws'], target: 1.0, cpuTarget: 1.0 },
  { kind: 'udp', name: 'UDP echo, 20 sockets x 8 in flight, 128 B', conns: 20, inflight: 8, size: 128, pair: ['udp-session', 'dgram'], target: 0.95, cpuTarget: 1.05 },
] as const;
type Case = (typeof allCases)[number];
const cases: readonly Case[] = opt('cases') ? opt('cases')!.split(',').map((i) => allCases[Number(i) - 1]!) : allCases;

interface Run {
  rate: number;
  usPerMsg: number;
  /** The server's CPU over the window, % of its core (NaN from the Node client). */
  serverCpu: number;
  genCpu: number;
  lost: number;
  generator: string;
}

/** A server process pinned to CPU 0; its pid is the node process (taskset execs it). */
async function startServer(mode: string): Promise<{ port: number; pid: number; stop: () => Promise<ServerCpu> }> {
  const srv = pinnedNode(0, [join(here, 'servers.js'), mode], true);
  const { port } = await nextMessage<{ port: number }>(srv);
  srv.send('start');
  return {
    port,
    pid: srv.pid!,
    stop: () => {
      const stats = nextMessage<ServerCpu>(srv);
      srv.send('stop');
      return stats;
    },
  };
}

async function runUdp(mode: string, c: Case): Promise<Run> {
  const s = await startServer(mode);
  try {
    const r = await runUdpgen({ port: s.port, pid: s.pid, flows: c.conns, inflight: c.inflight, size: c.size, duration: seconds, warmup, cpu: 1 }, hasTaskset);
    await s.stop();
    return { rate: r.rps, usPerMsg: r.serverCpuUsPerReq ?? NaN, serverCpu: r.serverCpuPercent ?? NaN, genCpu: r.cpuPercent, lost: r.lost, generator: r.generator };
  } catch (err) {
    await s.stop().catch(() => {});
    throw err;
  }
}

async function runWs(mode: string, c: Case): Promise<Run> {
  const s = await startServer(mode);
  try {
    const r = await runLoadgen({ port: s.port, pid: s.pid, connections: c.conns, inflight: c.inflight, size: c.size, duration: seconds, warmup, cpu: 1, proto: 'ws' }, hasTaskset);
    await s.stop();
    return { rate: r.rps, usPerMsg: r.serverCpuUsPerReq ?? NaN, serverCpu: r.serverCpuPercent ?? NaN, genCpu: r.cpuPercent, lost: 0, generator: `${r.generator} --proto ws` };
  } catch (err) {
    await s.stop().catch(() => {});
    throw err;
  }
}

/** The Node client (client.ts); the server's CPU over the client's whole run, warm-up included. */
async function runNodeClient(mode: string, c: Case): Promise<Run> {
  const { out, server: s } = await serveAndLoad([join(here, 'servers.js'), mode], (port) => [join(here, 'client.js'), c.kind, String(port), String(c.conns), String(c.inflight), String(c.size), String(seconds)], mode);
  const r = JSON.parse(out.trim()) as { rate: number; messages: number; seconds: number; cpuPercent: number; lost: number; bad: number; sent: number };
  if (r.bad > 0) throw new Error(`${r.bad} replies of the wrong length from ${mode}`);
  const answered = r.sent - r.lost;
  return { rate: r.rate, usPerMsg: ((s.cpuUserMs + s.cpuSystemMs) * 1000) / Math.max(1, answered), serverCpu: NaN, genCpu: r.cpuPercent, lost: r.lost, generator: 'node client' };
}

function runOne(mode: string, c: Case): Promise<Run> {
  if (!compiled) return runNodeClient(mode, c);
  return c.kind === 'udp' ? runUdp(mode, c) : runWs(mode, c);
}

const fmtRate = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(1)}k`);

async function main(): Promise<void> {
  console.log(`messages: ${rounds} round(s) of ${seconds} s per server and case, interleaved; medians; ${hasTaskset ? 'server on CPU 0, generator on CPU 1' : 'not pinned'}; V8 ${V8_FLAGS.join(' ')}`);
  const figures: Figure[] = [];
  let missed = 0;
  for (const c of cases) {
    const runs = new Map<string, Run[]>(c.pair.map((m) => [m, []]));
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? c.pair : [...c.pair].reverse();
      for (const m of order) runs.get(m)!.push(await runOne(m, c));
    }
    const med = (m: string, f: (r: Run) => number) => median(runs.get(m)!.map(f));
    const [ours, base] = c.pair;
    const generator = runs.get(base)![0]!.generator;
    console.log(`\n${c.name}  (${generator}; * = generator above ${GEN_BOUND}% of its core: the rate measures it, read the CPU column)`);
    // The server's share of its core: well below 100% means it waited (for the generator, or for a
    // core that other processes held), and the rate then measures that more than the server.
    printTable(['server', 'messages/s', `vs ${base}`, 'server CPU µs/msg', `vs ${base}`, 'server CPU', 'generator CPU', ...(c.kind === 'udp' ? ['lost'] : [])], c.pair.map((m) => [
      m,
      fmtRate(med(m, (r) => r.rate)) + (med(m, (r) => r.genCpu) > GEN_BOUND ? '*' : ''),
      `${(med(m, (r) => r.rate) / med(base, (r) => r.rate)).toFixed(2)}x`,
      med(m, (r) => r.usPerMsg).toFixed(2),
      `${(med(m, (r) => r.usPerMsg) / med(base, (r) => r.usPerMsg)).toFixed(2)}x`,
      Number.isNaN(med(m, (r) => r.serverCpu)) ? '-' : `${med(m, (r) => r.serverCpu).toFixed(0)}%`,
      `${med(m, (r) => r.genCpu).toFixed(0)}%`,
      ...(c.kind === 'udp' ? [String(med(m, (r) => r.lost))] : []),
    ]));
    for (const m of c.pair) {
      const b = { suite: 'messages', group: c.name, subject: m, generator, ...(m !== base ? { baseline: base } : {}) };
      figures.push(
        figure({ ...b, metric: 'messages/s', better: 'higher' }, runs.get(m)!.map((r) => r.rate)),
        figure({ ...b, metric: 'server CPU µs/msg', better: 'lower' }, runs.get(m)!.map((r) => r.usPerMsg)),
      );
    }
    const x = med(ours, (r) => r.rate) / med(base, (r) => r.rate);
    const cpu = med(ours, (r) => r.usPerMsg) / med(base, (r) => r.usPerMsg);
    const ok = x >= c.target && cpu <= c.cpuTarget;
    if (!ok) missed++;
    const saturated = c.pair.some((m) => med(m, (r) => r.genCpu) > GEN_BOUND);
    console.log(`  ${ours} / ${base}: ${x.toFixed(2)}x the rate, ${cpu.toFixed(2)}x the CPU per message  ${ok ? 'PASS' : 'MISS'} (target >= ${c.target}x, CPU <= ${c.cpuTarget.toFixed(2)}x)${saturated ? '; the generator saturated its core: the rate ratio measures it' : ''}`);
  }
  recordFigures(figures);
  if (missed > 0) console.log(`\n${missed} target(s) missed`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
