// slice() shares nodes (zero-copy, refcounted); append() moves nodes; both keep the pool's books right.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkBuffer } from '../src/index.js';
import { smallPool, bytes, chunked, finish, assertAllBack, contents, small, linked } from './helpers.js';

test('slice(n) moves n bytes into a new buffer that shares the memory', () => {
  const { lb, chunks: [c1, c2] } = linked('abcd', 'efgh');
  lb.skip(1);
  const s = lb.slice(5); // 'bcd' | 'ef'
  assert.equal(s.length, 5);
  assert.equal(lb.length, 2);
  const vs = s.views();
  assert.equal(vs.length, 2);
  assert.equal(vs[0]!.buffer, c1.buffer, 'zero-copy');
  assert.equal(vs[1]!.buffer, c2.buffer, 'zero-copy');
  assert.equal(s.readString(5), 'bcdef');
  assert.equal(lb.readString(2), 'gh');
  s.close();
  finish(lb);
});

test('slice(0) and slice(length) give an empty and a whole buffer', () => {
  const lb = chunked('xyz', [1, 1]);
  const none = lb.slice(0);
  assert.equal(none.length, 0);
  assert.equal(none.isEmpty, true);
  const all = lb.slice(3);
  assert.equal(all.readString(3), 'xyz');
  assert.equal(lb.length, 0);
  none.close();
  all.close();
  finish(lb);
});

test('a slice survives release() and close() of its source; its block stays out until the slice is closed', () => {
  const lb = small('hello world');
  const pool = lb.pool;
  const s = lb.slice(5);
  lb.skip(lb.length);
  lb.release(); // the source drained and dropped its node; the slice still holds the block
  assert.equal(pool.stats().blocksOutstanding, 1);
  // New writes must not get the slice's memory.
  const other = new LinkBuffer({ pool, nodeSize: 16 });
  other.writeString('XXXXXXXXXXXXXXXX');
  other.flush();
  lb.close();
  assert.equal(s.readString(5), 'hello');
  other.close();
  assert.equal(pool.stats().blocksOutstanding, 1, 'still held by the slice');
  s.close();
  assertAllBack(pool);
});

test('slice() releases the consumed part of the source', () => {
  const lb = small();
  const pool = lb.pool;
  lb.writeString('0123456789abcdef', 'latin1'); // fills node 1
  lb.writeString('ghij', 'latin1'); // node 2
  lb.flush();
  lb.next(16);
  assert.equal(pool.stats().blocksOutstanding, 2);
  const s = lb.slice(2);
  assert.equal(pool.stats().blocksOutstanding, 1, 'node 1 was consumed and released by slice()');
  assert.equal(s.readString(2), 'gh');
  assert.equal(lb.readString(2), 'ij');
  s.close();
  finish(lb);
});

test('a slice can be read in parts, released, written to and flushed', () => {
  const pool = smallPool();
  const lb = chunked('abcdefghi', [3, 3], { pool, nodeSize: 16 });
  const s = lb.slice(9);
  assert.equal(s.next(5).toString(), 'abcde');
  s.release(); // drops the slice's first node
  // Another buffer picks up the recycled node object: the slice must hold no pointer to it.
  const thief = chunked('T', [], { pool });
  s.writeString('XY');
  s.flush();
  assert.equal(s.length, 6);
  assert.equal(s.readString(6), 'fghiXY');
  assert.equal(thief.readString(thief.length), 'T');
  thief.close();
  s.close();
  finish(lb);
});

test('mallocAck on a slice drops only the unflushed bytes, never the shared readable nodes', () => {
  const pool = smallPool();
  const lb = chunked('abcdefghi', [3, 3], { pool, nodeSize: 16 });
  const s = lb.slice(9);
  s.writeString('XY');
  s.mallocAck(0);
  s.flush();
  assert.equal(s.length, 9);
  assert.equal(s.readString(9), 'abcdefghi');
  s.writeString('Z');
  s.mallocAck(1);
  s.flush();
  assert.equal(s.readString(1), 'Z');
  s.close();
  finish(lb);
});

test('append(other) moves readable and unflushed bytes as unflushed bytes, leaving other empty and usable', () => {
  const pool = smallPool();
  // Threshold 0: every content is moved, none copied (the copy of small contents is tested below).
  const a = new LinkBuffer({ pool, nodeSize: 16, binaryInplaceThreshold: 0 });
  const b = new LinkBuffer({ pool, nodeSize: 16 });
  a.writeString('A1');
  a.flush();
  a.writeString('A2'); // pending in a: comes before b's data
  const chunk = bytes('B1B1');
  b.link(chunk);
  b.skip(2); // only unconsumed bytes move
  b.writeString('B2'); // b's unflushed data moves too
  const before = pool.stats().blocksOutstanding;
  a.append(b);
  assert.equal(pool.stats().blocksOutstanding, before, 'nodes moved, nothing copied');
  assert.equal(a.length, 2);
  assert.equal(a.mallocLength, 6);
  assert.equal(b.length, 0);
  assert.equal(b.mallocLength, 0);
  assert.equal(b.closed, false);
  a.flush();
  const vs = a.views();
  assert.ok(vs.some((v) => v.buffer === chunk.buffer), 'zero-copy');
  assert.equal(a.readString(a.length), 'A1A2B1B2');
  // b is still usable.
  b.writeString('again');
  b.flush();
  assert.equal(b.readString(5), 'again');
  b.close();
  a.close();
  assertAllBack(pool);
});

