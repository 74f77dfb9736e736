// bench/messages: WebSocket echo through the session API against a plain `ws` echo server, and UDP
// echo through the session API against a plain dgram echo, each pair with the same client in the
// same run (server on CPU 0, client on CPU 1), rounds interleaved; medians. Besides the rate: server
// CPU per message (the session layer must not cost more) and the client's CPU, which shows whether
// the client had headroom; for UDP, datagrams lost.
//   node bench/dist/messages/main.js [--quick] [--rounds=<n>]
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printTable } from '../lib/table.js';
import { figure, median, recordFigures, type Figure } from '../lib/results.js';
import { V8_FLAGS, hasTaskset, serveAndLoad } from '../lib/processes.js';

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const roundsArg = process.argv.find((a) => a.startsWith('--rounds='));
const rounds = roundsArg ? Number(roundsArg.split('=')[1]) : quick ? 1 : 3;
const seconds = quick ? 0.5 : 3;

const cases = [
  { kind: 'ws', name: 'WebSocket echo, 50 conns x 16 in flight, 128 B', conns: 50, inflight: 16, size: 128, pair: ['ws-session', 'ws'], target: 1.0 },
  { kind: 'ws', name: 'WebSocket echo, 10 conns x 2 in flight, 16 KiB', conns: 10, inflight: 2, size: 16 * 1024, pair: ['ws-session', 'ws'], target: 1.0 },
  { kind: 'udp', name: 'UDP echo, 20 sockets x 8 in flight, 128 B', conns: 20, inflight: 8, size: 128, pair: ['udp-session', 'dgram'], target: 0.95 },
] as const;

interface Run {
  rate: number;
  usPerMsg: number;
  clientCpu: number;
  lost: number;
}


async function runOne(mode: string, c: (typeof cases)[number]): Promise<Run> {
  const { out, server: s } = await serveAndLoad([join(here, 'servers.js'), mode], (port) => [join(here, 'client.js'), c.kind, String(port), String(c.conns), String(c.inflight), String(c.size), String(seconds)], mode);
  const r = JSON.parse(out.trim()) as { rate: number; messages: number; seconds: number; cpuPercent: number; lost: number; bad: number; sent: number };
  if (r.bad > 0) throw new Error(`${r.bad} replies of the wrong length from ${mode}`);
  // The server's CPU covers warm-up and connection setup too; per message over all it answered.
  const answered = r.sent - r.lost;
  return { rate: r.rate, usPerMsg: ((s.cpuUserMs + s.cpuSystemMs) * 1000) / Math.max(1, answered), clientCpu: r.cpuPercent, lost: r.lost };
}

const fmtRate = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(1)}k`);

async function main(): Promise<void> {
  console.log(`messages: ${rounds} round(s) of ${seconds} s per server and case, interleaved; medians; ${hasTaskset ? 'server on CPU 0, client on CPU 1' : 'not pinned'}; V8 ${V8_FLAGS.join(' ')}`);
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
    console.log(`\n${c.name}`);
    printTable(['server', 'messages/s', `vs ${base}`, 'server CPU µs/msg', 'client CPU', ...(c.kind === 'udp' ? ['lost'] : [])], c.pair.map((m) => [
      m,
      fmtRate(med(m, (r) => r.rate)),
      `${(med(m, (r) => r.rate) / med(base, (r) => r.rate)).toFixed(2)}x`,
      med(m, (r) => r.usPerMsg).toFixed(2),
      `${med(m, (r) => r.clientCpu).toFixed(0)}%`,
      ...(c.kind === 'udp' ? [String(med(m, (r) => r.lost))] : []),
    ]));
    for (const m of c.pair) {
      const b = { suite: 'messages', group: c.name, subject: m, ...(m !== base ? { baseline: base } : {}) };
      figures.push(
        figure({ ...b, metric: 'messages/s', better: 'higher' }, runs.get(m)!.map((r) => r.rate)),
        figure({ ...b, metric: 'server CPU µs/msg', better: 'lower' }, runs.get(m)!.map((r) => r.usPerMsg)),
      );
    }
    const x = med(ours, (r) => r.rate) / med(base, (r) => r.rate);
    const cpu = med(ours, (r) => r.usPerMsg) / med(base, (r) => r.usPerMsg);
    const ok = x >= c.target && cpu <= 1.0;
    if (!ok) missed++;
    console.log(`  ${ours} / ${base}: ${x.toFixed(2)}x the rate, ${cpu.toFixed(2)}x the CPU per message  ${ok ? 'PASS' : 'MISS'} (target >= ${c.target}x, CPU <= 1.00x)`);
  }
  recordFigures(figures);
  if (missed > 0) console.log(`\n${missed} target(s) missed`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
