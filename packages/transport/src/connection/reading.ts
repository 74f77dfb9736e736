// Whether the socket reads: the one place that pauses and resumes it, from the reasons to stop
// (this connection's input limit, the loop's input budget, a draining shutdown once no partial
// message is left to complete), and the input budget's view of what this connection buffers.
import { BUDGET_PAUSED, CLOSING, type Core, DRAINING, LIMIT_PAUSED, READ_PAUSED } from './state.js';

export function updateReading(core: Core<any>): void {
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
export function charge(core: Core<any>): void {
  const a = core.account;
  if (a !== null) a.set((core.state & CLOSING) !== 0 ? 0 : core.input.length);
}
