// Input arriving: Node's chunks linked into the reader ('link'), or bytes that libuv read straight
// into the reader's pooled region ('onread'). New input goes to a pending wait, else to onRequest;
// at maxInboundBytes of unconsumed input reading pauses until the handler consumes.
import { CLOSING, type Core, LIMIT_PAUSED, canDispatch } from './state.js';
import { dispatch } from './dispatch.js';
import { charge, updateReading } from './reading.js';
import { checkWaiter } from './waits.js';

export function onData(core: Core<any>, chunk: Buffer): void {
  if (core.has(CLOSING)) return;
  core.input.link(chunk);
  onInput(core, chunk.length);
}

/** onread mode: `n` bytes landed in the region the reader malloc'd for the socket. */
export function onRead(core: Core<any>, n: number): void {
  const input = core.input;
  if (core.has(CLOSING) || input.closed) return;
  input.mallocAck(n);
  input.flush();
  onInput(core, n);
}

function onInput(core: Core<any>, n: number): void {
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
