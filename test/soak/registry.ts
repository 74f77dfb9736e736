// Every Connection of the process, from the transport's diagnostics channels: opened, closed, live.
// A connection dialed while a worker runs inside `owner.run(scope, ...)` is listed in that scope, so
// that faults can be aimed at one client's connections (or at their server-side peers).
import { AsyncLocalStorage } from 'node:async_hooks';
import diagnostics from 'node:diagnostics_channel';
import type { Connection } from '@nocopy/transport';
import type { Scope } from './ledger.js';

export const owner = new AsyncLocalStorage<Scope>();

interface Message {
  connection: Connection<any>;
  error?: unknown;
}

export class Registry {
  opened = 0;
  closed = 0;
  readonly live = new Set<Connection<any>>();
  readonly #scopeOf = new Map<Connection<any>, Scope>();

  readonly #onOpen = (m: unknown): void => {
    const conn = (m as Message).connection;
    this.opened++;
    this.live.add(conn);
    const scope = owner.getStore();
    if (scope !== undefined) {
      scope.conns.add(conn);
      this.#scopeOf.set(conn, scope);
    }
  };

  readonly #onClose = (m: unknown): void => {
    const conn = (m as Message).connection;
    this.closed++;
    this.live.delete(conn);
    const scope = this.#scopeOf.get(conn);
    if (scope !== undefined) {
      scope.conns.delete(conn);
      this.#scopeOf.delete(conn);
    }
  };

  start(): void {
    diagnostics.subscribe('nocopy:connection:open', this.#onOpen);
    diagnostics.subscribe('nocopy:connection:close', this.#onClose);
  }

  stop(): void {
    diagnostics.unsubscribe('nocopy:connection:open', this.#onOpen);
    diagnostics.unsubscribe('nocopy:connection:close', this.#onClose);
  }

  /** The accepted connection at the other end of a local client socket (same process, loopback). */
  peerOf(localPort: number | undefined, remotePort: number | undefined): Connection<any> | null {
    if (localPort === undefined || remotePort === undefined) return null;
    for (const c of this.live) {
      if (c.localPort === remotePort && c.remotePort === localPort) return c;
    }
    return null;
  }
}
