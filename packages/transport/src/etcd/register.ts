// register(): a server announces itself under an etcd prefix, on a lease that etcd3 keeps alive.
// The key goes when the registration closes (the lease is revoked), or by itself when the process
// dies without closing (the lease expires after its TTL). A lease lost while etcd was unreachable
// longer than that is granted again, and the key put again, once etcd answers.
import type { Etcd3, Lease } from 'etcd3';
import { EtcdError, InvalidOptionError } from '../errors.js';
import { createWarner } from '../util/warner.js';
import { jitteredBackoff, openClient, type EtcdConnectOptions } from './client.js';
import { encodeValue, normalizePrefix, registryKey, validAddress, validPriority, validWeight, type RegistryValue } from './target.js';

export interface RegisterOptions extends EtcdConnectOptions {
  /** The prefix the clients watch (`services/echo`). */
  prefix: string;
  /** What clients dial: `host:port` or `[v6]:port`. Also the last part of the key. */
  address: string;
  /** Relative share among servers of the same priority (the Endpoint's weight). Left out: the client's default, 1. */
  weight?: number;
  /** Lower is preferred (the Endpoint's priority). Left out: 0. */
  priority?: number;
  /** The lease's time to live in seconds (an integer >= 1); a dead process's key goes after this. Default 10. */
  ttl?: number;
  /**
   * Called when the registration is in trouble: a keepalive failed (once per outage), the lease was
   * lost, a re-registration failed, a revoke on close failed. Default: a rate-limited process warning.
   */
  onError?: (error: EtcdError) => void;
  /** Aborting it closes the registration (deregisters). */
  signal?: AbortSignal;
}

export interface RegistrationStats {
  /** Times the key was put with a fresh lease: 1 after register(), +1 per re-registration. */
  registrations: number;
  /** Leases lost (etcd unreachable longer than the TTL, or the lease revoked by someone else). */
  leaseLosses: number;
}

/** Ends the registration: revokes the lease, which deletes the key. Idempotent. */
export interface Registration extends AsyncDisposable {
  /** The etcd key: `<prefix>/<address>`. */
  readonly key: string;
  readonly address: string;
  /** The key is in etcd under a live lease, as far as this process knows. */
  readonly registered: boolean;
  /** The current lease ID (decimal), undefined while a lost lease is being replaced. */
  readonly leaseId: string | undefined;
  readonly stats: RegistrationStats;
  /**
   * Revokes the lease (etcd deletes the key with it, so the clients watching drop this server) and
   * closes the etcd3 client if register() created it. Resolves even when etcd is unreachable (the
   * key then goes when its lease expires); that failure goes to onError.
   */
  close(): Promise<void>;
}

const warn = createWarner({ code: 'NOCOPY_ETCD_REGISTRATION' });

/**
 * Puts `<prefix>/<address>` = `{"address":..., "weight":..., "priority":...}` with a lease of `ttl`
 * seconds kept alive by etcd3. Resolves once the key is written; rejects with an EtcdError (and
 * leaves nothing behind) when the first put fails: a server may then exit or retry as it likes.
 */
export async function register(options: RegisterOptions): Promise<Registration> {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', options, 'an object');
  const prefix = normalizePrefix(options.prefix);
  if (!validAddress(options.address)) throw new InvalidOptionError('address', options.address, 'host:port or [v6]:port');
  if (options.weight !== undefined && !validWeight(options.weight)) throw new InvalidOptionError('weight', options.weight, 'a number >= 0');
  if (options.priority !== undefined && !validPriority(options.priority)) throw new InvalidOptionError('priority', options.priority, 'an integer >= 0');
  const ttl = options.ttl ?? 10;
  if (!Number.isInteger(ttl) || ttl < 1) throw new InvalidOptionError('ttl', ttl, 'an integer number of seconds >= 1 (etcd leases count whole seconds)');
  if (options.onError !== undefined && typeof options.onError !== 'function') throw new InvalidOptionError('onError', options.onError, 'a function');
  options.signal?.throwIfAborted();
  const value: RegistryValue = { address: options.address };
  if (options.weight !== undefined) value.weight = options.weight;
  if (options.priority !== undefined) value.priority = options.priority;
  const { client, owned } = openClient(options);
  const reg = new EtcdRegistration(client, owned, registryKey(prefix, options.address), options.address, encodeValue(value), ttl, options.onError ?? warn);
  try {
    await reg.first();
  } catch (err) {
    await reg.close();
    throw err;
  }
  const signal = options.signal;
  if (signal !== undefined) {
    const onAbort = () => void reg.close();
    if (signal.aborted) onAbort();
    else {
      signal.addEventListener('abort', onAbort, { once: true });
      reg.onClose(() => signal.removeEventListener('abort', onAbort));
    }
  }
  return reg;
}

