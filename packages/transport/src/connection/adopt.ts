// Accepted sockets that read straight into pooled nodes. Node 20's net.Server gives accepted sockets
// no `onread` option, but a net.Socket constructed over an accepted handle takes one: the server is
// created with pauseOnConnect (nothing has been read yet), the handle is moved from the socket Node
// made to a new one with `onread`, and the server's bookkeeping (its connection count, close())
// moves with it. This relies on net.Socket internals (`_handle`, `_server`), so it is feature-checked
// on every socket and the caller falls back to linking Node's chunks when the check fails.
import net, { type OnReadOpts, type Socket } from 'node:net';

type Server = net.Server & { pauseOnConnect?: boolean };

interface SocketInternals {
  _handle?: { useUserBuffer?: unknown; readStop?: unknown; readStart?: unknown } | null;
  _server?: Server | null;
  server?: Server | null;
}

/** Whether `socket` can be adopted: an accepted, paused, unread socket of a pauseOnConnect server. */
export function canAdopt(socket: Socket): boolean {
  const s = socket as Socket & SocketInternals;
  const h = s._handle;
  return (
    h != null &&
    typeof h.useUserBuffer === 'function' &&
    typeof h.readStop === 'function' &&
    typeof h.readStart === 'function' &&
    s._server instanceof net.Server &&
    s._server.pauseOnConnect === true &&
    !socket.destroyed &&
    socket.bytesRead === 0
  );
}

/**
 * A new socket over `socket`'s handle, reading through `onread`, paused until resume(). `socket`
 * itself is destroyed (it has no handle left, so nothing is closed). Call only if canAdopt().
 */
export function adopt(socket: Socket, onread: OnReadOpts): Socket {
  const old = socket as Socket & SocketInternals;
  const handle = old._handle!;
  const server = old._server!;
  old._handle = null;
  // The server counts one connection for it: the new socket takes over the decrement at its close.
  old._server = null;
  old.server = null;
  socket.destroy();
  const s = new net.Socket({ handle, allowHalfOpen: true, readable: true, writable: true, onread, pauseOnCreate: true } as net.SocketConstructorOpts & { handle: unknown; pauseOnCreate: boolean }) as Socket & SocketInternals;
  s._server = server;
  s.server = server;
  return s;
}
