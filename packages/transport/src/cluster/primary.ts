// The primary: listens on the one address, hands each accepted socket to a worker process by policy,
// supervises the workers (restart with backoff), replaces them one by one on restart(), and drains
// them on shutdown(). It runs no user code itself; runCluster() (run.ts) checks the options and
// binds the address before it makes one.
import type net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { EventEmitter } from 'node:events';
import { WorkerProcess, type ForkSpec, type WorkerExit } from './worker-process.js';
import { Picker, type Policy, type SlotLoad } from './policies.js';
import type { ResolvedRestart } from './backoff.js';
import { backoffDelay } from '../util/backoff.js';
import { ClusterStoppedError, WorkerStartError } from './errors.js';
import { clusterWorkerChannel } from './diagnostics.js';
import type { ClusterStats, ClusterWorkerStats } from './stats.js';
import { checkMs } from '../util/validate.js';
import { noop } from '../util/thenable.js';

export interface ClusterStopOptions {
  /** How long workers may take to finish their connections, in ms. Default: the cluster's drainTimeout. */
  timeout?: number;
}

/** The options of shutdown() (and of restart()): ClusterStopOptions under the verb's name. */
export type ClusterShutdownOptions = ClusterStopOptions;

/** Events: 'worker-ready' { slot, pid }, 'worker-exit' { slot, pid, code, signal, expected }, 'restart-scheduled' { slot, delay, failures }, 'error' (accept failures). */
export interface ClusterEvents {
  'worker-ready': [{ slot: number; pid: number }];
  'worker-exit': [{ slot: number; pid: number; code: number | null; signal: NodeJS.Signals | null; expected: boolean }];
  'restart-scheduled': [{ slot: number; delay: number; failures: number }];
  /** A message a worker sent on its own (process.send() of an object without the cluster's tag). */
  'worker-message': [{ slot: number; pid: number; message: unknown }];
  /** The primary's listening socket failed to accept (EMFILE, ...); without a listener, a process warning. */
  error: [Error];
}

/** Sockets sent to one worker and not yet reported received, at most (then it is skipped). */
const MAX_IN_FLIGHT = 256;

/** @internal runCluster()'s handles on a new cluster. */
export const kStart = Symbol('start');
/** @internal */
export const kInstallSignals = Symbol('installSignals');

interface Slot {
  readonly index: number;
  current: WorkerProcess | null;
  /** The replacement being started by a rolling restart. */
  next: WorkerProcess | null;
  timer: NodeJS.Timeout | null;
  failures: number;
  restarts: number;
  /** Workers replaced by a rolling restart, finishing their connections. */
  readonly draining: Set<WorkerProcess>;
  /** Counts of the slot's workers that have exited. */
  pastAccepted: number;
  pastRefused: number;
}

export class Cluster extends EventEmitter<ClusterEvents> {
  /** The address the primary listens on (in reuse-port mode, the one every worker listens on). */
  readonly address: AddressInfo | string;
  readonly mode: 'primary' | 'reuse-port';
  readonly policy: Policy;
  readonly #server: net.Server | null;
  readonly #slots: Slot[];
  readonly #spec: ForkSpec;
  readonly #restart: ResolvedRestart;
  readonly #drainTimeout: number;
  readonly #settle: number;
  readonly #maxPending: number;
  readonly #picker: Picker;
  readonly #loads: SlotLoad[];
  readonly #pending: Socket[] = [];
  #accepted = 0;
  #refused = 0;
  #lost = 0;
  #stopping: Promise<void> | null = null;
  #restarting: Promise<void> | null = null;
  #signals: (() => void) | null = null;

