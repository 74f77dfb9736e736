// The worker side of a cluster: receives the sockets the primary hands over and emits them on a
// carrier server that the target (an EventLoop, an RpcServer, anything with serve(server)) serves;
// reports its counts; on the primary's drain message, or when the primary is gone, shuts the target
// down gracefully and exits.
import type net from 'node:net';
import tls from 'node:tls';
import type { Socket } from 'node:net';
import { TAG, SLOT_ENV, LISTEN_ENV, DRAIN_ENV, kindOf, type ToPrimary, type ToWorker } from './protocol.js';
import { createCarrier, carrierConnections, handToCarrier } from './handed-socket.js';
import { NotClusterWorkerError } from './errors.js';
import { InvalidOptionError } from '../errors.js';
import { checkBoolean, checkMs } from '../util/validate.js';
import { noop } from '../util/thenable.js';

/** What serveWorker() serves: EventLoop and RpcServer fit as they are. */
export interface ClusterServable {
  serve(server: net.Server): unknown;
  /** Graceful stop (EventLoop, RpcServer): answers what it received, bounded by `timeout`. */
  shutdown?(options: { timeout?: number }): Promise<unknown>;
  /** Used when there is no shutdown() (a server of another library; TcpProxy keeps close() as an alias). */
  close?(options: { timeout?: number }): Promise<unknown>;
  /** If it returns `refused`, the worker reports it (EventLoop: maxConnections and the like). */
  stats?(): { refused?: number } | object;
}

export interface ServeWorkerOptions {
  /** Exit the process once the target has shut down after a drain. Default true. */
  exit?: boolean;
  /** Grace for the target when the primary is gone (its IPC channel closed), in ms. Default 5000. */
  orphanTimeout?: number;
  /**
   * SIGTERM and SIGINT drain this worker as the primary's drain would (within the cluster's
   * drainTimeout), instead of killing it mid-request: a terminal's Ctrl-C and a service manager's
   * SIGTERM reach every process of the group, not only the primary. Default true.
   */
  signals?: boolean;
  /**
   * Terminate TLS in the worker with these options (key, cert, ...): each handed socket goes through
   * a tls.Server (at least TLS 1.2, a 10 s handshake bound unless given) before the target sees it.
   */
  tls?: tls.TlsOptions;
}

export interface ClusterWorker {
  /** This worker's slot, 0 to workers-1 (a restarted worker keeps its slot). */
  readonly slot: number;
  /** Sockets received from the primary. */
  readonly received: number;
  /** Resolves when the target has shut down after a drain (before the process exits). */
  readonly drained: Promise<void>;
}

/** Whether this process was forked by runCluster(). */
export function isClusterWorker(): boolean {
  return typeof process.send === 'function' && process.env[SLOT_ENV] !== undefined;
}

/** How often the worker looks whether its connection count changed (closes are not signalled). */
const STATS_INTERVAL = 20;
/** Sockets received since the last report that make a report go out at once. */
const REPORT_BURST = 32;
/** How long a signalled worker waits for the primary's drain message before it drains by itself. */
const LEAVE_WAIT = 1000;

