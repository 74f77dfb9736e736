// Utilities shared by the cross-package tests (hardening, faults).
import type { OnRequest } from '@nocopy/transport';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

/** Rejects with a clear message when `p` has not settled after `ms` (a liveness bound, never an assertion on speed). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, bound]).finally(() => clearTimeout(timer));
}

/** Polls `cond` until true (liveness bound `ms`). */
export async function until(cond: () => boolean, what: string | (() => string), ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(2);
  }
}

/** Length-prefixed echo (the payload moves zero-copy); a partial frame is left for the next call. */
export const lengthPrefixedEcho: OnRequest<any> = (_ctx, conn) => {
  const r = conn.reader;
  const w = conn.writer;
  let echoed = false;
  while (r.length >= 4) {
    const n = r.peekUint32BE();
    if (r.length < 4 + n) break;
    w.writeUint32BE(r.readUint32BE());
    if (n > 0) w.append(r.slice(n));
    echoed = true;
  }
  if (echoed) return w.flush();
};
