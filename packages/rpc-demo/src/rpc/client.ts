// The MessagePack-RPC client, on the transport's client layer: a target resolves to endpoints, each
// gets `connections` subchannels (all dialed at once), and a balancer spreads calls over the ready
// ones. Calls are multiplexed per connection and matched by msgid; requests written in the same tick
// leave in one flush. A server that drains ("$/drain", sent by its shutdown()) gets no new call and
// its connection closes once its calls are answered. A call whose connection drops after it was sent
// is retried elsewhere only for an idempotent method, within a retry budget; others fail with
// CallInterruptedError (mayHaveRun). While no server is ready, calls wait (bounded by their timeout);
// once every server is failing they fail fast, unless they wait for ready. The options are
// client-options.ts, a connection and a call client-link.ts, the hello and health checks client-checks.ts.
import { performance } from 'node:perf_hooks';
import {
  AbortError,
  Channel,
  ConnClosedError,
  InvalidOptionError,
  type DialOptions,
  type EndpointState,
  type Network,
  type Subchannel,
  UnavailableError,
  dialConnection,
  resolveBalancer,
  resolveOutlier,
} from '@nocopy/transport';
import { checkBoolean, checkBytes, checkCount, checkEnum, checkMs, resolveBackoff } from '@nocopy/transport/util';
import { CallInterruptedError, MalformedMessageError, RpcClosedError, RpcError, RpcTimeoutError } from '../errors.js';
import { DEFAULT_MAX_MESSAGE_SIZE, type Framing, type Message, NOTIFICATION, RESPONSE, checkFraming, writeMessage } from './protocol.js';
import { type ServiceClient, serviceProxy } from './service.js';
import { type ClientCall, type ClientMiddleware, runChain } from './middleware.js';
import { type ClientCallMessage, clientCallChannel, traced } from './tracing.js';
import { toRemoteError } from './wire-errors.js';
import { DRAIN, HEALTH, type Metadata, readMetadata } from './extensions.js';
import { DeadlineQueue } from './deadline-queue.js';
import { type LinkConn, dialWebSocket, isWebSocketAddress } from './ws-link.js';
import { BATCH_PER_LINK, type Call, RpcLink, cancelRemote, newCall, onResponses } from './client-link.js';
import { HELLO_TIMEOUT, PING_TIMEOUT, TIMEOUTS_BEFORE_PING, helloCall, pingCall, probeCall } from './client-checks.js';
import { RetryPolicy } from './retry.js';
import { type CallOptions, type ClientOptions, type ClientStats, MetadataOptionError, resolverFor } from './client-options.js';

export type { CallOptions, ClientOptions, ClientStats } from './client-options.js';

const NO_OPTIONS: CallOptions = Object.freeze({});

/** One call in this many (a power of two) has its latency measured for the outlier check. */
const LATENCY_SAMPLE = 8;

export class RpcClient {
  readonly framing: Framing;
  readonly maxMessageSize: number;
  readonly #timeout: number;
  readonly #waitForReady: boolean;
  readonly #network: Network;
  readonly #dial: DialOptions<RpcLink>;
  readonly #extensions: boolean;
  readonly #channel: Channel<RpcLink>;
  readonly #retry: RetryPolicy;
  readonly #measure: boolean;
  readonly #perEndpoint: number;
  readonly #middleware: ClientMiddleware[] = [];
  readonly #links = new Set<RpcLink>();
  readonly #due = new DeadlineQueue<Call>((call) => this.#timedOut(call));
  /** The link of the last request written (see BATCH_PER_LINK). */
  #last: RpcLink | null = null;
  #closed = false;
  #closing: Promise<void> | null = null;
  #calls = 0;
  /** Counts sends, to sample latencies. */
  #sample = 0;
  /** Hellos and $health checks waiting for their answer (not the caller's calls: left out of stats().pending). */
  #internalPending = 0;