export function serveWorker(target: ClusterServable, options: ServeWorkerOptions = {}): ClusterWorker {
  if (!isClusterWorker()) throw new NotClusterWorkerError();
  if (target === null || typeof target !== 'object' || typeof target.serve !== 'function') {
    throw new InvalidOptionError('target', target, 'a server with serve(server): an EventLoop, an RpcServer');
  }
  const exit = checkBoolean('exit', options.exit, true);
  const orphanTimeout = checkMs('orphanTimeout', options.orphanTimeout, 5000);
  const signals = checkBoolean('signals', options.signals, true);
  const drainTimeout = Number(process.env[DRAIN_ENV] ?? 30_000);
  const send = (m: ToPrimary): void => {
    if (process.connected) process.send!(m, undefined, {}, noop);
  };
  if (options.tls !== undefined && (options.tls === null || typeof options.tls !== 'object')) throw new InvalidOptionError('tls', options.tls, 'TLS options (key, cert, ...)');
  const carrier = options.tls !== undefined ? tls.createServer({ minVersion: 'TLSv1.2', handshakeTimeout: 10_000, ...options.tls }) : createCarrier();
  // Node's connection count of the carrier is right only for plain sockets (handToCarrier sets it up).
  const nodeCounts = !(carrier instanceof tls.Server) && carrierConnections(carrier) !== undefined;
  target.serve(carrier);
  let received = 0;
  let refused = 0;
  let fallbackLive = 0;
  let draining = false;
  let lastReceived = 0;
  let resolveDrained!: () => void;
  const drained = new Promise<void>((r) => (resolveDrained = r));

  const live = (): number => (nodeCounts ? carrierConnections(carrier)! : fallbackLive);
  const targetRefused = (): number => {
    const s = typeof target.stats === 'function' ? (target.stats() as { refused?: unknown }) : undefined;
    return typeof s?.refused === 'number' ? s.refused : 0;
  };
  let last = '';
  let reportedReceived = 0;
  const report = (): void => {
    reportedReceived = received;
    const m: ToPrimary = { [TAG]: 'stats', received, connections: live(), refused: refused + targetRefused() };
    const key = `${m.received}/${m.connections}/${m.refused}`;
    if (key === last) return;
    last = key;
    send(m);
  };
  const timer = setInterval(report, STATS_INTERVAL).unref();

  const onSocket = (socket: Socket): void => {
    received++;
    lastReceived = Date.now();
    if (draining) {
      // Not expected: the primary sends nothing after its drain message. Counted, not silently lost.
      refused++;
      socket.destroy();
      return;
    }
    if (!nodeCounts) {
      fallbackLive++;
      socket.once('close', () => fallbackLive--);
      carrier.emit('connection', socket);
    } else {
      handToCarrier(carrier, socket);
    }
    // Reports go out every STATS_INTERVAL; one IPC message per socket would cost the worker and the
    // primary more than the socket itself under connection churn. A burst is reported early.
    if (received - reportedReceived >= REPORT_BURST) report();
  };

  const drain = async (timeout: number, settle: number): Promise<void> => {
    if (draining) return;
    draining = true;
    // With reusePort the carrier itself listens; otherwise it never does.
    if (carrier.listening) carrier.close();
    // The shutdown closes idle connections at once. One handed over a moment ago is idle only
    // because its first request is still on the way: give it `settle` ms to arrive (within timeout).
    const wait = Math.min(timeout, lastReceived + settle - Date.now());
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    timeout = Math.max(0, timeout - Math.max(wait, 0));
    try {
      if (typeof target.shutdown === 'function') await target.shutdown({ timeout });
      else if (typeof target.close === 'function') await target.close({ timeout });
    } finally {
      clearInterval(timer);
      report();
      send({ [TAG]: 'drained' });
      process.off('message', onMessage);
      resolveDrained();
      if (exit) {
        // process.exit only after the IPC messages above are written.
        if (process.connected) process.disconnect();
        setImmediate(() => process.exit(0));
      }
    }
  };

  const onMessage = (msg: unknown, handle: unknown): void => {
    const kind = kindOf(msg);
    if (kind === 'socket') {
      if (handle != null) onSocket(handle as Socket);
    } else if (kind === 'drain') {
      const m = msg as Extract<ToWorker, { [TAG]: 'drain' }>;
      void drain(m.timeout, m.settle);
    }
  };
  process.on('message', onMessage);
  // The primary is gone (killed, or exited): nobody hands us sockets or stops us, so finish and exit.
  process.once('disconnect', () => void drain(orphanTimeout, 0));
  if (signals) {
    // Ask the primary to stop handing us sockets; its drain message comes after the last one it sent.
    // Without an answer (a primary that is stuck), drain anyway after a while.
    const onSignal = (): void => {
      if (draining) return;
      if (!process.connected) return void drain(orphanTimeout, 0);
      send({ [TAG]: 'leaving' });
      setTimeout(() => void drain(drainTimeout, 0), LEAVE_WAIT).unref();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }

  const reuse = process.env[LISTEN_ENV];
  if (reuse === undefined) send({ [TAG]: 'ready' });
  else {
    // reusePort mode: this worker listens on the cluster's port itself and the kernel balances.
    // A failure to bind is thrown (the worker dies and the primary reports it).
    const l = JSON.parse(reuse) as { port: number; host: string; backlog?: number };
    carrier.listen({ ...l, reusePort: true } as net.ListenOptions, () => send({ [TAG]: 'ready' }));
  }
  return {
    slot: Number(process.env[SLOT_ENV]),
    get received() {
      return received;
    },
    drained,
  };
}

