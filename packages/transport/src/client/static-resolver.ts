// A fixed list of addresses as a Resolver: reports it once, never changes.
import type { Endpoint, Resolver, ResolverListener } from './resolver.js';

export class StaticResolver implements Resolver {
  readonly endpoints: readonly Endpoint[];
  constructor(addresses: readonly (string | Endpoint)[]) {
    this.endpoints = Object.freeze(addresses.map((a) => (typeof a === 'string' ? { address: a } : a)));
  }
  start(listener: ResolverListener): void {
    // Asynchronously, as every other resolver answers: a caller never sees its listener run inside start().
    queueMicrotask(() => listener.onEndpoints(this.endpoints));
  }
  resolveNow(): void {}
  async close(): Promise<void> {}
}
