// The onRequest loop. At most one call runs at a time. After a call settles its views are released,
// and it is called again only while input is left and the call consumed something or new input
// arrived during it: a handler that neither reads nor closes waits for more data instead of spinning.
import {
  CLOSING,
  type ConnState,
  DISCONNECT_PENDING,
  DRAINING,
  INACTIVE,
  LIMIT_PAUSED,
  PEER_ENDED,
  READY,
  RUNNING,
  canDispatch,
  closesOnPeerEnd,
} from './state.js';
import { InboundLimitError } from '../errors.js';
import { beginClose, finish } from './lifecycle.js';
import { FLUSHED, releaseInput } from './send.js';
import { trackPartial } from './partial-timeout.js';
import { charge, updateReading } from './receive.js';
import { report } from './report.js';
import { isThenable } from '../util/thenable.js';

/** Calls onRequest while it makes progress; a sync handler loops here, an async one resumes in afterRequest. */
export function dispatch(core: ConnState<any>): void {
  core.state |= RUNNING;
  const input = core.input;
  for (;;) {
    core.before = core.received - input.length;
    core.seen = core.received;
    let r: void | Promise<void>;
    try {
      r = core.onRequest!(core.conn.ctx, core.conn);
    } catch (err) {
      report(core, err);
      core.conn.close(err);
      r = undefined;
    }
    // A handler that ends with `return w.flush()` and whose output went to the socket returns the
    // transport's own settled promise: done now, without a reaction and a microtask per call.
    if (r !== FLUSHED && isThenable(r)) {
      if (core.onSettled === null) bindReactions(core);
      r.then(core.onSettled, core.onRejected);
      return;
    }
    if (!settled(core)) return;
  }
}

/** The reactions to a handler's promise, bound once per connection (most handlers never need them). */
function bindReactions(core: ConnState<any>): void {
  core.onSettled = () => afterRequest(core);
  core.onRejected = (err) => afterRejected(core, err);
}

/** A handler's promise settled. */
export function afterRequest(core: ConnState<any>): void {
  if (settled(core)) dispatch(core);
}

/** A handler's promise rejected: reported, and the connection closed with it. */
export function afterRejected(core: ConnState<any>, err: unknown): void {
  report(core, err);
  core.conn.close(err);
  afterRequest(core);
}

/** After an onRequest call settled: release its views, then decide whether to call it again. */
function settled(core: ConnState<any>): boolean {
  const input = core.input;
  // Views of this call's input stay valid until output written from them has been sent: a reply
  // that references input (writeBinary above 4 KiB) must not see that memory reused mid-write.
  if (!input.closed) {
    releaseInput(core);
    // Input left for a later call is copied out of Node's chunks into pooled blocks (link mode):
    // kept in the chunks, a flood of partial messages kept its memory mapped long after it was freed.
    if (input.length !== 0) input.compact();
  }
  charge(core);
  if (core.has(CLOSING)) {
    core.state &= ~RUNNING;
    finish(core);
    return false;
  }
  const left = input.length;
  const progressed = core.received - left !== core.before;
  // Input that arrived while an async call ran may be what it was missing: the call saw none of it.
  const arrived = core.received !== core.seen;
  if ((progressed || arrived) && left > 0 && core.onRequest !== null && core.waiter === null) return true;
  core.state &= ~RUNNING;
  const limit = core.opts.maxInboundBytes;
  // Stuck at the limit with nothing in flight: the handler waits for more than the limit allows.
  // With holds outstanding, reading just stays paused: the pending work re-dispatches the input.
  if (!progressed && !arrived && left >= limit && core.holds === 0) {
    const err = new InboundLimitError(limit);
    report(core, err);
    core.conn.close(err);
    return false;
  }
  if (core.holds === 0 && ((core.has(DRAINING) && left === 0) || (core.has(PEER_ENDED) && closesOnPeerEnd(core)))) {
    beginClose(core, undefined);
    return false;
  }
  if (core.has(LIMIT_PAUSED) && left < limit) core.state &= ~LIMIT_PAUSED;
  updateReading(core);
  trackPartial(core, left, progressed);
  return false;
}

/** onConnect settled (or there is none): onRequest may run, and what waited for it happens now. */
export function setReady(core: ConnState<any>): void {
  if (core.has(CLOSING)) return;
  core.state |= READY;
  if (core.has(DISCONNECT_PENDING)) {
    core.state &= ~DISCONNECT_PENDING;
    callOnDisconnect(core);
  }
  if (canDispatch(core)) dispatch(core);
  else if (core.has(PEER_ENDED) && !core.has(RUNNING) && core.holds === 0 && closesOnPeerEnd(core)) beginClose(core, undefined);
}

/** isActive() turns false because the peer or the socket ended the connection: onDisconnect runs once. */
export function markInactive(core: ConnState<any>): void {
  if (core.has(INACTIVE)) return;
  core.state |= INACTIVE;
  callOnDisconnect(core);
}

/** The peer ended the connection while it was active; reported once the connection is ready. */
export function callOnDisconnect(core: ConnState<any>): void {
  const fn = core.opts.onDisconnect;
  if (fn === undefined) return;
  if (!core.has(READY)) {
    core.state |= DISCONNECT_PENDING;
    return;
  }
  try {
    fn(core.conn.ctx, core.conn);
  } catch (err) {
    report(core, err);
  }
}
