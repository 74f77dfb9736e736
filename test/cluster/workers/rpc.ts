// A cluster worker for the tests and the bench: the RPC server with `echo(x)` and `sleep(ms)`
// (answers after ms, so that calls are in flight while the cluster stops or restarts), and `whoami()`.
import { createServer } from '@nocopy/rpc-demo';
import { serveWorker } from '@nocopy/transport/cluster';

const server = createServer();
server.register('echo', (x: unknown) => x);
server.register('sleep', (ms: number) => new Promise((resolve) => setTimeout(() => resolve(ms), ms)));
server.register('whoami', () => ({ slot: Number(process.env.NOCOPY_CLUSTER_SLOT), pid: process.pid }));
serveWorker(server);
