// Receiving: input arriving (Node's chunks linked into the reader, 'link', or bytes that libuv read
// straight into the reader's pooled region, 'onread'), and whether the socket reads. New input goes
// to a pending wait, else to onRequest; at maxInboundBytes of unconsumed input reading pauses until
// the handler consumes. updateReading() is the one place that pauses and resumes the socket, from the
// reasons to stop (this connection's input limit, the loop's input budget, a draining shutdown once
// no partial message is left to complete); charge() gives the input budget this connection's share.
import { BUDGET_PAUSED, CLOSING, type ConnState, DRAINING, LIMIT_PAUSED, READ_PAUSED, canDispatch } from './state.js';
import { dispatch } from './dispatch.js';
import { checkWaiter } from './reader.js';

export function onData(core: ConnState<any>, chunk: Buffer): void {
  if (core.has(CLOSING)) return;
  core.input.link(chunk);
  onInput(core, chunk.length);
}

/** onread mode: `n` bytes landed in the region the reader malloc'd for the socket. */
export function onRead(core: ConnState<any>, n: number): void {
  const input = core.input;
  if (core.has(CLOSING) || input.closed) return;
  input.mallocAck(n);
  input.flush();
  onInput(core, n);
}

function onInput(core: ConnState<any>, n: number): void {
  const input = core.input;
  core.received += n;
  const w = core.waiter;
  if (w !== null) checkWaiter(core, w);
  else if (canDispatch(core)) dispatch(core);
  if (core.has(CLOSING)) return;
  if (!core.has(LIMIT_PAUSED) && input.length >= core.opts.maxInboundBytes) {
    core.state |= LIMIT_PAUSED;
    updateReading(core);
  }
  // Input kept past this read moves out of Node's chunks into pooled memory (see dispatch.ts).
  if (input.length !== 0) input.compact();
  charge(core);
}

export function updateReading(core: ConnState<any>): void {
  const st = core.state;
  if ((st & CLOSING) !== 0) return;
  const pause = (st & (LIMIT_PAUSED | BUDGET_PAUSED)) !== 0 || ((st & DRAINING) !== 0 && core.input.length === 0);
  if (pause === ((st & READ_PAUSED) !== 0)) return;
  if (pause) {
    core.state = st | READ_PAUSED;
    core.socket.pause();
  } else {
    core.state = st & ~READ_PAUSED;
    core.socket.resume();
  }
}

/** Tells the EventLoop's input budget what this connection buffers now (0 once it is closing). */
export function charge(core: ConnState<any>): void {
  const a = core.account;
  if (a !== null) a.set((core.state & CLOSING) !== 0 ? 0 : core.input.length);
}
