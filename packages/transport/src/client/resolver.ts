// The Resolver contract of the client layer: what addresses a target has now, and when that
// changes. A resolver pushes the whole current set (not deltas) to its listener; the channel diffs
// it against what it has: new endpoints are dialed, vanished ones are drained (their calls in
// flight are answered, no new call goes to them), never cut. Implementations: a static list
// (static-resolver.ts), DNS A/AAAA and SRV (dns.ts), etcd (../etcd/, the `/etcd` subpath).

/** One server a target resolves to. */
export interface Endpoint {
  /** What a subchannel dials: "host:port", "[v6]:port", or a Unix socket path. Also the endpoint's identity. */
  readonly address: string;
  /** Relative share among endpoints of the same priority (an SRV weight). Default 1; 0 takes calls only when no endpoint of its priority has weight. */
  readonly weight?: number;
  /** Lower is preferred (an SRV priority). Default 0. Calls go to the lowest priority that has a usable endpoint. */
  readonly priority?: number;
  /** Where it came from (an etcd key, an SRV target name): for logs and stats only. */
  readonly source?: string;
}

export interface ResolverListener {
  /** The full current set of endpoints. An empty set is a valid answer (the name has no servers now). */
  onEndpoints(endpoints: readonly Endpoint[]): void;
  /** A resolution failed; the endpoints last reported stay in use and the resolver tries again by itself. */
  onError(error: Error): void;
}

export interface Resolver {
  /** Begins resolving; results go to `listener`. Called once. */
  start(listener: ResolverListener): void;
  /**
   * A hint that the set may have changed (a connection to one of its endpoints was lost): resolve
   * again soon. Rate-limited by the resolver itself, so a flapping connection cannot make it hammer its source.
   */
  resolveNow(): void;
  /** Stops timers, watches and connections; resolves once they are released. Idempotent. */
  close(): Promise<void>;
}
