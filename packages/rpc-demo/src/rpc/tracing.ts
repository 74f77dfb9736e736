// Call tracing over diagnostics_channel TracingChannels, the convention of undici and node:http, so
// that OpenTelemetry-style instrumentation subscribes without patching:
//   nocopy:rpc:client:call  one per client call (request(), call(), service proxies), around its
//                           middleware; the message is { method, params, options } (+ result | error)
//   nocopy:rpc:server:call  one per request or notification a server runs, around its middleware
//                           and handler; the message is { method, params, context } (+ result | error)
// Events: start, end (the synchronous part returned), asyncStart and asyncEnd (a promise settled),
// error (before end for a synchronous throw, before asyncStart for a rejection). start runs the
// subscribers' bound stores (AsyncLocalStorage), so a span set there is current in the handler.
// When nobody subscribes, a call costs one boolean check.
import diagnostics from 'node:diagnostics_channel';
import type { CallContext } from './context.js';
import type { CallOptions } from './client.js';

export interface ClientCallMessage {
  method: string;
  params: unknown[];
  options: CallOptions;
  result?: unknown;
  error?: unknown;
}

export interface ServerCallMessage {
  method: string;
  params: unknown[];
  context: CallContext;
  result?: unknown;
  error?: unknown;
}

export const clientCallChannel = diagnostics.tracingChannel<unknown, ClientCallMessage>('nocopy:rpc:client:call');
export const serverCallChannel = diagnostics.tracingChannel<unknown, ServerCallMessage>('nocopy:rpc:server:call');


/** Runs `run` under `tc`'s events with `msg`; returns what run returns (a promise stays a promise). */
export function traced<M extends { result?: unknown; error?: unknown }>(tc: diagnostics.TracingChannel<unknown, M>, msg: M, run: () => unknown): unknown {
  return tc.start.runStores(msg, () => {
    let r: unknown;
    try {
      r = run();
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
  });
}
