// The channel: a target's endpoints (from a Resolver), a subchannel per connection to each, and the
// balancer over those that can take a call now. It keeps that set of candidates ready for an O(1)
// pick (rebuilt only when a subchannel, an endpoint or an ejection changes), queues calls while
// nothing is ready yet, fails them fast when every endpoint is failing (unless they wait for ready),
// ejects outliers and probes them back, drains endpoints the resolver dropped, and asks the resolver
// again when a connection is lost. The RPC client and the session client stand on it.
import { AbortError, UnavailableError } from '../errors.js';
import { type Queued, waitInQueue } from './queued-wait.js';
import type { Backoff } from '../util/backoff.js';
import type { Balancer } from './balancer.js';
import { type OutlierStats, type ResolvedOutlier, ejectionTime, latencyOutliers, mayEject, newOutlierStats } from './outlier.js';
import type { Endpoint, Resolver } from './resolver.js';
import { type Connector, type EndpointState, Subchannel, type SubchannelHost, type SubchannelState } from './subchannel.js';

export interface ChannelOptions<T> {
  resolver: Resolver;
  connector: Connector<T>;
  /** Subchannels (connections) per endpoint, all dialed as soon as the endpoint is known. */
  connectionsPerEndpoint: number;
  balancer: Balancer;
  backoff: Backoff;
  outlier: ResolvedOutlier | null;
  /** Resolver errors (the last endpoints stay in use). */
  onResolverError?: (error: Error) => void;
}

export interface ChannelStats {
  endpoints: number;
  /** Subchannels by state. */
  ready: number;
  connecting: number;
  backoff: number;
  /** Endpoints ejected now, and ejections since start. */
  ejected: number;
  ejections: number;
  dials: number;
  dialFailures: number;
  /** Calls waiting for a ready subchannel. */
  waiting: number;
  /** Resolver answers received, and errors. */
  resolutions: number;
  resolverErrors: number;
}

export interface WaitOptions {
  /** ms to wait at most; 0 = no bound (the signal may still end it). */
  timeout: number;
  signal: AbortSignal | null;
  /** Wait through failures (every endpoint down) instead of failing fast. */
  waitForReady: boolean;
}

interface Waiter<T> extends Queued<Subchannel<T>> {
  waitForReady: boolean;
  avoid: EndpointState<T> | null;
}

export class Channel<T> implements SubchannelHost<T> {
  readonly connector: Connector<T>;
  readonly backoff: Backoff;
  readonly #opts: ChannelOptions<T>;
  readonly #endpoints = new Map<string, EndpointState<T>>();
  #candidates: Subchannel<T>[] = [];
  /** Cumulative weights of #candidates when they differ, else null. */
  #cumulative: Float64Array | null = null;
  #dirty = true;
  #waiters: Waiter<T>[] = [];
  #resolved = false;
  #closed = false;
  #lastError: unknown = null;
  #sweep: NodeJS.Timeout | null = null;
  readonly #counts = { dials: 0, dialFailures: 0, ejections: 0, resolutions: 0, resolverErrors: 0 };

  constructor(options: ChannelOptions<T>) {
    this.#opts = options;
    this.connector = options.connector;
    this.backoff = options.backoff;
    options.resolver.start({
      onEndpoints: (eps) => this.#update(eps),
      onError: (err) => {
        this.#counts.resolverErrors++;
        this.#lastError = err;
        options.onResolverError?.(err);
        this.#failFast();
      },
    });
    const o = options.outlier;
    if (o !== null && o.latencyFactor > 0) {
      this.#sweep = setInterval(() => this.#sweepLatency(), o.interval);
      this.#sweep.unref();
    }
  }

