// A server's registration in a service registry (etcd): put once the server listens, under a lease
// kept alive, and removed when its shutdown begins, so that clients watching the prefix stop
// sending there while the drain answers what is in flight. etcd3 is loaded only by a server that
// registers.
import { InvalidOptionError } from '@nocopy/transport';
import type { Registration } from '@nocopy/transport/etcd';

export interface RegistryOptions {
  /** Where to register: `etcd://host:port/prefix`. */
  target: string;
  /** The address clients dial ("host:port"). Default: the address listen() bound (an unspecified host as 127.0.0.1). */
  address?: string;
  /** The lease's time to live, in whole seconds: a server that dies without deregistering is dropped this long after. Default 10. */
  ttl?: number;
  /** The server's weight among its peers. Default 1. */
  weight?: number;
  /** Registry errors (etcd unreachable, the lease lost and renewed). Default: the server's onError. */
  onError?: (error: unknown) => void;
}

export function checkRegistry(o: RegistryOptions | undefined): RegistryOptions | undefined {
  if (o === undefined) return undefined;
  if (o === null || typeof o !== 'object') throw new InvalidOptionError('registry', o, 'an object { target, address?, ttl? }');
  if (typeof o.target !== 'string' || !/^etcd:\/\//i.test(o.target)) throw new InvalidOptionError('registry.target', o.target, 'an etcd://host:port/prefix target');
  return o;
}

/** Registers `address` (the one given in the options wins). */
export async function registerServer(o: RegistryOptions, address: string, onError: (error: unknown) => void): Promise<Registration> {
  const { register, parseEtcdTarget } = await import('@nocopy/transport/etcd');
  const { hosts, prefix } = parseEtcdTarget(o.target);
  return register({ hosts, prefix, address: o.address ?? address, ttl: o.ttl, weight: o.weight, onError: o.onError ?? onError });
}
