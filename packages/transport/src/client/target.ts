// Targets as strings: what a client's `target` option names, turned into a Resolver.
//   "host:port" or "h1:p1,h2:p2"       a fixed list (StaticResolver)
//   "unix:/path/to.sock"               one Unix socket
//   "dns:///name:port", "dns://server:port/name:port", "dns:///_service._proto.name" (SRV): DnsResolver
//   "etcd://host:port/prefix"          EtcdResolver, loaded (with etcd3) only when it starts
// A Resolver object may be given instead of a string, for discovery of one's own.
import { InvalidOptionError } from '../errors.js';
import { checkHostPort } from '../util/validate.js';
import type { Resolver } from './resolver.js';
import { StaticResolver } from './static-resolver.js';
import { DnsResolver } from './dns.js';
import { parseDnsTarget } from './dns-target.js';
import { LazyResolver } from './lazy-resolver.js';
import { parseEtcdTarget } from '../etcd/target.js';

export interface TargetOptions {
  /** 'unix': a plain target is a socket path. Default 'tcp'. */
  network?: 'tcp' | 'unix';
}

/** The resolver a target string names; throws InvalidOptionError for one it cannot read. */
export function resolveTarget(target: string, options: TargetOptions = {}): Resolver {
  if (typeof target !== 'string' || target === '') throw new InvalidOptionError('target', target, 'a target string ("host:port", "dns:///name:port", "etcd://host:port/prefix", ...)');
  if (target.startsWith('unix:')) return new StaticResolver([target.slice('unix:'.length)]);
  if (options.network === 'unix') return new StaticResolver([target]);
  if (/^dns:/i.test(target)) return new DnsResolver(parseDnsTarget(target));
  if (/^etcd:/i.test(target)) {
    parseEtcdTarget(target); // a bad target throws here, not when the client starts
    return new LazyResolver(async () => (await import('../etcd/resolver.js')).createEtcdResolver(target));
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(target);
  if (scheme !== null) throw new InvalidOptionError('target', target, `a known scheme (not "${scheme[1]}:")`);
  const list = target.split(',').map((a) => a.trim());
  for (const a of list) checkHostPort('target', a);
  return new StaticResolver(list);
}