  /** A subchannel that can take a call now (not in `avoid`, if another can), or undefined. */
  pick(avoid: EndpointState<T> | null = null): Subchannel<T> | undefined {
    if (this.#dirty) this.#rebuild();
    const c = this.#candidates;
    if (c.length === 0) return undefined;
    const s = this.#opts.balancer.pick(c, this.#choose, this.#cumulative !== null);
    if (avoid === null || s.endpoint !== avoid) return s;
    // A retry prefers another server: one more pick, then any candidate elsewhere.
    const t = this.#opts.balancer.pick(c, this.#choose, this.#cumulative !== null);
    if (t.endpoint !== avoid) return t;
    for (const x of c) if (x.endpoint !== avoid) return x;
    return s;
  }

  /**
   * Resolves with a ready subchannel: at once, or when one becomes ready. Fails fast (with the last
   * connection error) once every endpoint is failing, unless waitForReady; UnavailableError at the timeout.
   */
  wait(options: WaitOptions, avoid: EndpointState<T> | null = null): Promise<Subchannel<T>> {
    const now = this.pick(avoid);
    if (now !== undefined) return Promise.resolve(now);
    if (this.#closed) return Promise.reject(new UnavailableError('the client is closed'));
    if (!options.waitForReady && this.#allFailing()) return Promise.reject(this.#failure());
    const { timeout, signal } = options;
    if (signal?.aborted) return Promise.reject(new AbortError(signal.reason));
    const timedOut = () => new UnavailableError(`no server ready within ${timeout} ms`, { cause: this.#lastError ?? undefined });
    return waitInQueue<Subchannel<T>, Waiter<T>>(this.#waiters, { waitForReady: options.waitForReady, avoid }, timeout, timedOut, signal);
  }

  /** The owner's link on `sub` closed (`error`: why). Re-resolution is asked for. */
  lost(sub: Subchannel<T>, link: T, error: unknown): void {
    if (sub.link !== link) return;
    this.#lastError = error;
    sub.lost(link, error);
    this.#opts.resolver.resolveNow();
  }

  /** The server behind `link` began to drain: no new call goes there; other endpoints waiting out a backoff are tried now. */
  draining(sub: Subchannel<T>, link: T): void {
    if (sub.link !== link) return;
    sub.draining(link);
    for (const e of this.#endpoints.values()) for (const s of e.subchannels) if (s !== sub) s.resetBackoff();
    this.#opts.resolver.resolveNow();
  }

  /** A call's outcome on `endpoint`, for outlier detection: `failed` = past its deadline; latency in ms, or -1 when not measured (sampled). */
  report(endpoint: EndpointState<T>, failed: boolean, latency: number): void {
    const o = this.#opts.outlier;
    if (o === null) return;
    const s = endpoint.outlier;
    if (latency >= 0) {
      s.windowCalls++;
      s.windowLatency += latency;
    }
    if (!failed) {
      s.consecutiveFailures = 0;
      return;
    }
    if (o.consecutiveFailures > 0 && ++s.consecutiveFailures >= o.consecutiveFailures) {
      s.consecutiveFailures = 0;
      this.#eject(endpoint);
    }
  }

  /** Every ready link (for stats, broadcasts). */
  *links(): IterableIterator<T> {
    for (const e of this.#endpoints.values()) for (const s of e.subchannels) if (s.link !== null) yield s.link;
  }

  get endpoints(): IterableIterator<EndpointState<T>> {
    return this.#endpoints.values();
  }

  stats(): ChannelStats {
    let ready = 0;
    let connecting = 0;
    let backoff = 0;
    let ejected = 0;
    for (const e of this.#endpoints.values()) {
      if (e.outlier.ejectedUntil !== 0) ejected++;
      for (const s of e.subchannels) {
        if (s.state === 'ready') ready++;
        else if (s.state === 'connecting') connecting++;
        else if (s.state === 'backoff') backoff++;
      }
    }
    const c = this.#counts;
    return { endpoints: this.#endpoints.size, ready, connecting, backoff, ejected, ejections: c.ejections, dials: c.dials, dialFailures: c.dialFailures, waiting: this.#waiters.length, resolutions: c.resolutions, resolverErrors: c.resolverErrors };
  }

  /** Stops resolving and dialing, retires every link, fails the waiting calls with `reason`. */
  async close(reason: unknown = new UnavailableError('the client is closed')): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#sweep !== null) clearInterval(this.#sweep);
    for (const w of [...this.#waiters]) w.reject(reason);
    for (const e of this.#endpoints.values()) {
      for (const s of e.subchannels) s.close();
      if (e.outlier.ejectedUntil !== 0) clearTimeout((e as EndpointInternal<T>).ejectTimer);
    }
    await this.#opts.resolver.close();
  }

  // ---- SubchannelHost ----

  onState(sub: Subchannel<T>, previous: SubchannelState): void {
    if (sub.state === 'ready' || previous === 'ready') this.#dirty = true;
    // A new connection to an ejected endpoint (a restarted server, say): probe it now rather than at the ejection's end.
    const e = sub.endpoint as EndpointInternal<T>;
    if (sub.state === 'ready' && e.outlier.ejectedUntil !== 0 && !e.probing) {
      clearTimeout(e.ejectTimer);
      void this.#probe(e);
    }
    if (sub.state === 'ready') this.#serveWaiters();
    else if (sub.state === 'backoff') this.#failFast();
  }

  onDial(failed: boolean): void {
    this.#counts.dials++;
    if (failed) this.#counts.dialFailures++;
  }

  // ---- internals ----

  readonly #choose = (): number => {
    const cum = this.#cumulative;
    const n = this.#candidates.length;
    if (cum === null) return Math.floor(Math.random() * n);
    const x = Math.random() * cum[n - 1]!;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cum[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };

  #update(list: readonly Endpoint[]): void {
    if (this.#closed) return;
    this.#counts.resolutions++;
    this.#resolved = true;
    const seen = new Set<string>();
    for (const ep of list) {
      if (seen.has(ep.address)) continue;
      seen.add(ep.address);
      const weight = ep.weight ?? 1;
      const priority = ep.priority ?? 0;
      const known = this.#endpoints.get(ep.address);
      if (known !== undefined) {
        if (known.weight !== weight || known.priority !== priority) this.#dirty = true;
        known.weight = weight;
        known.priority = priority;
        continue;
      }
      const e: EndpointInternal<T> = { address: ep.address, weight, priority, source: ep.source, subchannels: [], outlier: newOutlierStats(), removed: false, ejectTimer: undefined, probing: false };
      for (let i = 0; i < this.#opts.connectionsPerEndpoint; i++) e.subchannels.push(new Subchannel(e, this));
      this.#endpoints.set(ep.address, e);
      for (const s of e.subchannels) s.connect();
    }
    // Vanished endpoints are drained, not cut: their links are retired (closed once their calls are answered).
    for (const [address, e] of this.#endpoints) {
      if (seen.has(address)) continue;
      e.removed = true;
      this.#endpoints.delete(address);
      clearTimeout((e as EndpointInternal<T>).ejectTimer);
      for (const s of e.subchannels) s.close();
      this.#dirty = true;
    }
    // New answers may bring endpoints back: let those in a backoff try now.
    for (const e of this.#endpoints.values()) for (const s of e.subchannels) s.resetBackoff();
    if (this.#endpoints.size === 0) this.#failFast();
    else this.#serveWaiters();
  }

  #rebuild(): void {
    this.#dirty = false;
    // The lowest priority with a ready, unejected endpoint takes every call.
    let best = Infinity;
    for (const e of this.#endpoints.values()) {
      if (e.priority >= best || e.outlier.ejectedUntil !== 0) continue;
      for (const s of e.subchannels) {
        if (s.state === 'ready') {
          best = e.priority;
          break;
        }
      }
    }
    const c: Subchannel<T>[] = [];
    let weighted = false;
    let firstWeight = -1;
    for (const e of this.#endpoints.values()) {
      if (e.priority !== best || e.outlier.ejectedUntil !== 0) continue;
      for (const s of e.subchannels) if (s.state === 'ready') c.push(s);
      if (firstWeight < 0) firstWeight = e.weight;
      else if (e.weight !== firstWeight) weighted = true;
    }
    this.#candidates = c;
    this.#cumulative = null;
    if (weighted && c.length > 0) {
      // An endpoint's weight is shared by its ready subchannels; weight 0 takes calls only when all are 0.
      const readyOf = new Map<EndpointState<T>, number>();
      for (const s of c) readyOf.set(s.endpoint, (readyOf.get(s.endpoint) ?? 0) + 1);
      const cum = new Float64Array(c.length);
      let sum = 0;
      for (let i = 0; i < c.length; i++) {
        const e = c[i]!.endpoint;
        sum += e.weight / readyOf.get(e)!;
        cum[i] = sum;
      }
      if (sum > 0) this.#cumulative = cum;
    }
  }

  #serveWaiters(): void {
    if (this.#waiters.length === 0) return;
    for (const w of [...this.#waiters]) {
      const s = this.pick(w.avoid);
      if (s === undefined) return;
      w.resolve(s);
    }
  }

  /** Every known endpoint failing (or none known after an answer): the calls that do not wait for ready fail now. */
  #failFast(): void {
    if (this.#waiters.length === 0 || !this.#allFailing()) return;
    const err = this.#failure();
    for (const w of [...this.#waiters]) if (!w.waitForReady) w.reject(err);
  }

  #allFailing(): boolean {
    if (!this.#resolved) return false;
    for (const e of this.#endpoints.values()) {
      for (const s of e.subchannels) if (!(s.state === 'backoff' && s.failing) && s.state !== 'closed') return false;
    }
    return true;
  }

  #failure(): unknown {
    if (this.#endpoints.size === 0) return new UnavailableError('the target has no endpoints', { cause: this.#lastError ?? undefined });
    // The last connection error as it is (a DialError says what the server did); else a generic one.
    for (const e of this.#endpoints.values()) for (const s of e.subchannels) if (s.failing && s.lastError !== null) return s.lastError;
    return new UnavailableError('no server is reachable', { cause: this.#lastError ?? undefined });
  }

  #eject(e: EndpointState<T>): void {
    const o = this.#opts.outlier!;
    if (e.outlier.ejectedUntil !== 0 || e.removed) return;
    let ejected = 0;
    let otherReady = false;
    for (const x of this.#endpoints.values()) {
      if (x.outlier.ejectedUntil !== 0) ejected++;
      else if (x !== e && x.subchannels.some((s) => s.state === 'ready')) otherReady = true;
    }
    // Never the last server that can answer, nor more than the allowed share.
    if (!otherReady || !mayEject(o, ejected, this.#endpoints.size)) return;
    const s: OutlierStats = e.outlier;
    s.ejections++;
    this.#counts.ejections++;
    const ms = ejectionTime(o, s);
    s.ejectedUntil = Date.now() + ms;
    this.#dirty = true;
    const timer = setTimeout(() => void this.#probe(e as EndpointInternal<T>), ms);
    timer.unref();
    (e as EndpointInternal<T>).ejectTimer = timer;
  }

  /** An ejection ended: probe the endpoint (if the connector can) before it takes calls again. */
  async #probe(e: EndpointInternal<T>): Promise<void> {
    const o = this.#opts.outlier!;
    const probe = this.connector.probe;
    const sub = e.subchannels.find((s) => s.link !== null);
    let healthy = true;
    if (probe !== undefined && sub !== undefined) {
      e.probing = true;
      try {
        healthy = await probe.call(this.connector, sub.link!);
      } catch {
        healthy = false;
      } finally {
        e.probing = false;
      }
    }
    if (this.#closed || e.removed) return;
    if (healthy) {
      e.outlier.ejectedUntil = 0;
      e.outlier.consecutiveFailures = 0;
      this.#dirty = true;
      this.#serveWaiters();
      return;
    }
    e.outlier.ejections++;
    const ms = ejectionTime(o, e.outlier);
    e.outlier.ejectedUntil = Date.now() + ms;
    clearTimeout(e.ejectTimer);
    const timer = setTimeout(() => void this.#probe(e), ms);
    timer.unref();
    e.ejectTimer = timer;
  }

  #sweepLatency(): void {
    const o = this.#opts.outlier!;
    const outliers = latencyOutliers(o, this.#endpoints.values());
    for (const e of this.#endpoints.values()) {
      // An interval spent serving forgives one past ejection.
      if (e.outlier.ejectedUntil === 0 && e.outlier.ejections > 0 && !outliers.includes(e)) e.outlier.ejections--;
      e.outlier.windowCalls = 0;
      e.outlier.windowLatency = 0;
    }
    for (const e of outliers) this.#eject(e);
  }
}

type EndpointInternal<T> = EndpointState<T> & { ejectTimer: NodeJS.Timeout | undefined; probing: boolean };
