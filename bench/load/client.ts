// The load client: a separate process that drives a 4-byte-length-prefixed echo server and verifies
// every reply byte. It stays cheap so that it measures the server, not itself: requests are encoded
// once, a connection refills its window with one write, and replies are verified by comparing whole
// byte ranges against the expected stream (every request is the same frame, so the reply stream is
// that frame repeated). Latency goes into Node's native HDR histogram. With --pid it reads the
// server's CPU and syscalls from /proc at the edges of the measured window, as bench/loadgen does,
// so that its rows carry the same headline figure as the compiled generator's.
//
// Usage: node client.js --port P [--host H] [--connections 50] [--inflight 1] [--size 128]
//        [--duration 5] [--warmup 1] [--pid SERVER_PID]
// Prints one JSON line: { generator, requests, seconds, rps, p50us, p99us, cpuUserMs, cpuSystemMs,
// cpuPercent, errors } and, with --pid on Linux, serverCpuUsPerReq, serverCpuPercent,
// serverReadsPerReq, serverWritesPerReq.
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createHistogram, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { measureWindow } from '../lib/window.js';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    path: { type: 'string' },
    connections: { type: 'string', default: '50' },
    inflight: { type: 'string', default: '1' },
    size: { type: 'string', default: '128' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    pid: { type: 'string' },
  },
});

const connections = Number(values.connections);
const inflight = Number(values.inflight);
const size = Number(values.size);
const durationMs = Number(values.duration) * 1000;
const warmupMs = Number(values.warmup) * 1000;

// One request frame: u32 BE length + a payload pattern that would reveal a shifted or mixed-up byte.
const frameLen = 4 + size;
const frame = Buffer.allocUnsafe(frameLen);
frame.writeUInt32BE(size, 0);
for (let i = 0; i < size; i++) frame[4 + i] = (i * 31 + 7) & 0xff;
// `inflight` frames back to back: a window refill is one subarray of this, one write.
const windowBuf = Buffer.concat(Array.from({ length: inflight }, () => frame));
// The expected reply stream from any offset: the frame repeated past the largest chunk a read returns.
const reps = Math.ceil((256 * 1024) / frameLen) + 2;
const expected = Buffer.concat(Array.from({ length: reps }, () => frame));

interface ProcReading { ticks: number; syscr: number; syscw: number }

/** The server's utime + stime (clock ticks) and read/write syscalls so far; null without /proc. */
function readProc(pid: number): ProcReading | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After the command name (which may hold spaces and parentheses): state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]);
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const syscr = Number(/^syscr:\s+(\d+)/m.exec(io)?.[1] ?? NaN);
    const syscw = Number(/^syscw:\s+(\d+)/m.exec(io)?.[1] ?? NaN);
    return Number.isFinite(ticks) ? { ticks, syscr, syscw } : null;
  } catch {
    return null;
  }
}

/** USER_HZ, the unit of /proc/PID/stat's times: 100 on every Linux port, asked of getconf when it exists. */
function clockTicks(): number {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return r.status === 0 && n > 0 ? n : 100;
}

const serverPid = values.pid !== undefined ? Number(values.pid) : undefined;
const ticksPerSecond = serverPid !== undefined ? clockTicks() : 100;
const histogram = createHistogram();
let measuring = false;
let stopping = false;
let requests = 0;
let errors = 0;

interface ConnState {
  socket: net.Socket;
  received: number; // reply bytes so far
  completed: number; // replies so far
  sent: number; // requests so far
  sendTimes: Float64Array; // ring of send timestamps, in request order
}

function refill(c: ConnState): void {
  const n = inflight - (c.sent - c.completed);
  // Refill when half the window is free: fewer, larger writes keep the client cheap.
  if (stopping || n < Math.max(1, inflight >> 1)) return;
  const now = performance.now();
  for (let i = 0; i < n; i++) c.sendTimes[(c.sent + i) % inflight] = now;
  c.sent += n;
  c.socket.write(n === inflight ? windowBuf : windowBuf.subarray(0, n * frameLen));
}

function onData(c: ConnState, chunk: Buffer): void {
  const at = c.received % frameLen;
  if (at + chunk.length > expected.length || expected.compare(chunk, 0, chunk.length, at, at + chunk.length) !== 0) {
    // Compare in frame-sized pieces for chunks longer than the expected window.
    let ok = true;
    for (let o = 0; o < chunk.length && ok; ) {
      const a = (c.received + o) % frameLen;
      const k = Math.min(chunk.length - o, expected.length - a);
      ok = expected.compare(chunk, o, o + k, a, a + k) === 0;
      o += k;
    }
    if (!ok) {
      errors++;
      process.stderr.write('reply bytes differ from the request\n');
      process.exit(3);
    }
  }
  c.received += chunk.length;
  const done = Math.floor(c.received / frameLen);
  if (done > c.completed) {
    const now = performance.now();
    for (let i = c.completed; i < done; i++) {
      if (measuring) {
        histogram.record(Math.max(1, Math.round((now - c.sendTimes[i % inflight]!) * 1000)));
        requests++;
      }
    }
    c.completed = done;
    refill(c);
  }
}

async function main(): Promise<void> {
  const conns: ConnState[] = [];
  await Promise.all(
    Array.from({ length: connections }, () =>
      new Promise<void>((resolve, reject) => {
        const socket = values.path
          ? net.connect({ path: values.path })
          : net.connect({ host: values.host, port: Number(values.port), noDelay: true });
        const c: ConnState = { socket, received: 0, completed: 0, sent: 0, sendTimes: new Float64Array(inflight) };
        socket.once('connect', () => {
          conns.push(c);
          resolve();
        });
        socket.on('data', (chunk: Buffer) => onData(c, chunk));
        socket.on('error', (err) => {
          if (!stopping) {
            errors++;
            reject(err);
          }
        });
      }),
    ),
  );
  for (const c of conns) {
    c.sent = inflight;
    c.sendTimes.fill(performance.now());
    c.socket.write(windowBuf);
  }
  // The server's counters at the window's start (set when it opens).
  const at: { p0: ReturnType<typeof readProc> | null } = { p0: null };
  const { seconds, cpuPercent, cpu } = await measureWindow(warmupMs, durationMs, () => {
    histogram.reset();
    at.p0 = serverPid !== undefined ? readProc(serverPid) : null;
    measuring = true;
  }, () => (measuring = false));
  const p0 = at.p0;
  const p1 = serverPid !== undefined ? readProc(serverPid) : null;
  stopping = true;
  for (const c of conns) c.socket.destroy();
  const server =
    p0 !== null && p1 !== null && requests > 0
      ? {
          serverCpuUsPerReq: ((p1.ticks - p0.ticks) / ticksPerSecond) * 1e6 / requests,
          serverCpuPercent: ((p1.ticks - p0.ticks) / ticksPerSecond / seconds) * 100,
          serverReadsPerReq: (p1.syscr - p0.syscr) / requests,
          serverWritesPerReq: (p1.syscw - p0.syscw) / requests,
        }
      : {};
  const result = {
    generator: 'node client',
    requests,
    seconds,
    rps: requests / seconds,
    p50us: histogram.count > 0 ? histogram.percentile(50) : 0,
    p99us: histogram.count > 0 ? histogram.percentile(99) : 0,
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    cpuPercent,
    errors,
    ...server,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((err) => {
  process.stderr.write(`load client failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
