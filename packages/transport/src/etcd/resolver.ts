// EtcdResolver: the servers registered under an etcd prefix, as a Resolver. Lists the prefix, then
// watches it from the revision after the list and pushes the whole set on every change. A lost
// connection is reported (onError) and the last set stays; the prefix is listed again (with a
// backoff) until etcd answers, and a new watch starts from that list's revision.
import type { Etcd3, IKeyValue, IRangeResponse, IWatchResponse, Watcher } from 'etcd3';
import type { Endpoint, Resolver, ResolverListener } from '../client/resolver.js';
import { EtcdError, InvalidOptionError } from '../errors.js';
import { jitteredBackoff, openClient, type EtcdConnectOptions } from './client.js';
import { decodeEntry, normalizePrefix, parseEtcdTarget } from './target.js';

export interface EtcdResolverOptions extends EtcdConnectOptions {
  /** The prefix servers register under (`services/echo`): the keys `services/echo/<address>` are watched. */
  prefix: string;
  /** resolveNow() lists the prefix again at most once per this many ms. Default 1000. */
  minResolveInterval?: number;
}

export interface EtcdResolverStats {
  /** Successful lists of the prefix (the first one, after reconnects, on resolveNow()). */
  lists: number;
  /** Watch events applied (puts and deletes under the prefix). */
  events: number;
  /** Times the watch lost its connection to etcd. */
  disconnects: number;
  /** Sets pushed to the listener. */
  pushes: number;
}

/** How long close() waits for etcd to confirm a watch cancel before it gives up on it (etcd may be down). */
const CANCEL_WAIT = 2000;