  constructor(options: ClientOptions) {
    if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', options, 'an object');
    this.#network = checkEnum('network', options.network, ['tcp', 'unix'] as const, 'tcp');
    const resolver = resolverFor(options, this.#network);
    this.framing = checkFraming(options.framing);
    this.maxMessageSize = checkBytes('maxMessageSize', options.maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE);
    this.#timeout = checkMs('timeout', options.timeout, 10_000);
    this.#waitForReady = checkBoolean('waitForReady', options.waitForReady, false);
    const perEndpoint = checkCount('connections', options.connections, 2);
    this.#perEndpoint = perEndpoint;
    const backoff = resolveBackoff(options.backoff ?? {}, 'backoff', { initial: 50, max: 5000 });
    const outlier = resolveOutlier(options.outlier);
    this.#measure = outlier !== null;
    this.#retry = new RetryPolicy(options.retry);
    this.#extensions = checkBoolean('extensions', options.extensions, true);
    this.#dial = {
      maxInboundBytes: Math.max(this.maxMessageSize + 4 + 64 * 1024, 8 * 1024 * 1024),
      ...options.dial,
      onRequest: onResponses,
    };
    this.#channel = new Channel<RpcLink>({
      resolver,
      connectionsPerEndpoint: perEndpoint,
      balancer: resolveBalancer(options.balancer),
      backoff,
      outlier,
      onResolverError: options.onResolverError,
      connector: {
        connect: (address, signal, sub) => this.#connect(address, signal, sub),
        retire: (link) => {
          link.retired = true;
          link.closeIfDone();
        },
        probe: (link) => this.#probe(link),
      },
    });
  }

  /** Calls `method` with `params`; resolves with the result, rejects with the remote error or a local one. */
  call(method: string, ...params: unknown[]): Promise<unknown> {
    return this.request(method, params);
  }

  /** Like call(), with params as an array and per-call options (timeout, signal, metadata, idempotent, waitForReady). */
  request(method: string, params: unknown[] = [], options: CallOptions = NO_OPTIONS): Promise<unknown> {
    if (clientCallChannel.hasSubscribers) {
      // Read back from the message: a subscriber's start handler may replace options (trace context in its metadata).
      const msg: ClientCallMessage = { method, params, options };
      return traced(clientCallChannel, msg, () => this.#intercepted(msg.method, msg.params, msg.options, msg)) as Promise<unknown>;
    }
    return this.#intercepted(method, params, options, null);
  }

  /** `msg`: the call's channel message, told the connection the call is written on. */
  #intercepted(method: string, params: unknown[], options: CallOptions, msg: ClientCallMessage | null): Promise<unknown> {
    if (this.#middleware.length === 0) return this.#request(method, params, options, msg);
    return runChain(this.#middleware, { method, params, options: { ...options } }, msg === null ? this.#afterChain : (c) => this.#request(c.method, c.params, c.options, msg));
  }

  /**
   * Adds a middleware around every call (request(), call() and service proxies), in onion order: the
   * first added runs outermost. `fn(call, next)` may change `call.params` and `call.options`
   * (metadata, timeout) before `next()`, which sends the call and resolves with its result; returning
   * without next() settles the call with that value (a cache), a throw fails it.
   */
  use(fn: ClientMiddleware): this {
    if (typeof fn !== 'function') throw new InvalidOptionError('middleware', fn, 'a function (call, next)');
    this.#middleware.push(fn);
    return this;
  }

  readonly #afterChain = (c: ClientCall): Promise<unknown> => this.#request(c.method, c.params, c.options, null);

  #request(method: string, params: unknown[], options: CallOptions, msg: ClientCallMessage | null): Promise<unknown> {
    if (this.#closed) return Promise.reject(new RpcClosedError());
    const signal = options.signal ?? null;
    if (signal?.aborted) return Promise.reject(new AbortError(signal.reason));
    let timeout = this.#timeout;
    let metadata: Metadata | null = null;
    let waitForReady = this.#waitForReady;
    // Checked here, not at the wire: a call that is not well formed fails alone, never its connection.
    try {
      if (options.timeout !== undefined) timeout = checkMs('timeout', options.timeout, 0);
      if (options.metadata !== undefined) metadata = readMetadata(options.metadata, MetadataOptionError);
      if (options.waitForReady !== undefined) waitForReady = checkBoolean('waitForReady', options.waitForReady, false);
      if (options.idempotent !== undefined) checkBoolean('idempotent', options.idempotent, false);
    } catch (err) {
      return Promise.reject(err);
    }
    if (typeof method !== 'string') return Promise.reject(new InvalidOptionError('method', method, 'a string'));
    if (!Array.isArray(params)) return Promise.reject(new InvalidOptionError('params', params, 'an array'));
    this.#calls++;
    return new Promise((resolve, reject) => {
      const call = newCall(method, params, metadata, signal, timeout, options.idempotent, waitForReady, false, resolve, reject);
      call.traced = msg;
      this.#arm(call);
      this.#dispatch(call, null);
    });
  }

  /**
   * A typed proxy of service `S` (the type of the server's object of handlers, or an interface):
   * `api.add(1, 2)` is `request('add', [1, 2], options)`, typed as the handler is.
   */
  service<S>(options: CallOptions = NO_OPTIONS): ServiceClient<S> {
    return serviceProxy<S>((method, params) => this.request(method, params, options));
  }

  /**
   * Resolves once the target has resolved and every connection of every server has been dialed once
   * (ready, or failed and waiting out its backoff): a warm-up before traffic, so that the first
   * calls spread over all servers instead of going to whichever answered first. Rejects with
   * UnavailableError after `timeout` (default: the client's timeout; 0 waits as long as it takes).
   */
  async ready(options: { timeout?: number } = {}): Promise<void> {
    const timeout = checkMs('timeout', options.timeout, this.#timeout);
    const deadline = timeout === 0 ? Infinity : Date.now() + timeout;
    for (;;) {
      if (this.#closed) throw new RpcClosedError();
      const c = this.#channel.stats();
      if (c.resolutions > 0 && c.connecting === 0 && c.ready + c.backoff >= c.endpoints * this.#perEndpoint) return;
      if (Date.now() >= deadline) throw new UnavailableError(`the servers were not all dialed within ${timeout} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Sends a notification (no response); resolves once it is handed to the socket. */
  async notify(method: string, ...params: unknown[]): Promise<void> {
    if (this.#closed) throw new RpcClosedError();
    const sub = this.#channel.pick() ?? (await this.#channel.wait({ timeout: this.#timeout, signal: null, waitForReady: this.#waitForReady }));
    const link = sub.link;
    if (link === null) throw new ConnClosedError('connection closed');
    writeMessage(link.conn.writer, this.framing, [2, method, params], this.maxMessageSize);
    await link.conn.writer.flush();
  }

  stats(): ClientStats {
    let pending = 0;
    let connections = 0;
    for (const l of this.#links) {
      pending += l.pending.size;
      if (l.usable()) connections++;
    }
    const c = this.#channel.stats();
    return { pending: pending - this.#internalPending, connections, calls: this.#calls, dials: c.dials, endpoints: c.endpoints, ejected: c.ejected, waiting: c.waiting, retries: this.#retry.retried, retriesThrottled: this.#retry.throttled };
  }

  /** Rejects pending and waiting calls with RpcClosedError, stops resolving and closes every connection. */
  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    this.#closed = true;
    const err = new RpcClosedError();
    this.#closing = (async () => {
      for (const l of this.#links) for (const call of [...l.pending.values()]) this.#fail(call, err);
      await this.#channel.close(err);
      this.#due.close();
      for (const l of this.#links) l.conn.close();
      await Promise.all([...this.#links].map((l) => l.closed));
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- dispatch ----

  /** Sends `call` on a ready connection, or waits for one. `avoid`: the server a retry should not go back to. */
  #dispatch(call: Call, avoid: EndpointState<RpcLink> | null): void {
    // The connection that took the previous call of this tick takes this one too, while its flush is pending.
    const last = this.#last;
    if (avoid === null && last !== null && last.flushQueued && last.batched < BATCH_PER_LINK && last.usable()) return this.#send(last, call);
    let sub = this.#channel.pick(avoid);
    // A connection whose peer just closed (its close callback still to come) is no candidate.
    while (sub !== undefined && !sub.link!.usable()) {
      this.#channel.lost(sub, sub.link!, new ConnClosedError('connection closed'));
      sub = this.#channel.pick(avoid);
    }
    if (sub !== undefined) return this.#send(sub.link!, call);
    if (call.startedAt === 0) call.startedAt = performance.now();
    const ac = new AbortController();
    call.waitAbort = ac;
    this.#channel.wait({ timeout: 0, signal: ac.signal, waitForReady: call.waitForReady }, avoid).then(
      (s) => {
        call.waitAbort = null;
        if (call.settled) return;
        if (s.link === null || !s.link.usable()) this.#dispatch(call, avoid);
        else this.#send(s.link, call);
      },
      (err: unknown) => {
        call.waitAbort = null;
        this.#fail(call, err);
      },
    );
  }

  #send(link: RpcLink, call: Call): void {
    if (call.settled) return;
    if (call.signal?.aborted) return this.#fail(call, new AbortError(call.signal.reason));
    const id = link.nextMsgId();
    // The deadline travels as what is left of it: all of it unless the call waited or is a retry.
    let timeout = call.timeout;
    if (timeout > 0 && call.startedAt !== 0) {
      timeout = Math.ceil(timeout - (performance.now() - call.startedAt));
      if (timeout <= 0) return this.#timedOut(call);
    }
    const ext = link.ext;
    const w = link.conn.writer;
    try {
      const metadata = call.metadata;
      if (ext && (timeout > 0 || metadata !== null)) {
        const x = metadata === null ? timeout : timeout > 0 ? { t: timeout, m: metadata } : { m: metadata };
        writeMessage(w, this.framing, [0, id, call.method, call.params, x], this.maxMessageSize);
      } else writeMessage(w, this.framing, [0, id, call.method, call.params], this.maxMessageSize);
    } catch (err) {
      return this.#fail(call, (err as { code?: unknown }).code === 'ERR_BUFFER_CLOSED' ? new ConnClosedError('connection closed', { cause: err }) : err);
    }
    call.link = link;
    call.id = id;
    call.ext = ext;
    const traced = call.traced;
    if (traced !== null) {
      traced.address = link.endpoint;
      traced.peer = link.peer;
    }
    // Latency for the outlier check is sampled (one call in LATENCY_SAMPLE): two clock reads per call cost more than the mean needs.
    if (this.#measure && !call.internal && (++this.#sample & (LATENCY_SAMPLE - 1)) === 0) call.sentAt = performance.now();
    link.pending.set(id, call);
    if (!call.internal) link.sub.load++;
    else this.#internalPending++;
    this.#last = link;
    link.batched++;
    link.scheduleFlush();
  }

  /** Starts the call's timeout and abort listener: they run from the call's start, across waits and retries. */
  #arm(call: Call): void {
    const timeout = call.timeout;
    if (timeout > 0) {
      if (timeout === this.#timeout) this.#due.add(call, timeout);
      else call.timer = setTimeout(() => this.#timedOut(call), timeout);
    }
    const signal = call.signal;
    if (signal !== null) {
      call.onAbort = () => this.#fail(call, new AbortError(signal.reason), true);
      signal.addEventListener('abort', call.onAbort, { once: true });
    }
  }

  #timedOut(call: Call): void {
    const link = call.link;
    this.#fail(call, new RpcTimeoutError(call.method, call.timeout), true, true);
    // A connection on which calls only time out is checked, and replaced if it does not answer.
    if (link !== null && ++link.timeouts >= TIMEOUTS_BEFORE_PING && !link.pinging && link.sub.link === link) {
      link.pinging = true;
      void this.#ping(link).then((answered) => {
        link.pinging = false;
        if (answered) link.timeouts = 0;
        else link.conn.close(new RpcTimeoutError(HEALTH, PING_TIMEOUT));
      });
    }
  }

  /** Whether the connection answers a $health call at all (any reply, an error included) within PING_TIMEOUT. */
  #ping(link: RpcLink): Promise<boolean> {
    if (!link.conn.isActive()) return Promise.resolve(false);
    return new Promise((resolve) => this.#internal(link, pingCall(resolve)));
  }

  /** Arms an internal call's timer (never unbounded: a peer that never answers must not hold the connection) and sends it. */
  #internal(link: RpcLink, call: Call): void {
    if (call.timeout > 0) call.timer = setTimeout(() => this.#fail(call, new RpcTimeoutError(call.method, call.timeout)), call.timeout);
    this.#send(link, call);
  }

  /**
   * Takes the call off its connection (it is settled, or about to be retried). `failed`: counts
   * against the server for outlier detection; null: counts neither way (the connection was lost:
   * a server that is gone leaves the balancer through its subchannels, not by ejection).
   */
  #detach(call: Call, failed: boolean | null): void {
    const link = call.link;
    if (link === null) return;
    call.link = null;
    if (link.pending.get(call.id) === call) link.pending.delete(call.id);
    if (call.internal) {
      this.#internalPending--;
      return;
    }
    link.sub.load--;
    if (this.#measure && failed !== null) this.#channel.report(link.sub.endpoint, failed, call.sentAt === 0 ? -1 : performance.now() - call.sentAt);
    if (this.#last === link && link.pending.size === 0) this.#last = null;
    link.closeIfDone();
  }

  #settle(call: Call, failed: boolean | null): void {
    call.settled = true;
    if (call.timer !== null) clearTimeout(call.timer);
    if (call.dueAt !== 0) this.#due.remove(call);
    if (call.onAbort !== null) call.signal!.removeEventListener('abort', call.onAbort);
    call.waitAbort?.abort();
    this.#detach(call, failed);
  }

  /** Rejects one call; a response arriving later for its id is dropped. `cancel`: the server is told to stop it. */
  #fail(call: Call, err: unknown, cancel = false, failed: boolean | null = false): void {
    if (call.settled) return;
    const link = call.link;
    const id = call.id;
    this.#settle(call, failed);
    if (cancel && link !== null && call.ext) cancelRemote(link, id, this.framing, this.maxMessageSize);
    call.reject(err);
  }

  /** The call's connection closed before its reply: retried if it may run twice, else CallInterruptedError. */
  #interrupted(link: RpcLink, call: Call, cause: unknown, detail: string): void {
    if (call.settled) return;
    if (call.internal) return this.#fail(call, new ConnClosedError(`connection closed during ${call.method}${detail === '' ? '' : `: ${detail}`}`, { cause }));
    const idempotent = call.idempotent ?? (this.#retry.idempotent(call.method) || (link.idempotent?.has(call.method) ?? false));
    let why = `${call.method} is not idempotent: not retried`;
    if (idempotent && !this.#closed) {
      if (call.retries + 1 >= this.#retry.maxAttempts) why = `${call.retries + 1} attempts made`;
      else if (call.timeout > 0 && call.startedAt !== 0 && performance.now() - call.startedAt >= call.timeout) why = 'its deadline passed';
      else if (!this.#retry.allow()) why = 'the retry budget is spent';
      else {
        this.#detach(call, null);
        call.retries++;
        if (call.startedAt === 0) call.startedAt = performance.now() - 1;
        this.#dispatch(call, link.sub.endpoint);
        return;
      }
    }
    this.#fail(call, new CallInterruptedError(call.method, detail === '' ? why : `${detail}; ${why}`, call.retries, cause), false, null);
  }

  // ---- connections ----

  async #connect(address: string, signal: AbortSignal, sub: Subchannel<RpcLink>): Promise<RpcLink> {
    const link = new RpcLink(sub, this.framing, this.maxMessageSize);
    link.onMessage = (m) => this.#onMessage(link, m);
    const ws = isWebSocketAddress(address);
    // Each request leaves as one WebSocket message, cut at the length prefixes of the 'framed' framing.
    if (ws && this.framing !== 'framed') throw new InvalidOptionError('framing', this.framing, `'framed' (the default) to call ${address}`);
    const conn: LinkConn<RpcLink> = ws
      ? await dialWebSocket(address, link, { signal, timeout: this.#dial.timeout ?? 10_000, maxMessageSize: this.maxMessageSize }, (c) => onResponses(link, c))
      : await dialConnection<RpcLink>(this.#network, address, { ...this.#dial, signal, ctx: link });
    link.conn = conn;
    link.endpoint = address;
    link.peer = { address: conn.remoteAddress, port: conn.remotePort };
    this.#links.add(link);
    conn.addCloseCallback(this.#onClosed);
    if (this.#closed) {
      conn.close();
      throw new RpcClosedError();
    }
    if (this.#extensions) {
      try {
        await this.#hello(link);
      } catch (err) {
        conn.close(err);
        throw err;
      }
    }
    return link;
  }

  /**
   * [0, id, "$/nocopy", [1]] on a new connection: resolves once answered (the link's ext and
   * idempotent set from the answer); rejects if the connection closes first, or with the server's
   * error for a framing mismatch, or RpcTimeoutError after the client's default timeout.
   */
  #hello(link: RpcLink): Promise<void> {
    // Never unbounded: a peer that accepts and never answers must not hold the subchannel (and its waiting calls) forever.
    return new Promise((resolve, reject) => this.#internal(link, helloCall(link, this.#timeout || HELLO_TIMEOUT, resolve, reject)));
  }

  /** $health on an ejected server's connection: serving (or a plain peer that answers at all) is healthy. */
  #probe(link: RpcLink): Promise<boolean> {
    if (!link.conn.isActive()) return Promise.resolve(false);
    return new Promise((resolve) => this.#internal(link, probeCall(this.#timeout || 5000, resolve)));
  }

  #onMessage(link: RpcLink, m: Message): boolean {
    if (m[0] === RESPONSE) {
      const call = link.pending.get(m[1]);
      if (call === undefined) return true;
      link.timeouts = 0;
      const err = m[2];
      this.#settle(call, false);
      if (err !== null && err !== undefined) {
        // The server closes this connection after this reply (it refused our input): new calls go to
        // a new one; the calls already sent here are still answered, then the close settles the rest.
        if ((err as { closing?: unknown }).closing === true && link.sub.link === link) this.#channel.lost(link.sub, link, toRemoteError(err));
        call.reject(toRemoteError(err));
      } else {
        if (!call.internal) this.#retry.succeeded();
        call.resolve(m[3]);
      }
      return true;
    }
    // The server is shutting down: no new call goes here; the calls sent are still answered.
    if (m[0] === NOTIFICATION && m[1] === DRAIN && link.ext) {
      if (link.sub.link === link) this.#channel.draining(link.sub, link);
      else {
        link.retired = true;
        link.closeIfDone();
      }
    }
    return true;
  }

  readonly #onClosed = (conn: LinkConn<RpcLink>): void => {
    const link = conn.ctx;
    this.#links.delete(link);
    if (this.#last === link) this.#last = null;
    // The reason, when it is ours (a framing mismatch, a response too large), is in the message too.
    const why = conn.error instanceof RpcError || conn.error instanceof MalformedMessageError ? conn.error.message : '';
    for (const call of [...link.pending.values()]) this.#interrupted(link, call, conn.error, why);
    this.#channel.lost(link.sub, link, conn.error ?? new ConnClosedError('connection closed'));
    link.markClosed();
  };
}

export function createClient(options: ClientOptions): RpcClient {
  return new RpcClient(options);
}
