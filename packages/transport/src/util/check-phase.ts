// The one output batcher of every layer: work deferred with `inCheckPhase()` runs once, in the event
// loop's check phase (setImmediate), after every I/O callback of this iteration. A layer queues its
// flush here while it reads, so all the replies that one iteration's reads produced leave in one write
// per connection and peers are woken once per iteration, not in the middle of the reads (Redis writes
// its replies before it sleeps for the same reason). One queue for all layers: one setImmediate per
// iteration however many connections, sessions or WebSocket peers have output.
// Output written outside a read (an async handler settling, a timer, a client's call) is flushed at
// the next microtask instead, by the layer that wrote it: nothing else of that turn would join it.
let queue: (() => void)[] = [];
let scheduled = false;

function run(): void {
  const list = queue;
  queue = [];
  scheduled = false;
  for (let i = 0; i < list.length; i++) list[i]!();
}

/** Runs `fn` in this iteration's check phase, after the I/O callbacks; in queue order. */
export function inCheckPhase(fn: () => void): void {
  queue.push(fn);
  if (!scheduled) {
    scheduled = true;
    setImmediate(run);
  }
}
