// Client frames unmasked ahead of ws (ws-unmask.ts): the word-at-a-time unmask equals the byte
// loop at every alignment, length and mask phase; a stream of frames cut at every kind of point
// (inside a header, inside the mask key, inside a payload) comes out as the same frames with zero
// mask keys and plain payloads; the upgrade's head and bytes a paused socket still holds at
// 'close' (ws reads them with read()) are unmasked too; and
// over a real socket, the session server gets every message intact from a hand-written client that
// sends frames with the upgrade request, a byte at a time, fragmented, with pings between fragments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { until } from './helpers.js';
import type { Codec } from '../src/index.js';
import { createWebSocketSessionServer } from '../src/session/websocket-entry.js';
import { Unmasker, unmask, unmaskAheadOfWs } from '../src/session/ws-unmask.js';

function byteLoop(b: Uint8Array, at: number, n: number, mask: Uint8Array, phase: number): void {
  for (let i = 0; i < n; i++) b[at + i] ^= mask[(phase + i) & 3]!;
}

test('ws unmask: word-at-a-time equals the byte loop at every offset, length and phase', () => {
  const mask = Uint8Array.from([0x12, 0x9a, 0xfe, 0x01]);
  const base = randomBytes(600);
  for (const off of [0, 1, 2, 3, 5]) {
    for (const n of [0, 1, 3, 63, 64, 65, 67, 128, 255, 511]) {
      for (let phase = 0; phase < 4; phase++) {
        const a = Buffer.from(base);
        const b = Buffer.from(base);
        const next = unmask(a, off, n, mask, phase);
        byteLoop(b, off, n, mask, phase);
        assert.deepEqual(a, b, `offset ${off}, ${n} bytes, phase ${phase}`);
        assert.equal(next, (phase + n) & 3);
      }
    }
  }
  // A view whose memory starts off a 4-byte boundary.
  const backing = Buffer.from(randomBytes(300));
  const view = backing.subarray(3, 203);
  const copy = Buffer.from(view);
  unmask(view, 0, 200, mask, 1);
  byteLoop(copy, 0, 200, mask, 1);
  assert.deepEqual(Buffer.from(view), copy);
});

interface Frame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
  mask: Buffer | null;
}

function encodeFrame(f: Frame): Buffer {
  const n = f.payload.length;
  const ext = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const h = Buffer.alloc(2 + ext + (f.mask ? 4 : 0));
  h[0] = (f.fin ? 0x80 : 0) | f.opcode;
  h[1] = (f.mask ? 0x80 : 0) | (ext === 0 ? n : ext === 2 ? 126 : 127);
  if (ext === 2) h.writeUInt16BE(n, 2);
  if (ext === 8) h.writeBigUInt64BE(BigInt(n), 2);
  const body = Buffer.from(f.payload);
  if (f.mask) {
    f.mask.copy(h, 2 + ext);
    byteLoop(body, 0, n, f.mask, 0);
  }
  return Buffer.concat([h, body]);
}

/** What ws must read: the same frames, the key zeroed, the payload plain. */
function expectedFrame(f: Frame): Buffer {
  return encodeFrame({ ...f, mask: f.mask ? Buffer.alloc(4) : null });
}

test('ws unmask: frames cut anywhere come out with zero keys and plain payloads', () => {
  const sizes = [0, 1, 5, 125, 126, 127, 300, 65535, 65536, 70000];
  const frames: Frame[] = sizes.map((n, i) => ({ fin: true, opcode: i % 3 === 0 ? 1 : 2, payload: randomBytes(n), mask: randomBytes(4) }));
  frames.push({ fin: true, opcode: 9, payload: Buffer.from('ping'), mask: Buffer.alloc(4) }); // a zero key: nothing to do
  frames.push({ fin: true, opcode: 2, payload: randomBytes(40), mask: null }); // unmasked: ws refuses it, the filter leaves it
  const stream = Buffer.concat(frames.map(encodeFrame));
  const want = Buffer.concat(frames.map(expectedFrame));
  // Every cut of the stream into pieces of a fixed size, then random pieces.
  const cuts: number[][] = [];
  for (const step of [1, 2, 3, 7, 13, 64, 1000, 65536]) {
    const c: number[] = [];
    for (let p = step; p < stream.length; p += step) c.push(p);
    cuts.push(c);
  }
  for (let r = 0; r < 20; r++) {
    const c = new Set<number>();
    for (let k = 0; k < 30; k++) c.add(1 + Math.floor(Math.random() * (stream.length - 1)));
    cuts.push([...c].sort((a, b) => a - b));
  }
  for (const c of cuts) {
    const copy = Buffer.from(stream);
    const u = new Unmasker();
    let at = 0;
    for (const end of [...c, copy.length]) {
      u.push(copy.subarray(at, end));
      at = end;
    }
    assert.ok(copy.equals(want), `cut into ${c.length + 1} pieces (first at ${c[0]})`);
  }
});

