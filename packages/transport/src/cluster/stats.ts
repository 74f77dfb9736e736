// What cluster.stats() returns: the primary's own counts and each worker slot's, summed.
import type { Policy } from './policies.js';

export type SlotState = 'starting' | 'ready' | 'draining' | 'down';

export interface ClusterWorkerStats {
  /** The slot, 0 to workers-1; a restarted worker takes its predecessor's slot. */
  slot: number;
  /** The process serving the slot now (during a rolling restart, the new one once it is ready); null while down. */
  pid: number | null;
  state: SlotState;
  /** Live connections, as the worker last reported (every 20 ms when they change). */
  connections: number;
  /** Connections handed to the slot's workers (in reuse-port mode: as they reported), over all their generations. */
  accepted: number;
  /** Connections the slot's workers refused (their server's maxConnections, say), over all generations. */
  refused: number;
  /** Workers started for this slot after the first one (crashes and rolling restarts). */
  restarts: number;
  /** Failures in a row (a crash, or a start that failed); 0 once a worker ran for restart.resetAfter. */
  failures: number;
}

export interface ClusterStats {
  mode: 'primary' | 'reuse-port';
  /** The policy the primary hands connections out by (not used in reuse-port mode). */
  policy: Policy;
  /** Live connections of all workers. */
  connections: number;
  /** Connections the primary accepted (primary mode; in reuse-port mode the sum of the workers'). */
  accepted: number;
  /** Refused: by the primary (no worker ready and its queue full, or stopped) plus by the workers. */
  refused: number;
  /** Sockets closed because their worker died while they were being handed to it (the others on their way are handed again). */
  lost: number;
  /** Accepted sockets waiting for a worker to be ready. */
  pending: number;
  /** Worker restarts, all slots. */
  restarts: number;
  workers: ClusterWorkerStats[];
}