class EtcdRegistration implements Registration {
  readonly stats: RegistrationStats = { registrations: 0, leaseLosses: 0 };
  readonly #client: Etcd3;
  readonly #owned: boolean;
  readonly #value: string;
  readonly #ttl: number;
  readonly #onError: (error: EtcdError) => void;
  #lease: Lease | undefined;
  #leaseId: string | undefined;
  #registered = false;
  /** A keepalive failure was reported and no keepalive succeeded since: report the next outage only. */
  #keepaliveFailing = false;
  #retry: NodeJS.Timeout | undefined;
  #backoff = jitteredBackoff(2000);
  #closed: Promise<void> | undefined;
  #closeHooks: (() => void)[] = [];

  constructor(
    client: Etcd3,
    owned: boolean,
    readonly key: string,
    readonly address: string,
    value: string,
    ttl: number,
    onError: (error: EtcdError) => void,
  ) {
    this.#client = client;
    this.#owned = owned;
    this.#value = value;
    this.#ttl = ttl;
    this.#onError = onError;
  }

  get registered(): boolean {
    return this.#registered;
  }

  get leaseId(): string | undefined {
    return this.#leaseId;
  }

  /** The first registration: its failure is register()'s rejection, not a retry. */
  async first(): Promise<void> {
    const err = await this.#attempt();
    if (err !== undefined) throw new EtcdError(`registering ${this.key} in etcd failed: ${err.message}`, { cause: err });
  }

  onClose(hook: () => void): void {
    this.#closeHooks.push(hook);
  }

  /** Grants a lease and puts the key on it; resolves with the error when that failed. */
  async #attempt(): Promise<Error | undefined> {
    const lease = this.#client.lease(this.#ttl);
    this.#lease = lease;
    this.#leaseId = undefined;
    lease.on('lost', (err: Error) => this.#lost(lease, err));
    // etcd3 types the argument as a keepalive response; it is the error.
    lease.on('keepaliveFailed', (err) => {
      if (this.#lease !== lease || this.#keepaliveFailing) return;
      this.#keepaliveFailing = true;
      this.#report(`a keepalive of the lease of ${this.key} failed; retrying (the key stays while the lease lives, ${this.#ttl} s)`, err);
    });
    lease.on('keepaliveSucceeded', () => {
      if (this.#lease === lease) this.#keepaliveFailing = false;
    });
    try {
      await lease.put(this.key).value(this.#value).exec();
      const id = await lease.grant();
      if (this.#lease !== lease) return undefined; // closed meanwhile
      if (lease.revoked()) throw new Error('the lease was lost right after the put');
      this.#leaseId = id;
      this.#registered = true;
      this.#keepaliveFailing = false;
      this.#backoff = jitteredBackoff(2000);
      this.stats.registrations++;
      return undefined;
    } catch (err) {
      if (this.#lease === lease) {
        this.#lease = undefined;
        // The lease may have been granted before the put failed: give it back (or let it expire).
        lease.revoke().catch(() => {});
      }
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  #lost(lease: Lease, err: Error): void {
    // Before the put succeeded, a loss (a grant that failed) is the attempt's own failure, handled there.
    if (this.#lease !== lease || !this.#registered || this.#closed !== undefined) return;
    this.#lease = undefined;
    this.#leaseId = undefined;
    this.#registered = false;
    this.stats.leaseLosses++;
    this.#report(`the lease of ${this.key} was lost; registering again when etcd answers`, err);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#retry !== undefined || this.#closed !== undefined) return;
    const delay = this.#backoff.duration;
    this.#backoff = this.#backoff.next(undefined);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (this.#closed !== undefined || this.#lease !== undefined) return;
      void this.#attempt().then((err) => {
        if (err === undefined || this.#closed !== undefined) return;
        this.#report(`registering ${this.key} again failed; retrying`, err);
        this.#schedule();
      });
    }, delay);
  }

  #report(message: string, cause: unknown): void {
    if (this.#closed !== undefined) return;
    this.#onError(new EtcdError(`${message}: ${(cause as Error)?.message ?? String(cause)}`, { cause }));
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
    for (const hook of this.#closeHooks.splice(0)) hook();
    const lease = this.#lease;
    this.#lease = undefined;
    this.#registered = false;
    if (lease !== undefined) {
      // Revoking deletes every key attached to the lease, and only those: a newer registration of the
      // same address (a restarted server, on its own lease) keeps its key.
      try {
        await lease.revoke({ deadline: Date.now() + Math.min(5000, this.#ttl * 1000) });
      } catch (err) {
        this.#onError(new EtcdError(`revoking the lease of ${this.key} failed; the key goes when the lease expires (${this.#ttl} s): ${(err as Error)?.message ?? String(err)}`, { cause: err }));
      }
    }
    if (this.#owned) this.#client.close();
  }
}
