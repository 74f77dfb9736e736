// Shared by the cluster tests: the worker fixtures' paths and a client that learns which worker took it.
import type net from 'node:net';
import { RawClient } from '@nocopy/test-kit';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const echoWorker = fileURLToPath(new URL('./workers/echo.js', import.meta.url));
export const rpcWorker = fileURLToPath(new URL('./workers/rpc.js', import.meta.url));

export interface Client {
  socket: net.Socket;
  slot: number;
  pid: number;
  /** Resolves at the socket's close. */
  closed: Promise<void>;
  /** Sends a line and resolves with the echoed line. */
  echo(line: string): Promise<string>;
}

/**
 * Connects and reads the echo worker's greeting "<slot> <pid>\n" (rejects if the socket closes
 * first). A test-kit RawClient underneath; each read has a 60 s liveness bound (a connection may
 * wait in the primary's queue while every worker restarts).
 */
export async function connectEcho(port: number, localAddress?: string): Promise<Client> {
  const c = await RawClient.connect(port, localAddress !== undefined ? { localAddress } : {});
  try {
    const [slot, pid] = (await c.readLine(60_000)).split(' ').map(Number);
    return {
      socket: c.socket,
      slot: slot!,
      pid: pid!,
      closed: c.closed.then(() => undefined),
      echo: async (line) => {
        await c.write(line + '\n');
        return c.readLine(60_000);
      },
    };
  } catch (err) {
    c.destroy();
    throw err;
  }
}

/** Whether a process exists (signal 0 probes without signalling). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Per-slot counts of the clients. */
export function perSlot(clients: Client[], slots: number): number[] {
  const n = new Array<number>(slots).fill(0);
  for (const c of clients) n[c.slot]!++;
  return n;
}

/**
 * A file the RPC worker fixture (workers/rpc.ts) appends one byte to when a `sleep` call starts:
 * pass `env` to the cluster (or the primary process), and `started()` counts the calls that have
 * reached a worker, so a test waits for "every call sent is in a server" instead of sleeping.
 */
export function callLog(): { env: NodeJS.ProcessEnv; started(): number; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), 'nocopy-calls-'));
  const file = join(dir, 'started');
  writeFileSync(file, '');
  return {
    env: { ...process.env, NOCOPY_TEST_CALL_LOG: file },
    started: () => statSync(file).size,
    [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }),
  };
}
