// instrumentRpc(): the RPC TracingChannels as OpenTelemetry spans and duration histograms. A span is
// started by a subscriber of the channel's start event, which sets the message's enter() to
// context.with(the span's context) (any context manager works, not only one we could reach an
// AsyncLocalStorage of): the span is the active one inside the call (a handler's own calls become
// its children), and the client's trace context goes into the call's metadata, which request()
// reads back after start. No store is bound: a call that is not traced (sampling off, no trace
// context) enters nothing and costs a start and an end event.
import { performance } from 'node:perf_hooks';
import {
  type Attributes,
  type Context,
  type MeterProvider,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapPropagator,
  type Tracer,
  type TracerProvider,
  context,
  isSpanContextValid,
  metrics,
  propagation,
  trace,
} from '@opentelemetry/api';
import { type ClientCallMessage, type ServerCallMessage, clientChannel, serverChannel } from './channels.js';
import type { Durations } from './durations.js';
import { checkOptions } from './errors.js';
import {
  DURATION_BUCKETS, ERROR_TYPE, NETWORK_PEER_ADDRESS, NETWORK_PEER_PORT, RPC_CANCELLED, RPC_METHOD, RPC_MSGID, RPC_SYSTEM, RPC_TIMEOUT,
  SERVER_ADDRESS, SERVER_PORT, SYSTEM,
} from './semconv.js';
import { NAME, VERSION } from './version.js';

export interface RpcInstrumentationOptions {
  /** Where spans go. Default: the global one (trace.setGlobalTracerProvider, or the SDK's register()). */
  tracerProvider?: TracerProvider;
  /** Where the duration histograms go. Default: the global one. */
  meterProvider?: MeterProvider;
  /**
   * Writes the trace context into a client call's metadata and reads it from a server call's.
   * Default: the global propagator (the SDKs register W3C trace context, `traceparent` and `tracestate`).
   */
  propagator?: Pick<TextMapPropagator, 'inject' | 'extract'>;
  /** Make spans. Default true; false records the duration histograms only. */
  traces?: boolean;
  /**
   * Whether a call outside any trace starts one: a server call that arrived without trace context,
   * a client call made with no span active. Default true (the tracer's sampler decides, as usual).
   * false: such calls get no span and cost next to nothing, while calls of a trace started upstream
   * (the edge decides what is sampled) are traced as usual; with a parent-based sampler whose root
   * sampling is off, the traces recorded are the same.
   */
  traceRoots?: boolean;
  /** Record rpc.client.duration and rpc.server.duration. Default true. */
  metrics?: boolean;
}

/** Records one duration sample (ms) of `method`, failed with `code` or not. */
type Recorder = (ms: number, method: string, code: string | undefined) => void;

/** Set by this package's endpoints (serveMetrics, workerMetrics): the histograms go to their own Durations. */
export const kDurations = Symbol('nocopy.otel.durations');
interface InternalOptions {
  [kDurations]?: Durations;
}

export interface RpcInstrumentation extends Disposable {
  /** Unsubscribes from the channels: calls cost one boolean check again. Idempotent. */
  disable(): void;
}

/**
 * Subscribes to nocopy:rpc:client:call and nocopy:rpc:server:call: each call becomes a CLIENT or
 * SERVER span and a sample of rpc.client.duration or rpc.server.duration (ms), with rpc.method and, on
 * failure, error.type (the error's code). Returns a handle whose disable() (or `using`) undoes it.
 */
