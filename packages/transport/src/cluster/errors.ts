// Coded errors of the cluster runner. They live beside it rather than in ../errors.ts so that the
// main entry does not load them; they extend the package's TransportError like every other one.
import { TransportError } from '../errors.js';

/** The cluster is stopping or stopped: restart() is refused. */
export class ClusterStoppedError extends TransportError {
  constructor() {
    super('the cluster is stopped', 'ERR_CLUSTER_STOPPED');
  }
}
ClusterStoppedError.prototype.name = 'ClusterStoppedError';

/** A worker process exited, or did not call serveWorker() within startTimeout. */
export class WorkerStartError extends TransportError {
  readonly slot: number;
  constructor(slot: number, detail: string) {
    super(`cluster worker ${slot} did not start: ${detail}`, 'ERR_CLUSTER_WORKER_START');
    this.slot = slot;
  }
}
WorkerStartError.prototype.name = 'WorkerStartError';

/** reusePort: true was asked for, but this Node or platform cannot bind several listeners to one port. */
export class ReusePortUnsupportedError extends TransportError {
  constructor() {
    super(`reusePort is not supported by Node ${process.version} on ${process.platform} (it needs Node 22.12 or later on Linux)`, 'ERR_REUSEPORT_UNSUPPORTED');
  }
}
ReusePortUnsupportedError.prototype.name = 'ReusePortUnsupportedError';

/** serveWorker() was called in a process not forked by runCluster() (no IPC channel to a primary). */
export class NotClusterWorkerError extends TransportError {
  constructor() {
    super('serveWorker() needs a process forked by runCluster() (no IPC channel to a cluster primary)', 'ERR_NOT_CLUSTER_WORKER');
  }
}
NotClusterWorkerError.prototype.name = 'NotClusterWorkerError';
