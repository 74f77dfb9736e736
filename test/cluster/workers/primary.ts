// A cluster primary in its own process, for the tests that signal or kill the primary.
// argv: <worker module> <workers>. Prints one JSON line { port, pids } once the workers are up;
// SIGTERM stops the cluster gracefully (signals: true) and the process then exits by itself; SIGHUP
// restarts the workers, each new one printed as { ready, pid }. Each SIGHUP and SIGTERM it handles
// is printed as { hup: n } / { term: n } (after the cluster's own handler ran: the restart or stop
// has begun), and at exit { restarts } (workers replaced in all), so a test knows what happened
// without sleeping.
import { runCluster } from '@nocopy/transport/cluster';

const [module, workers] = process.argv.slice(2);
const cluster = await runCluster({ module: module!, workers: Number(workers ?? 2), signals: true, drainTimeout: 5000 });
const pids = cluster.stats().workers.map((w) => w.pid);
process.stdout.write(JSON.stringify({ port: (cluster.address as { port: number }).port, pids }) + '\n');
// Later workers (restarts, SIGHUP) as lines of their own.
cluster.on('worker-ready', (e) => process.stdout.write(JSON.stringify({ ready: e.slot, pid: e.pid }) + '\n'));
let hups = 0;
let terms = 0;
process.on('SIGHUP', () => process.stdout.write(JSON.stringify({ hup: ++hups }) + '\n'));
process.on('SIGTERM', () => process.stdout.write(JSON.stringify({ term: ++terms }) + '\n'));
// stdout is a pipe: writes are synchronous, so this line is out before the process is.
process.on('exit', () => process.stdout.write(JSON.stringify({ restarts: cluster.stats().restarts }) + '\n'));
