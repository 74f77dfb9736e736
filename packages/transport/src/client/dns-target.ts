// The options of the DNS resolver and the `dns:` target strings that name them: parsing and
// validation only (coded InvalidOptionError), so the resolver itself deals with lookups and timers.
import net from 'node:net';
import { InvalidOptionError } from '../errors.js';
import { checkEnum, checkMs } from '../util/validate.js';
import { formatHostPort } from '../util/address.js';

export interface DnsResolverOptions {
  /** The name to look up: a host name (A/AAAA records, `port` required) or an SRV name `_service._proto.domain`. */
  name: string;
  /** The port every address of a host name gets. Not given for an SRV name: each record carries its port. */
  port?: number;
  /** Look up SRV records of `name`. Default: true when `name`'s first label starts with `_` and no `port` is given. */
  srv?: boolean;
  /** Which addresses to ask for: 4 (A), 6 (AAAA) or 0 (both, the default). Also applies to the targets of SRV records. */
  family?: 0 | 4 | 6;
  /** DNS servers to ask, as `dns.Resolver#setServers` takes them ("127.0.0.1", "127.0.0.1:5353", "[::1]:53"). Default: the system's. */
  servers?: readonly string[];
  /** The least time between the starts of two resolutions, in ms (TTL 0, resolveNow() bursts). Default 1000. */
  minInterval?: number;
  /** Re-resolve at least this often, in ms, however long the TTL; also the cap of the retry backoff. Default 30000. */
  refreshInterval?: number;
  /** How long one query waits for an answer before it is sent again, in ms (c-ares' timeout). Default 2000. */
  timeout?: number;
  /** How many times a query is sent before the resolution fails (c-ares' tries). Default 2. */
  tries?: number;
}

/** The options with their defaults applied, checked. */
export interface DnsSettings {
  readonly name: string;
  readonly port: number | undefined;
  readonly srv: boolean;
  readonly family: 0 | 4 | 6;
  readonly servers: readonly string[] | undefined;
  readonly minInterval: number;
  readonly refreshInterval: number;
  readonly timeout: number;
  readonly tries: number;
}

// A host name as DNS carries it: dot-separated labels of letters, digits, '-' and '_' (SRV labels), a trailing dot allowed.
const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

function checkName(option: string, name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 254) throw new InvalidOptionError(option, name, 'a DNS name');
  if (net.isIP(name) !== 0) return name;
  const labels = (name.endsWith('.') ? name.slice(0, -1) : name).split('.');
  if (!labels.every((l) => LABEL.test(l))) throw new InvalidOptionError(option, name, 'a DNS name (labels of letters, digits, "-" and "_")');
  return name;
}

function checkPort(option: string, port: unknown): number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidOptionError(option, port, 'a port from 1 to 65535');
  }
  return port;
}

/** Applies the defaults and checks every option; throws InvalidOptionError (ERR_INVALID_OPTION). */
export function dnsSettings(options: DnsResolverOptions): DnsSettings {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', options, 'an object');
  const name = checkName('name', options.name);
  const port = options.port === undefined ? undefined : checkPort('port', options.port);
  const srv = options.srv ?? (port === undefined && name.startsWith('_'));
  if (typeof srv !== 'boolean') throw new InvalidOptionError('srv', options.srv, 'true or false');
  if (srv && port !== undefined) throw new InvalidOptionError('port', port, 'not given for an SRV name (each record carries its port)');
  if (!srv && port === undefined) throw new InvalidOptionError('port', port, 'a port from 1 to 65535 (required for an A/AAAA name)');
  if (srv && net.isIP(name) !== 0) throw new InvalidOptionError('name', name, 'a DNS name for an SRV lookup, not an address');
  const family = checkEnum('family', options.family, [0, 4, 6] as const, 0);
  let servers: string[] | undefined;
  if (options.servers !== undefined) {
    if (!Array.isArray(options.servers) || options.servers.length === 0 || !options.servers.every((s) => typeof s === 'string')) {
      throw new InvalidOptionError('servers', options.servers, 'a non-empty array of "ip" or "ip:port" strings');
    }
    servers = [...options.servers];
  }
  const minInterval = checkMs('minInterval', options.minInterval, 1000);
  const refreshInterval = checkMs('refreshInterval', options.refreshInterval, 30_000);
  if (refreshInterval < 1 || refreshInterval < minInterval) {
    throw new InvalidOptionError('refreshInterval', refreshInterval, `at least 1 and at least minInterval (${minInterval})`);
  }
  const timeout = checkMs('timeout', options.timeout, 2000);
  if (timeout < 1) throw new InvalidOptionError('timeout', timeout, 'at least 1 ms');
  const tries = options.tries ?? 2;
  if (typeof tries !== 'number' || !Number.isInteger(tries) || tries < 1 || tries > 16) throw new InvalidOptionError('tries', tries, 'an integer from 1 to 16');
  return { name, port, srv, family, servers, minInterval, refreshInterval, timeout, tries };
}

