// The load generator of bench/rpc: a separate process that keeps a fixed number of unary calls in
// flight against one server (closed loop: each lane starts its next call when the last one completes)
// and verifies every reply. Latency goes into Node's native HDR histogram.
//
// Usage: node load.js --mode nocopy|grpc|net --port P [--inflight 32] [--connections 4]
//        [--duration 3] [--warmup 1] [--fib 0] [--fibn 30]
// --fib K adds K lanes calling fib(fibn) continuously (their latency is not in the echo histogram).
// Over IPC it sends { type: 'measuring' } when the measured window starts and { type: 'result', ... }
// when it ends; it exits once the calls still in flight have completed.
import { createHistogram, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { measureWindow } from '../lib/window.js';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type * as Grpc from '@grpc/grpc-js';
import { Rng } from '../lib/rng.js';
import { rpc } from './nocopy-rpc.js';
import { HandwrittenClient } from './handwritten.js';

const { values } = parseArgs({
  options: {
    mode: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    inflight: { type: 'string', default: '32' },
    connections: { type: 'string', default: '4' },
    duration: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    fib: { type: 'string', default: '0' },
    fibn: { type: 'string', default: '30' },
    size: { type: 'string', default: '128' },
  },
});

const mode = values.mode!;
const host = values.host!;
// nocopy mode takes several ports (p1,p2): one client over several servers, as bench/rpc's 2-server case.
const ports = values.port!.split(',').map(Number);
const port = ports[0]!;
const inflight = Number(values.inflight);
const connections = Number(values.connections);
const durationMs = Number(values.duration) * 1000;
const warmupMs = Number(values.warmup) * 1000;
const fibLanes = Number(values.fib);
const fibN = Number(values.fibn);
const size = Number(values.size);

const here = dirname(fileURLToPath(import.meta.url));
const protoPath = join(here, '..', '..', 'rpc', 'echo.proto');

// Distinct payloads, so that a reply matched to the wrong call is caught: call k sends payload k % P.
const P = 1024;
const rng = new Rng(0x5eed);
const payloads: Buffer[] = Array.from({ length: P }, () => {
  const b = Buffer.allocUnsafe(size);
  rng.fill(b);
  return b;
});
const fibExpected = ((n: number) => {
  let a = 0;
  let b = 1;
  for (let i = 0; i < n; i++) [a, b] = [b, a + b];
  return a;
})(fibN);

const histogram = createHistogram();
let measuring = false;
let stopping = false;
let echoes = 0;
let fibs = 0;
let seq = 0;
let running = 0;
let onIdle: (() => void) | null = null;

function fail(msg: string): never {
  process.stderr.write(`load (${mode}): ${msg}\n`);
  process.exit(3);
}

/** How one lane's call is sent: it calls lane.onReply(result) or lane.onError(err). */
type Send = (lane: Lane) => void;

class Lane {
  readonly fib: boolean;
  readonly send: Send;
  /** Which channel/connection this lane uses, where the driver assigns one. */
  readonly index: number;
  t0 = 0;
  payload: Buffer = payloads[0]!;

  constructor(index: number, fib: boolean, send: Send) {
    this.index = index;
    this.fib = fib;
    this.send = send;
  }

  issue(): void {
    if (stopping) {
      if (--running === 0) onIdle?.();
      return;
    }
    this.payload = payloads[seq++ & (P - 1)]!;
    this.t0 = performance.now();
    this.send(this);
  }

  readonly onReply = (r: unknown): void => {
    const now = performance.now();
    if (this.fib) {
      if (r !== fibExpected) fail(`fib(${fibN}) returned ${String(r)}`);
      if (measuring) fibs++;
    } else {
      if (!(r instanceof Uint8Array) || !this.payload.equals(r)) fail('echo reply differs from the request payload');
      if (measuring) {
        histogram.record(Math.max(1, Math.round((now - this.t0) * 1e6)));
        echoes++;
      }
    }
    this.issue();
  };

  readonly onError = (err: unknown): void => {
    fail(`call failed: ${(err as Error)?.stack ?? String(err)}`);
  };

  /** grpc-js's callback form. */
  readonly onGrpc = (err: Grpc.ServiceError | null, reply?: { payload: Buffer }): void => {
    if (err !== null) this.onError(err);
    else this.onReply(reply!.payload);
  };
}

interface Driver {
  echo: Send;
  fib: Send;
  close(): Promise<void> | void;
  note: string;
}

async function nocopyDriver(): Promise<Driver> {
  // With several servers, `connections` per server.
  const client = rpc.createClient({ target: ports.map((p) => `${host}:${p}`).join(','), framing: 'framed', connections });
  // Open every connection before the clock starts.
  await client.ready();
  await Promise.all(Array.from({ length: connections * ports.length }, () => client.call('echo', payloads[0])));
  return {
    echo: (lane) => void client.call('echo', lane.payload).then(lane.onReply, lane.onError),
    fib: (lane) => void client.call('fib', fibN).then(lane.onReply, lane.onError),
    close: () => client.close(),
    note: `${connections} connections`,
  };
}

async function netDriver(): Promise<Driver> {
  const client = await HandwrittenClient.connect(port, host, connections);
  return {
    echo: (lane) => void client.call('echo', lane.payload).then(lane.onReply, lane.onError),
    fib: (lane) => void client.call('fib', fibN).then(lane.onReply, lane.onError),
    close: () => client.close(),
    note: `${connections} connections`,
  };
}

type EchoClient = Grpc.Client & {
  Echo(req: { payload: Buffer }, cb: (err: Grpc.ServiceError | null, reply?: { payload: Buffer }) => void): Grpc.ClientUnaryCall;
};

async function grpcDriver(): Promise<Driver> {
  // Loaded only here: importing grpc-js and protobufjs (a large module graph) made V8 keep about 16%
  // of each young-generation cycle alive instead of 2% in this process, so the other clients paid
  // for it in GC time (measured with --trace-gc-nvp; the same happens with any large library).
  const grpc = await import('@grpc/grpc-js');
  const protoLoader = await import('@grpc/proto-loader');
  const def = protoLoader.loadSync(protoPath, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const proto = grpc.loadPackageDefinition(def) as unknown as { nocopybench: { Echo: Grpc.ServiceClientConstructor } };
  // `connections` channels; each with its own subchannel pool, so each is its own HTTP/2 connection.
  const clients = Array.from(
    { length: connections },
    () => new proto.nocopybench.Echo(`${host}:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }) as unknown as EchoClient,
  );
  await Promise.all(clients.map((c) => new Promise<void>((resolve, reject) => c.waitForReady(Date.now() + 5000, (err) => (err ? reject(err) : resolve())))));
  return {
    echo: (lane) => void clients[lane.index % clients.length]!.Echo({ payload: lane.payload }, lane.onGrpc),
    fib: () => fail('grpc has no fib'),
    close: () => {
      for (const c of clients) c.close();
    },
    note: `${connections} channel(s)`,
  };
}

async function main(): Promise<void> {
  const driver = mode === 'nocopy' ? await nocopyDriver() : mode === 'net' ? await netDriver() : mode === 'grpc' ? await grpcDriver() : fail(`unknown mode ${mode}`);
  const lanes: Lane[] = [];
  for (let i = 0; i < inflight; i++) lanes.push(new Lane(i, false, driver.echo));
  for (let i = 0; i < fibLanes; i++) lanes.push(new Lane(i, true, driver.fib));
  running = lanes.length;
  for (const l of lanes) l.issue();

  const { seconds, cpuPercent } = await measureWindow(warmupMs, durationMs, () => {
    histogram.reset();
    echoes = 0;
    fibs = 0;
    measuring = true;
    process.send!({ type: 'measuring' });
  }, () => (measuring = false));
  const result = {
    type: 'result',
    requests: echoes,
    seconds,
    rps: echoes / seconds,
    fibPerSec: fibs / seconds,
    p50us: histogram.count > 0 ? histogram.percentile(50) / 1000 : 0,
    p99us: histogram.count > 0 ? histogram.percentile(99) / 1000 : 0,
    cpuPercent,
    note: driver.note,
  };
  process.send!(result);
  // Let the calls in flight finish (every reply is still verified), then close.
  stopping = true;
  await new Promise<void>((resolve) => {
    onIdle = resolve;
    setTimeout(() => fail('calls still in flight 10 s after the end'), 10_000).unref();
  });
  await driver.close();
  process.disconnect();
}

main().catch((err) => fail((err as Error).stack ?? String(err)));
