// instrumentRpc(): the RPC TracingChannels as OpenTelemetry spans and duration histograms. A span is
// started in a bound store's transform of the channel's start event (a store whose run() is
// context.with(), so any context manager works, not only one we could reach an AsyncLocalStorage of):
// the span is the active one inside the call (a handler's own calls become its children), and the
// client's trace context goes into the call's metadata, which request() reads back after start.
import { performance } from 'node:perf_hooks';
import {
  type Attributes,
  type Context,
  type Histogram,
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

export interface RpcInstrumentation extends Disposable {
  /** Unsubscribes from the channels: calls cost one boolean check again. Idempotent. */
  disable(): void;
}

/** What a start transform returns for a call that enters no context of ours. */
const SKIP: Context = ROOT_CONTEXT.setValue(Symbol('nocopy.otel.skip'), true);

/** A call's span and start time, on its channel message under a key of its instrumentation (several may be installed). */
interface CallState {
  span: Span | null;
  t0: number;
}
type Tagged<M> = M & Record<symbol, CallState | undefined>;

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
  let clientDuration: Histogram | null = null;
  let serverDuration: Histogram | null = null;
  if (options.metrics !== false) {
    const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(NAME, VERSION);
    const advice = { explicitBucketBoundaries: DURATION_BUCKETS };
    clientDuration = meter.createHistogram('rpc.client.duration', { description: 'Duration of the RPC calls made, until their result or error', unit: 'ms', advice });
    serverDuration = meter.createHistogram('rpc.server.duration', { description: 'Duration of the RPC calls served, from the decoded request to the handler\'s result or error', unit: 'ms', advice });
  }
  const kCall = Symbol('nocopy.otel.call');
  let knownEmpty: object | null = null;
  const clientAttrs = new AttributeCache();
  const serverAttrs = new AttributeCache();

  const clientStart = (msg: Tagged<ClientCallMessage>): Context => {
    const parent = context.active();
    let span: Span | null = null;
    let ctx = parent;
    if (!roots && !inTrace(parent)) {
      // Not part of a trace, and not to start one.
      if (clientDuration === null) return SKIP;
      ctx = SKIP;
    } else if (tracer !== null) {
      const attributes: Attributes = { [RPC_SYSTEM]: SYSTEM, [RPC_METHOD]: msg.method };
      const timeout = msg.options.timeout;
      if (timeout !== undefined && timeout > 0) attributes[RPC_TIMEOUT] = timeout;
      if (msg.address !== undefined) addServerAddress(attributes, msg.address);
      span = tracer.startSpan(msg.method, { kind: SpanKind.CLIENT, attributes }, parent);
      ctx = trace.setSpan(parent, span);
      const carrier: Record<string, string> = {};
      propagator.inject(ctx, carrier, setter);
      // The options object is the caller's (often shared by every call of a service proxy): replaced, never changed.
      for (const _ in carrier) {
        msg.options = { ...msg.options, metadata: { ...msg.options.metadata, ...carrier } };
        break;
      }
    }
    msg[kCall] = { span, t0: performance.now() };
    return ctx;
  };

  const serverStart = (msg: Tagged<ServerCallMessage>): Context => {
    const call = msg.context;
    let span: Span | null = null;
    let ctx = ROOT_CONTEXT;
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
      if (!roots && (parent === ROOT_CONTEXT || !inTrace(parent))) {
        if (serverDuration === null) return SKIP;
        msg[kCall] = { span: null, t0: performance.now() };
        return SKIP;
      }
      const attributes: Attributes = { [RPC_SYSTEM]: SYSTEM, [RPC_METHOD]: msg.method };
      if (call.peer.address !== undefined) {
        attributes[NETWORK_PEER_ADDRESS] = call.peer.address;
        if (call.peer.port !== undefined) attributes[NETWORK_PEER_PORT] = call.peer.port;
      }
      if (call.id >= 0) attributes[RPC_MSGID] = call.id;
      if (call.deadline !== Infinity) attributes[RPC_TIMEOUT] = Math.max(0, call.deadline - Date.now());
      span = tracer.startSpan(msg.method, { kind: SpanKind.SERVER, attributes }, parent);
      ctx = trace.setSpan(parent, span);
    }
    msg[kCall] = { span, t0: performance.now() };
    return ctx;
  };

  const clientEnd = (msg: Tagged<ClientCallMessage>): void => {
    const st = settled(msg, kCall);
    if (st === null) return;
    const err = msg.error;
    const code = err === undefined ? undefined : errorType(err);
    const cancelled = code === 'ABORT_ERR' ? 'ERR_RPC_CANCELLED' : code === 'ERR_RPC_TIMEOUT' ? 'ERR_RPC_DEADLINE' : undefined;
    finish(st, err, code, cancelled, clientDuration, clientAttrs, msg.method);
  };

  const serverEnd = (msg: Tagged<ServerCallMessage>): void => {
    const st = settled(msg, kCall);
    if (st === null) return;
    const err = msg.error;
    const call = msg.context;
    // Given up by the client, its deadline or its connection: the reply is not sent, whatever the handler did.
    const cancelled = call.cancelled ? cancelCode(call) : undefined;
    const code = err !== undefined ? errorType(err) : cancelled;
    finish(st, err, code, cancelled, serverDuration, serverAttrs, msg.method);
  };

  // SKIP: the call runs in the context it was made in, without entering one. runStores() calls
  // run(context, next) with no further arguments (none are gathered: no array per call).
  const store = { run: <R>(ctx: Context, fn: () => R): R => (ctx === SKIP ? fn() : context.with(ctx, fn)) };
  // The store's type is AsyncLocalStorage's; run() is all that runStores() calls of it.
  const asStore = store as unknown as import('node:async_hooks').AsyncLocalStorage<Context>;
  const client = { end: clientEnd, asyncEnd: clientEnd };
  const server = { end: serverEnd, asyncEnd: serverEnd };
  if (tracer !== null) {
    clientChannel.start.bindStore(asStore, clientStart as (m: ClientCallMessage) => Context);
    serverChannel.start.bindStore(asStore, serverStart as (m: ServerCallMessage) => Context);
  } else {
    // Durations only: no context to enter, a plain start subscriber takes the time.
    Object.assign(client, { start: clientStart });
    Object.assign(server, { start: serverStart });
  }
  clientChannel.subscribe(client as unknown as Parameters<typeof clientChannel.subscribe>[0]);
  serverChannel.subscribe(server as unknown as Parameters<typeof serverChannel.subscribe>[0]);
  let enabled = true;
  const disable = (): void => {
    if (!enabled) return;
    enabled = false;
    if (tracer !== null) {
      clientChannel.start.unbindStore(asStore);
      serverChannel.start.unbindStore(asStore);
    }
    clientChannel.unsubscribe(client as unknown as Parameters<typeof clientChannel.unsubscribe>[0]);
    serverChannel.unsubscribe(server as unknown as Parameters<typeof serverChannel.unsubscribe>[0]);
  };
  return { disable, [Symbol.dispose]: disable };
}

