// The hot path of the proxy. Both connections of a pair (the accepted client and the dialed upstream)
// have a Relay as their ctx and share the handlers below, named functions rather than closures per
// connection. Input is moved to the other side's writer: writer.append(reader) moves the input nodes
// without copying, except contents up to 4 KiB, which are copied into the current output node (one
// buffer per small batch for the socket); send() hands the nodes to the socket as views.
//
// Why the views stay valid: append() takes the input's nodes over (the reader keeps no reference, so
// its release() after this call cannot free them), or, while a socket read is pending in the reader's
// last block, a slice that holds its own reference on each block. The writer keeps the nodes it handed
// to the socket in a slice until the socket's write callback (none when the kernel took them at once).
// Bytes are lost only if a connection is torn down early; the transport guarantees that neither FIN
// does that: our closeWrite() still sends what the socket holds when the peer's FIN then closes the
// connection, and input that arrived before the peer's FIN still reaches forward() after the socket
// closed (both FINs exchanged while forward() waited for the other side to drain).
import { ConnClosedError, type Connection } from '@nocopy/transport';

export type Role = 'client' | 'upstream';

/** What the relays of one proxy share: byte counters and where errors go. */
export interface RelayHost {
  /** Bytes forwarded from clients to upstreams. */
  bytesUp: number;
  /** Bytes forwarded from upstreams to clients. */
  bytesDown: number;
  /** An error worth reporting, on the connection it concerns; the same error object only once. */
  report(error: unknown, relay: Relay, conn: Connection<Relay>): void;
}

export class Relay {
  /** The other connection of the pair; null on a client connection until its upstream is dialed. */
  peer: Connection<Relay> | null;
  /** Our remote sent its FIN (we may still have some of its input to forward). */
  eof = false;
  /** That FIN was passed on: closeWrite() was called on the peer. */
  eofForwarded = false;
  readonly role: Role;
  readonly host: RelayHost;
  /** The client's address, for messages (the same on both relays of a pair). */
  readonly client: string;

  constructor(role: Role, host: RelayHost, client: string, peer: Connection<Relay> | null = null) {
    this.role = role;
    this.host = host;
    this.client = client;
    this.peer = peer;
  }
}

/**
 * onRequest of both sides: moves all input to the peer's writer and flushes it. Returning the flush
 * promise is the backpressure: while the peer's socket holds more than maxOutboundBytes, this
 * connection's onRequest is not called again, its input grows to maxInboundBytes and reading pauses.
 */
export function forward(relay: Relay, conn: Connection<Relay>): Promise<void> | undefined {
  const peer = relay.peer!;
  const out = peer.writer;
  const input = conn.reader;
  const n = input.length;
  if (n !== 0) {
    if (out.closed) {
      // The peer is gone; its close callback closes this connection too (or already has).
      conn.close();
      return undefined;
    }
    out.append(input);
    if (relay.role === 'client') relay.host.bytesUp += n;
    else relay.host.bytesDown += n;
  }
  if (relay.eof) return forwardEof(relay);
  // Sent at once: returning nothing lets the transport call onRequest again without a promise round
  // trip (a measurable share of the CPU per message).
  return out.send() ? undefined : out.drained();
}

/** Passes our remote's FIN on to the peer, after everything appended to the peer's writer (closeWrite flushes first). */
export function forwardEof(relay: Relay): Promise<void> | undefined {
  if (relay.eofForwarded) return undefined;
  relay.eofForwarded = true;
  // It rejects only when the peer can no longer send: then the peer is closing, and the close callbacks take over.
  return relay.peer!.closeWrite().then(undefined, ignore);
}

/**
 * onDisconnect of both sides: called once when the remote sends its FIN (or the socket fails). A FIN
 * is a half-close: it is passed on as soon as the input before it has been forwarded, here when none
 * is left, else by the forward() call that takes the rest.
 */
export function onDisconnect(relay: Relay, conn: Connection<Relay>): void {
  // A reset or socket error closes the connection; closePartner() then closes the peer.
  if (conn.error !== undefined || relay.peer === null) return;
  relay.eof = true;
  if (conn.reader.length === 0) void forwardEof(relay);
}

/**
 * Close callback of both sides. When both directions ended cleanly (our remote's FIN passed on and the
 * peer's FIN passed to us), the peer closes by itself once its own closeWrite() has flushed; closing it
 * now would drop forwarded bytes still waiting for its socket. In every other case the peer is closed:
 * gracefully (bytes already handed to its socket are still sent) after a clean close, at once after a failure.
 */
export function closePartner(conn: Connection<Relay>): void {
  const relay = conn.ctx;
  const peer = relay.peer;
  const err = conn.error;
  if (err !== undefined && relay.role === 'upstream' && isNotable(err)) relay.host.report(err, relay, conn);
  if (peer === null || peer.closed) return;
  if (err === undefined) {
    if (conn.writeEnded && relay.eofForwarded) return;
    peer.close();
  } else {
    peer.close(err instanceof ConnClosedError ? err : new ConnClosedError(`the ${relay.role} connection failed`, { cause: err }));
  }
}

/**
 * The connection an error belongs to, for an error that reached `conn`'s onError. forward() waits for
 * the peer's writer, so a write timeout (or any failure) of the peer rejects this side's forwarding
 * with the very error the peer closed with: then it is the peer's.
 */
export function ownerOf(error: unknown, conn: Connection<Relay>): Connection<Relay> {
  const peer = conn.ctx.peer;
  return peer !== null && error !== undefined && peer.error === error ? peer : conn;
}

/** Errors a proxy operator wants to see: not the echo of the other side closing, nor idle timeouts. */
export function isNotable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code !== 'ERR_CONN_CLOSED' && code !== 'ERR_IDLE_TIMEOUT';
}

function ignore(): void {}
