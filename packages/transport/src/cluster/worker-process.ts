// The primary's view of one worker process: its state, the counts it reports, handing it sockets,
// and draining it (graceful, then SIGKILL past the deadline).
import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { TAG, SLOT_ENV, LISTEN_ENV, DRAIN_ENV, kindOf, type ToPrimary, type ToWorker } from './protocol.js';
import { WorkerStartError } from './errors.js';

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

export class WorkerProcess {
  readonly slot: number;
  readonly child: ChildProcess;
  readonly pid: number;
  state: WorkerState = 'starting';
  /** When it became ready (Date.now()), 0 before. */
  readyAt = 0;
  /** Sockets sent to it; sends that failed (the worker died with it in flight). */
  handed = 0;
  lost = 0;
  /** As last reported by the worker. */
  received = 0;
  connections = 0;
  refused = 0;
  readonly ready: Promise<void>;
  readonly exited: Promise<WorkerExit>;
  #killTimer: NodeJS.Timeout | undefined;

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
        this.state = 'exited';
        const e = { code, signal };
        if (wasStarting) readyReject(new WorkerStartError(slot, signal !== null ? `killed by ${signal}` : `exited with code ${code}`));
        resolve(e);
        onExit(this, e);
      };
      this.child.once('exit', done);
      this.child.once('error', () => {
        // A failed spawn: no 'exit' may follow.
        if (this.child.exitCode === null && this.child.pid === undefined) done(null, null);
      });
    });
  }

  /** Live connections plus sockets sent that the worker has not counted yet: what least-connections compares. */
  get load(): number {
    return this.connections + (this.handed - this.received);
  }

  /** Connections it took: exact for sockets handed by the primary; as reported in reuse-port mode. */
  get accepted(): number {
    return this.handed > 0 ? this.handed - this.lost : this.received;
  }

  /** Sockets sent whose arrival the worker has not reported yet. */
  get inFlight(): number {
    return this.handed - this.received;
  }

  /**
   * Sends an accepted socket. If the send fails while the socket still has its handle (the worker's
   * channel closed before Node took it), `retry` gets it back to place elsewhere; otherwise it is lost.
   */
  hand(socket: Socket, retry: (socket: Socket) => void): void {
    this.handed++;
    const m: ToWorker = { [TAG]: 'socket' };
    this.child.send(m, socket, {}, (err) => {
      if (err == null) return;
      this.handed--;
      if (!socket.destroyed && (socket as Socket & { _handle?: unknown })._handle != null) return retry(socket);
      this.lost++;
      socket.destroy();
    });
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

function noop(): void {}
