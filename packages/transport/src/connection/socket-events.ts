// The socket's listeners: shared named functions that find their connection through a symbol, not
// closures per connection.
import type { Socket } from 'node:net';
import { CLOSING, type ConnState, PEER_ENDED, READ_PAUSED, RUNNING, READY, SOCKET_CLOSED, WRITE_ENDED, canDispatch, closesOnPeerEnd } from './state.js';
import { connectionOpenChannel } from '../diagnostics.js';
import { ConnClosedError, IdleTimeoutError } from '../errors.js';
import { dispatch, markInactive } from './dispatch.js';
import { onData } from './receive.js';
import { beginClose, fail, finish } from './lifecycle.js';
import { onDrain } from './send.js';
import { settleWaiter } from './reader.js';

const kSocketState = Symbol('nocopy.socketState');
type SocketWithState = Socket & { [kSocketState]?: ConnState<any> };

/** From the start: errors and close are observed even before onPrepare returns. */
export function attach(core: ConnState<any>): void {
  const s = core.socket as SocketWithState;
  s[kSocketState] = core;
  s.on('error', onSocketError);
  s.on('close', onSocketClose);
}

/** Starts reading (and the idle timer); the open is published. */
export function start(core: ConnState<any>): void {
  const s = core.socket;
  s.on('data', onSocketData);
  s.on('end', onSocketEnd);
  s.on('drain', onSocketDrain);
  s.on('timeout', onSocketTimeout);
  // Sockets of a pauseOnConnect server (and adopted ones, see pooled-reads.ts) start paused.
  if (s.readableFlowing === false && !core.has(READ_PAUSED)) s.resume();
  if (core.opts.idleTimeout > 0) s.setTimeout(core.opts.idleTimeout);
  if (connectionOpenChannel.hasSubscribers) connectionOpenChannel.publish({ connection: core.conn });
}

function onSocketData(this: SocketWithState, chunk: Buffer): void {
  onData(this[kSocketState]!, chunk);
}

function onSocketEnd(this: SocketWithState): void {
  const core = this[kSocketState]!;
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

function onSocketError(this: SocketWithState, err: Error): void {
  fail(this[kSocketState]!, err);
}

function onSocketClose(this: SocketWithState, hadError: boolean): void {
  const core = this[kSocketState]!;
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
function handlesRest(core: ConnState<any>): boolean {
  return (
    (core.state & (PEER_ENDED | WRITE_ENDED)) === (PEER_ENDED | WRITE_ENDED) &&
    core.conn.error === undefined &&
    core.input.length > 0 &&
    (core.has(RUNNING) || canDispatch(core))
  );
}

function onSocketDrain(this: SocketWithState): void {
  onDrain(this[kSocketState]!);
}

function onSocketTimeout(this: SocketWithState): void {
  const core = this[kSocketState]!;
  core.conn.close(new IdleTimeoutError(core.opts.idleTimeout));
}
