// The server's fast read path ('framed' messages decoded where they lie in the input, replies of a
// read batch sent at once without a promise): many requests in one write, the same bytes cut at every
// kind of boundary, a malformed message after valid ones in one batch, and a peer that stops reading
// (the server must stop reading too, then answer everything once the peer reads again).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { decode, encode } from '@msgpack/msgpack';
import { MalformedMessageError } from '../src/errors.js';
import { RawPeer, lengthPrefixed, registerBasics, startServer, until, within } from './rpc-helpers.js';

/** `n` framed echo requests, ids 0..n-1, the payload of request i being i % 251 + 1 bytes of value i & 0xff. */
function requests(n: number): { bytes: Buffer; payloads: Buffer[] } {
  const payloads = Array.from({ length: n }, (_, i) => Buffer.alloc((i % 251) + 1, i & 0xff));
  return { bytes: Buffer.concat(payloads.map((p, i) => lengthPrefixed(encode([0, i, 'echo', [p]])))), payloads };
}

/** Reads framed replies from `socket` until `n` have arrived. */
async function replies(socket: net.Socket, n: number): Promise<unknown[][]> {
  const out: unknown[][] = [];
  let buf = Buffer.alloc(0);
  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const len = buf.readUInt32BE(0);
        out.push(decode(buf.subarray(4, 4 + len)) as unknown[]);
        buf = buf.subarray(4 + len);
      }
      if (out.length >= n) resolve();
    });
    socket.once('close', () => reject(new Error(`closed after ${out.length} of ${n} replies`)));
  });
  await within(done, 20_000, `${n} replies`);
  return out;
}

function checkEchoes(got: unknown[][], payloads: Buffer[]): void {
  assert.equal(got.length, payloads.length);
  // A synchronous handler's replies come in request order.
  for (let i = 0; i < got.length; i++) {
    const [type, id, err, result] = got[i]!;
    assert.equal(type, 1);
    assert.equal(id, i);
    assert.equal(err, null);
    assert.deepEqual(Buffer.from(result as Uint8Array), payloads[i], `reply ${i}`);
  }
}

