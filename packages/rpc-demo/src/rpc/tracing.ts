// Call tracing over diagnostics_channel TracingChannels, the convention of undici and node:http, so
// that OpenTelemetry-style instrumentation subscribes without patching:
//   nocopy:rpc:client:call  one per client call (request(), call(), service proxies), around its
//                           middleware; the message is { method, params, options } (+ result | error,
//                           + address, peer once written on a connection)
//   nocopy:rpc:server:call  one per request or notification a server runs, around its middleware
//                           and handler; the message is { method, params, context } (+ result | error)
// Events: start, end (the synchronous part returned), asyncStart and asyncEnd (a promise settled),
// error (before end for a synchronous throw, before asyncStart for a rejection). start runs the
// subscribers' bound stores (AsyncLocalStorage), so a span set there is current in the handler;
// cheaper, a start subscriber may set the message's enter() for the calls it wants to run inside
// a context of its own (TracedMessage). When nobody subscribes, a call costs one boolean check.
import diagnostics from 'node:diagnostics_channel';
import type { CallContext } from './context.js';
import type { CallOptions } from './client.js';

export interface ClientCallMessage extends TracedMessage {
  method: string;
  params: unknown[];
  options: CallOptions;
  /**
   * Set when the call is written on a connection (again if a retry takes another): the address it
   * was dialed to ("host:port" as the target named it, or a Unix socket path) and the socket's
   * remote end. Absent while the call waits for a connection, and for a call that never got one.
   */
  address?: string;
  peer?: { readonly address: string | undefined; readonly port: number | undefined };
}

export interface ServerCallMessage extends TracedMessage {
  method: string;
  params: unknown[];
  context: CallContext;
}

export const clientCallChannel = diagnostics.tracingChannel<unknown, ClientCallMessage>('nocopy:rpc:client:call');
export const serverCallChannel = diagnostics.tracingChannel<unknown, ServerCallMessage>('nocopy:rpc:server:call');

/** What every call message carries besides its own fields. */
export interface TracedMessage {
  result?: unknown;
  error?: unknown;
  /**
   * Set by a start subscriber that wants the call to run inside something of its own (an
   * OpenTelemetry context.with(): the call's span current in the handler) for this call only: the
   * call runs as enter(run). Cheaper than a bound store, which runs for every call: an
   * instrumentation can leave alone the calls it does not trace. A second subscriber wraps the
   * first's: enter = (run) => first(() => mine(run)).
   */
  enter?: (run: () => unknown) => unknown;
}

/** Runs `run` under `tc`'s events with `msg`; returns what run returns (a promise stays a promise). */
export function traced<M extends TracedMessage>(tc: diagnostics.TracingChannel<unknown, M>, msg: M, run: () => unknown): unknown {
  const start = tc.start;
  if (start.hasSubscribers) {
    // runStores() with no store bound is a publish and a call, but costs three times as much as them
    // (closures, rest arguments, a Map iterator): called only when a store is bound (or when this
    // Node's channel does not say).
    if (hasStores(start)) return start.runStores(msg, () => body(tc, msg, run));
    start.publish(msg);
  }
  return body(tc, msg, run);
}

function body<M extends TracedMessage>(tc: diagnostics.TracingChannel<unknown, M>, msg: M, run: () => unknown): unknown {
  let r: unknown;
  try {
    const enter = msg.enter;
    r = enter === undefined ? run() : enter(run);
  } catch (err) {
    msg.error = err;
    tc.error.publish(msg);
    tc.end.publish(msg);
    throw err;
  }
  if (r === null || typeof r !== 'object' || typeof (r as { then?: unknown }).then !== 'function') {
    msg.result = r;
    tc.end.publish(msg);
    return r;
  }
  tc.end.publish(msg);
  // Nobody waits for the settlement: the promise goes back as it is, no second one chained to it.
  if (!tc.asyncStart.hasSubscribers && !tc.asyncEnd.hasSubscribers && !tc.error.hasSubscribers) return r;
  return (r as Promise<unknown>).then(
    (v) => {
      msg.result = v;
      tc.asyncStart.publish(msg);
      tc.asyncEnd.publish(msg);
      return v;
    },
    (err: unknown) => {
      msg.error = err;
      tc.error.publish(msg);
      tc.asyncStart.publish(msg);
      tc.asyncEnd.publish(msg);
      throw err;
    },
  );
}

/**
 * Whether `ch` has a store bound. Node keeps them in the channel's `_stores` (a primordials Map, not
 * instanceof this realm's; Node 20 and the later releases we read); without a size there, the
 * answer is "maybe" and runStores() decides: a store is never skipped, only the cheap path lost.
 */
function hasStores(ch: diagnostics.Channel): boolean {
  const size = (ch as unknown as { _stores?: { size?: unknown } })._stores?.size;
  return typeof size !== 'number' || size > 0;
}
