// Address formatting in one place: "host:port" with IPv6 hosts in brackets ("[::1]:8080"), as URLs
// and Node's own messages write them, and a bound address (TCP or a Unix socket path) as text.
import { isIPv6 } from 'node:net';
import type { AddressInfo } from 'node:net';

/** "host:port", or "[host]:port" when the host is an IPv6 address. */
export function formatHostPort(host: string, port: number | string): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A listener's address as text: the socket path, "host:port", or "?" before it is bound. */
export function formatAddress(address: AddressInfo | string | null | undefined): string {
  if (address === null || address === undefined) return '?';
  if (typeof address === 'string') return address;
  return formatHostPort(address.address, address.port);
}
