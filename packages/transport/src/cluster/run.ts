// runCluster(): checks the cluster's options, binds the one address (or, with reusePort, leaves the
// binding to every worker), makes the Cluster (primary.ts) and waits for its first workers.
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { resolve as resolvePath } from 'node:path';
import type { ForkSpec } from './worker-process.js';
import { POLICIES, type Policy } from './policies.js';
import { resolveRestart, type RestartOptions } from './backoff.js';
import { reusePortSupported } from './reuse-port.js';
import { ReusePortUnsupportedError } from './errors.js';
import { Cluster, kInstallSignals, kStart } from './primary.js';
import { InvalidOptionError } from '../errors.js';
import { checkBoolean, checkCount, checkEnum, checkMs } from '../util/validate.js';

export interface ClusterListenOptions {
  port?: number;
  host?: string;
  backlog?: number;
  /** A Unix socket path instead of a TCP port (not with reusePort). */
  path?: string;
}

export interface ClusterOptions {
  /** The worker module (a path or file: URL). It builds its server and calls serveWorker(server). */
  module: string | URL;
  /** Worker processes. Default os.availableParallelism(). */
  workers?: number;
  listen?: ClusterListenOptions;
  /** How the primary hands out connections. Default 'round-robin'. */
  policy?: Policy;
  /**
   * Let the kernel balance instead: every worker listens on the port with SO_REUSEPORT and the
   * primary hands nothing. true requires it (ReusePortUnsupportedError where Node lacks it, Node < 22.12
   * or not Linux); 'auto' uses it where available and falls back to the primary. Default false.
   */
  reusePort?: boolean | 'auto';
  restart?: RestartOptions;
  /** A worker that has not called serveWorker() within this many ms is killed (a failed start). Default 30000. */
  startTimeout?: number;
  /** The default deadline of shutdown() and restart() for a worker's connections, in ms. Default 30000. */
  drainTimeout?: number;
  /**
   * A worker told to drain keeps reading for this many ms after the last connection it was handed,
   * before its graceful shutdown closes idle connections: a connection handed to it a moment ago is
   * idle only because its first request has not arrived yet. Default 100.
   */
  drainSettle?: number;
  /** Accepted sockets held while no worker is ready (all restarting); past it they are refused. Default 1024. */
  maxPending?: number;
  /**
   * SIGTERM and SIGINT shut the cluster down (a second one kills the workers), SIGHUP restarts it.
   * Default false (a library leaves signals alone).
   */
  signals?: boolean;
  /** Arguments, execArgv and environment of the worker processes (default: the primary's execArgv and env). */
  args?: string[];
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
}

/** Starts a cluster: listens, forks the workers, and resolves once they are up (see ClusterOptions). */
export async function runCluster(options: ClusterOptions): Promise<Cluster> {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', options, 'an object');
  const module = resolveModule(options.module);
  const workers = checkCount('workers', options.workers, availableParallelism());
  const policy = checkEnum('policy', options.policy, POLICIES, 'round-robin');
  const restart = resolveRestart(options.restart);
  const startTimeout = checkMs('startTimeout', options.startTimeout, 30_000);
  const drainTimeout = checkMs('drainTimeout', options.drainTimeout, 30_000);
  const settle = checkMs('drainSettle', options.drainSettle, 100);
  const maxPending = checkCount('maxPending', options.maxPending, 1024, true);
  const signals = checkBoolean('signals', options.signals, false);
  const listen = options.listen ?? {};
  if (listen === null || typeof listen !== 'object') throw new InvalidOptionError('listen', listen, '{ port, host } or { path }');
  const reuse = options.reusePort ?? false;
  if (reuse !== true && reuse !== false && reuse !== 'auto') throw new InvalidOptionError('reusePort', reuse, "true, false or 'auto'");
  let useReuse = false;
  if (reuse !== false) {
    const supported = listen.path === undefined && (await reusePortSupported());
    if (reuse === true && !supported) throw new ReusePortUnsupportedError();
    useReuse = supported;
  }
  if (options.args !== undefined && !(Array.isArray(options.args) && options.args.every((a) => typeof a === 'string'))) throw new InvalidOptionError('args', options.args, 'an array of strings');
  const host = listen.host ?? '127.0.0.1';
  let server: net.Server | null = null;
  let address: AddressInfo | string;
  if (useReuse) {
    // Each worker binds the port itself; with port 0 each would get a different one.
    if (!listen.port) throw new InvalidOptionError('listen.port', listen.port, 'a fixed port (reusePort: every worker binds it)');
    address = { address: host, port: listen.port, family: host.includes(':') ? 'IPv6' : 'IPv4' };
  } else {
    // pauseOnConnect: the primary reads nothing, so the worker (and its EventLoop's read path) gets every byte.
    server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
    const listening = once(server, 'listening');
    if (listen.path !== undefined) server.listen({ path: listen.path, backlog: listen.backlog });
    else server.listen({ port: listen.port ?? 0, host, backlog: listen.backlog });
    await Promise.race([listening, once(server, 'error').then(([err]) => Promise.reject(err))]);
    address = server.address()!;
  }
  const spec: ForkSpec = {
    module,
    args: options.args ?? [],
    execArgv: options.execArgv,
    env: options.env ?? process.env,
    listen: useReuse ? { port: listen.port!, host, backlog: listen.backlog } : null,
    startTimeout,
    drainTimeout,
  };
  const cluster = new Cluster({ server, address, workers, policy, spec, restart, drainTimeout, settle, maxPending });
  await cluster[kStart]();
  if (signals) cluster[kInstallSignals]();
  return cluster;
}

function resolveModule(m: unknown): string {
  if (m instanceof URL) return fileURLToPath(m);
  if (typeof m !== 'string' || m === '') throw new InvalidOptionError('module', m, 'a path or file: URL of the worker module');
  return m.startsWith('file:') ? fileURLToPath(m) : resolvePath(m);
}

