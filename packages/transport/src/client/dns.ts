// The DNS resolver of the client layer: A/AAAA or SRV records of a name as endpoints, re-resolved on
// the records' TTL, at least every refreshInterval, and on resolveNow() (rate-limited by minInterval).
// Targets and options: dns-target.ts; one resolution: dns-lookup.ts (which says why c-ares and
// not a DNS wire library, and how SRV answers, which carry no TTL through Node, are refreshed).
//
// When it resolves again, after a resolution that started at S and ended at E:
// - an answer with records: at E + TTL, the TTL bounded to [minInterval, refreshInterval];
// - an empty answer (NXDOMAIN, no records: reported as []) or a failure (reported to onError, the
//   last endpoints stay): with a backoff from minInterval (at least 100 ms) doubling up to
//   refreshInterval, so a service that is coming up or a DNS server that is back is seen soon;
// - resolveNow(): at S + minInterval at the earliest (asked during a resolution: after it).
// The set is reported only when it changed (addresses, priorities, weights), the first answer always.
import { promises as dnsPromises } from 'node:dns';
import net from 'node:net';
import { DnsResolutionError, InvalidOptionError } from '../errors.js';
import { lookup, endpointsKey, type LookupResult } from './dns-lookup.js';
import { dnsSettings, type DnsResolverOptions, type DnsSettings } from './dns-target.js';
import type { Endpoint, Resolver, ResolverListener } from './resolver.js';
import { backoffDelay } from '../util/backoff.js';
import { createWarner } from '../util/warner.js';

export { parseDnsTarget, type DnsResolverOptions } from './dns-target.js';

const BACKOFF_BASE = 100;

// A listener that throws is user code failing: a rate-limited process warning, never a crash, and
// the resolver goes on (its next resolution is armed before the listener runs).
const warnListenerError = createWarner({ code: 'NOCOPY_RESOLVER_LISTENER_ERROR' });

export class DnsResolver implements Resolver {
  readonly #s: DnsSettings;
  readonly #client: InstanceType<typeof dnsPromises.Resolver>;
  #listener: ResolverListener | undefined;
  #closed = false;
  /** A resolution is waiting for its answers. */
  #inflight = false;
  /** The last resolution (close() waits for it). */
  #running: Promise<void> | undefined;
  /** resolveNow() came during the resolution in flight: its answer may predate the change. */
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  #lastStart = -Infinity;
  /** Consecutive failed or empty resolutions: the backoff exponent. */
  #misses = 0;
  #reported: string | undefined;

  constructor(options: DnsResolverOptions) {
    this.#s = dnsSettings(options);
    this.#client = new dnsPromises.Resolver({ timeout: this.#s.timeout, tries: this.#s.tries });
    if (this.#s.servers !== undefined) {
      try {
        this.#client.setServers(this.#s.servers);
      } catch {
        throw new InvalidOptionError('servers', this.#s.servers, 'IP addresses, each with an optional port ("127.0.0.1:5353", "[::1]:53")');
      }
    }
  }

  /** The name this resolver looks up, and whether as SRV. */
  get name(): string {
    return this.#s.name;
  }
  get srv(): boolean {
    return this.#s.srv;
  }

  start(listener: ResolverListener): void {
    if (typeof listener?.onEndpoints !== 'function' || typeof listener.onError !== 'function') {
      throw new InvalidOptionError('listener', listener, 'an object with onEndpoints() and onError()');
    }
    if (this.#listener !== undefined) throw new InvalidOptionError('listener', listener, 'given once (start() was already called)');
    this.#listener = listener;
    if (this.#closed) return;
    // Never inside start(): the caller's listener does not run before start() returns. An immediate,
    // not an unref()d timer: until the first answer, the resolution is what a starting client waits
    // for, and it must keep the process alive (the queries in flight do, once sent).
    setImmediate(() => this.#fire());
  }

  resolveNow(): void {
    if (this.#closed || this.#listener === undefined) return;
    if (this.#inflight) {
      this.#again = true;
      return;
    }
    this.#schedule(this.#lastStart + this.#s.minInterval - performance.now());
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      clearTimeout(this.#timer);
      this.#timer = undefined;
      // Queries in flight reject with ECANCELLED; the resolution sees #closed and reports nothing.
      this.#client.cancel();
    }
    await this.#running;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Arms the timer for `delay` ms from now, unless it is already armed for earlier. */
  #schedule(delay: number): void {
    const at = performance.now() + Math.max(0, delay);
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, delay));
    this.#timer.unref();
  }

  #fire(): void {
    clearTimeout(this.#timer); // fired, or armed by resolveNow() before the first resolution's immediate
    this.#timer = undefined;
    this.#timerAt = Infinity;
    if (this.#closed || this.#inflight) return;
    this.#inflight = true;
    this.#running = this.#resolve();
  }

  async #resolve(): Promise<void> {
    this.#again = false;
    this.#lastStart = performance.now();
    let result: LookupResult | undefined;
    let error: DnsResolutionError | undefined;
    try {
      result = await lookup(this.#client, this.#s);
    } catch (err) {
      error = err instanceof DnsResolutionError ? err : new DnsResolutionError(this.#s.name, err);
    }
    // From here a resolveNow() (the listener's own, say) arms the timer itself.
    this.#inflight = false;
    if (this.#closed) return;
    this.#scheduleNext(result);
    if (error !== undefined) {
      this.#call('onError', error);
      return;
    }
    const key = endpointsKey(result!.endpoints);
    if (key === this.#reported) return;
    this.#reported = key;
    this.#call('onEndpoints', Object.freeze(result!.endpoints));
  }

  #call(method: 'onEndpoints', arg: readonly Endpoint[]): void;
  #call(method: 'onError', arg: Error): void;
  #call(method: 'onEndpoints' | 'onError', arg: readonly Endpoint[] | Error): void {
    try {
      (this.#listener![method] as (a: typeof arg) => void).call(this.#listener, arg);
    } catch (err) {
      warnListenerError(err);
    }
  }

  #scheduleNext(result: LookupResult | undefined): void {
    const { minInterval, refreshInterval } = this.#s;
    let delay: number;
    if (result === undefined || result.endpoints.length === 0) {
      this.#misses++;
      // The one backoff (util/backoff.ts), each delay up to 20% shorter at random, so that clients
      // that failed together do not retry together.
      const initial = Math.max(minInterval, BACKOFF_BASE);
      delay = Math.max(minInterval, backoffDelay({ initial, max: Math.max(initial, refreshInterval), jitter: 0.2 }, this.#misses - 1));
      delay = Math.min(refreshInterval, delay);
    } else {
      this.#misses = 0;
      // A name that is an address (or localhost) never changes: nothing to refresh but on resolveNow().
      if (!this.#s.srv && (net.isIP(this.#s.name) !== 0 || result.ttl === undefined)) return;
      delay = Math.min(refreshInterval, Math.max(minInterval, (result.ttl ?? Infinity) * 1000));
    }
    if (this.#again) delay = Math.min(delay, this.#lastStart + minInterval - performance.now());
    this.#schedule(delay);
  }
}
