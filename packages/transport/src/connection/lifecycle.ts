// Closing: close() and the internal closes begin here; the connection finishes once its socket has
// closed and no onRequest runs: buffers go back, close callbacks run once (in reverse order, each
// isolated), the close is published. Also a shutdown's drain and deadline.
import { once } from 'node:events';
import {
  CLOSING,
  type ConnState,
  DRAINING,
  FINISHED,
  INACTIVE,
  OUT_WAITING,
  OWN_CLOSE,
  READY,
  RUNNING,
  SOCKET_CLOSED,
  none,
} from './state.js';
import { connectionCloseChannel, connectionErrorChannel } from '../diagnostics.js';
import { ConnClosedError } from '../errors.js';
import { markInactive } from './dispatch.js';
import { rejectDrainWaiters } from './send.js';
import { clearPartial } from './partial-timeout.js';
import { charge, updateReading } from './receive.js';
import { report } from './report.js';
import { settleWaiter } from './reader.js';
import type { CloseCallback } from '../options.js';
import { isThenable } from '../util/thenable.js';

/** close(error?): graceful without an error (or with `graceful`), an abort with one. Idempotent. */
export function close(core: ConnState<any>, error: unknown, graceful = false): void {
  core.state |= OWN_CLOSE;
  if (core.has(CLOSING)) {
    // A peer-closed connection keeps unread input readable until the user closes it.
    if (core.has(FINISHED) && !core.input.closed) core.input.close();
    return;
  }
  beginClose(core, error, graceful);
}

export function beginClose(core: ConnState<any>, error: unknown, graceful = false): void {
  if (core.has(CLOSING)) return;
  core.state |= CLOSING | INACTIVE;
  const conn = core.conn;
  if (error !== undefined && conn.error === undefined) conn.error = error;
  // Input of a closing connection no longer counts: nothing will consume it.
  charge(core);
  const w = core.waiter;
  if (w !== null) settleWaiter(core, w, new ConnClosedError('connection closed', { cause: error }));
  if (core.writeTimer !== null) {
    clearTimeout(core.writeTimer);
    core.writeTimer = null;
  }
  clearPartial(core);
  // An error (and its stack) only for someone to receive it: most connections close with no one waiting.
  if (core.drainWaiters.length > 0) rejectDrainWaiters(core, new ConnClosedError('connection closed', { cause: error }));
  else core.state &= ~OUT_WAITING;
  const s = core.socket;
  s.setTimeout(0);
  if (!s.destroyed) {
    // Not `!s.writable`: a socket that closeWrite() (or Node, for a peer's FIN without allowHalfOpen)
    // already ended is no longer writable, yet still writing its queue; destroying it dropped the tail
    // of that output (the proxy lost the end of an upload when the upstream's FIN followed the client's).
    if ((error !== undefined && !graceful) || s.writableLength === 0) {
      s.destroy();
    } else {
      // Output already handed to the socket is sent before the FIN; bounded by a linger timer.
      if (!s.writableEnded) s.end();
      s.once('finish', destroySocket);
      const linger = core.opts.writeTimeout > 0 ? core.opts.writeTimeout : 5000;
      setTimeout(destroySocket.bind(s), linger).unref();
    }
  }
  finish(core);
}

/** A socket error: published, and the connection closes with it. */
export function fail(core: ConnState<any>, err: Error): void {
  const conn = core.conn;
  if (conn.error === undefined) conn.error = err;
  if (connectionErrorChannel.hasSubscribers) connectionErrorChannel.publish({ connection: conn, error: err });
  markInactive(core);
  beginClose(core, err);
}

export function finish(core: ConnState<any>): void {
  if ((core.state & (FINISHED | SOCKET_CLOSED | RUNNING)) !== SOCKET_CLOSED) return;
  core.state |= FINISHED;
  const conn = core.conn;
  // Unread input stays readable after a peer close until the user closes, when there is no handler to take it.
  if (core.has(OWN_CLOSE) || core.onRequest !== null || core.input.length === 0) core.input.close();
  core.output.close();
  for (const b of core.inflight) b.close();
  for (const b of core.held) b.close();
  core.inflight = core.held = none();
  core.heldUntil = none();
  const cbs = core.closeCallbacks;
  core.closeCallbacks = none();
  for (let i = cbs.length - 1; i >= 0; i--) runCallback(core, cbs[i]!);
  if (connectionCloseChannel.hasSubscribers) connectionCloseChannel.publish({ connection: conn, error: conn.error });
  core.onFinish?.(conn);
}

export function runCallback<C>(core: ConnState<C>, cb: CloseCallback<C>): void {
  try {
    const r = cb(core.conn);
    if (isThenable(r)) r.then(undefined, (err: unknown) => report(core, err));
  } catch (err) {
    report(core, err);
  }
}

/**
 * No handler running, no input waiting for one, no output waiting for the peer. Output already queued
 * in the socket does not count: a graceful close sends it before the FIN.
 */
export function isIdle(core: ConnState<any>): boolean {
  return (core.state & (RUNNING | READY | OUT_WAITING)) === READY && core.holds === 0 && core.input.length === 0;
}

/** Shutdown: stop reading new input, answer what was received, then close. */
export function drain(core: ConnState<any>): void {
  if (core.has(CLOSING)) return;
  core.state |= DRAINING;
  updateReading(core);
  if (isIdle(core)) close(core, undefined);
}

export function closeIfIdle(core: ConnState<any>): void {
  if (core.has(DRAINING) && !core.has(CLOSING) && isIdle(core)) close(core, undefined);
}

/** Shutdown deadline: drop whatever is left; resolves when the socket has closed. */
export function destroy(core: ConnState<any>, error: unknown): Promise<void> {
  if (!core.has(CLOSING)) beginClose(core, error);
  const s = core.socket;
  s.destroy();
  return s.closed ? Promise.resolve() : once(s, 'close').then(() => undefined);
}

function destroySocket(this: { destroy(): void }): void {
  this.destroy();
}
