// Slow-loris: input that the handler left unconsumed (a partial message) must be completed within
// the read timeout, counted from when it was left. One timer per connection, re-armed only when it
// fires, so a busy connection does not churn timers.
import { CLOSING, type ConnState, LIMIT_PAUSED, RUNNING } from './state.js';
import { ReadTimeoutError } from '../errors.js';

/** After a handler call: arm the deadline for input left behind, or clear it when there is none. */
export function trackPartial(core: ConnState<any>, left: number, progressed: boolean): void {
  if (left > 0 && core.holds === 0 && core.opts.readTimeout > 0) {
    if (core.partialSince === 0 || progressed) core.partialSince = Date.now();
    core.partialTimer ??= setTimeout(onPartialTimer, core.opts.readTimeout, core).unref();
  } else {
    core.partialSince = 0;
  }
}

export function clearPartial(core: ConnState<any>): void {
  if (core.partialTimer !== null) {
    clearTimeout(core.partialTimer);
    core.partialTimer = null;
  }
}

function onPartialTimer(core: ConnState<any>): void {
  core.partialTimer = null;
  if (core.partialSince === 0 || core.has(CLOSING)) return;
  const ms = core.opts.readTimeout;
  // While a handler runs (its flush may wait for a peer that does not read) or reading is paused at
  // the input limit, the partial input waits for us, not for the peer: the clock restarts. Paused by
  // the loop's input budget, it does not: a stalled peer is still cut at its timeout.
  if (core.has(RUNNING | LIMIT_PAUSED)) core.partialSince = Date.now();
  const left = core.partialSince + ms - Date.now();
  if (left > 0) {
    core.partialTimer = setTimeout(onPartialTimer, left, core).unref();
    return;
  }
  core.conn.close(new ReadTimeoutError(ms));
}
