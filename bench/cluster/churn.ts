// The churn load of bench/cluster: `lanes` loops, each opening a connection, sending one 4-byte-length
// frame of 128 B, reading its echo (verified), closing, and starting over. What it measures is the cost
// of a connection (accept, and in a cluster the hand-over to a worker), not of a request.
//
// Usage: node churn.js --port P [--lanes 16] [--duration 3] [--warmup 1]
// Prints one JSON line: { requests, seconds, rps, cpuPercent, errors } (requests = connections completed).
import net from 'node:net';
import { parseArgs } from 'node:util';
import { measureWindow } from '../lib/window.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    lanes: { type: 'string', default: '16' },
    duration: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
  },
});
const port = Number(values.port);
const lanes = Number(values.lanes);
const durationMs = Number(values.duration) * 1000;
const warmupMs = Number(values.warmup) * 1000;

const SIZE = 128;
const frame = Buffer.allocUnsafe(4 + SIZE);
frame.writeUInt32BE(SIZE, 0);
for (let i = 0; i < SIZE; i++) frame[4 + i] = (i * 31 + 7) & 0xff;

let measuring = false;
let stopping = false;
let done = 0;
let errors = 0;

function lane(): Promise<void> {
  return new Promise((resolve) => {
    const next = (): void => {
      if (stopping) return resolve();
      const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
      let got = 0;
      const parts: Buffer[] = [];
      s.on('connect', () => s.write(frame));
      s.on('data', (d: Buffer) => {
        parts.push(d);
        got += d.length;
        if (got < frame.length) return;
        if (got !== frame.length || !Buffer.concat(parts).equals(frame)) errors++;
        if (measuring) done++;
        s.destroy();
        next();
      });
      s.on('error', () => {
        errors++;
        s.destroy();
        next();
      });
    };
    next();
  });
}

const running = Array.from({ length: lanes }, lane);
const { seconds, cpuPercent } = await measureWindow(warmupMs, durationMs, () => (measuring = true), () => (measuring = false));
stopping = true;
await Promise.all(running);
process.stdout.write(JSON.stringify({ requests: done, seconds, rps: done / seconds, cpuPercent, errors }) + '\n');