test('append() copies contents up to the inplace threshold into the current node and gives back the other buffer\'s nodes', () => {
  const pool = smallPool();
  const a = new LinkBuffer({ pool, nodeSize: 64, binaryInplaceThreshold: 8 });
  const src = new LinkBuffer({ pool, nodeSize: 16 });
  a.writeString('<');
  // 16 small slices of a chunk and of pooled memory: each copied into a's node, none linked.
  const chunk = bytes('0123456789abcdef');
  src.link(chunk);
  for (let i = 0; i < 4; i++) a.append(src.slice(4));
  src.writeString('pooled');
  src.flush();
  const s = src.slice(6);
  a.append(s);
  assert.equal(s.length, 0);
  assert.equal(s.mallocLength, 0);
  assert.equal(s.closed, false, 'left empty and usable');
  src.close();
  assert.equal(pool.stats().blocksOutstanding, 1, 'only a\'s node: the slices\' shared blocks went back');
  a.writeString('>');
  a.flush();
  const vs = a.views();
  assert.equal(vs.length, 1, 'one node for the whole batch');
  assert.ok(!vs.some((v) => v.buffer === chunk.buffer), 'copied, not referenced');
  chunk.fill(0); // the appended bytes no longer depend on the chunk
  assert.equal(a.readString(a.length), '<0123456789abcdefpooled>');
  // Past the threshold, the nodes move.
  const big = new LinkBuffer({ pool, nodeSize: 16 });
  const bigChunk = bytes('0123456789');
  big.link(bigChunk);
  a.append(big);
  a.flush();
  assert.ok(a.views().some((v) => v.buffer === bigChunk.buffer), 'referenced above the threshold');
  assert.equal(a.readString(a.length), '0123456789');
  s.close();
  big.close();
  a.close();
  assertAllBack(pool);
});

test('append() of an empty buffer changes nothing; append() into an empty buffer', () => {
  const pool = smallPool();
  const a = new LinkBuffer({ pool, nodeSize: 16 });
  const empty = new LinkBuffer({ pool, nodeSize: 16 });
  a.append(empty);
  assert.equal(a.mallocLength, 0);
  const b = chunked('data', [2], { pool });
  a.append(b);
  a.flush();
  assert.equal(a.readString(4), 'data');
  a.close();
  b.close();
  empty.close();
  assertAllBack(pool);
});

test('append() of a slice that shares nodes with its still-open source', () => {
  const pool = smallPool();
  const src = new LinkBuffer({ pool, nodeSize: 16 });
  src.writeString('abcdef');
  src.flush();
  const s = src.slice(3); // shares src's block
  const dst = new LinkBuffer({ pool, nodeSize: 16 });
  dst.writeString('>');
  dst.append(s);
  dst.writeString('<'); // after the shared node: a fresh node, never the shared block
  dst.flush();
  src.writeString('gh'); // src keeps writing into its own block, past the shared bytes
  src.flush();
  assert.equal(dst.readString(dst.length), '>abc<');
  assert.equal(src.readString(src.length), 'defgh');
  dst.close();
  assert.equal(pool.stats().blocksOutstanding, 1, 'src still holds its block');
  src.close();
  s.close();
  assertAllBack(pool);
});

test('append() of a slice of itself rotates the data', () => {
  const pool = smallPool();
  const lb = chunked('123abc', [2], { pool, nodeSize: 16 });
  lb.append(lb.slice(3));
  lb.flush();
  assert.equal(contents(lb).toString(), 'abc123');
  finish(lb);
});

test('append() to itself is refused; closed buffers are refused both ways', () => {
  const a = new LinkBuffer({ pool: smallPool() });
  const b = new LinkBuffer({ pool: a.pool });
  assert.throws(() => a.append(a), TypeError);
  b.close();
  assert.throws(() => a.append(b), { code: 'ERR_BUFFER_CLOSED' });
  assert.throws(() => b.append(a), { code: 'ERR_BUFFER_CLOSED' });
  a.close();
});

test('append() and slice() across two pools: each block goes home to its own pool', () => {
  const poolA = smallPool();
  const poolB = smallPool();
  const a = new LinkBuffer({ pool: poolA, nodeSize: 16, binaryInplaceThreshold: 0 });
  const b = new LinkBuffer({ pool: poolB, nodeSize: 16 });
  a.writeString('from a ', 'latin1');
  b.writeString('from b', 'latin1');
  a.append(b);
  a.flush();
  const s = a.slice(a.length); // shares blocks of both pools
  a.close();
  b.close();
  assert.equal(poolA.stats().blocksOutstanding, 1);
  assert.equal(poolB.stats().blocksOutstanding, 1);
  assert.equal(s.readString(s.length), 'from a from b');
  s.close();
  assertAllBack(poolA);
  assertAllBack(poolB);
});

test('frame by frame: append(slice(n)) copies each one-node slice, leaves it empty and usable, and gives every block back', () => {
  const pool = smallPool();
  const input = new LinkBuffer({ pool, nodeSize: 64 });
  const out = new LinkBuffer({ pool, nodeSize: 64 });
  const frames = ['alpha', 'bravo!', 'charlie', 'delta'];
  for (const f of frames) input.writeString(f);
  input.flush();
  const slices: LinkBuffer[] = [];
  for (const f of frames) {
    const s = input.slice(f.length);
    out.append(s);
    assert.equal(s.length, 0, 'moved out');
    slices.push(s);
  }
  // An emptied slice takes new bytes like any buffer.
  slices[0]!.writeString('again');
  slices[0]!.flush();
  assert.equal(slices[0]!.readString(5), 'again');
  out.flush();
  assert.equal(out.readString(out.length), frames.join(''));
  for (const s of slices) s.close();
  input.close();
  out.close();
  assertAllBack(pool);
});
