// The RPC client's connection over WebSocket (a `ws://host:port/path` or `wss://` address): the
// same face as a TCP Connection to the link (writer, reader, isActive, close, close callbacks), so
// that every client feature (hello, deadlines, cancel, drain, retries) works unchanged. Requests are
// written length-prefixed ('framed') into the writer; a flush sends each as one binary WebSocket
// message. Each message received is appended, length-prefixed, to the reader. `ws` is loaded only
// when a client dials a WebSocket address.
import { LinkBuffer } from '@nocopy/linkbuffer';
import { ConnClosedError } from '@nocopy/transport';
import type { FrameReader } from '@nocopy/transport';
import type { EncodeTarget } from '../msgpack/encode.js';

/** What the RPC client uses of its connection: a TCP Connection, or a WebSocketConn. */
export interface LinkConn<C> {
  readonly ctx: C;
  readonly writer: EncodeTarget & { readonly closed: boolean; flush(): Promise<void> };
  readonly reader: FrameReader;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  error: unknown;
  isActive(): boolean;
  close(err?: unknown): void;
  addCloseCallback(cb: (conn: LinkConn<C>) => void): void;
}

/** Whether `address` names a WebSocket server. */
export function isWebSocketAddress(address: string): boolean {
  return address.startsWith('ws://') || address.startsWith('wss://');
}

type Ws = import('ws').WebSocket;

class WebSocketConn<C> implements LinkConn<C> {
  readonly ctx: C;
  readonly #ws: Ws;
  readonly #out = new LinkBuffer();
  readonly #in = new LinkBuffer();
  readonly writer: LinkConn<C>['writer'];
  readonly reader: FrameReader;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  error: unknown = undefined;
  #closed = false;
  readonly #callbacks: ((conn: LinkConn<C>) => void)[] = [];

  constructor(ws: Ws, ctx: C, url: URL, onInput: (conn: WebSocketConn<C>) => void) {
    this.#ws = ws;
    this.ctx = ctx;
    this.remoteAddress = url.hostname.replace(/^\[|\]$/g, '');
    this.remotePort = Number(url.port || (url.protocol === 'wss:' ? 443 : 80));
    const out = this.#out;
    const self = this;
    this.writer = {
      malloc: (n) => out.malloc(n),
      mallocAck: (n) => out.mallocAck(n),
      get mallocLength() {
        return out.mallocLength;
      },
      get mallocCapacity() {
        return out.mallocCapacity;
      },
      writeBinary: (b) => out.writeBinary(b),
      get closed() {
        return self.#closed;
      },
      flush: () => this.#flush(),
    };
    this.reader = this.#in;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.#closed) return;
      const bytes = isBinary ? data : Buffer.from(data);
      const header = Buffer.allocUnsafe(4);
      header.writeUInt32BE(bytes.length);
      this.#in.writeBinary(header);
      this.#in.writeBinary(bytes);
      this.#in.flush();
      onInput(this);
      this.#in.release();
    });
    ws.on('close', () => this.#finish(new ConnClosedError('the WebSocket closed')));
    ws.on('error', (err) => this.#finish(err));
  }

  isActive(): boolean {
    return !this.#closed && this.#ws.readyState === 1;
  }

  close(err?: unknown): void {
    if (this.error === undefined && err !== undefined) this.error = err;
    this.#finish(undefined);
    this.#ws.close();
  }

  addCloseCallback(cb: (conn: LinkConn<C>) => void): void {
    if (this.#closed) queueMicrotask(() => cb(this));
    else this.#callbacks.push(cb);
  }

  /** Each length-prefixed message written goes as one WebSocket message. */
  #flush(): Promise<void> {
    const out = this.#out;
    out.flush();
    if (this.#closed) {
      if (out.length > 0) out.skip(out.length);
      return Promise.reject(new ConnClosedError('the WebSocket closed'));
    }
    while (out.length >= 4) {
      const len = out.peekUint32BE(0);
      out.skip(4);
      this.#ws.send(out.readBinary(len), { binary: true });
    }
    out.release();
    return Promise.resolve();
  }

  #finish(err: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    // A clean close by either side leaves no error; anything else is the reason.
    if (this.error === undefined && err !== undefined && !(err instanceof ConnClosedError)) this.error = err;
    const cbs = this.#callbacks.splice(0);
    for (let i = cbs.length - 1; i >= 0; i--) cbs[i]!(this);
    this.#out.close();
    this.#in.close();
  }
}

/** Dials a WebSocket RPC server; resolves once the WebSocket is open. */
export async function dialWebSocket<C>(address: string, ctx: C, options: { signal: AbortSignal; timeout: number; maxMessageSize: number }, onInput: (conn: LinkConn<C>) => void): Promise<LinkConn<C>> {
  const { WebSocket } = await import('ws');
  const url = new URL(address);
  const ws = new WebSocket(address, { maxPayload: options.maxMessageSize, perMessageDeflate: false, handshakeTimeout: options.timeout });
  const onAbort = () => ws.terminate();
  options.signal.addEventListener('abort', onAbort, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
      ws.once('close', () => reject(new ConnClosedError('the WebSocket closed before it opened')));
    });
  } finally {
    options.signal.removeEventListener('abort', onAbort);
  }
  return new WebSocketConn(ws, ctx, url, onInput);
}
