// The primary's view of one worker process: its state, the counts it reports, handing it sockets,
// and draining it (graceful, then SIGKILL past the deadline).
import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { TAG, SLOT_ENV, LISTEN_ENV, DRAIN_ENV, kindOf, type ToPrimary, type ToWorker } from './protocol.js';
import { WorkerStartError } from './errors.js';
import { noop } from '../util/thenable.js';

export type WorkerState = 'starting' | 'ready' | 'draining' | 'exited';

export interface ForkSpec {
  module: string;
  args: string[];
  execArgv: string[] | undefined;
  env: NodeJS.ProcessEnv;
  /** reusePort mode: the address the worker listens on itself. */
  listen: { port: number; host: string; backlog?: number } | null;
  startTimeout: number;
  drainTimeout: number;
}

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Past a drain's deadline, how long the worker has to exit on its own before it is killed. */
const KILL_GRACE = 2000;
/** After the worker's exit, how long its IPC channel may stay open before the exit is reported anyway. */
const CLOSE_WAIT = 2000;

/** Node's internals of a ChildProcess's IPC channel that #abandon() reads (feature-checked). */
interface ChannelInternals {
  _pendingMessage?: { handle?: { close?: () => void } | null } | null;
}

export class WorkerProcess {
  readonly slot: number;
  readonly child: ChildProcess;
  readonly pid: number;
  state: WorkerState = 'starting';
  /** When it became ready (Date.now()), 0 before. */
  readyAt = 0;
  /**
   * Sockets sent to it (less those taken back to place elsewhere); of those, the ones closed unsent
   * (the worker died with them in flight). Every lost socket stays counted in `handed`, so
   * `handed - lost` is what the worker took, whichever path lost it.
   */
  handed = 0;
  lost = 0;
  /** As last reported by the worker. */
  received = 0;
  connections = 0;
  refused = 0;
  readonly ready: Promise<void>;
  readonly exited: Promise<WorkerExit>;
  #killTimer: NodeJS.Timeout | undefined;
  /**
   * Sockets sent whose send() callback has not run, with where to place them again. Node's IPC sends
   * one handle at a time and queues the others until the worker acknowledges the one on the wire;
   * when the worker dies, that queue is dropped without a callback and its sockets stay open.
   */
  readonly #sending = new Map<Socket, (socket: Socket) => void>();

