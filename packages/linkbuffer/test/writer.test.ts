// Writer: malloc, mallocAck, flush, writeByte, writeString, writeBinary, writeDirect, link.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkBuffer } from '../src/index.js';
import { smallPool, own, bytes, finish, assertAllBack, contents, small } from './helpers.js';

test('malloc() returns one contiguous region that becomes readable only at flush()', () => {
  const lb = small();
  const pool = lb.pool;
  const a = lb.malloc(10);
  assert.equal(a.length, 10);
  a.write('0123456789', 'latin1');
  assert.equal(lb.length, 0);
  assert.equal(lb.mallocLength, 10);
  // 10 more do not fit the 16-byte node: a new node, still one contiguous region.
  const b = lb.malloc(10);
  assert.equal(b.length, 10);
  b.write('abcdefghij', 'latin1');
  // Larger than the node size: one region from a bigger size class.
  const big = lb.malloc(100);
  assert.equal(big.length, 100);
  big.fill(0x7a);
  assert.equal(pool.stats().bytesOutstanding, 16 + 16 + 128);
  lb.flush();
  assert.equal(lb.length, 120);
  assert.equal(lb.readString(20), '0123456789abcdefghij');
  assert.equal(lb.readString(100), 'z'.repeat(100));
  finish(lb);
});

test('malloc(0) returns an empty region and changes nothing', () => {
  const lb = small();
  const pool = lb.pool;
  assert.equal(lb.malloc(0).length, 0);
  assert.equal(lb.mallocLength, 0);
  assert.equal(pool.stats().blocksOutstanding, 0);
  lb.flush();
  assert.equal(lb.length, 0);
  lb.close();
});

test('mallocAck(n) keeps the first n unflushed bytes, across writes and nodes', () => {
  const lb = small();
  const pool = lb.pool;
  lb.writeString('keep');
  lb.malloc(12).fill(0x21);
  lb.malloc(16).fill(0x22); // a second node
  assert.equal(pool.stats().blocksOutstanding, 2);
  lb.mallocAck(6);
  assert.equal(lb.mallocLength, 6);
  assert.equal(pool.stats().blocksOutstanding, 1, 'the node past the kept bytes went back to the pool');
  // The room freed by mallocAck is reused by the next write.
  lb.writeString('+');
  lb.flush();
  assert.equal(lb.readString(lb.length), 'keep!!+');
  finish(lb);
});

test('mallocAck keeps already-flushed data; mallocAck(0) drops every unflushed byte; ack of all is a no-op', () => {
  const lb = small('flushed');
  lb.writeString('pending');
  lb.mallocAck(lb.mallocLength);
  assert.equal(lb.mallocLength, 7);
  lb.mallocAck(0);
  assert.equal(lb.mallocLength, 0);
  assert.equal(lb.length, 7);
  lb.flush();
  assert.equal(lb.readString(lb.length), 'flushed');
  finish(lb);
});

test('mallocAck can cut a by-reference node (writeBinary above the threshold)', () => {
  const lb = small(undefined, { binaryInplaceThreshold: 4 });
  lb.writeString('ab');
  lb.writeBinary(bytes('cdefgh'));
  lb.mallocAck(5);
  lb.flush();
  assert.equal(lb.readString(lb.length), 'abcde');
  finish(lb);
});

test('flush() with nothing written is a no-op; flushes accumulate in order', () => {
  const lb = new LinkBuffer({ pool: smallPool(), nodeSize: 16 });
  lb.flush();
  assert.equal(lb.length, 0);
  lb.writeString('a');
  lb.flush();
  lb.flush();
  lb.writeString('b');
  lb.flush();
  assert.equal(lb.readString(2), 'ab');
  lb.close();
});

test('writeByte() appends single bytes, filling one node and spilling to the next', () => {
  const lb = small();
  const pool = lb.pool;
  for (let i = 0; i < 40; i++) lb.writeByte(i);
  assert.equal(pool.stats().blocksOutstanding, 3);
  lb.flush();
  assert.deepEqual([...contents(lb)], Array.from({ length: 40 }, (_, i) => i));
  finish(lb);
});

test('writeString() encodes utf8 (default), latin1, ascii, hex, base64 and utf16le; returns the byte count', () => {
  const lb = new LinkBuffer({ pool: smallPool(), nodeSize: 16 });
  const cases: [string, BufferEncoding][] = [
    ['héllo €😀', 'utf8'],
    ['café', 'latin1'],
    ['plain', 'ascii'],
    ['deadbeef', 'hex'],
    ['aGVsbG8=', 'base64'],
    ['wide ☃', 'utf16le'],
  ];
  const expected: Buffer[] = [];
  for (const [s, enc] of cases) {
    const ref = Buffer.from(s, enc);
    assert.equal(lb.writeString(s, enc), ref.length, enc);
    expected.push(ref);
  }
  lb.flush();
  assert.deepEqual(contents(lb), Buffer.concat(expected));
  assert.equal(lb.readString(Buffer.byteLength('héllo €😀')), 'héllo €😀');
  lb.close();
});