  /** Use runCluster(). */
  constructor(o: { server: net.Server | null; address: AddressInfo | string; workers: number; policy: Policy; spec: ForkSpec; restart: ResolvedRestart; drainTimeout: number; settle: number; maxPending: number }) {
    super();
    this.#server = o.server;
    this.address = o.address;
    this.mode = o.server === null ? 'reuse-port' : 'primary';
    this.policy = o.policy;
    this.#picker = new Picker(o.policy);
    this.#spec = o.spec;
    this.#restart = o.restart;
    this.#drainTimeout = o.drainTimeout;
    this.#settle = o.settle;
    this.#maxPending = o.maxPending;
    this.#slots = Array.from({ length: o.workers }, (_, index) => ({ index, current: null, next: null, timer: null, failures: 0, restarts: 0, draining: new Set(), pastAccepted: 0, pastRefused: 0 }));
    this.#loads = this.#slots.map(() => ({ ready: false, load: 0 }));
    this.#server?.on('connection', (socket: Socket) => this.#onConnection(socket));
    // accept() failures (EMFILE, ...) must not take the primary down.
    this.#server?.on('error', (err: Error) => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
      else process.emitWarning(err.message, { code: 'NOCOPY_CLUSTER_ACCEPT' });
    });
  }

  /** @internal Starts every slot's first worker; resolves when each is ready or has failed once (then it is being restarted). */
  async [kStart](): Promise<void> {
    const first = this.#slots.map((s) => this.#spawn(s).ready.then(() => true, () => false));
    const ok = await Promise.all(first);
    if (!ok.includes(true)) {
      await this.shutdown({ timeout: 0 });
      throw new WorkerStartError(0, 'every worker failed its first start (is the module right, and does it call serveWorker()?)');
    }
  }

  /** @internal */
  [kInstallSignals](): void {
    // A second signal while stopping does not wait any longer: the workers are killed.
    const onStop = (): void => {
      if (this.#stopping === null) void this.shutdown();
      else this.#killAll();
    };
    const onHup = (): void => void this.restart().catch(noop);
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
    process.on('SIGHUP', onHup);
    this.#signals = () => {
      process.off('SIGTERM', onStop);
      process.off('SIGINT', onStop);
      process.off('SIGHUP', onHup);
    };
  }

  /**
   * Sends `message` (JSON-serializable, without the cluster's `nocopyCluster` key) to each slot's
   * ready worker, which gets it on process 'message'; returns the slots it went to. For the
   * application's own requests: a worker answers with process.send(), seen as 'worker-message'.
   */
  sendToWorkers(message: object): number[] {
    const sent: number[] = [];
    for (const s of this.#slots) {
      const w = s.current;
      if (w !== null && w.state === 'ready' && w.send(message)) sent.push(s.index);
    }
    return sent;
  }

  stats(): ClusterStats {
    const workers: ClusterWorkerStats[] = this.#slots.map((s) => {
      const w = s.current;
      const state = w === null || w.state === 'exited' ? 'down' : w.state;
      let connections = w?.connections ?? 0;
      let accepted = s.pastAccepted + (w?.accepted ?? 0);
      let refused = s.pastRefused + (w?.refused ?? 0);
      for (const d of s.draining) {
        connections += d.connections;
        accepted += d.accepted;
        refused += d.refused;
      }
      return {
        slot: s.index,
        pid: w === null ? null : w.pid,
        state,
        connections,
        accepted,
        refused,
        restarts: s.restarts,
        failures: s.failures,
      };
    });
    const sum = (f: (w: ClusterWorkerStats) => number): number => workers.reduce((a, w) => a + f(w), 0);
    let lost = this.#lost;
    for (const s of this.#slots) {
      lost += s.current?.lost ?? 0;
      for (const d of s.draining) lost += d.lost;
    }
    return {
      mode: this.mode,
      policy: this.policy,
      connections: sum((w) => w.connections),
      accepted: this.mode === 'primary' ? this.#accepted : sum((w) => w.accepted),
      refused: this.#refused + sum((w) => w.refused),
      lost,
      pending: this.#pending.length,
      restarts: sum((w) => w.restarts),
      workers,
    };
  }

  /**
   * Replaces the workers one at a time: starts the new one, waits until it is ready, routes new
   * connections to it, then drains the old one (it finishes its connections within `timeout`) and
   * waits for its exit before the next slot. A new worker that fails to start leaves the old one
   * serving and rejects. A restart already running is returned, not started twice.
   */
  restart(options: ClusterStopOptions = {}): Promise<void> {
    if (this.#stopping !== null) return Promise.reject(new ClusterStoppedError());
    if (this.#restarting !== null) return this.#restarting;
    return this.#withDeadline(options, (timeout) => (this.#restarting = this.#rolling(timeout).finally(() => (this.#restarting = null))));
  }

  /** Runs `run` with the checked `options.timeout` (default drainTimeout); a bad one is a rejection, as everything these verbs report. */
  #withDeadline(options: ClusterStopOptions, run: (timeout: number) => Promise<void>): Promise<void> {
    let timeout: number;
    try {
      timeout = checkMs('timeout', options.timeout, this.#drainTimeout);
    } catch (err) {
      return Promise.reject(err);
    }
    return run(timeout);
  }

  async #rolling(timeout: number): Promise<void> {
    for (const slot of this.#slots) {
      if (this.#stopping !== null) throw new ClusterStoppedError();
      const old = slot.current;
      // A slot that is down or starting gets a worker with the new code anyway.
      if (old === null || old.state !== 'ready') continue;
      const fresh = this.#fork(slot);
      slot.next = fresh;
      try {
        await fresh.ready;
      } catch (err) {
        // The old worker keeps serving (or, if it died meanwhile, the slot is supervised again).
        if (slot.next === fresh) slot.next = null;
        if (slot.current === null) this.#scheduleRestart(slot);
        throw err;
      }
      slot.next = null;
      if (this.#stopping !== null) {
        void fresh.drain(0);
        throw new ClusterStoppedError();
      }
      if (slot.timer !== null) {
        clearTimeout(slot.timer);
        slot.timer = null;
      }
      slot.restarts++;
      const prev = slot.current;
      slot.current = fresh;
      this.#flushPending();
      if (prev !== null && prev !== old) {
        slot.draining.add(prev);
        void prev.drain(timeout);
      }
      // It finishes what it has while the new one takes the new connections.
      if (old.state !== ('exited' as string)) slot.draining.add(old);
      await old.drain(timeout, this.#settle);
    }
  }

  /**
   * Stops accepting, hands what is already accepted to a worker, then lets every worker finish its
   * connections (the RPC server answers each call it received) within `timeout` and exit. Resolves
   * when all workers have exited; calling it again returns the same promise (the verb every nocopy
   * server stops with).
   */
  shutdown(options: ClusterShutdownOptions = {}): Promise<void> {
    if (this.#stopping !== null) return this.#stopping;
    return this.#withDeadline(options, (timeout) => (this.#stopping = this.#stop(timeout)));
  }

  /** The old name of shutdown(), kept as an alias: the same promise. */
  stop(options: ClusterStopOptions = {}): Promise<void> {
    return this.shutdown(options);
  }

  /** Whether shutdown() has been called. */
  get shuttingDown(): boolean {
    return this.#stopping !== null;
  }

  async #stop(timeout: number): Promise<void> {
    // The listening socket closes at once. Not awaited: once sockets were sent to workers, Node's
    // server waits for their reports instead of its own count, and never emits 'close' if none is left.
    this.#server?.close();
    for (const s of this.#slots) {
      if (s.timer !== null) clearTimeout(s.timer);
      s.timer = null;
    }
    this.#flushPending();
    for (const socket of this.#pending.splice(0)) {
      this.#refused++;
      socket.destroy();
    }
    const all: Promise<WorkerExit>[] = [];
    for (const s of this.#slots) {
      if (s.current !== null) all.push(s.current.drain(timeout, this.#settle));
      if (s.next !== null) all.push(s.next.drain(0));
      for (const d of s.draining) all.push(d.exited);
    }
    await Promise.all(all);
    this.#signals?.();
    this.#signals = null;
  }

  #killAll(): void {
    for (const s of this.#slots) {
      for (const w of [s.current, s.next, ...s.draining]) if (w !== null && w.state !== 'exited') w.child.kill('SIGKILL');
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  // ---- handing out ----

  #onConnection(socket: Socket, again = false): void {
    if (!again) this.#accepted++;
    if (this.#stopping !== null) {
      this.#refused++;
      socket.destroy();
      return;
    }
    if (!this.#place(socket)) {
      if (this.#pending.length >= this.#maxPending) {
        this.#refused++;
        socket.destroy();
      } else {
        this.#pending.push(socket);
      }
    }
  }

  readonly #retry = (socket: Socket): void => this.#onConnection(socket, true);

  #place(socket: Socket): boolean {
    const loads = this.#loads;
    for (let i = 0; i < this.#slots.length; i++) {
      const w = this.#slots[i]!.current;
      const l = loads[i]!;
      // A worker that does not take what it is sent (stuck) stops getting more: the primary's memory stays bounded.
      l.ready = w !== null && w.state === 'ready' && w.child.connected && w.inFlight < MAX_IN_FLIGHT;
      l.load = w === null ? 0 : w.load;
    }
    const k = this.#picker.pick(loads, socket.remoteAddress);
    if (k < 0) return false;
    this.#slots[k]!.current!.hand(socket, this.#retry);
    return true;
  }

  #flushPending(): void {
    while (this.#pending.length > 0) {
      const socket = this.#pending[0]!;
      if (socket.destroyed) {
        this.#pending.shift();
        continue;
      }
      if (!this.#place(socket)) return;
      this.#pending.shift();
    }
  }

  // ---- supervision ----

  #fork(slot: Slot): WorkerProcess {
    return new WorkerProcess(slot.index, this.#spec, (w) => this.#onReady(w), (w, e) => this.#onExit(slot, w, e), (w) => this.#onLeaving(slot, w), (w, message) => this.emit('worker-message', { slot: w.slot, pid: w.pid, message }));
  }

  #spawn(slot: Slot): WorkerProcess {
    const w = this.#fork(slot);
    slot.current = w;
    return w;
  }

  #onReady(w: WorkerProcess): void {
    this.emit('worker-ready', { slot: w.slot, pid: w.pid });
    if (clusterWorkerChannel.hasSubscribers) clusterWorkerChannel.publish({ event: 'ready', slot: w.slot, pid: w.pid });
    this.#flushPending();
  }

  /**
   * A worker got SIGTERM or SIGINT itself: it gets no more sockets and drains. Unless the cluster is
   * stopping (a signal to the whole group), the slot is then restarted like after any exit.
   */
  #onLeaving(slot: Slot, w: WorkerProcess): void {
    if (w.state !== 'ready') return;
    if (w === slot.current && this.#stopping === null) {
      // Counted as a failure only if it keeps happening: a worker that ran resetAfter starts again at 1.
      slot.draining.add(w);
      slot.current = null;
      if (w.readyAt !== 0 && Date.now() - w.readyAt >= this.#restart.resetAfter) slot.failures = 0;
      slot.failures++;
      if (slot.next === null) this.#scheduleRestart(slot);
    }
    void w.drain(this.#drainTimeout, this.#settle);
  }

  #onExit(slot: Slot, w: WorkerProcess, e: WorkerExit): void {
    const expected = this.#stopping !== null || w !== slot.current;
    // The slot's counts keep what the worker received and refused.
    slot.pastAccepted += w.accepted;
    slot.pastRefused += w.refused;
    this.#lost += w.lost;
    slot.draining.delete(w);
    if (w === slot.current) {
      slot.current = null;
      if (this.#stopping === null) {
        // A worker that ran long enough starts the count of failures in a row again.
        if (w.readyAt !== 0 && Date.now() - w.readyAt >= this.#restart.resetAfter) slot.failures = 0;
        slot.failures++;
        if (slot.next === null) this.#scheduleRestart(slot);
      }
    } else if (w === slot.next) {
      slot.next = null;
    }
    const info = { slot: slot.index, pid: w.pid, code: e.code, signal: e.signal, expected };
    this.emit('worker-exit', info);
    if (clusterWorkerChannel.hasSubscribers) clusterWorkerChannel.publish({ event: 'exit', ...info });
  }

  #scheduleRestart(slot: Slot): void {
    if (slot.timer !== null || this.#stopping !== null) return;
    const delay = backoffDelay(this.#restart, Math.max(slot.failures, 1) - 1);
    slot.timer = setTimeout(() => {
      slot.timer = null;
      if (this.#stopping !== null || slot.current !== null) return;
      slot.restarts++;
      this.#spawn(slot);
    }, delay);
    const info = { slot: slot.index, delay, failures: slot.failures };
    this.emit('restart-scheduled', info);
    if (clusterWorkerChannel.hasSubscribers) clusterWorkerChannel.publish({ event: 'restart-scheduled', ...info });
  }
}
