// Read waits: reader.waitFor(n) and reader.waitUntil(delim) wait for input instead of onRequest. One
// wait at a time per connection; it takes the input while it is pending.
import type { Delimiter } from '@nocopy/linkbuffer';
import { CLOSING, type Core, PEER_ENDED, READY, RUNNING, type Waiter, canDispatch, LIMIT_PAUSED } from './state.js';
import { AbortError, ConcurrentReadError, ConnClosedError, InboundLimitError, ReadTimeoutError } from '../errors.js';
import { updateReading } from './reading.js';
import type { WaitOptions } from './reader.js';

export function wait(core: Core<any>, need: number, delim: Delimiter | null, options?: WaitOptions): Promise<unknown> {
  if (core.waiter !== null) return Promise.reject(new ConcurrentReadError());
  if (core.has(CLOSING | PEER_ENDED)) {
    return Promise.reject(new ConnClosedError(core.has(PEER_ENDED) ? 'the peer closed the connection' : 'connection closed', { cause: core.conn.error }));
  }
  const limit = core.opts.maxInboundBytes;
  if (need > limit) return Promise.reject(new InboundLimitError(limit, need));
  const signal = options?.signal ?? null;
  if (signal?.aborted) return Promise.reject(new AbortError(signal.reason));
  return new Promise((resolve, reject) => {
    const w: Waiter = { need, delim, resolve, reject, timer: null, signal, onAbort: null };
    core.waiter = w;
    const ms = options?.timeout ?? core.opts.readTimeout;
    if (ms > 0) w.timer = setTimeout(() => settleWaiter(core, w, new ReadTimeoutError(ms)), ms);
    if (signal !== null) {
      w.onAbort = () => settleWaiter(core, w, new AbortError(signal.reason));
      signal.addEventListener('abort', w.onAbort, { once: true });
    }
    // A wait asks for more input: a socket paused at the input limit reads again.
    if (core.has(LIMIT_PAUSED)) {
      core.state &= ~LIMIT_PAUSED;
      updateReading(core);
    }
  });
}

/** New input arrived while a wait is pending: does it satisfy it? */
export function checkWaiter(core: Core<any>, w: Waiter): void {
  const input = core.input;
  if (w.delim === null) {
    if (input.length >= w.need) settleWaiter(core, w, undefined, undefined);
    return;
  }
  const found = input.until(w.delim);
  if (found !== null) {
    settleWaiter(core, w, undefined, found);
  } else if (input.length >= core.opts.maxInboundBytes) {
    const err = new InboundLimitError(core.opts.maxInboundBytes);
    settleWaiter(core, w, err);
    core.conn.close(err);
  }
}

export function settleWaiter(core: Core<any>, w: Waiter, error: unknown, value?: unknown): void {
  if (core.waiter !== w) return;
  core.waiter = null;
  if (w.timer !== null) clearTimeout(w.timer);
  if (w.onAbort !== null) w.signal!.removeEventListener('abort', w.onAbort);
  if (error !== undefined) w.reject(error);
  else w.resolve(value);
  // Input that arrived for nobody goes to the handler once the waiter is gone.
  if ((core.state & (READY | RUNNING | CLOSING)) === READY && core.onRequest !== null && core.input.length > 0) {
    queueMicrotask(() => {
      if (canDispatch(core)) core.ops.dispatch(core);
    });
  }
}
