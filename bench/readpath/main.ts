// bench/readpath: how input reaches a dialed connection's reader. 'link' links each chunk Node
// allocates (a fresh 64 KiB-then-shrunk ArrayBuffer per read) as a node; 'onread' has libuv read
// straight into the free tail of pooled nodes. A local server (separate process, CPU 0) streams
// 4-byte-length-prefixed frames as fast as the socket takes them; the client (this process, CPU 1
// where taskset exists) parses every frame with the transport's lengthField codec and checks each frame's
// length and first and last bytes. Rounds alternate the modes; medians are reported. The primary
// figure is the client's CPU time per MB (user + system), which depends far less than throughput on
// how the noisy machine schedules the two processes.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { dialConnection, lengthField } from '@nocopy/transport';

const frames = lengthField({ maxFrameLength: 1 << 30 });
import { printTable } from '../lib/table.js';
import { figure, recordFigures } from '../lib/results.js';

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const rounds = quick ? 1 : 5;
const seconds = quick ? 0.3 : 2;
const sizes = [128, 1024, 16 * 1024];

if (process.argv[2] === 'serve') {
  // Child: streams frames of the given payload size to every connection, forever.
  const net = await import('node:net');
  const size = Number(process.argv[3]);
  const frame = Buffer.alloc(4 + size, 0xab);
  frame.writeUInt32BE(size, 0);
  frame[4] = 1;
  frame[frame.length - 1] = 2;
  const burst = Buffer.concat(Array.from({ length: Math.max(1, Math.floor((256 * 1024) / frame.length)) }, () => frame));
  const server = net.createServer((socket) => {
    const pump = () => {
      while (socket.write(burst));
    };
    socket.on('drain', pump);
    socket.on('error', () => socket.destroy());
    pump();
  });
  server.listen(0, '127.0.0.1', () => process.send!((server.address() as { port: number }).port));
} else {
  const hasTaskset = spawnSync('taskset', ['-c', '1', 'true']).status === 0;
  if (hasTaskset && !process.env.NOCOPY_PINNED) {
    // Re-run this process pinned to CPU 1.
    const r = spawnSync('taskset', ['-c', '1', process.execPath, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, NOCOPY_PINNED: '1' },
    });
    process.exit(r.status ?? 1);
  }
  const results: string[][] = [];
  for (const size of sizes) {
    const server = hasTaskset
      ? spawn('taskset', ['-c', '0', process.execPath, fileURLToPath(import.meta.url), 'serve', String(size)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      : spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve', String(size)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const port = await new Promise<number>((resolve) => server.once('message', (m) => resolve(m as number)));
    const runs: Record<'link' | 'onread', Measured[]> = { link: [], onread: [] };
    for (let r = 0; r < rounds; r++) {
      for (const mode of r % 2 === 0 ? (['link', 'onread'] as const) : (['onread', 'link'] as const)) {
        runs[mode].push(await measure(port, size, mode));
      }
    }
    server.kill();
    const group = `${size} B frames`;
    recordFigures(
      (['link', 'onread'] as const).flatMap((mode) => [
        figure({ suite: 'readpath', group, subject: mode, metric: 'CPU ms/MB', better: 'lower', ...(mode === 'onread' ? { baseline: 'link' } : {}) }, runs[mode].map((m) => m.cpuMsPerMB)),
        figure({ suite: 'readpath', group, subject: mode, metric: 'MB/s', better: 'higher', ...(mode === 'onread' ? { baseline: 'link' } : {}) }, runs[mode].map((m) => m.rate / 1e6)),
      ]),
    );
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    const cpuLink = med(runs.link.map((m) => m.cpuMsPerMB));
    const cpuOnread = med(runs.onread.map((m) => m.cpuMsPerMB));
    const rateLink = med(runs.link.map((m) => m.rate));
    const rateOnread = med(runs.onread.map((m) => m.rate));
    results.push([
      `${size} B frames`,
      `${cpuLink.toFixed(3)} ms`,
      `${cpuOnread.toFixed(3)} ms`,
      `${(cpuLink / cpuOnread).toFixed(2)}x`,
      `${(rateLink / 1e6).toFixed(0)} MB/s`,
      `${(rateOnread / 1e6).toFixed(0)} MB/s`,
    ]);
  }
  console.log(`readpath: a dialed connection parsing a frame stream, median of ${rounds} rounds of ${seconds} s${hasTaskset ? ' (pinned)' : ''}`);
  printTable(['case', 'CPU/MB link', 'CPU/MB onread', 'onread saves', 'link', 'onread'], results);
  void here;
}

interface Measured {
  rate: number;
  cpuMsPerMB: number;
}

async function measure(port: number, size: number, mode: 'link' | 'onread'): Promise<Measured> {
  let bytes = 0;
  let bad = 0;
  const conn = await dialConnection('tcp', { port }, {
    readMode: mode,
    onRequest: (_ctx, c) => {
      for (let f = frames.decode(c.reader); f !== undefined; f = frames.decode(c.reader)) {
        const len = f.length;
        if (len !== size || f[0] !== 1 || f[len - 1] !== 2) bad++;
        bytes += 4 + len;
      }
    },
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  const b0 = bytes;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const cpu = process.cpuUsage(cpu0);
  const moved = bytes - b0;
  const rate = (moved / (performance.now() - t0)) * 1000;
  conn.close();
  if (bad > 0) throw new Error(`${bad} corrupt frames in ${mode} mode`);
  return { rate, cpuMsPerMB: (cpu.user + cpu.system) / 1000 / (moved / 1e6) };
}
