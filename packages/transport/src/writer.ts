// The connection's output: a LinkBuffer whose flush() also sends what was written.
import { LinkBuffer, type BlockPool } from '@nocopy/linkbuffer';
import { kConnection, kSend } from './symbols.js';
import type { Connection } from './connection.js';

export class ConnectionWriter extends LinkBuffer {
  readonly [kConnection]: Connection<any>;

  constructor(conn: Connection<any>, pool: BlockPool) {
    super({ pool });
    this[kConnection] = conn;
  }

  /**
   * Makes everything written readable and sends it: all nodes go to the socket as views in one
   * corked write (one writev), and return to the pool after the socket's write callback.
   * Resolves at once unless more than maxOutboundBytes are queued in the socket; then it waits
   * for the peer to take them, bounded by the write timeout (WriteTimeoutError, the connection closes).
   * Rejects with ConnClosedError once the connection can no longer send.
   */
  override flush(): Promise<void> {
    return this[kConnection][kSend]();
  }

  /** The plain LinkBuffer flush: publishes written bytes without sending (used by the connection). */
  publish(): void {
    super.flush();
  }
}
