// The etcd3 client the resolver and register() talk through: one they are given (and leave open),
// or one they create from `hosts` (and close), with a watch backoff suited to discovery.
import { Etcd3, type IOptions } from 'etcd3';
import { InvalidOptionError } from '../errors.js';
import { normalizeHosts } from './target.js';

export interface EtcdConnectOptions {
  /** The etcd members (`host:port`, `http://host:port` or `https://...`), when no `client` is given. */
  hosts?: string | readonly string[];
  /** An etcd3 client to use instead of `hosts`; it stays open when the resolver or registration closes. */
  client?: Etcd3;
  /** More options for the etcd3 client created from `hosts` (TLS credentials, auth, grpcOptions, ...). */
  etcdOptions?: Omit<IOptions, 'hosts'>;
}

export type Backoff = NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']>;

/**
 * Capped exponential backoff with full jitter, 100 ms doubling up to `max`: etcd3's default grows to
 * 30 s, too long for a client that learns of new servers through the watch (and a pending
 * reconnect timer of 30 s would also hold a closing process open that long).
 */
export function jitteredBackoff(max = 2000, base = 100): Backoff {
  const make = (step: number): Backoff => {
    const ceiling = Math.min(max, base * 2 ** step);
    return { duration: ceiling / 2 + Math.random() * (ceiling / 2), next: () => make(step + 1) } as Backoff;
  };
  return make(0);
}

export interface OpenedClient {
  client: Etcd3;
  /** This module created the client, so it closes it. */
  owned: boolean;
}

export function openClient(options: EtcdConnectOptions): OpenedClient {
  if (options.client !== undefined) {
    if (options.hosts !== undefined) throw new InvalidOptionError('hosts', options.hosts, 'left out when a client is given');
    // Duck-typed: a second copy of etcd3 in node_modules would fail an instanceof test.
    const c = options.client as Partial<Etcd3> | null;
    if (c === null || typeof c !== 'object' || typeof c.getAll !== 'function' || typeof c.watch !== 'function' || typeof c.lease !== 'function') throw new InvalidOptionError('client', options.client, 'an Etcd3 client');
    return { client: options.client, owned: false };
  }
  const hosts = normalizeHosts(options.hosts);
  const extra = options.etcdOptions ?? {};
  const client = new Etcd3({
    ...extra,
    hosts,
    faultHandling: { watchBackoff: jitteredBackoff(), ...extra.faultHandling },
  });
  return { client, owned: true };
}
