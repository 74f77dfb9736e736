// A cluster primary in its own process, for the tests that signal or kill the primary.
// argv: <worker module> <workers>. Prints one JSON line { port, pids } once the workers are up;
// SIGTERM stops the cluster gracefully (signals: true) and the process then exits by itself; SIGHUP
// restarts the workers, each new one printed as { ready, pid }.
import { runCluster } from '@nocopy/transport/cluster';

const [module, workers] = process.argv.slice(2);
const cluster = await runCluster({ module: module!, workers: Number(workers ?? 2), signals: true, drainTimeout: 5000 });
const pids = cluster.stats().workers.map((w) => w.pid);
process.stdout.write(JSON.stringify({ port: (cluster.address as { port: number }).port, pids }) + '\n');
// Later workers (restarts, SIGHUP) as lines of their own.
cluster.on('worker-ready', (e) => process.stdout.write(JSON.stringify({ ready: e.slot, pid: e.pid }) + '\n'));
