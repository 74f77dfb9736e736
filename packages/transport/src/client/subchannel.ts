// A subchannel: one reconnecting connection to one endpoint. It dials single-flight; a failed dial,
// or a link that dies before it was stable, schedules the next dial after the shared backoff
// (backoff.ts); a link that stayed up `stableAfter` reconnects at once when lost. What a "link" is
// belongs to the owner (an RPC connection after its hello, a session after onOpen): the subchannel
// only dials it through the connector and hears, from the owner, that it was lost or is draining.
import { type Backoff, backoffDelay } from '../util/backoff.js';
import type { OutlierStats } from './outlier.js';

export type SubchannelState = 'idle' | 'connecting' | 'ready' | 'backoff' | 'closed';

/** The owner's side: how to open a link, and how to let one go. */
export interface Connector<T> {
  /** Dials the subchannel's address and makes the link ready to carry calls (handshakes included). */
  connect(address: string, signal: AbortSignal, subchannel: Subchannel<T>): Promise<T>;
  /**
   * The channel no longer sends on `link` (its endpoint was removed, its server is draining, the
   * channel is closing): close it once the calls it carries are done.
   */
  retire(link: T): void;
  /** Checks an ejected endpoint before it takes calls again (the RPC client calls $health). Optional: without it, an ejection simply ends. */
  probe?(link: T): Promise<boolean>;
}

/** An endpoint as the channel tracks it. */
export interface EndpointState<T> {
  readonly address: string;
  weight: number;
  priority: number;
  source: string | undefined;
  readonly subchannels: Subchannel<T>[];
  readonly outlier: OutlierStats;
  /** Removed by the resolver: its links are retired, its subchannels closed. */
  removed: boolean;
}

/** What a subchannel tells its channel. */
export interface SubchannelHost<T> {
  readonly connector: Connector<T>;
  readonly backoff: Backoff;
  onState(sub: Subchannel<T>, previous: SubchannelState): void;
  onDial(failed: boolean): void;
}

export class Subchannel<T> {
  readonly endpoint: EndpointState<T>;
  readonly #host: SubchannelHost<T>;
  state: SubchannelState = 'idle';
  /** The ready link, or null. */
  link: T | null = null;
  /** Calls in flight on this subchannel's links (kept by the owner): least-pending reads it. */
  load = 0;
  /** Why the last dial failed or the last link was lost. */
  lastError: unknown = null;
  /**
   * The last dial failed (it waits out a backoff for that). A subchannel that lost a young link also
   * waits out a backoff, but its server answered a moment ago: calls wait for it rather than fail fast.
   */
  failing = false;
  #attempt = 0;
  #openedAt = 0;
  #dialing: AbortController | null = null;
  #timer: NodeJS.Timeout | null = null;

  constructor(endpoint: EndpointState<T>, host: SubchannelHost<T>) {
    this.endpoint = endpoint;
    this.#host = host;
  }

  get address(): string {
    return this.endpoint.address;
  }

  /** Dials now if idle (a backoff in progress is left to run; see resetBackoff). */
  connect(): void {
    if (this.state !== 'idle') return;
    const ac = new AbortController();
    this.#dialing = ac;
    this.#set('connecting');
    this.#host.connector.connect(this.endpoint.address, ac.signal, this).then(
      (link) => {
        if (this.#dialing !== ac) {
          // Closed or reset meanwhile: nobody will use it.
          this.#host.connector.retire(link);
          return;
        }
        this.#dialing = null;
        this.link = link;
        this.#openedAt = Date.now();
        this.lastError = null;
        this.failing = false;
        this.#host.onDial(false);
        this.#set('ready');
      },
      (err: unknown) => {
        if (this.#dialing !== ac) return;
        this.#dialing = null;
        this.lastError = err;
        this.failing = true;
        this.#host.onDial(true);
        this.#retryLater();
      },
    );
  }

  /** The owner's link closed. A stable one reconnects at once, one that died young after a backoff. */
  lost(link: T, error: unknown): void {
    if (this.link !== link) return;
    this.link = null;
    this.lastError = error ?? this.lastError;
    if (this.state === 'closed') return;
    if (Date.now() - this.#openedAt >= this.#host.backoff.stableAfter) {
      this.#attempt = 0;
      this.#set('idle');
      this.connect();
    } else this.#retryLater();
  }

  /** The link's server is shutting down: no new call goes to it; it is retired and a new link dialed. */
  draining(link: T): void {
    if (this.link !== link) return;
    this.link = null;
    this.#host.connector.retire(link);
    if (this.state === 'closed') return;
    this.#attempt = 0;
    this.#set('idle');
    this.connect();
  }

  /** Ends a backoff early: dial now (something suggests the endpoint may be back). */
  resetBackoff(): void {
    if (this.state !== 'backoff') return;
    clearTimeout(this.#timer!);
    this.#timer = null;
    this.#set('idle');
    this.connect();
  }

  /** Stops dialing and retires the link. */
  close(): void {
    if (this.state === 'closed') return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#dialing?.abort();
    this.#dialing = null;
    const link = this.link;
    this.link = null;
    this.#set('closed');
    if (link !== null) this.#host.connector.retire(link);
  }

  #retryLater(): void {
    const delay = backoffDelay(this.#host.backoff, this.#attempt++);
    this.#set('backoff');
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.state !== 'backoff') return;
      this.#set('idle');
      this.connect();
    }, delay);
    this.#timer.unref();
  }

  #set(state: SubchannelState): void {
    const previous = this.state;
    if (previous === state) return;
    this.state = state;
    this.#host.onState(this, previous);
  }
}