export class EtcdResolver implements Resolver {
  readonly prefix: string;
  readonly stats: EtcdResolverStats = { lists: 0, events: 0, disconnects: 0, pushes: 0 };
  readonly #client: Etcd3;
  readonly #owned: boolean;
  readonly #minInterval: number;
  /** Keys under the prefix that decode to an endpoint, by key. */
  readonly #entries = new Map<string, Endpoint>();
  #listener: ResolverListener | undefined;
  #watcher: Watcher | undefined;
  /** The revision of the last list: watch events at or below it are already in #entries. */
  #revision = -1n;
  /** The newest revision a watch event carried. */
  #seen = -1n;
  #lastList = 0;
  #listing = false;
  #listAgain = false;
  #retry: NodeJS.Timeout | undefined;
  #retryBackoff = jitteredBackoff(5000);
  /** What was pushed last, to push only changes. */
  #pushed: string | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: EtcdResolverOptions) {
    if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', options, 'an object');
    this.prefix = normalizePrefix(options.prefix);
    const min = options.minResolveInterval ?? 1000;
    if (!Number.isFinite(min) || min < 0) throw new InvalidOptionError('minResolveInterval', min, 'a number of ms >= 0');
    this.#minInterval = min;
    const { client, owned } = openClient(options);
    this.#client = client;
    this.#owned = owned;
  }

  start(listener: ResolverListener): void {
    if (this.#listener !== undefined) throw new InvalidOptionError('start', 'a second call', 'called once');
    if (listener === null || typeof listener !== 'object' || typeof listener.onEndpoints !== 'function' || typeof listener.onError !== 'function') {
      throw new InvalidOptionError('listener', listener, 'an object with onEndpoints and onError');
    }
    this.#listener = listener;
    this.#list();
  }

  resolveNow(): void {
    if (this.#listener === undefined || this.#closed !== undefined || this.#retry !== undefined) return;
    const wait = this.#lastList + this.#minInterval - Date.now();
    if (wait <= 0) this.#list();
    else this.#retry = setTimeout(() => ((this.#retry = undefined), this.#list()), wait);
  }

  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #close(): Promise<void> {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    const w = this.#watcher;
    this.#watcher = undefined;
    if (w !== undefined) {
      w.removeAllListeners();
      w.on('error', () => {});
      // Cancelled before the client closes: a watcher left attached would make etcd3 retry its stream forever.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([w.cancel().catch(() => {}), new Promise((r) => (timer = setTimeout(r, CANCEL_WAIT)))]);
      clearTimeout(timer);
    }
    if (this.#owned) this.#client.close();
  }

  /** Lists the prefix and replaces the set with what it holds; starts the watch after the first list. */
  #list(): void {
    if (this.#closed !== undefined) return;
    if (this.#listing) {
      this.#listAgain = true;
      return;
    }
    this.#listing = true;
    this.#lastList = Date.now();
    this.#client
      .getAll()
      .prefix(`${this.prefix}/`)
      .exec()
      .then(
        (res) => this.#listed(res),
        (err: unknown) => {
          if (this.#closed !== undefined) return;
          this.#report(`listing the prefix ${this.prefix}/ failed`, err);
          this.#scheduleRetry();
        },
      )
      .finally(() => {
        this.#listing = false;
        if (this.#listAgain) {
          this.#listAgain = false;
          this.#list();
        }
      });
  }

  #listed(res: IRangeResponse): void {
    if (this.#closed !== undefined) return;
    const revision = BigInt(res.header.revision);
    if (this.#watcher !== undefined && revision < this.#seen) {
      // The running watch already delivered changes newer than this list (answers on two streams
      // may cross): replacing the set with it would undo them. List again instead.
      this.#listAgain = true;
      return;
    }
    this.stats.lists++;
    this.#retryBackoff = jitteredBackoff(5000);
    this.#revision = revision;
    this.#entries.clear();
    for (const kv of res.kvs) this.#put(kv);
    this.#push();
    if (this.#watcher === undefined) this.#watch();
  }

  #scheduleRetry(): void {
    if (this.#retry !== undefined || this.#closed !== undefined) return;
    const delay = this.#retryBackoff.duration;
    this.#retryBackoff = this.#retryBackoff.next(undefined);
    this.#retry = setTimeout(() => ((this.#retry = undefined), this.#list()), delay);
  }

  #watch(): void {
    const w = this.#client.watch().prefix(`${this.prefix}/`).startRevision(String(this.#revision + 1n)).watcher();
    this.#watcher = w;
    w.on('data', (res: IWatchResponse) => this.#onWatch(res));
    // A lost stream, or a watch etcd cancelled (its start revision compacted, permission withdrawn):
    // the watcher is dropped and the prefix listed again, with this resolver's backoff; a new watch
    // starts from the revision of that list. etcd3's own reconnect is not used: each failed attempt
    // schedules two more (the stream's 'error' and 'end' both do), so over an outage of 15 s its
    // attempts grew to hundreds a second and a whole core.
    const drop = (what: string, err: Error, detach: boolean) => {
      if (this.#watcher !== w) return;
      this.#watcher = undefined;
      this.stats.disconnects++;
      // After a disconnect, cancel() only takes the watcher off etcd3's list (no stream: nothing is
      // sent), so etcd3 stops reconnecting it. A watch etcd cancelled is off that list already, and a
      // second cancel sent for it would get an answer etcd3 cannot place (it throws).
      if (detach) w.cancel().catch(() => {});
      this.#report(`${what}; keeping the last ${this.#entries.size} endpoint(s) and listing again`, err);
      this.#scheduleRetry();
    };
    w.on('disconnected', (err: Error) => drop(`the watch on ${this.prefix}/ lost its connection to etcd`, err, true));
    w.on('error', (err: Error) => drop(`etcd cancelled the watch on ${this.prefix}/`, err, false));
  }

  #onWatch(res: IWatchResponse): void {
    if (this.#closed !== undefined) return;
    for (const ev of res.events) {
      const rev = BigInt(ev.kv.mod_revision);
      if (rev > this.#seen) this.#seen = rev;
      // Already in the set: the list that followed a reconnect saw it.
      if (rev <= this.#revision) continue;
      this.stats.events++;
      if (ev.type === 'Delete') this.#entries.delete(ev.kv.key.toString());
      else this.#put(ev.kv);
    }
    this.#push();
  }

  #put(kv: IKeyValue): void {
    const key = kv.key.toString();
    const e = decodeEntry(key, kv.value.toString(), this.prefix);
    if (typeof e === 'string') {
      this.#entries.delete(key);
      this.#report(`ignored a registry entry: ${e}`);
    } else this.#entries.set(key, e);
  }

  #push(): void {
    const list = [...this.#entries.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
    const sig = JSON.stringify(list.map((e) => [e.address, e.weight, e.priority]));
    if (sig === this.#pushed) return;
    this.#pushed = sig;
    this.stats.pushes++;
    this.#listener!.onEndpoints(Object.freeze(list));
  }

  #report(message: string, cause?: unknown): void {
    if (this.#closed !== undefined) return;
    const detail = cause === undefined ? '' : `: ${(cause as Error)?.message ?? String(cause)}`;
    this.#listener!.onError(new EtcdError(message + detail, cause === undefined ? undefined : { cause }));
  }
}

/** A resolver for an `etcd://host:port[,host:port]/prefix` target (see parseEtcdTarget). */
export function createEtcdResolver(target: string, options: Omit<EtcdResolverOptions, 'hosts' | 'prefix' | 'client'> = {}): EtcdResolver {
  const { hosts, prefix } = parseEtcdTarget(target);
  return new EtcdResolver({ ...options, hosts, prefix });
}
