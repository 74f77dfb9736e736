// @nocopy/transport/etcd: service registration and discovery through etcd, on the `etcd3` client.
// A subpath of its own, so that importing @nocopy/transport never loads etcd3 (and gRPC).
export { EtcdResolver, createEtcdResolver, type EtcdResolverOptions, type EtcdResolverStats } from './resolver.js';
export { register, type RegisterOptions, type Registration, type RegistrationStats } from './register.js';
export { parseEtcdTarget, DEFAULT_ETCD_PORT, type EtcdTarget, type RegistryValue } from './target.js';
export type { EtcdConnectOptions } from './client.js';
export { EtcdError } from '../errors.js';