  constructor(slot: number, spec: ForkSpec, onReady: (w: WorkerProcess) => void, onExit: (w: WorkerProcess, e: WorkerExit) => void, onLeaving: (w: WorkerProcess) => void, onOther: (w: WorkerProcess, msg: unknown) => void) {
    this.slot = slot;
    const env: NodeJS.ProcessEnv = { ...spec.env, [SLOT_ENV]: String(slot), [DRAIN_ENV]: String(spec.drainTimeout) };
    if (spec.listen !== null) env[LISTEN_ENV] = JSON.stringify(spec.listen);
    else delete env[LISTEN_ENV];
    this.child = fork(spec.module, spec.args, { env, execArgv: spec.execArgv, serialization: 'json' });
    this.pid = this.child.pid ?? -1;
    let readyResolve!: () => void;
    let readyReject!: (e: unknown) => void;
    this.ready = new Promise<void>((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    // Nobody has to await ready: exits before it are handled by the exit callback.
    this.ready.catch(noop);
    const startTimer = setTimeout(() => {
      readyReject(new WorkerStartError(slot, `serveWorker() was not called within ${spec.startTimeout} ms`));
      this.child.kill('SIGKILL');
    }, spec.startTimeout);
    this.child.on('message', (msg: unknown) => {
      switch (kindOf(msg)) {
        case undefined:
          // Not the cluster's: the worker module's own, for the application.
          onOther(this, msg);
          return;
        case 'ready':
          if (this.state !== 'starting') return;
          clearTimeout(startTimer);
          this.state = 'ready';
          this.readyAt = Date.now();
          readyResolve();
          onReady(this);
          return;
        case 'leaving':
          onLeaving(this);
          return;
        case 'stats': {
          const m = msg as Extract<ToPrimary, { [TAG]: 'stats' }>;
          this.received = m.received;
          this.connections = m.connections;
          this.refused = m.refused;
          return;
        }
      }
    });
    // A spawn failure is followed by 'exit' only sometimes; 'close' always comes, so settle on either once.
    let settled = false;
    this.exited = new Promise<WorkerExit>((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(startTimer);
        clearTimeout(this.#killTimer);
        const wasStarting = this.state === 'starting';
        // 'exited' first: what #abandon() places again must not come back to this worker.
        this.state = 'exited';
        this.#abandon();
        const e = { code, signal };
        if (wasStarting) readyReject(new WorkerStartError(slot, signal !== null ? `killed by ${signal}` : `exited with code ${code}`));
        resolve(e);
        onExit(this, e);
      };
      // The exit is reported once the IPC channel is closed too ('close'): only then is it certain
      // that no acknowledgement of a socket sent can still arrive, so the sockets that did not reach
      // the worker are known (see #abandon). 'close' follows 'exit' at once unless something else
      // holds the channel or stdio open; then the exit is reported after a bound anyway.
      let exit: WorkerExit | null = null;
      const closed = (): void => {
        if (settled) return;
        clearTimeout(closeTimer);
        done(exit?.code ?? this.child.exitCode, exit?.signal ?? (this.child.signalCode as NodeJS.Signals | null));
      };
      let closeTimer: NodeJS.Timeout | undefined;
      this.child.once('exit', (code, signal) => {
        exit = { code, signal };
        if (this.child.channel == null) return closed();
        closeTimer = setTimeout(closed, CLOSE_WAIT);
      });
      this.child.once('close', closed);
      this.child.once('error', () => {
        // A failed spawn: no 'exit' may follow.
        if (this.child.exitCode === null && this.child.pid === undefined) closed();
      });
    });
  }

  /** Live connections plus sockets sent that the worker has not counted yet: what least-connections compares. */
  get load(): number {
    return this.connections + this.inFlight;
  }

  /** Connections it took: exact for sockets handed by the primary; as reported in reuse-port mode. */
  get accepted(): number {
    return this.handed > 0 ? this.handed - this.lost : this.received;
  }

  /** Sockets sent whose arrival the worker has not reported yet. */
  get inFlight(): number {
    return Math.max(0, this.handed - this.lost - this.received);
  }

  /**
   * Sends an accepted socket. If the send fails while the socket still has its handle (the worker's
   * channel closed before Node took it), `retry` gets it back to place elsewhere; otherwise it is lost.
   */
  hand(socket: Socket, retry: (socket: Socket) => void): void {
    this.handed++;
    this.#sending.set(socket, retry);
    const m: ToWorker = { [TAG]: 'socket' };
    this.child.send(m, socket, {}, (err) => {
      // Already given up by #abandon() (the worker is gone): not counted twice.
      if (!this.#sending.delete(socket)) return;
      if (err != null) this.#failed(socket, retry);
    });
  }

  /** A socket that did not reach the worker: placed elsewhere while it still has its handle, otherwise closed and lost. */
  #failed(socket: Socket, retry: (socket: Socket) => void): void {
    if (!socket.destroyed && (socket as Socket & { _handle?: unknown })._handle != null) {
      this.handed--;
      return retry(socket);
    }
    // Stays in `handed` (as in #abandon): decrementing it too would count the socket out twice,
    // once from `accepted` and once more by `lost` (stats() was one short per such socket).
    this.lost++;
    socket.destroy();
  }

  /**
   * The worker is gone and its IPC channel closed: no acknowledgement can arrive any more. Sockets
   * still queued in Node's channel (their callback never runs) go to another worker (or are closed,
   * counted lost); the one written but never acknowledged did not reach the worker's code (a
   * worker acknowledges a handle before it uses it), so the primary's copy is closed and counted lost
   * (Node 20 leaves it open when the queue was not empty; newer versions close it themselves).
   */
  #abandon(): void {
    const pending = (this.child as ChildProcess & ChannelInternals)._pendingMessage;
    if (pending != null && pending.handle != null && typeof pending.handle.close === 'function') {
      (this.child as ChildProcess & ChannelInternals)._pendingMessage = null;
      pending.handle.close();
      this.lost++;
    }
    const queued = [...this.#sending];
    this.#sending.clear();
    for (const [socket, retry] of queued) this.#failed(socket, retry);
  }

  /**
   * Asks a ready worker to finish its connections within `timeout` and exit (after `settle` ms for
   * connections it received just now, see ClusterOptions.drainSettle); stops a starting one. Resolves at its exit.
   */
  drain(timeout: number, settle = 0): Promise<WorkerExit> {
    if (this.state === 'ready') {
      this.state = 'draining';
      const m: ToWorker = { [TAG]: 'drain', timeout, settle };
      if (this.child.connected) this.child.send(m, undefined, {}, noop);
      this.#killAfter(timeout + settle + KILL_GRACE);
    } else if (this.state === 'starting') {
      // Not serving yet, so nothing to finish: it may not even listen for messages yet.
      this.state = 'draining';
      this.child.kill('SIGTERM');
      this.#killAfter(KILL_GRACE);
    }
    return this.exited;
  }

  /** Sends a message of the application's over the IPC channel (the worker gets it on process 'message'); false if the channel is closed. */
  send(message: object): boolean {
    if (!this.child.connected) return false;
    this.child.send(message, undefined, {}, noop);
    return true;
  }

  #killAfter(ms: number): void {
    clearTimeout(this.#killTimer);
    this.#killTimer = setTimeout(() => this.child.kill('SIGKILL'), ms);
  }
}