export function instrumentRpc(options: RpcInstrumentationOptions = {}): RpcInstrumentation {
  checkOptions(options, ['tracerProvider', 'meterProvider', 'propagator', 'traces', 'metrics', 'traceRoots']);
  const roots = options.traceRoots !== false;
  const tracer: Tracer | null = options.traces === false ? null : (options.tracerProvider ?? trace.getTracerProvider()).getTracer(NAME, VERSION);
  const propagator = options.propagator ?? propagation;
  let knownEmpty: object | null = null;
  const clientAttrs = new AttributeCache();
  const serverAttrs = new AttributeCache();
  let clientDuration: Recorder | null = null;
  let serverDuration: Recorder | null = null;
  const local = (options as InternalOptions)[kDurations];
  if (local !== undefined) {
    // This package's own endpoints: their histograms, without the SDK's per-sample attribute hashing.
    clientDuration = (ms, method, code) => local.client.record(ms, method, code);
    serverDuration = (ms, method, code) => local.server.record(ms, method, code);
  } else if (options.metrics !== false) {
    const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(NAME, VERSION);
    const advice = { explicitBucketBoundaries: DURATION_BUCKETS };
    const c = meter.createHistogram('rpc.client.duration', { description: 'Duration of the RPC calls made, until their result or error', unit: 'ms', advice });
    const s = meter.createHistogram('rpc.server.duration', { description: 'Duration of the RPC calls served, from the decoded request to the handler\'s result or error', unit: 'ms', advice });
    clientDuration = (ms, method, code) => c.record(ms, clientAttrs.get(method, code));
    serverDuration = (ms, method, code) => s.record(ms, serverAttrs.get(method, code));
  }

  // Only a start subscriber: a call neither traced nor timed returns from it with nothing done, and
  // costs one event. The others get an enter() (track()) that runs them and finishes their span
  // and sample when they return, throw or settle.
  const clientStart = (msg: ClientCallMessage): void => {
    let span: Span | null = null;
    let ctx: Context | null = null;
    if (tracer !== null) {
      const parent = context.active();
      if (roots || inTrace(parent)) {
        // rpc.system and rpc.method for the sampler (one object per method, copied by the span); the rest only if recorded.
        span = tracer.startSpan(msg.method, { kind: SpanKind.CLIENT, attributes: clientAttrs.get(msg.method, undefined) }, parent);
        if (span.isRecording()) {
          const timeout = msg.options.timeout;
          if (timeout !== undefined && timeout > 0) span.setAttribute(RPC_TIMEOUT, timeout);
        }
        ctx = trace.setSpan(parent, span);
        const carrier: Record<string, string> = {};
        propagator.inject(ctx, carrier, setter);
        // The options object is the caller's (often shared by every call of a service proxy): replaced, never changed.
        for (const _ in carrier) {
          msg.options = { ...msg.options, metadata: { ...msg.options.metadata, ...carrier } };
          break;
        }
      } else if (clientDuration === null) return; // not part of a trace, and not to start one
    }
    const t0 = clientDuration === null ? 0 : performance.now();
    track(msg, ctx, (failed, err) => {
      const code = failed ? errorType(err) : undefined;
      const cancelled = code === 'ABORT_ERR' ? 'ERR_RPC_CANCELLED' : code === 'ERR_RPC_TIMEOUT' ? 'ERR_RPC_DEADLINE' : undefined;
      // Known once the call was written on a connection (after start): set now.
      if (span !== null && span.isRecording()) addConnection(span, msg);
      finish(span, t0, failed, err, code, cancelled, clientDuration, msg.method);
    });
  };

  const serverStart = (msg: ServerCallMessage): void => {
    const call = msg.context;
    let span: Span | null = null;
    let ctx: Context | null = null;
    if (tracer !== null) {
      // A server call starts from the caller's trace context, never from whatever was active when its bytes arrived.
      let parent = ROOT_CONTEXT;
      const md = call.metadata;
      // Calls without metadata share one frozen empty object: known empty, it is not enumerated again
      // (a null-prototype object's for-in is a runtime call).
      if (md !== knownEmpty) {
        let empty = true;
        for (const _ in md) {
          empty = false;
          parent = propagator.extract(ROOT_CONTEXT, md, getter);
          break;
        }
        if (empty && Object.isFrozen(md)) knownEmpty = md;
      }
      if (roots || (parent !== ROOT_CONTEXT && inTrace(parent))) {
        span = tracer.startSpan(msg.method, { kind: SpanKind.SERVER, attributes: serverAttrs.get(msg.method, undefined) }, parent);
        if (span.isRecording()) {
          if (call.peer.address !== undefined) {
            span.setAttribute(NETWORK_PEER_ADDRESS, call.peer.address);
            if (call.peer.port !== undefined) span.setAttribute(NETWORK_PEER_PORT, call.peer.port);
          }
          if (call.id >= 0) span.setAttribute(RPC_MSGID, call.id);
          if (call.deadline !== Infinity) span.setAttribute(RPC_TIMEOUT, Math.max(0, call.deadline - Date.now()));
        }
        ctx = trace.setSpan(parent, span);
      } else if (serverDuration === null) return;
    }
    const t0 = serverDuration === null ? 0 : performance.now();
    track(msg, ctx, (failed, err) => {
      // Given up by the client, its deadline or its connection: the reply is not sent, whatever the handler did.
      const cancelled = call.cancelled ? cancelCode(call) : undefined;
      const code = failed ? errorType(err) : cancelled;
      finish(span, t0, failed, err, code, cancelled, serverDuration, msg.method);
    });
  };

  const client = { start: clientStart };
  const server = { start: serverStart };
  clientChannel.subscribe(client as unknown as Parameters<typeof clientChannel.subscribe>[0]);
  serverChannel.subscribe(server as unknown as Parameters<typeof serverChannel.subscribe>[0]);
  let enabled = true;
  const disable = (): void => {
    if (!enabled) return;
    enabled = false;
    clientChannel.unsubscribe(client as unknown as Parameters<typeof clientChannel.unsubscribe>[0]);
    serverChannel.unsubscribe(server as unknown as Parameters<typeof serverChannel.unsubscribe>[0]);
  };
  return { disable, [Symbol.dispose]: disable };
}

