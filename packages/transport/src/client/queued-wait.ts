// A caller waiting in a queue for something that frees up later (a ready subchannel, a pooled
// connection), bounded by a timeout and an AbortSignal. The channel and the connection pool both wait
// this way: settling the waiter takes it out of its queue and clears its timer and abort listener;
// while it is in the queue it is pending, so a waiter the owner has taken out to serve (a dial started
// for it) is no longer cut by its timer or its signal.
import { AbortError } from '../errors.js';

export interface Queued<T> {
  resolve(value: T): void;
  reject(err: unknown): void;
}

/**
 * Queues a waiter made of `fields` plus resolve/reject, and returns its promise. At `timeout` ms (0 =
 * none) it rejects with `timedOut()`, on `signal` with an AbortError, unless it has left the queue.
 * `onLeave` runs when settling takes it out of the queue.
 */
export function waitInQueue<T, W extends Queued<T>>(
  queue: W[],
  fields: Omit<W, 'resolve' | 'reject'>,
  timeout: number,
  timedOut: () => unknown,
  signal: AbortSignal | null | undefined,
  onLeave?: () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const leave = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      const i = queue.indexOf(w);
      if (i >= 0) {
        queue.splice(i, 1);
        onLeave?.();
      }
    };
    const w = {
      ...fields,
      resolve: (v: T) => {
        leave();
        resolve(v);
      },
      reject: (e: unknown) => {
        leave();
        reject(e);
      },
    } as W;
    const expire = (err: unknown) => {
      if (queue.includes(w)) w.reject(err);
    };
    const onAbort = () => expire(new AbortError(signal!.reason));
    queue.push(w);
    if (timeout > 0) timer = setTimeout(() => expire(timedOut()), timeout);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