describe('rpc server batch path', () => {
  it('answers 2000 requests written at once, in order, with their own bytes', async () => {
    const { server, port } = await startServer({ framing: 'framed' }, registerBasics);
    const { bytes, payloads } = requests(2000);
    const socket = net.connect({ port, host: '127.0.0.1' });
    try {
      await once(socket, 'connect');
      const got = replies(socket, payloads.length);
      socket.write(bytes);
      checkEchoes(await got, payloads);
    } finally {
      socket.destroy();
      await server.shutdown({ timeout: 1000 });
    }
  });

  for (const cut of [1, 3, 4, 5, 7, 100, 4093, 8192, 8197]) {
    it(`answers the same requests cut into writes of ${cut} bytes (frames across reads and nodes)`, async () => {
      const { server, port } = await startServer({ framing: 'framed' }, registerBasics);
      const { bytes, payloads } = requests(cut < 16 ? 60 : 600);
      const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
      try {
        await once(socket, 'connect');
        const got = replies(socket, payloads.length);
        for (let off = 0; off < bytes.length; off += cut) socket.write(bytes.subarray(off, off + cut));
        checkEchoes(await got, payloads);
      } finally {
        socket.destroy();
        await server.shutdown({ timeout: 1000 });
      }
    });
  }

  it('answers one batch of mixed replies: small, linked binaries, unencodable and oversized results', async () => {
    const MAX = 64 * 1024;
    const { server, port } = await startServer({ framing: 'framed', maxMessageSize: MAX }, (s) => {
      // kind 0: a small Buffer; 1: 10 KiB (linked by reference, not copied); 2: a function (no
      // MessagePack form); 3: past maxMessageSize; 4: a thrown error; 5: a 300-character string.
      s.register('mixed', (i: number) => {
        switch (i % 6) {
          case 0: return Buffer.alloc(5, i & 0xff);
          case 1: return Buffer.alloc(10 * 1024, i & 0xff);
          case 2: return () => i;
          case 3: return Buffer.alloc(MAX + 1);
          case 4: throw new Error(`no ${i}`);
          default: return 'x'.repeat(300) + i;
        }
      });
    });
    const n = 600;
    const socket = net.connect({ port, host: '127.0.0.1' });
    try {
      await once(socket, 'connect');
      const got = replies(socket, n);
      socket.write(Buffer.concat(Array.from({ length: n }, (_, i) => lengthPrefixed(encode([0, i, 'mixed', [i]])))));
      const rs = await got;
      for (let i = 0; i < n; i++) {
        const [type, id, err, result] = rs[i]!;
        assert.equal(type, 1);
        assert.equal(id, i, `reply ${i} in order`);
        const kind = i % 6;
        if (kind === 0 || kind === 1) {
          assert.equal(err, null);
          assert.deepEqual(Buffer.from(result as Uint8Array), Buffer.alloc(kind === 0 ? 5 : 10 * 1024, i & 0xff), `reply ${i}`);
        } else if (kind === 5) {
          assert.equal(result, 'x'.repeat(300) + i);
        } else {
          assert.equal(result, null);
          const code = (err as { code?: string }).code;
          assert.equal(code, kind === 2 ? 'ERR_UNENCODABLE_VALUE' : kind === 3 ? 'ERR_MESSAGE_TOO_LARGE' : undefined, `reply ${i}: ${JSON.stringify(err)}`);
          if (kind === 4) assert.equal((err as { message?: string }).message, `no ${i}`);
        }
      }
    } finally {
      socket.destroy();
      await server.shutdown({ timeout: 1000 });
    }
  });

  it('answers the valid requests of a batch before a malformed one, then closes', async () => {
    const { server, port, errors } = await startServer({ framing: 'framed' }, registerBasics);
    const raw = await RawPeer.connect(port, 'framed');
    try {
      const good = [0, 1, 2].map((i) => lengthPrefixed(encode([0, i, 'add', [i, 1]])));
      // A request whose string length runs past the end of its message (the next message's bytes
      // follow it in the same read: the decoder must stop at its own end, not read into them).
      const bad = lengthPrefixed(Buffer.from([0x94, 0x00, 0x03, 0xa4, 0x65, 0x63]));
      const after = lengthPrefixed(encode([0, 4, 'add', [1, 1]]));
      raw.write(Buffer.concat([...good, bad, after]));
      for (let i = 0; i < 3; i++) assert.deepEqual(await raw.next(), [1, i, null, i + 1]);
      await within(raw.closed, 5000, 'the connection to close');
      // Nothing after the malformed message was decoded: the request behind it is not answered.
      assert.equal(raw.received.length, 3, `replies: ${JSON.stringify(raw.received)}`);
      assert.ok(errors.some((e) => e instanceof MalformedMessageError));
    } finally {
      raw.socket.destroy();
      await server.shutdown({ timeout: 1000 });
    }
  });

  it('stops reading while its replies wait for a peer that does not read, and answers all once it does', async () => {
    // Small socket buffers and a small outbound bound, so that output waits for the peer soon.
    const { server, port } = await startServer({ framing: 'framed', transport: { maxOutboundBytes: 64 * 1024 } }, registerBasics);
    const n = 400;
    const payload = Buffer.alloc(32 * 1024, 7);
    const socket = net.connect({ port, host: '127.0.0.1' });
    try {
      await once(socket, 'connect');
      socket.pause();
      const all = Buffer.concat(Array.from({ length: n }, (_, i) => lengthPrefixed(encode([0, i, 'echo', [payload]]))));
      socket.write(all);
      // 12.8 MB of replies cannot all be in socket buffers: the server must stop answering.
      await until(() => server.stats().transport.inboundBytes > 0 || server.stats().calls > 0, 'the server to start');
      await new Promise((r) => setTimeout(r, 300));
      const calls = server.stats().calls;
      assert.ok(calls < n, `the server stopped decoding while its output waited (${calls} of ${n} decoded)`);
      const got = replies(socket, n);
      socket.resume();
      const rs = await got;
      assert.equal(rs.length, n);
      for (let i = 0; i < n; i++) {
        assert.equal(rs[i]![1], i);
        assert.equal((rs[i]![3] as Uint8Array).length, payload.length);
      }
    } finally {
      socket.destroy();
      await server.shutdown({ timeout: 1000 });
    }
  });
});
