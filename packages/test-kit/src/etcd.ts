// A real etcd for tests: one member on loopback and free ports, in a temporary data directory,
// waited for through its /health endpoint; it can be killed and started again on the same ports and
// data, as a restart in production would. Debian's etcd-server package provides the binary.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './index.js';

/**
 * Why an etcd cannot be started here, or undefined when it can. Under CI=true a test must turn a
 * reason into a failure; elsewhere it may skip with it.
 */
export function etcdMissing(bin = process.env.ETCD_BIN ?? 'etcd'): string | undefined {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) return `${bin} not runnable (${r.error?.message ?? `exit ${r.status}`}); Debian package etcd-server, which .ci/run installs`;
  return undefined;
}

export interface EtcdServer {
  /** The client port on 127.0.0.1. */
  readonly port: number;
  /** `127.0.0.1:port`, as an etcd:// target or the `hosts` option takes it. */
  readonly hostPort: string;
  readonly dataDir: string;
  /** The running process, or null while stopped. */
  readonly process: ChildProcess | null;
  /** Kills etcd (SIGKILL by default: no clean shutdown) and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same ports and data directory and waits until it is healthy. */
  start(): Promise<void>;
  /** Stops it and removes its data directory. */
  close(): Promise<void>;
  /** The last lines etcd wrote, for a failure message. */
  log(): string;
}

export interface StartEtcdOptions {
  /** The binary. Default $ETCD_BIN or `etcd`. */
  bin?: string;
  /** How long to wait for /health. Default 20000 ms. */
  readyTimeout?: number;
}

/** Starts one etcd member on free loopback ports and resolves once it answers /health. */
export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdServer> {
  const bin = options.bin ?? process.env.ETCD_BIN ?? 'etcd';
  const readyTimeout = options.readyTimeout ?? 20_000;
  const port = await freePort();
  const peerPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'nocopy-etcd-'));
  const client = `http://127.0.0.1:${port}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--data-dir', dataDir,
    '--name', 't',
    '--listen-client-urls', client,
    '--advertise-client-urls', client,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `t=${peer}`,
    '--log-level', 'warn',
  ];
  let proc: ChildProcess | null = null;
  let tail: string[] = [];
  const launch = async (): Promise<void> => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = p;
    const keep = (chunk: Buffer) => {
      tail.push(...chunk.toString().split('\n').filter(Boolean));
      if (tail.length > 40) tail = tail.slice(-40);
    };
    p.stdout!.on('data', keep);
    p.stderr!.on('data', keep);
    const exited = once(p, 'exit');
    const deadline = Date.now() + readyTimeout;
    for (;;) {
      if (p.exitCode !== null || p.signalCode !== null) throw new Error(`etcd exited (${p.exitCode ?? p.signalCode}) before it was healthy:\n${tail.join('\n')}`);
      if (await healthy(port)) return;
      if (Date.now() > deadline) {
        p.kill('SIGKILL');
        await exited;
        throw new Error(`etcd not healthy on ${client} after ${readyTimeout} ms:\n${tail.join('\n')}`);
      }
      await sleep(50);
    }
  };
  const stop = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const p = proc as ChildProcess | null;
    if (p === null) return;
    proc = null;
    if (p.exitCode === null && p.signalCode === null) {
      const exited = once(p, 'exit');
      p.kill(signal);
      await exited;
    }
  };
  try {
    await launch();
  } catch (err) {
    await stop();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    hostPort: `127.0.0.1:${port}`,
    dataDir,
    get process() {
      return proc;
    },
    stop,
    start: async () => {
      if (proc !== null) throw new Error('etcd is running');
      await launch();
    },
    close: async () => {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
    log: () => tail.join('\n'),
  };
}

/** etcd answers GET /health with {"health":"true"} once it has a leader. No keep-alive agent: no socket outlives the check. */
function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health', agent: false, timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(res.statusCode === 200 && /"health"\s*:\s*"true"/.test(body)));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}
