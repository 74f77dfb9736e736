// One DNS resolution of the DNS resolver: the A/AAAA records of a name, or its SRV records and the
// A/AAAA records of their targets, as endpoints plus the smallest TTL seen. No timers, no state.
//
// Why Node's dns.Resolver (c-ares) and no DNS wire library: c-ares already does retries, the TCP
// retry of a truncated answer, several servers and EDNS; a hand-rolled dgram client would redo that
// for one gain, the TTL of SRV answers, which resolveSrv() does not return. Without it, an SRV name
// is re-resolved on the smallest TTL of its targets' A/AAAA answers, bounded above by
// refreshInterval: the SRV set is read again at each of those resolutions, so a changed SRV set is
// seen within refreshInterval (30 s by default; lower it for quicker SRV changes).
import { promises as dnsPromises } from 'node:dns';
import net from 'node:net';
import { DnsResolutionError } from '../errors.js';
import type { Endpoint } from './resolver.js';
import type { DnsSettings } from './dns-target.js';
import { formatHostPort } from '../util/address.js';

type DnsClient = InstanceType<typeof dnsPromises.Resolver>;

export interface LookupResult {
  /** Sorted by priority, then address; one endpoint per address and port. */
  readonly endpoints: Endpoint[];
  /** The smallest TTL of the address records, in seconds; undefined when there were none. */
  readonly ttl: number | undefined;
}

/** NXDOMAIN (ENOTFOUND) and an answer without records of the type (ENODATA): an empty answer, not a failure. */
function isEmptyAnswer(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === 'ENOTFOUND' || code === 'ENODATA';
}

// At most this many target names are looked up at once for an SRV answer: a service of 1,000 targets
// must not send 2,000 queries in one burst.
const TARGET_CONCURRENCY = 32;

interface Addresses {
  hosts: string[];
  ttl: number | undefined;
}

/** The addresses of `name` for `family`. An address literal is itself; "localhost" is loopback (RFC 6761), not asked. */
async function addressesOf(client: DnsClient, name: string, family: 0 | 4 | 6): Promise<Addresses> {
  if (net.isIP(name) !== 0) return { hosts: [name], ttl: undefined };
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  if (bare === 'localhost' || bare.endsWith('.localhost')) return { hosts: [family === 6 ? '::1' : '127.0.0.1'], ttl: undefined };
  const queries: Promise<import('node:dns').RecordWithTtl[]>[] = [];
  if (family !== 6) queries.push(client.resolve4(name, { ttl: true }));
  if (family !== 4) queries.push(client.resolve6(name, { ttl: true }));
  const settled = await Promise.allSettled(queries);
  const hosts: string[] = [];
  let ttl: number | undefined;
  for (const s of settled) {
    if (s.status === 'rejected') {
      // Any real failure fails the whole resolution: reporting only the family that answered would
      // drop the other family's endpoints for a passing hiccup. (`family: 4` for servers that mishandle AAAA.)
      if (!isEmptyAnswer(s.reason)) throw new DnsResolutionError(name, s.reason);
      continue;
    }
    for (const r of s.value) {
      hosts.push(r.address);
      ttl = ttl === undefined ? r.ttl : Math.min(ttl, r.ttl);
    }
  }
  return { hosts, ttl };
}

async function srvRecords(client: DnsClient, name: string): Promise<import('node:dns').SrvRecord[]> {
  try {
    return await client.resolveSrv(name);
  } catch (err) {
    if (isEmptyAnswer(err)) return [];
    throw new DnsResolutionError(name, err);
  }
}

/** Runs `fn` over `items`, at most `limit` at a time; rejects with the first failure. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

function byPriorityThenAddress(a: Endpoint, b: Endpoint): number {
  return (a.priority ?? 0) - (b.priority ?? 0) || (a.address < b.address ? -1 : a.address > b.address ? 1 : 0);
}

/** One resolution of `settings.name`. Throws DnsResolutionError when a server did not give an answer. */
export async function lookup(client: DnsClient, settings: DnsSettings): Promise<LookupResult> {
  if (!settings.srv) {
    const { hosts, ttl } = await addressesOf(client, settings.name, settings.family);
    const unique = [...new Set(hosts)];
    return { endpoints: unique.map((h) => ({ address: formatHostPort(h, settings.port!) })).sort(byPriorityThenAddress), ttl };
  }
  // RFC 2782: a target of "." means the service is decidedly not available at this name.
  const records = (await srvRecords(client, settings.name)).filter((r) => r.name !== '' && r.name !== '.');
  const targets = [...new Set(records.map((r) => r.name))];
  const resolved = await mapLimited(targets, TARGET_CONCURRENCY, (t) => addressesOf(client, t, settings.family));
  const byTarget = new Map(targets.map((t, i) => [t, resolved[i]!]));
  let ttl: number | undefined;
  for (const r of resolved) if (r.ttl !== undefined) ttl = ttl === undefined ? r.ttl : Math.min(ttl, r.ttl);
  // One endpoint per address and port; the same address and port under two records keeps the
  // preferred one (lowest priority, then highest weight). Each address of a target gets the record's weight.
  const endpoints = new Map<string, Endpoint>();
  for (const rec of records) {
    for (const host of byTarget.get(rec.name)!.hosts) {
      const address = formatHostPort(host, rec.port);
      const had = endpoints.get(address);
      if (had !== undefined && (had.priority! < rec.priority || (had.priority === rec.priority && had.weight! >= rec.weight))) continue;
      endpoints.set(address, { address, priority: rec.priority, weight: rec.weight, source: rec.name });
    }
  }
  return { endpoints: [...endpoints.values()].sort(byPriorityThenAddress), ttl };
}

/** What identifies a set for change detection: sorted addresses with their priority and weight. */
export function endpointsKey(endpoints: readonly Endpoint[]): string {
  return endpoints
    .map((e) => `${e.address}/${e.priority ?? 0}/${e.weight ?? 1}`)
    .sort()
    .join(',');
}
