// Shared by the cluster tests: the worker fixtures' paths and a client that learns which worker took it.
import net from 'node:net';
import { once } from 'node:events';
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

/** Connects and reads the echo worker's greeting "<slot> <pid>\n". */
export function connectEcho(port: number, localAddress?: string): Promise<Client> {
  const socket = net.connect({ port, host: '127.0.0.1', ...(localAddress !== undefined ? { localAddress } : {}) });
  socket.setEncoding('utf8');
  const closed = once(socket, 'close').then(() => undefined, () => undefined);
  let text = '';
  const waiters: ((line: string) => void)[] = [];
  let greeted: ((g: { slot: number; pid: number }) => void) | null = null;
  let failed: ((e: Error) => void) | null = null;
  socket.on('data', (chunk: string) => {
    text += chunk;
    let i: number;
    while ((i = text.indexOf('\n')) >= 0) {
      const line = text.slice(0, i);
      text = text.slice(i + 1);
      if (greeted !== null) {
        const [slot, pid] = line.split(' ').map(Number);
        greeted({ slot: slot!, pid: pid! });
        greeted = null;
      } else waiters.shift()?.(line);
    }
  });
  socket.on('error', (e) => failed?.(e));
  socket.on('close', () => failed?.(new Error('closed before the greeting')));
  return new Promise<Client>((resolve, reject) => {
    failed = reject;
    greeted = ({ slot, pid }) => {
      failed = null;
      resolve({
        socket,
        slot,
        pid,
        closed,
        echo: (line) =>
          new Promise<string>((res, rej) => {
            waiters.push(res);
            socket.write(line + '\n', (e) => e && rej(e));
            closed.then(() => rej(new Error('closed')));
          }),
      });
    };
  });
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