/**
 * The call's state once it settled, else null: `end` comes right after a synchronous return or
 * throw (result or error set), but also when an async call merely returned its promise (neither set
 * yet: its asyncEnd follows).
 */
/** Whether `ctx` carries a (valid) span context: the call is part of a trace. */
function inTrace(ctx: Context): boolean {
  const sc = trace.getSpanContext(ctx);
  return sc !== undefined && isSpanContextValid(sc);
}

function settled(msg: Tagged<ClientCallMessage | ServerCallMessage>, kCall: symbol): CallState | null {
  const st = msg[kCall];
  if (st === undefined || !('result' in msg || 'error' in msg)) return null;
  msg[kCall] = undefined;
  return st;
}

function finish(st: CallState, err: unknown, code: string | undefined, cancelled: string | undefined, histogram: Histogram | null, attrs: AttributeCache, method: string): void {
  const span = st.span;
  if (span !== null && span.isRecording()) {
    if (code !== undefined) {
      span.setAttribute(ERROR_TYPE, code);
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : cancelled !== undefined ? `call ${cancelled === 'ERR_RPC_DEADLINE' ? 'past its deadline' : 'cancelled'}` : String(err) });
    }
    if (cancelled !== undefined) {
      span.setAttribute(RPC_CANCELLED, cancelled);
      span.addEvent('cancelled', { [RPC_CANCELLED]: cancelled });
    }
    if (err instanceof Error && cancelled === undefined) span.recordException(err);
  }
  span?.end();
  histogram?.record(performance.now() - st.t0, attrs.get(method, code));
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

function addServerAddress(attributes: Attributes, address: string): void {
  const i = address.lastIndexOf(':');
  const port = Number(address.slice(i + 1));
  if (i > 0 && Number.isInteger(port)) {
    attributes[SERVER_ADDRESS] = address.slice(0, i).replace(/^\[(.*)\]$/, '$1');
    attributes[SERVER_PORT] = port;
  } else attributes[SERVER_ADDRESS] = address;
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