/**
 * Parses a `dns:` target into resolver options (the name, the port, SRV or not, the DNS server):
 * - `dns:///name:port` (or `dns:name:port`): A and AAAA records of `name`, each address with `port`;
 * - `dns://dnshost:dnsport/name:port`: the same, asking the DNS server named by the authority (an IP address, port 53 by default);
 * - `dns:///_service._proto.name` (no port, first label starting with `_`): SRV records, then the A/AAAA records of their targets.
 * Throws InvalidOptionError (ERR_INVALID_OPTION) for anything else. Other options (intervals, family) are the caller's to add.
 */
export function parseDnsTarget(target: string): DnsResolverOptions {
  if (typeof target !== 'string' || !target.startsWith('dns:')) throw new InvalidOptionError('target', target, 'a "dns:" target');
  if (/[?#\s]/.test(target)) throw new InvalidOptionError('target', target, 'a "dns:" target without query, fragment or spaces');
  let rest = target.slice(4);
  let authority = '';
  if (rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    if (slash < 0) throw new InvalidOptionError('target', target, 'a "dns://[dnsserver]/name[:port]" target');
    authority = rest.slice(2, slash);
    rest = rest.slice(slash + 1);
  }
  const options: DnsResolverOptions = { name: '' };
  if (authority !== '') options.servers = [dnsServer(target, authority)];
  let name = rest;
  let port: string | undefined;
  if (rest.startsWith('[')) {
    // an IPv6 literal: "[::1]:port"
    const close = rest.indexOf(']');
    if (close < 0 || rest[close + 1] !== ':') throw new InvalidOptionError('target', target, 'an IPv6 address as "[v6]:port"');
    name = rest.slice(1, close);
    port = rest.slice(close + 2);
    if (net.isIPv6(name) === false) throw new InvalidOptionError('target', target, 'an IPv6 address inside the brackets');
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon >= 0) {
      name = rest.slice(0, colon);
      port = rest.slice(colon + 1);
    }
  }
  options.name = checkName('target', name);
  if (port !== undefined) {
    if (!/^\d{1,5}$/.test(port)) throw new InvalidOptionError('target', target, 'a port from 1 to 65535 after the name');
    options.port = checkPort('target', Number(port));
    if (name.startsWith('_')) throw new InvalidOptionError('target', target, 'an SRV name without a port (each record carries its port)');
  } else if (!name.startsWith('_')) {
    throw new InvalidOptionError('target', target, 'a name with a port ("name:port"), or an SRV name "_service._proto.domain"');
  } else {
    options.srv = true;
  }
  return options;
}

/** The authority of `dns://auth/...`: an IP address with an optional port, as setServers takes it. */
function dnsServer(target: string, authority: string): string {
  let host = authority;
  let port: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    host = authority.slice(1, close);
    if (close < 0 || (close + 1 < authority.length && authority[close + 1] !== ':')) host = '';
    else if (close + 1 < authority.length) port = authority.slice(close + 2);
    if (!net.isIPv6(host)) throw new InvalidOptionError('target', target, 'a DNS server as an IP address ("[v6]:port")');
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon >= 0) {
      host = authority.slice(0, colon);
      port = authority.slice(colon + 1);
    }
    if (!net.isIPv4(host)) throw new InvalidOptionError('target', target, 'a DNS server as an IP address ("ip:port")');
  }
  if (port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)) {
    throw new InvalidOptionError('target', target, 'a DNS server port from 1 to 65535');
  }
  const p = port === undefined ? 53 : Number(port);
  return formatHostPort(host, p);
}
