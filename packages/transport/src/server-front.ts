// The front every nocopy server shares (the session servers, the RPC server, the proxy): listen(),
// serve(), address() and one verb to stop, shutdown(), which returns the same promise when called
// again and is what `await using` calls. A server built on an EventLoop extends this class and
// implements only what its shutdown adds after the loop's own (drain its protocol, close its pools).
// Servers on other sockets (UDP, WebSocket over HTTP) extend StoppableServer: the same one verb.
import type { AddressInfo, Server } from 'node:net';
import type { EventLoop, ListenOptions, ShutdownOptions } from './eventloop.js';

/** The one verb to stop a server: shutdown(), memoized, never rejecting, and what `await using` calls. */
export abstract class StoppableServer<O extends { timeout?: number } = ShutdownOptions> implements AsyncDisposable {
  #stopping: Promise<void> | null = null;

  /** Whether shutdown() has been called. */
  get shuttingDown(): boolean {
    return this.#stopping !== null;
  }

  /**
   * Stops accepting, lets the work in progress finish (until `timeout`), then closes. Calling it again
   * returns the same promise; it never rejects. Options are validated at the first call.
   */
  shutdown(options?: O): Promise<void> {
    this.#stopping ??= this.stopServer(options ?? ({} as O));
    return this.#stopping;
  }

  /** What this server's shutdown does; called once, by the first shutdown(). */
  protected abstract stopServer(options: O): Promise<void>;

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }
}

export abstract class ServerFront<O extends ShutdownOptions = ShutdownOptions> extends StoppableServer<O> {
  readonly #loop: EventLoop<any>;

  protected constructor(loop: EventLoop<any>) {
    super();
    this.#loop = loop;
  }

  /** Listens on a new server (TCP, TLS or a Unix socket path); resolves with its address. */
  listen(options?: ListenOptions): Promise<AddressInfo | string> {
    return this.#loop.listen(options);
  }

  /** Accepts the connections of a server made elsewhere (a cluster worker's); it stays open at shutdown. */
  serve(server: Server): this {
    this.#loop.serve(server);
    return this;
  }

  /** The address listen() bound (a socket path, or host, port and family), null before listening. */
  address(): AddressInfo | string | null {
    return this.#loop.address();
  }
}
