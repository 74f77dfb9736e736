// @nocopy/transport/cluster: one address served by N worker processes (see the README: Multi-core).
export { runCluster, Cluster, type ClusterOptions, type ClusterListenOptions, type ClusterStopOptions, type ClusterEvents } from './primary.js';
export { serveWorker, isClusterWorker, type ClusterServable, type ServeWorkerOptions, type ClusterWorker } from './worker.js';
export { type Policy, POLICIES, fnv1a, sourceHashSlot } from './policies.js';
export type { RestartOptions } from './backoff.js';
export { reusePortSupported } from './reuse-port.js';
export type { ClusterStats, ClusterWorkerStats, SlotState } from './stats.js';
export { clusterWorkerChannel } from './diagnostics.js';
export { ClusterStoppedError, WorkerStartError, ReusePortUnsupportedError, NotClusterWorkerError } from './errors.js';
