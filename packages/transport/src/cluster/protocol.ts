// The messages between the primary and its workers over the IPC channel. Every message carries the
// `nocopyCluster` tag so that a worker module may use the channel for its own messages too.

export const TAG = 'nocopyCluster';

/** Primary → worker. A `socket` message carries the accepted socket as its handle. */
export type ToWorker =
  | { [TAG]: 'socket' }
  | { [TAG]: 'drain'; timeout: number; settle: number };

/** Worker → primary. */
export type ToPrimary =
  | { [TAG]: 'ready' }
  | { [TAG]: 'stats'; received: number; connections: number; refused: number }
  | { [TAG]: 'drained' }
  /** The worker was signalled: the primary stops handing it sockets and answers with a drain. */
  | { [TAG]: 'leaving' };

export function kindOf(msg: unknown): string | undefined {
  if (msg === null || typeof msg !== 'object') return undefined;
  const k = (msg as Record<string, unknown>)[TAG];
  return typeof k === 'string' ? k : undefined;
}

/** The environment variable a worker finds its slot number in. */
export const SLOT_ENV = 'NOCOPY_CLUSTER_SLOT';

/** reusePort mode: `{ port, host, backlog }` as JSON, the address every worker listens on itself. */
export const LISTEN_ENV = 'NOCOPY_CLUSTER_LISTEN';

/** The cluster's drainTimeout in ms, for a worker that is signalled directly (see serveWorker's signals). */
export const DRAIN_ENV = 'NOCOPY_CLUSTER_DRAIN_TIMEOUT';
