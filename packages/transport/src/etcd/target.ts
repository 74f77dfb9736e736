// etcd targets and the registry's key layout and value format, shared by the resolver and register():
// `etcd://host:port[,host:port...]/prefix` strings, and `<prefix>/<address>` keys holding
// `{"address":"host:port","weight":n,"priority":n}` values. Pure functions, no etcd3 import.
import { InvalidOptionError } from '../errors.js';
import type { Endpoint } from '../client/resolver.js';

/** etcd's own client port, used when a target names a host without one. */
export const DEFAULT_ETCD_PORT = 2379;

export interface EtcdTarget {
  /** The etcd members to talk to, as the etcd3 client takes them: `http://host:port`. */
  readonly hosts: string[];
  /** The key prefix the servers register under, without a leading or trailing slash (`services/echo`). */
  readonly prefix: string;
}

/**
 * Parses `etcd://host:port/prefix` or `etcd://h1:p1,h2:p2/prefix` (port 2379 when left out; IPv6 as
 * `[::1]:2379`). The prefix is the path without its leading slash, as grpc-go's etcd resolver reads
 * `etcd:///foo/bar`: `etcd://h:2379/services/echo` watches the keys `services/echo/<address>`.
 */
export function parseEtcdTarget(target: string): EtcdTarget {
  if (typeof target !== 'string') throw new InvalidOptionError('target', target, 'an etcd://host:port/prefix string');
  const m = /^etcd:\/\/([^/?#]*)\/([^?#]*)$/i.exec(target);
  if (m === null) throw new InvalidOptionError('target', target, 'an etcd://host:port[,host:port...]/prefix string');
  const hostList = m[1]!;
  if (hostList === '') throw new InvalidOptionError('target', target, 'an etcd:// target naming at least one etcd host');
  const hosts = hostList.split(',').map((h) => {
    const url = hostUrl(h);
    if (url === undefined) throw new InvalidOptionError('target', target, `an etcd:// target whose hosts are host[:port] (bad host ${JSON.stringify(h)})`);
    return url;
  });
  let prefix: string;
  try {
    prefix = normalizePrefix(decodeURIComponent(m[2]!));
  } catch {
    throw new InvalidOptionError('target', target, 'an etcd:// target with a key prefix after the hosts (etcd://host:port/services/echo)');
  }
  return { hosts, prefix };
}

/** `host`, `host:port` or `[v6]:port` as `http://host:port`; undefined when it is none of those. */
function hostUrl(h: string): string | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/.exec(h.trim());
  if (m === null) return undefined;
  const port = m[2] === undefined ? DEFAULT_ETCD_PORT : Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return `http://${m[1]}:${port}`;
}

/**
 * The `hosts` option of the resolver and register(): `host:port`, or a URL (`http://`, `https://`)
 * passed to etcd3 as it is. A single string may list several, comma-separated.
 */
export function normalizeHosts(hosts: unknown): string[] {
  const list = typeof hosts === 'string' ? hosts.split(',') : hosts;
  if (!Array.isArray(list) || list.length === 0) throw new InvalidOptionError('hosts', hosts, 'a non-empty list of etcd hosts (host:port or http://host:port)');
  return list.map((h: unknown) => {
    if (typeof h === 'string' && /^https?:\/\/[^/]+\/?$/i.test(h.trim())) return h.trim().replace(/\/$/, '');
    const url = typeof h === 'string' ? hostUrl(h) : undefined;
    if (url === undefined) throw new InvalidOptionError('hosts', hosts, 'a non-empty list of etcd hosts (host:port or http://host:port)');
    return url;
  });
}

/** A prefix without leading or trailing slashes; throws when nothing is left (the whole keyspace is never a registry). */
export function normalizePrefix(prefix: unknown): string {
  const p = typeof prefix === 'string' ? prefix.replace(/^\/+|\/+$/g, '') : '';
  if (p === '') throw new InvalidOptionError('prefix', prefix, 'a non-empty etcd key prefix (services/echo)');
  return p;
}

/** The key a server registers under. */
export function registryKey(prefix: string, address: string): string {
  return `${prefix}/${address}`;
}

/** What register() writes: the JSON value of a registry key. */
export interface RegistryValue {
  address: string;
  weight?: number;
  priority?: number;
}

/** Checks an address as register() accepts it: `host:port` or `[v6]:port`. */
export function validAddress(address: unknown): address is string {
  if (typeof address !== 'string') return false;
  const m = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(address);
  return m !== null && Number(m[1]) >= 1 && Number(m[1]) <= 65535;
}

export function validWeight(w: unknown): w is number {
  return typeof w === 'number' && Number.isFinite(w) && w >= 0;
}

export function validPriority(p: unknown): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p >= 0;
}

export function encodeValue(v: RegistryValue): string {
  return JSON.stringify(v);
}

/**
 * A registry key and its value as an Endpoint, or a string saying why it is not one. The value's
 * `address` is the one dialed; an empty value stands for the address in the key (so that
 * `etcdctl put services/echo/10.0.0.5:7000 ''` registers by hand). Unknown JSON fields are ignored,
 * for values written by a newer version.
 */
export function decodeEntry(key: string, value: string, prefix: string): Endpoint | string {
  const keyAddress = key.slice(prefix.length + 1);
  if (value.trim() === '') {
    return validAddress(keyAddress) ? { address: keyAddress, source: key } : `key ${key}: empty value and no host:port after the prefix`;
  }
  let v: unknown;
  try {
    v = JSON.parse(value);
  } catch {
    return `key ${key}: the value is not JSON`;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return `key ${key}: the value is not a JSON object`;
  const { address, weight, priority } = v as Record<string, unknown>;
  if (typeof address !== 'string' || address === '') return `key ${key}: the value has no "address"`;
  if (weight !== undefined && !validWeight(weight)) return `key ${key}: "weight" must be a number >= 0`;
  if (priority !== undefined && !validPriority(priority)) return `key ${key}: "priority" must be an integer >= 0`;
  const e: { address: string; weight?: number; priority?: number; source: string } = { address, source: key };
  if (weight !== undefined) e.weight = weight;
  if (priority !== undefined) e.priority = priority;
  return e;
}
