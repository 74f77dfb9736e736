// Oversized and malformed input closes that connection only: calls in flight on other connections of
// the same server complete normally.
// A framing mismatch (the peer speaks the other framing) is in rpc-strict.test.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encode } from '@msgpack/msgpack';
import type { Framing } from '../src/rpc/protocol.js';
import { MalformedMessageError, MessageTooLargeError } from '../src/errors.js';
import { Gate, RawPeer, client, lengthPrefixed, registerBasics, startServer, until, within } from './rpc-helpers.js';

const MAX = 1024;

/**
 * Starts a server (maxMessageSize 1024) and a client with 2 connections and 4 calls in flight (held
 * at a gate), lets `attack` misbehave on a raw connection, and checks: the raw connection is closed,
 * the server reported `expected`, and the 4 calls (and new ones) complete on the other connections.
 */
async function isolated(framing: Framing, attack: (raw: RawPeer) => void | Promise<void>, expected: new (...a: any[]) => Error): Promise<void> {
  const gate = new Gate();
  const { server, port, address, errors } = await startServer({ framing, maxMessageSize: MAX }, (s) => {
    registerBasics(s);
    s.register('slow', async (i: number) => {
      await gate.wait();
      return i * 10;
    });
  });
  const c = client(address, { framing, connections: 2 });
  try {
    const calls = [0, 1, 2, 3].map((i) => c.call('slow', i));
    await until(() => gate.started === 4, 'the calls to reach the server');
    assert.equal(c.stats().connections, 2);
    const raw = await RawPeer.connect(port, framing);
    await attack(raw);
    await within(raw.closed, 5000, 'the server to close the misbehaving connection');
    assert.ok(
      errors.some((e) => e instanceof expected),
      `the server reported a ${expected.name}: ${errors.map(String).join('; ')}`,
    );
    // The other connections are untouched: their calls complete, and new calls too.
    assert.equal(c.stats().connections, 2);
    gate.open();
    assert.deepEqual(await within(Promise.all(calls), 5000, 'the calls in flight'), [0, 10, 20, 30]);
    assert.equal(await c.call('add', 1, 2), 3);
    assert.equal(c.stats().dials, 2, 'no reconnects');
    await until(() => server.stats().connections === 2, 'the raw connection to be gone');
  } finally {
    gate.open();
    await c.close();
    await server.shutdown();
  }
}

describe('oversized and malformed input (framed)', () => {
  it('a length prefix larger than maxMessageSize closes that connection only', async () => {
    await isolated('framed', (raw) => raw.write(Buffer.from([0x00, 0x00, 0x04, 0x01])), MessageTooLargeError); // 1025
  });

  it('a huge length prefix is refused before any body arrives', async () => {
    await isolated('framed', (raw) => raw.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3])), MessageTooLargeError);
  });

  it('garbage bytes close that connection only', async () => {
    // 0xc1 is never used in MessagePack.
    await isolated('framed', (raw) => raw.write(lengthPrefixed(Buffer.from([0xc1, 0xc1, 0xc1]))), MalformedMessageError);
  });

  it('valid MessagePack that is not an RPC message closes that connection only', async () => {
    await isolated('framed', (raw) => raw.send({ hello: 'world' }), MalformedMessageError);
  });

  it('an RPC-shaped array with bad fields (string msgid) closes that connection only', async () => {
    await isolated('framed', (raw) => raw.send([0, 'one', 'echo', []]), MalformedMessageError);
  });

  it('a message of exactly maxMessageSize is accepted; one byte more is not', async () => {
    const { server, port } = await startServer({ maxMessageSize: MAX }, (s) => registerBasics(s));
    try {
      // [0, 1, 'echo', [s]] with a str16 s: 1 + 1 + 1 + 5 + 1 + 3 + n bytes.
      const n = MAX - 12;
      const exact = encode([0, 1, 'echo', ['y'.repeat(n)]]);
      assert.equal(exact.length, MAX);
      const ok = await RawPeer.connect(port, 'framed');
      ok.write(lengthPrefixed(exact));
      assert.deepEqual(await ok.next(), [1, 1, null, 'y'.repeat(n)]);
      ok.destroy();
      const over = encode([0, 2, 'echo', ['y'.repeat(n + 1)]]);
      assert.equal(over.length, MAX + 1);
      const bad = await RawPeer.connect(port, 'framed');
      bad.write(lengthPrefixed(over));
      // Answered with the reason (its id is in the first bytes), then closed.
      const reply = (await bad.next()) as unknown[];
      assert.deepEqual([reply[0], reply[1], (reply[2] as { code?: string }).code, reply[3]], [1, 2, 'ERR_MESSAGE_TOO_LARGE', null]);
      await within(bad.closed, 5000, 'the connection to close');
      assert.equal(bad.received.length, 1, 'nothing but that answer');
    } finally {
      await server.shutdown();
    }
  });
});

describe('oversized and malformed input (stream)', () => {
  it('garbage bytes close that connection only', async () => {
    await isolated('stream', (raw) => raw.write(Buffer.from([0xc1, 0x00, 0x01])), MalformedMessageError);
  });

  it('valid MessagePack that is not an RPC message closes that connection only', async () => {
    await isolated('stream', (raw) => raw.send('just a string'), MalformedMessageError);
  });

  it('an unknown message type closes that connection only', async () => {
    await isolated('stream', (raw) => raw.send([7, 1, 'echo', []]), MalformedMessageError);
  });

  it('an incomplete message growing past maxMessageSize closes that connection only', async () => {
    await isolated(
      'stream',
      async (raw) => {
        // A request whose str32 param announces 1 MB, then its bytes, a little at a time.
        raw.write(Buffer.from([0x94, 0x00, 0x01, 0xa4, ...Buffer.from('echo'), 0x91, 0xdb, 0x00, 0x10, 0x00, 0x00]));
        for (let i = 0; i < 8 && !raw.socket.destroyed; i++) {
          raw.write(Buffer.alloc(300, 0x61));
          await new Promise((r) => setImmediate(r));
        }
      },
      MessageTooLargeError,
    );
  });
});
