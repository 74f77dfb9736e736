// The hot path of the proxy. Both connections of a pair (the accepted client and the dialed upstream)
// have a Link as their ctx and share the handlers below, named functions rather than closures per
// connection. Input is moved to the other side's writer without copying: reader.slice() shares the
// input nodes, writer.append() moves them, flush() hands them to the socket as views.
import { ConnClosedError, type Connection } from '@nocopy/transport';

export type Role = 'client' | 'upstream';

/** What the links of one proxy share: byte counters and where errors go. */
export interface LinkHost {
  /** Bytes forwarded from clients to upstreams. */
  bytesUp: number;
  /** Bytes forwarded from upstreams to clients. */
  bytesDown: number;
  /** An error worth reporting, on the connection it concerns. */
  report(error: unknown, link: Link, conn: Connection<Link>): void;
  /**
   * The promise flush() returns when it sent at once: the transport hands out one shared, already
   * resolved promise then (captured by probeSettled()). Null until known. Should a transport version
   * return fresh promises instead, nothing matches it and forward() simply returns each one.
   */
  settled: Promise<void> | null;
}

/** flush() of a fresh connection's empty writer: the transport's shared resolved promise, or null. */
export function probeSettled(conn: Connection<Link>): Promise<void> | null {
  if (conn.writer.closed || conn.writer.length !== 0 || !conn.socket.writable) return null;
  const p = conn.writer.flush();
  p.then(undefined, ignore);
  return p;
}

export class Link {
  /** The other connection of the pair; null on a client connection until its upstream is dialed. */
  peer: Connection<Link> | null;
  /** Our remote sent its FIN (we may still have some of its input to forward). */
  eof = false;
  /** That FIN was passed on: closeWrite() was called on the peer. */
  eofForwarded = false;
  readonly role: Role;
  readonly host: LinkHost;
  /** The client's address, for messages (the same on both links of a pair). */
  readonly client: string;

  constructor(role: Role, host: LinkHost, client: string, peer: Connection<Link> | null = null) {
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
export function forward(link: Link, conn: Connection<Link>): Promise<void> | undefined {
  const peer = link.peer!;
  const out = peer.writer;
  const input = conn.reader;
  const n = input.length;
  if (n !== 0) {
    if (out.closed) {
      // The peer is gone; its close callback closes this connection too (or already has).
      conn.close();
      return undefined;
    }
    // Zero copy either way. With nothing malloc'd in the reader (always so for accepted sockets, and
    // for dialed ones while the onread callback runs), its nodes move over as they are; otherwise a
    // slice takes just the readable bytes, leaving the region malloc'd for the next read. The slice
    // is left empty by append() and holds no memory: nothing to close.
    if (input.mallocLength === 0) out.append(input);
    else out.append(input.slice(n));
    if (link.role === 'client') link.host.bytesUp += n;
    else link.host.bytesDown += n;
  }
  if (link.eof) return forwardEof(link);
  const sent = out.flush();
  // Nothing to wait for: returning nothing lets the transport call onRequest again without a promise
  // round trip (a measurable share of the CPU per message). See LinkHost.settled.
  return sent === link.host.settled ? undefined : sent;
}

/** Passes our remote's FIN on to the peer, after everything appended to the peer's writer (closeWrite flushes first). */
export function forwardEof(link: Link): Promise<void> | undefined {
  if (link.eofForwarded) return undefined;
  link.eofForwarded = true;
  // It rejects only when the peer can no longer send: then the peer is closing, and the close callbacks take over.
  return link.peer!.closeWrite().then(undefined, ignore);
}

/**
 * onDisconnect of both sides: called once when the remote sends its FIN (or the socket fails). A FIN
 * is a half-close: it is passed on as soon as the input before it has been forwarded, here when none
 * is left, else by the forward() call that takes the rest.
 */
export function onDisconnect(link: Link, conn: Connection<Link>): void {
  // A reset or socket error closes the connection; closePartner() then closes the peer.
  if (conn.error !== undefined || link.peer === null) return;
  link.eof = true;
  if (conn.reader.length === 0) void forwardEof(link);
}

/**
 * Close callback of both sides. When both directions ended cleanly (our remote's FIN passed on and the
 * peer's FIN passed to us), the peer closes by itself once its own closeWrite() has flushed; closing it
 * now would drop forwarded bytes still waiting for its socket. In every other case the peer is closed:
 * gracefully (bytes already handed to its socket are still sent) after a clean close, at once after a failure.
 */
export function closePartner(conn: Connection<Link>): void {
  const link = conn.ctx;
  const peer = link.peer;
  const err = conn.error;
  if (err !== undefined && link.role === 'upstream' && isNotable(err)) link.host.report(err, link, conn);
  if (peer === null || peer.closed) return;
  if (err === undefined) {
    if (conn.writeEnded && link.eofForwarded) return;
    peer.close();
  } else {
    peer.close(err instanceof ConnClosedError ? err : new ConnClosedError(`the ${link.role} connection failed`, { cause: err }));
  }
}

/** Errors a proxy operator wants to see: not the echo of the other side closing, nor idle timeouts. */
export function isNotable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code !== 'ERR_CONN_CLOSED' && code !== 'ERR_IDLE_TIMEOUT';
}

function ignore(): void {}
