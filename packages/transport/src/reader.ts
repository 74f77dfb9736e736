// The connection's input: a LinkBuffer that the socket fills, plus async waits for more input.
import { LinkBuffer, type BlockPool, type Delimiter } from '@nocopy/linkbuffer';
import { kConnection, kWait } from './symbols.js';
import { ConnClosedError, InvalidOptionError } from './errors.js';
import type { Connection } from './connection.js';

export interface WaitOptions {
  /** Overrides the connection's read timeout for this wait, in ms (0 = none). */
  timeout?: number;
  /** Rejects the wait with an AbortError (code ABORT_ERR); the connection stays open. */
  signal?: AbortSignal;
}

const RESOLVED: Promise<void> = Promise.resolve();

export class ConnectionReader extends LinkBuffer {
  // Set by the Connection; null only while a dialed socket is being created (onread needs the reader first).
  [kConnection]: Connection<any>;

  constructor(conn: Connection<any> | null, pool: BlockPool) {
    super({ pool });
    this[kConnection] = conn as Connection<any>;
  }

  /**
   * Resolves when at least `n` bytes are readable (at once if they already are). Rejects with
   * ReadTimeoutError after the read timeout, ConnClosedError if the connection closes first,
   * InboundLimitError if `n` exceeds maxInboundBytes. Consumes nothing.
   */
  waitFor(n: number, options?: WaitOptions): Promise<void> {
    if ((n >>> 0) !== n) return Promise.reject(new InvalidOptionError('n', n, 'an integer from 0 to 2^32-1'));
    if (this.length >= n) return RESOLVED;
    return this[kConnection][kWait](n, null, options) as Promise<void>;
  }

  /**
   * Resolves with the bytes up to and including `delim`, consumed as by until() (a view valid until
   * release()), once the delimiter has arrived. Rejects like waitFor(); a delimiter not found within
   * maxInboundBytes rejects with InboundLimitError and closes the connection.
   */
  waitUntil(delim: Delimiter, options?: WaitOptions): Promise<Buffer> {
    if (this.closed) return Promise.reject(new ConnClosedError('connection closed'));
    let found: Buffer | null;
    try {
      found = this.until(delim);
    } catch (err) {
      return Promise.reject(err);
    }
    if (found !== null) return Promise.resolve(found);
    return this[kConnection][kWait](0, delim, options) as Promise<Buffer>;
  }
}
