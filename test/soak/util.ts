// Small helpers shared by the soak modules.
import net from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

/** A bound the harness puts on a wait. Its code is not one the transport produces: it never counts as expected. */
export class SoakTimeoutError extends Error {
  readonly code = 'ERR_SOAK_TIMEOUT';
  constructor(what: string, ms: number) {
    super(`no ${what} within ${ms} ms`);
  }
}

/** A raw socket closed while a reply was awaited, without a socket error: the same meaning as the transport's ERR_CONN_CLOSED. */
export class RawConnClosedError extends Error {
  readonly code = 'ERR_CONN_CLOSED';
  constructor() {
    super('raw socket closed with replies pending');
  }
}

/** Rejects with SoakTimeoutError when `p` has not settled within `ms` (a liveness bound). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SoakTimeoutError(what, ms)), ms);
  });
  return Promise.race([p, bound]).finally(() => clearTimeout(timer));
}

/** The settled outcome of `p`, never a rejection. */
export function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/**
 * Resolves when the emitter emits `event`. Unlike events.once(), never rejects: once() rejects when
 * 'error' comes first, and a socket that is reset emits 'error' before 'close'.
 */
export function onceQuiet(emitter: NodeJS.EventEmitter, event: string): Promise<void> {
  return new Promise((resolve) => emitter.once(event, () => resolve()));
}

/**
 * A raw socket to 127.0.0.1:port for a probe, connected, with a promise of its close (errors are
 * ignored: a reset is one way to be closed). Null if it does not connect within 5 s; `onFail` gets why.
 */
export async function connectRaw(port: number, onFail?: (err: Error) => void): Promise<{ socket: net.Socket; closed: Promise<void> } | null> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  const closed = onceQuiet(socket, 'close');
  try {
    await within(once(socket, 'connect'), 5000, 'connect');
    return { socket, closed };
  } catch (err) {
    onFail?.(err as Error);
    socket.destroy();
    await closed;
    return null;
  }
}