/**
 * Sets the call's enter() (inside that of a subscriber before us, if any) to run it in `ctx` (if
 * any) and call `done` once it returned or threw, or once the promise it returned settled.
 */
function track(msg: { enter?: (run: () => unknown) => unknown }, ctx: Context | null, done: (failed: boolean, err: unknown) => void): void {
  const mine = (run: () => unknown): unknown => {
    let r: unknown;
    try {
      r = ctx === null ? run() : context.with(ctx, run);
    } catch (err) {
      done(true, err);
      throw err;
    }
    if (r !== null && typeof r === 'object' && typeof (r as { then?: unknown }).then === 'function') {
      // Registered before the caller's own handlers: the span ends before they run (a server's reply is sent).
      (r as Promise<unknown>).then(
        () => done(false, undefined),
        (err: unknown) => done(true, err),
      );
    } else done(false, undefined);
    return r;
  };
  const outer = msg.enter;
  msg.enter = outer === undefined ? mine : (run) => outer(() => mine(run));
}

/** Whether `ctx` carries a (valid) span context: the call is part of a trace. */
function inTrace(ctx: Context): boolean {
  const sc = trace.getSpanContext(ctx);
  return sc !== undefined && isSpanContextValid(sc);
}

function finish(span: Span | null, t0: number, failed: boolean, err: unknown, code: string | undefined, cancelled: string | undefined, duration: Recorder | null, method: string): void {
  if (span !== null && span.isRecording()) {
    if (code !== undefined) {
      span.setAttribute(ERROR_TYPE, code);
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : !failed && cancelled !== undefined ? `call ${cancelled === 'ERR_RPC_DEADLINE' ? 'past its deadline' : 'cancelled'}` : String(err) });
    }
    if (cancelled !== undefined) {
      span.setAttribute(RPC_CANCELLED, cancelled);
      span.addEvent('cancelled', { [RPC_CANCELLED]: cancelled });
    }
    if (err instanceof Error && cancelled === undefined) span.recordException(err);
  }
  span?.end();
  if (duration !== null) duration(performance.now() - t0, method, code);
}

/** A server call's cancel reason: its signal's (client or connection), else its deadline passed. */
function cancelCode(call: ServerCallMessage['context']): string {
  const reason = call.signal.reason as { code?: unknown } | undefined;
  return call.signal.aborted && typeof reason?.code === 'string' ? reason.code : 'ERR_RPC_DEADLINE';
}

/** error.type: the error's string code (stable API in nocopy), else its class name. */
function errorType(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return err instanceof Error ? err.name : '_OTHER';
}

/**
 * server.address and server.port: the endpoint the call's connection was dialed to ("host:port", a
 * name as given, or a Unix socket path); network.peer.address and .port: that socket's remote end.
 */
function addConnection(span: Span, msg: ClientCallMessage): void {
  const endpoint = msg.address;
  if (endpoint !== undefined) {
    const i = endpoint.lastIndexOf(':');
    const port = Number(endpoint.slice(i + 1));
    if (i > 0 && Number.isInteger(port) && port > 0) {
      span.setAttribute(SERVER_ADDRESS, endpoint.slice(0, i).replace(/^\[(.*)\]$/, '$1'));
      span.setAttribute(SERVER_PORT, port);
    } else span.setAttribute(SERVER_ADDRESS, endpoint);
  }
  const peer = msg.peer;
  if (peer?.address !== undefined) {
    span.setAttribute(NETWORK_PEER_ADDRESS, peer.address);
    if (peer.port !== undefined) span.setAttribute(NETWORK_PEER_PORT, peer.port);
  }
}

/** Metric attributes per method (and error type), made once: a call records without allocating them. */
class AttributeCache {
  readonly #ok = new Map<string, Attributes>();
  readonly #failed = new Map<string, Attributes>();
  get(method: string, code: string | undefined): Attributes {
    const map = code === undefined ? this.#ok : this.#failed;
    const key = code === undefined ? method : `${method}\0${code}`;
    let a = map.get(key);
    if (a === undefined) {
      a = code === undefined ? { [RPC_SYSTEM]: SYSTEM, [RPC_METHOD]: method } : { [RPC_SYSTEM]: SYSTEM, [RPC_METHOD]: method, [ERROR_TYPE]: code };
      // Methods are the caller's strings: the cache stays bounded, past that attributes are made per call.
      if (map.size < 1000) map.set(key, a);
    }
    return a;
  }
}

const setter = {
  set(carrier: Record<string, string>, key: string, value: string): void {
    carrier[key] = value;
  },
};

const getter = {
  keys: (carrier: Readonly<Record<string, string>>): string[] => Object.keys(carrier),
  get: (carrier: Readonly<Record<string, string>>, key: string): string | undefined => carrier[key],
};
