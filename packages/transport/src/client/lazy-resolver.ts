// A resolver whose module is loaded when it starts: an etcd target must not load etcd3 (and gRPC)
// into every process that only parses targets or speaks to fixed addresses.
import type { Resolver, ResolverListener } from './resolver.js';

export class LazyResolver implements Resolver {
  readonly #load: () => Promise<Resolver>;
  #inner: Resolver | null = null;
  #closed = false;
  #loading: Promise<void> | null = null;
  #asked = false;

  constructor(load: () => Promise<Resolver>) {
    this.#load = load;
  }

  start(listener: ResolverListener): void {
    this.#loading = this.#load().then(
      (r) => {
        if (this.#closed) return void r.close();
        this.#inner = r;
        r.start(listener);
        if (this.#asked) r.resolveNow();
      },
      (err: unknown) => listener.onError(err instanceof Error ? err : new Error(String(err))),
    );
  }

  resolveNow(): void {
    if (this.#inner !== null) this.#inner.resolveNow();
    else this.#asked = true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#loading;
    await this.#inner?.close();
  }
}
