// What a session needs of its transport. A TCP, TLS or Unix Connection is one as it is; the UDP and
// WebSocket transports provide their own (message-link.ts), where each message is one datagram or
// one WebSocket message.
import type { FrameReader, FrameWriter } from '../framing/codec.js';

export interface SessionLink {
  /** The input: the connection's reader, or the current message's bytes. */
  readonly reader: FrameReader;
  readonly writer: FrameWriter & {
    readonly mallocLength: number;
    /** Output waits for the peer (backpressure). */
    readonly waiting: boolean;
    send(): boolean;
    flush(): Promise<void>;
  };
  /** The error that closed it, if any. */
  readonly error: unknown;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  isActive(): boolean;
  close(error?: unknown, options?: { graceful?: boolean }): void;
  /** Runs `cb` once the link is gone (after a running input call settled). */
  addCloseCallback(cb: () => void): void;
  /** Message transports: runs `cb` as soon as the transport is gone (not waiting for the input call). */
  onGone?(cb: () => void): void;
  /** Work that outlives the input call (maxInFlight > 1): the link waits for the matching unhold(). */
  hold(): void;
  unhold(): void;
  /** Input waits that the input call stopped short of (at maxInFlight): deliver it now. */
  redispatch(): void;
  /** Message transports: called after each encode, sends what was encoded as one datagram or message. */
  endMessage?(): void;
  /** Message transports: a message that failed to decode; true when the link dropped it (UDP) instead of closing. */
  dropMalformed?(error: unknown): boolean;
  /** WebSocket: the heartbeat is a ping, and the pong counts as input. */
  ping?(): void;
}