test('writeString() of an empty string writes nothing; a long string lands in one node', () => {
  const lb = small();
  const pool = lb.pool;
  assert.equal(lb.writeString(''), 0);
  assert.equal(pool.stats().blocksOutstanding, 0);
  const long = 'ü'.repeat(300) + 'x'.repeat(800); // beyond the 1024-char fast estimate
  const n = lb.writeString(long);
  assert.equal(n, Buffer.byteLength(long));
  lb.flush();
  assert.equal(lb.views().length, 1, 'encoded straight into one malloc region');
  assert.equal(lb.readString(n), long);
  finish(lb);
});

test('writeBinary() copies at or below the 4 KiB threshold and references above it', () => {
  const pool = smallPool();
  const lb = new LinkBuffer({ pool }); // default threshold: 4096
  const small = own(Buffer.alloc(4096, 0x61));
  const large = own(Buffer.alloc(4097, 0x62));
  lb.writeBinary(small);
  lb.writeBinary(large);
  lb.flush();
  const vs = lb.views();
  assert.equal(vs.length, 2);
  assert.notEqual(vs[0]!.buffer, small.buffer, 'copied');
  assert.equal(vs[1]!.buffer, large.buffer, 'referenced');
  small.fill(0); // a copied source may be reused at once
  assert.equal(lb.readString(4096), 'a'.repeat(4096));
  assert.equal(lb.readString(4097), 'b'.repeat(4097));
  finish(lb);
});

test('writeBinary() accepts plain Uint8Arrays and ignores empty input', () => {
  const lb = new LinkBuffer({ pool: smallPool(), nodeSize: 16, binaryInplaceThreshold: 4 });
  lb.writeBinary(new Uint8Array(0));
  assert.equal(lb.mallocLength, 0);
  const backing = new Uint8Array([9, 1, 2, 3, 4, 5, 6, 9]);
  lb.writeBinary(backing.subarray(1, 3)); // copied
  lb.writeBinary(backing.subarray(1, 7)); // referenced, honouring byteOffset
  lb.flush();
  assert.deepEqual([...contents(lb)], [1, 2, 1, 2, 3, 4, 5, 6]);
  lb.close();
});

test('writeDirect() inserts a buffer by reference inside the last malloc region', () => {
  const lb = small();
  const pool = lb.pool;
  const a = lb.malloc(6);
  const p = bytes('<ref>');
  lb.writeDirect(p, 2); // a[0..4) before p, a[4..6) after it
  a.write('head', 0, 'latin1'); // filling after writeDirect still lands in the right place
  a.write('TL', 4, 'latin1');
  assert.equal(lb.mallocLength, 11);
  lb.writeString('!'); // continues after the tail part, in the shared block
  lb.flush();
  const vs = lb.views();
  assert.ok(vs.some((v) => v.buffer === p.buffer), 'p is referenced, not copied');
  assert.equal(pool.stats().blocksOutstanding, 1, 'the parts before and after p share one block');
  assert.equal(lb.readString(lb.length), 'head<ref>TL!');
  lb.release();
  assertAllBack(pool);
  finish(lb);
});

test('writeDirect() with remainCap 0 appends; with no writable tail it just links', () => {
  const lb = new LinkBuffer({ pool: smallPool(), nodeSize: 16 });
  lb.malloc(3).write('abc', 'latin1');
  lb.writeDirect(bytes('DEF'), 0);
  lb.link(bytes('ghi')); // the tail is now a referenced chunk
  lb.writeDirect(bytes('JKL'), 0);
  lb.writeDirect(new Uint8Array(0), 0);
  lb.flush();
  assert.equal(lb.readString(lb.length), 'abcDEFghiJKL');
  lb.close();
});

test('link() adds a chunk by reference as readable, flushing pending writes first', () => {
  const lb = small();
  lb.writeString('ab');
  const chunk = bytes('cd');
  lb.link(chunk);
  assert.equal(lb.mallocLength, 0, 'implicit flush');
  assert.equal(lb.length, 4);
  lb.link(new Uint8Array([0x65, 0x66])); // a plain Uint8Array
  const vs = lb.views();
  assert.deepEqual(vs.map(String), ['ab', 'cd', 'ef']);
  assert.equal(vs[1]!.buffer, chunk.buffer, 'by reference');
  assert.equal(vs[1]!.byteOffset, chunk.byteOffset);
  assert.equal(lb.readString(6), 'abcdef');
  lb.writeString('g'); // writing after a linked chunk goes to a fresh node
  lb.flush();
  assert.equal(lb.readString(1), 'g');
  finish(lb);
});

test('link() of an empty chunk adds nothing but still flushes', () => {
  const lb = new LinkBuffer({ pool: smallPool(), nodeSize: 16 });
  lb.link(new Uint8Array(0));
  assert.equal(lb.length, 0);
  lb.writeString('!');
  lb.link(new Uint8Array(0));
  assert.equal(lb.mallocLength, 0);
  assert.equal(lb.length, 1);
  assert.deepEqual(lb.views().map(String), ['!']);
  lb.close();
});

test('mallocAck back before a writeDirect insertion drops p and the shared tail node', () => {
  const lb = small();
  const pool = lb.pool;
  const a = lb.malloc(8);
  a.write('abcdefgh', 'latin1');
  lb.writeDirect(bytes('<p>'), 4);
  assert.equal(lb.mallocLength, 11);
  lb.mallocAck(2);
  assert.equal(pool.stats().blocksOutstanding, 1);
  lb.flush();
  assert.equal(lb.readString(lb.length), 'ab');
  lb.release();
  assertAllBack(pool);
  lb.close();
});
