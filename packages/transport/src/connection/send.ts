// Output: send() hands every written node to the socket as views in one corked write (one writev)
// unless the socket already holds maxOutboundBytes; then the output waits for the socket's 'drain',
// bounded by the write timeout, and goes out as one batch. Nodes go back to the pool once the socket
// has written them.
import { CLOSING, type ConnState, DRAINING, OUT_WAITING, type DrainWaiter, none, own } from './state.js';
import { ConnClosedError, WriteTimeoutError } from '../errors.js';
import { closeIfIdle, fail } from './lifecycle.js';

/** What flush() and drained() return when nothing waits: settled, and recognised by dispatch.ts. */
export const FLUSHED: Promise<void> = Promise.resolve();
const EMPTY_WRITE = Buffer.alloc(0);

/** Sends what was written: true if it went to the socket (or nothing waits), false if it waits for the peer. */
export function send(core: ConnState<any>): boolean {
  const out = core.output;
  const s = core.socket;
  if (out.closed || !s.writable) throw new ConnClosedError('connection closed', { cause: core.conn.error });
  out.flush();
  if ((core.state & OUT_WAITING) !== 0) return false;
  if (out.length === 0) return true;
  if (!(s.writableNeedDrain && s.writableLength >= core.opts.maxOutboundBytes)) {
    write(core);
    return true;
  }
  core.state |= OUT_WAITING;
  const ms = core.opts.writeTimeout;
  if (ms > 0 && core.writeTimer === null) core.writeTimer = setTimeout(onWriteTimeout, ms, core, ms);
  return false;
}

/** Resolves once no output waits for the peer; rejects when the connection closes or the write timeout passes. */
export function drained(core: ConnState<any>): Promise<void> {
  if ((core.state & OUT_WAITING) === 0) return FLUSHED;
  return new Promise<void>((resolve, reject) => (core.drainWaiters = own(core.drainWaiters)).push({ resolve, reject }));
}

/** send() as a promise: resolves at once unless the output waits for the peer. */
export function flush(core: ConnState<any>): Promise<void> {
  // One small level over sendAsPromise on purpose: writer.flush() and this are inlined into the
  // handler as small functions, which leaves its TurboFan inlining budget where it was with the
  // former adapter level. Called directly, the echo bench's copy handler had budget enough to inline
  // a reader view but not its FastBuffer constructor: a generic construct per frame, +4% instructions.
  return sendAsPromise(core);
}

function sendAsPromise(core: ConnState<any>): Promise<void> {
  try {
    return send(core) ? FLUSHED : drained(core);
  } catch (err) {
    return Promise.reject(err);
  }
}

/** Bytes handed to the connection and not yet written by the kernel. */
export function queued(core: ConnState<any>): number {
  const s = core.socket;
  return (core.output.closed ? 0 : core.output.length) + (s.destroyed ? 0 : s.writableLength);
}

function onWriteTimeout(core: ConnState<any>, ms: number): void {
  core.writeTimer = null;
  const err = new WriteTimeoutError(ms);
  rejectDrainWaiters(core, err);
  core.conn.close(err);
}

/** Hands every readable output node to the socket as a view, in one corked write. */
function write(core: ConnState<any>): void {
  const out = core.output;
  const n = out.length;
  const views = out.views();
  const s = core.socket;
  const last = views.length - 1;
  if (last === 0) {
    s.write(views[0]!);
  } else {
    s.cork();
    for (let i = 0; i <= last; i++) s.write(views[i]!);
    s.uncork();
  }
  if (s.writableLength === 0) {
    // The kernel took every byte synchronously (Node's try-write): the nodes are free at once,
    // with no slice and no write callback (the common case on a socket without backpressure).
    out.skip(n);
    out.release();
    // Every byte queued before is written too: no held input is referenced any more.
    if (core.held.length !== 0) freeHeld(core, Infinity);
    return;
  }
  // Still queued: the nodes stay referenced by a slice until a trailing empty write's callback,
  // which Node runs after every write before it.
  core.batches++;
  (core.inflight = own(core.inflight)).push(out.slice(n));
  s.write(EMPTY_WRITE, core.onWritten ?? bindWritten(core));
}

/** The write callback, bound once per connection: most connections never queue a batch. */
function bindWritten(core: ConnState<any>): (err?: Error | null) => void {
  return (core.onWritten = (err) => onWritten(core, err));
}

/** The socket's write callback for the oldest batch. */
export function onWritten(core: ConnState<any>, err?: Error | null): void {
  core.inflight.shift()?.close();
  core.written++;
  if (core.held.length !== 0) freeHeld(core, core.written);
  if (err && !core.has(CLOSING)) fail(core, err);
}

/**
 * Gives back the input consumed so far (after an onRequest call settles). Output flushed from it may
 * reference it (writeBinary of a view over 4 KiB), so while output is in the socket or waits in the
 * writer, the consumed memory is detached from the input and freed by the write callback of the
 * batch that holds that output. Each call's input goes back with its own batch: waiting instead for
 * a moment with no write in flight kept a whole echoed stream while writes overlapped (the 200 MiB
 * flood held 140 MiB of consumed input in backpressure.test).
 */
export function releaseInput(core: ConnState<any>): void {
  const input = core.input;
  const out = core.output;
  const pending = !out.closed && out.length + out.mallocLength !== 0;
  if (core.inflight.length === 0 && !pending) {
    input.release();
    return;
  }
  const held = input.detachConsumed();
  if (held === null) return;
  (core.held = own(core.held)).push(held);
  // Output still in the writer leaves in the next batch; else the newest batch holds all of it.
  (core.heldUntil = own(core.heldUntil)).push(pending ? core.batches + 1 : core.batches);
}

/** Frees the held input whose batch is written (`upTo` or earlier). */
function freeHeld(core: ConnState<any>, upTo: number): void {
  const held = core.held;
  const until = core.heldUntil;
  let i = 0;
  while (i < held.length && until[i]! <= upTo) held[i++]!.close();
  if (i === 0) return;
  held.splice(0, i);
  until.splice(0, i);
}

export function onDrain(core: ConnState<any>): void {
  if (core.writeTimer !== null) {
    clearTimeout(core.writeTimer);
    core.writeTimer = null;
  }
  if ((core.state & OUT_WAITING) === 0) return;
  core.state &= ~OUT_WAITING;
  if (!core.output.closed && core.output.length > 0) write(core);
  const waiters = core.drainWaiters;
  core.drainWaiters = none();
  for (const w of waiters) w.resolve();
  // Shutdown: a drained send may have been this connection's last work (e.g. one another connection
  // started, as a proxy does). Checked after the waiters' continuations ran.
  if (core.has(DRAINING)) queueMicrotask(() => closeIfIdle(core));
}

export function rejectDrainWaiters(core: ConnState<any>, err: unknown): void {
  core.state &= ~OUT_WAITING;
  const waiters: DrainWaiter[] = core.drainWaiters;
  core.drainWaiters = none();
  for (const w of waiters) w.reject(err);
}
