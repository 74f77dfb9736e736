// @nocopy/transport/cluster: one address served by N worker processes (see the README: Multi-core).
export { Cluster, type ClusterStopOptions, type ClusterShutdownOptions, type ClusterEvents } from './primary.js';
export { runCluster, type ClusterOptions, type ClusterListenOptions } from './run.js';
export { serveWorker, isClusterWorker, type ClusterServable, type ServeWorkerOptions, type ClusterWorker } from './worker.js';
export { type Policy, POLICIES } from './policies.js';
export type { RestartOptions } from './backoff.js';
export { reusePortSupported } from './reuse-port.js';
export type { ClusterStats, ClusterWorkerStats, SlotState } from './stats.js';
export { clusterWorkerChannel } from './diagnostics.js';
export { ClusterStoppedError, WorkerStartError, ReusePortUnsupportedError, NotClusterWorkerError } from './errors.js';
