// The socket's listeners: shared named functions that find their connection through a symbol, not
// closures per connection.
import type { Socket } from 'node:net';
import { CLOSING, type Core, PEER_ENDED, READ_PAUSED, RUNNING, READY, SOCKET_CLOSED, WRITE_ENDED, canDispatch, closesOnPeerEnd } from './state.js';
import { connectionOpenChannel } from '../diagnostics.js';
import { ConnClosedError, IdleTimeoutError } from '../errors.js';
import { dispatch, markInactive } from './dispatch.js';
import { onData } from './receive.js';
import { beginClose, fail, finish } from './lifecycle.js';
import { onDrain } from './send.js';
import { settleWaiter } from './waits.js';

const kCore = Symbol('nocopy.core');
type SocketWithCore = Socket & { [kCore]?: Core<any> };

/** From the start: errors and close are observed even before onPrepare returns. */
export function attach(core: Core<any>): void {
  const s = core.socket as SocketWithCore;
  s[kCore] = core;
  s.on('error', onSocketError);
  s.on('close', onSocketClose);
}

/** Starts reading (and the idle timer); the open is published. */
export function start(core: Core<any>): void {
  const s = core.socket;
  s.on('data', onSocketData);
  s.on('end', onSocketEnd);
  s.on('drain', onSocketDrain);
  s.on('timeout', onSocketTimeout);
  // Sockets of a pauseOnConnect server (and adopted ones, see adopt.ts) start paused.
  if (s.readableFlowing === false && !core.has(READ_PAUSED)) s.resume();
  if (core.opts.idleTimeout > 0) s.setTimeout(core.opts.idleTimeout);
  if (connectionOpenChannel.hasSubscribers) connectionOpenChannel.publish({ connection: core.conn });
}

function onSocketData(this: SocketWithCore, chunk: Buffer): void {
  onData(this[kCore]!, chunk);
}

function onSocketEnd(this: SocketWithCore): void {
  const core = this[kCore]!;
  core.state |= PEER_ENDED;
  markInactive(core);
  const w = core.waiter;
  if (w !== null) settleWaiter(core, w, new ConnClosedError('the peer closed the connection'));
  if (core.has(CLOSING)) return;
  // Half-close: what the peer sent before its FIN is still handled; we close after that.
  if ((core.state & (READY | RUNNING)) === READY) {
    if (canDispatch(core)) dispatch(core);
    else if (core.holds === 0 && closesOnPeerEnd(core)) beginClose(core, undefined);
  }
}

function onSocketError(this: SocketWithCore, err: Error): void {
  fail(this[kCore]!, err);
}

function onSocketClose(this: SocketWithCore, hadError: boolean): void {
  const core = this[kCore]!;
  core.state |= SOCKET_CLOSED;
  if (!core.has(CLOSING)) {
    markInactive(core);
    if (!hadError && handlesRest(core)) {
      if (canDispatch(core)) dispatch(core);
      return;
    }
    beginClose(core, undefined);
  }
  finish(core);
}

/**
 * Both FINs were exchanged (the peer's, and ours by closeWrite()), so Node closed the socket, but input
 * the peer sent before its FIN still waits for the handler (a proxy forwarding it waits for the other
 * side to drain): it is still handed over, as after any FIN, and the connection closes once it is
 * consumed (dispatch.ts settled()). Closing now dropped it: the end of a proxied upload was lost.
 */
function handlesRest(core: Core<any>): boolean {
  return (
    (core.state & (PEER_ENDED | WRITE_ENDED)) === (PEER_ENDED | WRITE_ENDED) &&
    core.conn.error === undefined &&
    core.input.length > 0 &&
    (core.has(RUNNING) || canDispatch(core))
  );
}

function onSocketDrain(this: SocketWithCore): void {
  onDrain(this[kCore]!);
}

function onSocketTimeout(this: SocketWithCore): void {
  const core = this[kCore]!;
  core.conn.close(new IdleTimeoutError(core.opts.idleTimeout));
}
