// A socket the primary handed over arrives as a net.Socket that Node made over the received handle,
// already reading (no byte read yet: the message is handled before the next poll). To let an
// EventLoop read it straight into pooled nodes (see ../adopt.ts) it must look like one of a
// pauseOnConnect server's sockets: reading stopped, `_server` the carrier server that the target
// serves. These are net.Socket internals, so each step is feature-checked; when a check fails the
// socket is emitted as it is and read the 'link' way. The carrier's connection count is then the
// worker's live connections: Node decrements it when each socket (or the socket adopting its handle) closes.
import net, { type Socket } from 'node:net';

interface Internals {
  _handle?: { reading?: boolean; readStop?: () => number; readStart?: () => number } | null;
  _server?: net.Server | null;
  server?: net.Server | null;
}
type Carrier = net.Server & { _connections?: number };

/** The server a worker's target serves: it never listens (except with reusePort), sockets are emitted on it. */
export function createCarrier(): net.Server {
  return net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
}

/** Live connections of the carrier, or undefined when Node's count is not available. */
export function carrierConnections(carrier: net.Server): number | undefined {
  const n = (carrier as Carrier)._connections;
  return typeof n === 'number' ? n : undefined;
}

/** Emits `socket` on `carrier` as an accepted connection. Returns false if the socket was already gone. */
export function handToCarrier(carrier: net.Server, socket: Socket): boolean {
  if (socket.destroyed) return false;
  const s = socket as Socket & Internals;
  const h = s._handle;
  const c = carrier as Carrier;
  const stoppable = h != null && typeof h.readStop === 'function' && typeof h.readStart === 'function' && h.reading === true && socket.bytesRead === 0 && typeof c._connections === 'number';
  if (stoppable) {
    h.reading = false;
    h.readStop!();
    s._server = carrier;
    s.server = carrier;
    c._connections!++;
  }
  carrier.emit('connection', socket);
  // Not adopted (the target reads Node's chunks, or did not take the socket): it reads again as Node left it.
  if (stoppable && s._handle === h && !socket.destroyed && h.reading === false) {
    h.reading = true;
    h.readStart!();
  }
  return true;
}
