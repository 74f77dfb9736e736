// The framing layer on its own (no sockets): MessageReader over a LinkBuffer fed in arbitrary pieces,
// as TCP may deliver them, decodes exactly the messages written, in both framings; bytes from an
// independent encoder (@msgpack/msgpack) decode the same as our own.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LinkBuffer } from '@nocopy/linkbuffer';
import { encode } from '@msgpack/msgpack';
import { MessageReader, writeMessage, type Message, type Framing } from '../src/rpc/protocol.js';
import { MalformedMessageError, MessageTooLargeError } from '../src/errors.js';
import { FRAMINGS, lengthPrefixed } from './rpc-helpers.js';

const MESSAGES: Message[] = [
  [0, 1, 'echo', [{ a: [1, 'x', Buffer.from([1, 2, 3])], b: { c: null, d: true } }]],
  [2, 'note', ['n'.repeat(300)]], // str16
  [1, 70_000, null, 'y'.repeat(40)], // uint32 id, str8
  [1, 2, { name: 'Error', message: 'boom', code: 'E' }, null],
  [0, 0xffffffff, 'add', [-1, 2.5, 2 ** 40]],
  [0, 3, 'bin', [Buffer.alloc(70_000, 7)]], // bin32
];

/** Our encoding of MESSAGES in `framing`, as one Buffer. */
function ours(framing: Framing): Buffer {
  const lb = new LinkBuffer();
  for (const m of MESSAGES) writeMessage(lb, framing, m, 1 << 20);
  lb.flush();
  const out = Buffer.from(lb.next(lb.length));
  lb.close();
  return out;
}

/** The same messages from @msgpack/msgpack. */
function theirs(framing: Framing): Buffer {
  return Buffer.concat(
    MESSAGES.map((m) => {
      const b = encode(m);
      return framing === 'framed' ? lengthPrefixed(b) : Buffer.from(b);
    }),
  );
}

/** Feeds `bytes` to a MessageReader in pieces cut at `cuts` (copied, as a socket would deliver them). */
function feed(framing: Framing, bytes: Buffer, cuts: number[], max = 1 << 20): Message[] {
  const lb = new LinkBuffer({ nodeSize: 64 });
  const got: Message[] = [];
  const reader = new MessageReader(framing, max);
  let from = 0;
  for (const to of [...cuts, bytes.length]) {
    if (to > from) lb.link(Buffer.from(bytes.subarray(from, to)));
    from = to;
    reader.read(lb, (m) => {
      got.push(m);
    });
    lb.release();
  }
  assert.equal(lb.length, 0, 'everything consumed');
  lb.close();
  return got;
}

for (const framing of FRAMINGS) {
  describe(`MessageReader (${framing})`, () => {
    it('our bytes and @msgpack/msgpack bytes are decoded to the same messages', () => {
      assert.deepEqual(feed(framing, ours(framing), []), MESSAGES);
      assert.deepEqual(feed(framing, theirs(framing), []), MESSAGES);
    });

    it('decodes the same messages however the input is cut (every two-piece split; small pieces)', () => {
      const bytes = ours(framing);
      // Every split point within the first messages (and around each boundary of the rest).
      const boundaries: number[] = [];
      for (let i = 0; i < 700; i++) boundaries.push(i);
      for (let i = bytes.length - 70_020; i < bytes.length; i += 97) boundaries.push(i);
      for (const k of boundaries) assert.deepEqual(feed(framing, bytes, [k]), MESSAGES, `split at ${k}`);
      // Pieces of 1 to 13 bytes over the first 1000 bytes, then the rest in one.
      const cuts: number[] = [];
      for (let at = 0, s = 1; at < 1000; at += s, s = (s % 13) + 1) cuts.push(at);
      assert.deepEqual(feed(framing, bytes, cuts), MESSAGES);
    });

    it('stops when onMessage returns false and leaves the rest buffered', () => {
      const lb = new LinkBuffer();
      lb.link(ours(framing));
      const got: Message[] = [];
      const reader = new MessageReader(framing, 1 << 20);
      reader.read(lb, (m) => {
        got.push(m);
        return got.length < 2;
      });
      assert.equal(got.length, 2);
      assert.ok(lb.length > 0);
      reader.read(lb, (m) => {
        got.push(m);
      });
      assert.deepEqual(got, MESSAGES);
      lb.close();
    });

    it('writeMessage refuses a message over the limit and writes nothing', () => {
      const lb = new LinkBuffer();
      assert.throws(() => writeMessage(lb, framing, [0, 1, 'echo', ['x'.repeat(100)]], 50), MessageTooLargeError);
      assert.equal(lb.mallocLength + lb.length, 0);
      lb.close();
    });

    it('rejects input that is not a MessagePack-RPC message', () => {
      const bad: unknown[] = [42, 'str', { a: 1 }, [], [0, 1, 'm'], [0, -1, 'm', []], [0, 1.5, 'm', []], [0, 1, 2, []], [0, 1, 'm', 'notarray'], [1, 1, null], [2, 5, []], [3, 1, 'm', []]];
      for (const v of bad) {
        const b = Buffer.from(encode(v));
        const bytes = framing === 'framed' ? lengthPrefixed(b) : b;
        assert.throws(() => feed(framing, bytes, []), MalformedMessageError, JSON.stringify(v));
      }
    });
  });
}
