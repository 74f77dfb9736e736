// The framing codecs on their own (no sockets): lengthField in every width, endianness and header
// shape, delimiter across node seams; limits refused from the header alone; frames as views or copies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LinkBuffer, type Delimiter } from '@nocopy/linkbuffer';
import { FrameTooLargeError, InvalidOptionError, MalformedFrameError, delimiter, lengthField, type FrameCodec } from '../src/index.js';

/** Feeds `bytes` in pieces cut at `cuts`, decoding after each: every frame, copied. */
function decodeAll(codec: FrameCodec<Buffer>, bytes: Uint8Array, cuts: number[] = []): { frames: Buffer[]; left: number } {
  const lb = new LinkBuffer({ nodeSize: 16 });
  const frames: Buffer[] = [];
  let from = 0;
  for (const to of [...[...new Set(cuts)].filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length]) {
    if (to > from) lb.link(Buffer.from(bytes.subarray(from, to)));
    from = to;
    for (let f = codec.decode(lb); f !== undefined; f = codec.decode(lb)) frames.push(Buffer.from(f));
    lb.release();
  }
  const left = lb.length;
  lb.close();
  return { frames, left };
}

function encodeAll(codec: FrameCodec<Buffer>, frames: Uint8Array[]): Buffer {
  const lb = new LinkBuffer();
  for (const f of frames) codec.encode(f, lb);
  lb.flush();
  const out = lb.readBinary(lb.length);
  lb.close();
  return out;
}

test('lengthField: every width and endianness round trips, however the bytes are cut', () => {
  for (const width of [1, 2, 3, 4, 8] as const) {
    for (const endian of ['big', 'little'] as const) {
      const codec = lengthField({ width, endian, maxFrameLength: width === 1 ? 255 : 100_000 });
      fc.assert(
        fc.property(fc.array(fc.uint8Array({ maxLength: width === 1 ? 255 : 600 }), { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 10 }), (frames, cuts) => {
          const bytes = encodeAll(codec, frames);
          const { frames: got, left } = decodeAll(codec, bytes, cuts.map((c) => c % (bytes.length + 1)));
          assert.deepEqual(got, frames.map((f) => Buffer.from(f)));
          assert.equal(left, 0);
        }),
        { numRuns: 100 },
      );
    }
  }
  // The header bytes themselves, big and little endian.
  assert.deepEqual(encodeAll(lengthField({ width: 3, maxFrameLength: 1 << 20 }), [Buffer.alloc(0x010203)]).subarray(0, 3), Buffer.from([1, 2, 3]));
  assert.deepEqual(encodeAll(lengthField({ width: 2, endian: 'little', maxFrameLength: 1000 }), [Buffer.alloc(0x0102)]).subarray(0, 2), Buffer.from([2, 1]));
});

test('lengthField: other header fields, a length that counts the header, and what is stripped', () => {
  // [magic 2 bytes][length 2 bytes, counting the whole frame][body]: Netty's offset and adjustment.
  const wire = Buffer.from([0xca, 0xfe, 0x00, 0x07, 0x61, 0x62, 0x63, 0xca, 0xfe, 0x00, 0x04]);
  const withHeader = lengthField({ width: 2, offset: 2, adjustment: -4, strip: 0, maxFrameLength: 100 });
  assert.deepEqual(decodeAll(withHeader, wire).frames, [wire.subarray(0, 7), wire.subarray(7)]);
  const bodyOnly = lengthField({ width: 2, offset: 2, adjustment: -4, maxFrameLength: 100 });
  assert.deepEqual(decodeAll(bodyOnly, wire).frames, [Buffer.from('abc'), Buffer.alloc(0)]);
  assert.throws(() => bodyOnly.encode(Buffer.from('x'), new LinkBuffer()), InvalidOptionError);
  // A length below zero after the adjustment, and a frame shorter than what is to be stripped.
  assert.throws(() => decodeAll(bodyOnly, Buffer.from([0, 0, 0, 1])), MalformedFrameError);
  assert.throws(() => decodeAll(lengthField({ width: 1, strip: 5, maxFrameLength: 10 }), Buffer.from([1, 9])), MalformedFrameError);
});

