// The onread input path: libuv reads straight into the free tail of the reader's pooled nodes
// instead of a fresh 64 KiB allocation per read. Node calls `buffer` at socket creation and after
// every read; each call names the region the next read lands in, which the following `callback`
// acknowledges.
//
// An idle connection must not hold a pooled block for a read that may never come (8,000 idle
// connections held 8 KiB each). So the next read lands in one region shared by every connection of
// the process (uSockets reads every socket into one receive buffer), and the callback copies the
// bytes that arrived into the input before any other read can land there: libuv delivers each read
// to its callback before the next one. A copy of a request-sized read costs little (less than a
// second read); a connection that is streaming (a read filled the shared view, or, in its own
// region, was 8 KiB or more or filled it) reads into pooled regions, zero-copy, until a small read:
// only then does it go idle holding nothing.
//
// Accepted sockets get the onread option by adoption (below): Node 20's net.Server gives accepted
// sockets no `onread` option, but a net.Socket constructed over an accepted handle takes one: the
// server is created with pauseOnConnect (nothing has been read yet), the handle is moved from the
// socket Node made to a new one with `onread`, and the server's bookkeeping (its connection count,
// close()) moves with it. This relies on net.Socket internals (`_handle`, `_server`), so it is
// feature-checked on every socket and the caller falls back to linking Node's chunks when the check
// fails.
import net, { type OnReadOpts, type Socket } from 'node:net';
import type { LinkBuffer } from '@nocopy/linkbuffer';
import { kOnRead } from './symbols.js';

const kOnReadKey: typeof kOnRead = kOnRead;

const MIN_READ = 8 * 1024;
const MAX_READ = 64 * 1024;
// Where a read lands if it races with close: never handed to anyone.
const discard = Buffer.allocUnsafeSlow(MIN_READ);
// The reads of idle connections; emptied by the callback of each read. 64 KiB as Node's own reads,
// so that a batch just over 8 KiB (64 requests of 132 B) or a 16 KiB message arrives in one read,
// not two or three. A connection reads at most half its maxInboundBytes into it (one view per size,
// shared): a single read must not reach the limit (packages/proxy's close.test, 'destroys pairs
// still stuck at the deadline', saw its 64 KiB-limited pair closed early by such a read).
const shared = Buffer.allocUnsafeSlow(MAX_READ);
const sharedViews = new Map<number, Buffer>();

function sharedView(maxInboundBytes: number): Buffer {
  let size = MAX_READ;
  while (size > MIN_READ && size > maxInboundBytes >> 1) size >>= 1;
  let view = sharedViews.get(size);
  if (view === undefined) sharedViews.set(size, (view = shared.subarray(0, size)));
  return view;
}

/** The connection the reads are for, once it exists (the socket is made first). */
export interface ReadTarget {
  current: { [kOnRead](n: number): void } | null;
}

export function onreadFor(input: LinkBuffer, target: ReadTarget, maxInboundBytes: number): OnReadOpts {
  const idle = sharedView(maxInboundBytes);
  // Read size adapts as in netpoll, but it also shrinks: a burst must not pin large nodes forever.
  let readSize = MIN_READ;
  let region = 0;
  // The next read lands in `shared`; the last read was large (more is likely on the way).
  let inShared = false;
  let streaming = false;
  return {
    buffer(): Uint8Array {
      if (input.closed) return discard;
      if (!streaming && input.mallocLength === 0) {
        inShared = true;
        region = idle.length;
        return idle;
      }
      inShared = false;
      // Use the tail's free space only if it is a worthwhile read; else start a new node.
      const cap = input.mallocCapacity;
      region = cap >= readSize >> 1 ? cap : readSize;
      return input.malloc(region);
    },
    callback(n: number): boolean {
      const full = n === region;
      if (inShared) {
        inShared = false;
        // Only a read that filled the shared view says more is on its way: a request of 8-64 KiB
        // that fits keeps the next read in the shared view too (one read per request, not two).
        streaming = full;
        if (full && readSize < region) readSize = region;
        if (input.closed) return true;
        // Out of the shared region before the next read (of any connection) lands there.
        shared.copy(input.malloc(n), 0, 0, n);
      } else {
        streaming = full || n >= MIN_READ;
        if (full && readSize < MAX_READ) readSize *= 2;
        else if (n < readSize >> 3 && readSize > MIN_READ) readSize >>= 1;
      }
      const conn = target.current;
      if (conn !== null) {
        conn[kOnReadKey](n);
      } else {
        // Before the connection exists: keep the bytes; it finds them when it starts.
        input.mallocAck(n);
        input.flush();
      }
      return true;
    },
  };
}

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