test('ws unmask: bytes a paused socket still holds when it closes are unmasked, as ws reads them at close', async (t) => {
  const frames: Frame[] = [{ fin: true, opcode: 2, payload: randomBytes(5000), mask: randomBytes(4) }, { fin: true, opcode: 2, payload: randomBytes(100), mask: randomBytes(4) }];
  const bytes = Buffer.concat(frames.map(encodeFrame));
  const want = Buffer.concat(frames.map(expectedFrame));
  // The first byte comes with the upgrade request (head), the rest later.
  const head = Buffer.from(bytes.subarray(0, 1));
  let read: Buffer | null = null;
  const server = net.createServer((sock) => {
    unmaskAheadOfWs(sock, head);
    // As ws does at 'close' (socketOnClose): what the paused socket buffers, in one read().
    sock.on('close', () => {
      read = sock.read(sock.readableLength) as Buffer | null;
    });
    sock.pause();
    sock.on('error', () => {});
  });
  serverSockets(server); // tracked from the first connection on
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(client, 'connect');
  client.end(bytes.subarray(1));
  // The server destroys its paused socket once the rest is there (ws on an error or a timeout).
  await until(() => [...serverSockets(server)].some((s) => s.readableLength === bytes.length - 1), 'the rest buffered');
  for (const s of serverSockets(server)) s.destroy();
  await until(() => read !== null, 'the close listener read');
  assert.ok(Buffer.concat([head, read!]).equals(want), 'head and the buffered rest unmasked');
});

const sockets = new WeakMap<net.Server, Set<net.Socket>>();
function serverSockets(server: net.Server): Set<net.Socket> {
  let s = sockets.get(server);
  if (s === undefined) {
    s = new Set();
    const set = s;
    sockets.set(server, set);
    server.on('connection', (c) => set.add(c));
  }
  return s;
}

const whole: Codec<Buffer, Uint8Array> = { maxMessageLength: 1 << 20, decode: (r) => r.next(r.length), encode: (m, w) => w.writeBinary(m) };

/** A hand-written client: the upgrade request, then `frames` written in pieces of `step` bytes (0: with the request). */
async function rawClient(port: number, frames: Frame[], step: number): Promise<{ sock: net.Socket; got: () => Buffer }> {
  const sock = net.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  sock.setNoDelay(true);
  const req = Buffer.from(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  const body = Buffer.concat(frames.map(encodeFrame));
  let input = Buffer.alloc(0);
  sock.on('data', (d: Buffer) => (input = Buffer.concat([input, d])));
  if (step === 0) sock.write(Buffer.concat([req, body]));
  else {
    sock.write(req);
    await until(() => input.includes('\r\n\r\n'), 'the 101 response');
    for (let p = 0; p < body.length; p += step) {
      sock.write(body.subarray(p, p + step));
      if (step < 16) await new Promise((r) => setImmediate(r)); // separate reads
    }
  }
  return { sock, got: () => input.subarray(input.indexOf('\r\n\r\n') + 4) };
}

/** The server's frames (unmasked): [opcode, payload][]. */
function parseFrames(b: Buffer): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  let p = 0;
  while (p + 2 <= b.length) {
    let n = b[p + 1]! & 0x7f;
    let h = 2;
    if (n === 126) {
      if (p + 4 > b.length) break;
      n = b.readUInt16BE(p + 2);
      h = 4;
    } else if (n === 127) {
      if (p + 10 > b.length) break;
      n = Number(b.readBigUInt64BE(p + 2));
      h = 10;
    }
    if (p + h + n > b.length) break;
    out.push([b[p]! & 0x0f, b.subarray(p + h, p + h + n)]);
    p += h + n;
  }
  return out;
}

test('ws unmask: the session server echoes frames sent with the upgrade, a byte at a time, fragmented with pings between', async (t) => {
  const server = createWebSocketSessionServer<Buffer, Uint8Array>({ codec: whole, listener: { onMessage: (s, m) => void s.send(Buffer.from(m)) } });
  const { port } = await server.listen({ port: 0 });
  t.after(() => server.shutdown());
  const a = randomBytes(3000);
  const b = randomBytes(200);
  const frames: Frame[] = [
    { fin: true, opcode: 2, payload: a, mask: randomBytes(4) },
    // One message in three fragments, each with its own key, a ping between two of them.
    { fin: false, opcode: 2, payload: b.subarray(0, 70), mask: randomBytes(4) },
    { fin: true, opcode: 9, payload: Buffer.from('are you there'), mask: randomBytes(4) },
    { fin: false, opcode: 0, payload: b.subarray(70, 71), mask: randomBytes(4) },
    { fin: true, opcode: 0, payload: b.subarray(71), mask: randomBytes(4) },
    { fin: true, opcode: 2, payload: Buffer.alloc(0), mask: randomBytes(4) },
    { fin: true, opcode: 2, payload: randomBytes(70000), mask: randomBytes(4) },
  ];
  for (const step of [0, 1, 5, 4096]) {
    const c = await rawClient(port, frames, step);
    t.after(() => c.sock.destroy());
    const want: [number, Buffer][] = [[2, a], [10, Buffer.from('are you there')], [2, b], [2, Buffer.alloc(0)], [2, frames[6]!.payload]];
    await until(() => parseFrames(c.got()).length >= want.length, `all replies (pieces of ${step})`, 10_000);
    const got = parseFrames(c.got());
    assert.deepEqual(got.map(([op, p]) => [op, p.toString('hex')]), want.map(([op, p]) => [op, p.toString('hex')]), `pieces of ${step}`);
    c.sock.destroy();
  }
});