test('lengthField: a frame over maxFrameLength is refused from its header alone, before the body', () => {
  const codec = lengthField({ maxFrameLength: 1000 });
  const lb = new LinkBuffer();
  lb.link(Buffer.from([0, 0, 0x03, 0xe8])); // exactly 1000: waits for the body
  assert.equal(codec.decode(lb), undefined);
  assert.equal(codec.frameSize(lb), 1004);
  lb.skip(4);
  lb.link(Buffer.from([0, 0, 0x03, 0xe9])); // 1001
  assert.throws(() => codec.decode(lb), (e: unknown) => e instanceof FrameTooLargeError && e.code === 'ERR_FRAME_TOO_LARGE' && e.size === 1001 && e.limit === 1000);
  lb.close();
  // 64-bit lengths beyond any frame, and the encoder's own bound.
  assert.throws(() => decodeAll(lengthField({ width: 8, maxFrameLength: 1 << 30 }), Buffer.from([0xff, 0, 0, 0, 0, 0, 0, 1])), FrameTooLargeError);
  assert.throws(() => codec.encode(Buffer.alloc(1001), new LinkBuffer()), FrameTooLargeError);
  assert.throws(() => lengthField({ width: 5 as 4, maxFrameLength: 10 }), InvalidOptionError);
  assert.throws(() => lengthField({ maxFrameLength: 0 }), InvalidOptionError);
  assert.throws(() => lengthField({} as { maxFrameLength: number }), InvalidOptionError);
});

test('frames are views valid until release(), or copies the caller owns with copy: true', () => {
  const bytes = Buffer.from([0, 0, 0, 3, 1, 2, 3]);
  const view = lengthField({ maxFrameLength: 10 });
  const copying = lengthField({ maxFrameLength: 10, copy: true });
  for (const [codec, shared] of [[view, true], [copying, false]] as const) {
    const chunk = Buffer.alloc(bytes.length); // its own memory: Buffer.from would share Node's pool with the copy
    chunk.set(bytes);
    const lb = new LinkBuffer();
    lb.link(chunk);
    const f = codec.decode(lb)!;
    assert.deepEqual(f, Buffer.from([1, 2, 3]));
    assert.equal(f.buffer === chunk.buffer, shared);
    lb.close();
  }
});

test('delimiter: frames across node seams, with or without the delimiter, and the limit without one', () => {
  const lines = ['GET / HTTP/1.1', '', 'Host: x', 'a'.repeat(300)];
  const wire = Buffer.from(lines.map((l) => `${l}\r\n`).join(''));
  for (const cut of [[], [1], [15], [16], [17], [3, 7, 11, 20, 100, 200]]) {
    assert.deepEqual(decodeAll(delimiter({ delimiter: '\r\n', maxFrameLength: 1000 }), wire, cut).frames.map(String), lines);
  }
  assert.deepEqual(decodeAll(delimiter({ delimiter: '\r\n', maxFrameLength: 1000, strip: false }), wire).frames.map(String), lines.map((l) => `${l}\r\n`));
  assert.deepEqual(decodeAll(delimiter({ delimiter: 0, maxFrameLength: 10 }), Buffer.from('ab\0\0c\0')).frames.map(String), ['ab', '', 'c']);
  // A line longer than the limit is refused once more than the limit is buffered, delimiter or not.
  assert.throws(() => decodeAll(delimiter({ delimiter: '\n', maxFrameLength: 10 }), Buffer.from('x'.repeat(12))), FrameTooLargeError);
  assert.throws(() => decodeAll(delimiter({ delimiter: '\n', maxFrameLength: 10 }), Buffer.from('x'.repeat(11) + '\n')), FrameTooLargeError);
  assert.deepEqual(decodeAll(delimiter({ delimiter: '\n', maxFrameLength: 10 }), Buffer.from('x'.repeat(10) + '\n')).frames.map(String), ['x'.repeat(10)]);
  assert.equal(encodeAll(delimiter({ delimiter: '\r\n', maxFrameLength: 10 }), [Buffer.from('hi')]).toString(), 'hi\r\n');
  for (const bad of ['', 256, -1]) assert.throws(() => delimiter({ delimiter: bad as Delimiter, maxFrameLength: 10 }), InvalidOptionError);
});

test('delimiter: a long partial line is not searched again with every read (each search starts where the last stopped)', () => {
  const starts: number[] = [];
  class Spy extends LinkBuffer {
    override indexOf(delim: Delimiter, from = 0): number {
      starts.push(from);
      return super.indexOf(delim, from);
    }
  }
  const lb = new Spy({ nodeSize: 64 });
  const codec = delimiter({ delimiter: '\r\n', maxFrameLength: 1 << 20 });
  for (let i = 0; i < 200; i++) {
    lb.link(Buffer.alloc(100, 0x61));
    assert.equal(codec.decode(lb), undefined);
  }
  lb.link(Buffer.from('\r\n'));
  assert.equal(codec.decode(lb)!.length, 20_000);
  // Each search begins near the end of what the previous one scanned.
  for (let i = 1; i < starts.length; i++) assert.ok(starts[i]! >= 100 * i - 1, `search ${i} started at ${starts[i]}`);
  lb.close();
});
