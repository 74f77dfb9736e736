// Shared fixtures for the hardening tests (issue 6): real sockets on loopback, never mocks.
// (Node's runner also loads this file when given the whole directory; it defines no tests.)
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export { sleep, within, until } from '../support.js';

/** `payload` behind a 4-byte big-endian length. */
export function frame(payload: Uint8Array | string): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const out = Buffer.allocUnsafe(4 + p.length);
  out.writeUInt32BE(p.length, 0);
  out.set(p, 4);
  return out;
}



/** A promise with its resolve function, for gates the test opens. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export interface ConnectOptions {
  /** Bind the client side to this loopback alias (e.g. 127.0.0.2), so the server sees another remote address. */
  localAddress?: string;
}

/**
 * A plain `net` client that buffers what it receives. `read(n)` resolves with exactly `n` bytes or
 * rejects if the socket closes first.
 */
export class RawClient {
  readonly socket: net.Socket;
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;
  error: Error | undefined;
  received = 0;
  ended = false;
  #chunks: Buffer[] = [];
  #length = 0;
  #wake: (() => void) | null = null;
  #isClosed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.received += chunk.length;
      this.#chunks.push(chunk);
      this.#length += chunk.length;
      this.#notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.#notify();
    });
    socket.on('error', (err) => {
      this.error = err;
    });
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.#isClosed = true;
        this.#notify();
        resolve();
      });
    });
  }

  static async connect(port: number, options: ConnectOptions = {}): Promise<RawClient> {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: options.localAddress });
    const client = new RawClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.setNoDelay(true);
    return client;
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Resolves at the write callback. */
  write(data: Uint8Array | string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(data, (err) => (err ? reject(err) : resolve()));
    });
  }

  async read(n: number, ms = 5000): Promise<Buffer> {
    const deadline = Date.now() + ms;
    while (this.#length < n) {
      if (this.#isClosed || this.ended) throw new Error(`socket closed with ${this.#length} of ${n} bytes`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms with ${this.#length} of ${n} bytes`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#length = rest.length;
    return out;
  }

  async readFrame(ms = 5000): Promise<Buffer> {
    const head = await this.read(4, ms);
    return this.read(head.readUInt32BE(0), ms);
  }

  /** Sends `payload` as a frame and returns the echoed payload. */
  async roundTrip(payload: Uint8Array | string, ms = 5000): Promise<Buffer> {
    this.socket.write(frame(payload));
    return this.readFrame(ms);
  }

  destroy(): void {
    this.socket.destroy();
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }
}

/** The p-th percentile (0..100) of `xs` (nearest rank). */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

// ---- certificates ----

export interface Pem {
  key: string;
  cert: string;
}

export interface Pki {
  ca: Pem;
  /** Signed by `ca`; CN=localhost, SAN DNS:localhost and IP:127.0.0.1. */
  server: Pem;
  /** Signed by `ca`; CN=client, for client authentication. */
  client: Pem;
  /** Self-signed, CN=localhost: trusted by nobody unless given as `ca`. */
  selfSigned: Pem;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * A fresh test PKI made with the `openssl` CLI in a temp dir (Node 20 cannot make X.509 certificates
 * by itself), or null when there is no usable `openssl`.
 */
export function makePki(): Pki | null {
  const dir = mkdtempSync(join(tmpdir(), 'nocopy-hardening-'));
  const read = (name: string) => readFileSync(join(dir, name), 'utf8');
  try {
    openssl(['req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=nocopy test CA'], dir);
    writeFileSync(join(dir, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    for (const [name, cn, serial] of [['server', 'localhost', '2'], ['client', 'client', '3']] as const) {
      openssl(['req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
      openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', serial,
        '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.pem`], dir);
    }
    openssl(['req', '-x509', ...EC, '-keyout', 'self.key', '-out', 'self.pem', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost'], dir);
    return {
      ca: { key: read('ca.key'), cert: read('ca.pem') },
      server: { key: read('server.key'), cert: read('server.pem') },
      client: { key: read('client.key'), cert: read('client.pem') },
      selfSigned: { key: read('self.key'), cert: read('self.pem') },
    };
  } catch {
    return null; // no openssl CLI (or one that cannot do the above)
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The transport's committed test-only self-signed pair (CN=localhost); this file runs from test/dist/hardening. */
export function fixtureSelfSigned(): Pem | null {
  const dir = fileURLToPath(new URL('../../../packages/transport/test/fixtures/', import.meta.url));
  const key = join(dir, 'localhost-key.pem');
  const cert = join(dir, 'localhost-cert.pem');
  if (!existsSync(key) || !existsSync(cert)) return null;
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
}
