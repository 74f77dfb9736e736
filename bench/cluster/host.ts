// One server under test, in its own process: `node host.js rpc|echo single|cluster-1|cluster-2`.
//   single     — the server listens in this process (the baseline)
//   cluster-N  — this process is the primary of runCluster() with N workers running worker.js
// IPC with bench/cluster/main.ts: we send { port }; on 'start' we take a CPU reading of this process
// and its workers; on 'stop' we reply { cpuMs, wallMs, processes }; on 'exit' we stop and exit.
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import { runCluster, type Cluster } from '@nocopy/transport/cluster';
import { makeServer, type Kind } from './servers.js';
import { cpuMs } from './cpu.js';

const kind = process.argv[2] as Kind;
const variant = process.argv[3]!;
const workerModule = fileURLToPath(new URL('./worker.js', import.meta.url));

let cluster: Cluster | null = null;
let stop: () => Promise<unknown>;
let port: number;
if (variant === 'single') {
  const server = makeServer(kind);
  await server.listen({ port: 0, host: '127.0.0.1' });
  port = (server.address() as AddressInfo).port;
  stop = () => server.shutdown({ timeout: 1000 });
} else {
  const workers = Number(variant.slice('cluster-'.length));
  // The workers run with the V8 flags this process got (execArgv), as the single server does.
  cluster = await runCluster({ module: workerModule, args: [kind], workers, execArgv: process.execArgv });
  port = (cluster.address as AddressInfo).port;
  stop = () => cluster!.shutdown({ timeout: 1000 });
}
const pids = (): number[] => (cluster === null ? [] : cluster.stats().workers.map((w) => w.pid).filter((p): p is number => p !== null));

let cpu0 = 0;
let t0 = 0;
process.on('message', (m) => {
  if (m === 'start') {
    cpu0 = cpuMs(pids());
    t0 = performance.now();
  } else if (m === 'stop') {
    process.send!({ cpuMs: cpuMs(pids()) - cpu0, wallMs: performance.now() - t0, processes: 1 + pids().length });
  } else if (m === 'exit') {
    void stop().then(() => process.exit(0));
  }
});
process.on('disconnect', () => void stop().then(() => process.exit(0)));
process.send!({ port });
