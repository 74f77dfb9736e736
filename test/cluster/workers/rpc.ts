// A cluster worker for the tests and the bench: the RPC server with `echo(x)` and `sleep(ms)`
// (answers after ms, so that calls are in flight while the cluster stops or restarts), and `whoami()`.
import { appendFileSync } from 'node:fs';
import { createServer } from '@nocopy/rpc-demo';
import { serveWorker } from '@nocopy/transport/cluster';

const server = createServer();
server.register('echo', (x: unknown) => x);
// With NOCOPY_TEST_CALL_LOG set, each sleep call that starts appends a byte there (callLog() in ../helpers.ts).
const callLog = process.env.NOCOPY_TEST_CALL_LOG;
server.register('sleep', (ms: number) => {
  if (callLog !== undefined) appendFileSync(callLog, '.');
  return new Promise((resolve) => setTimeout(() => resolve(ms), ms));
});
server.register('whoami', () => ({ slot: Number(process.env.NOCOPY_CLUSTER_SLOT), pid: process.pid }));
serveWorker(server);
