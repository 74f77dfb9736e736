// Coded errors: ShortBufferError, BufferClosedError, MallocAckError, InvalidSizeError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkBuffer, LinkBufferError, ShortBufferError, BufferClosedError, MallocAckError, InvalidSizeError } from '../src/index.js';
import { smallPool, bytes, chunked, fresh, finish, assertAllBack, contents, small } from './helpers.js';

/** Every consuming or peeking read, asked for one byte more than `have`. */
const overreads: [string, (lb: LinkBuffer, have: number) => unknown][] = [
  ['next', (lb, have) => lb.next(have + 1)],
  ['peek', (lb, have) => lb.peek(have + 1)],
  ['skip', (lb, have) => lb.skip(have + 1)],
  ['readString', (lb, have) => lb.readString(have + 1)],
  ['readBinary', (lb, have) => lb.readBinary(have + 1)],
  ['slice', (lb, have) => lb.slice(have + 1)],
  ['readUint32BE', (lb) => lb.readUint32BE()],
  ['readBigUint64LE', (lb) => lb.readBigUint64LE()],
  ['peekUint32LE', (lb, have) => lb.peekUint32LE(have - 3)],
  ['peekUint8', (lb, have) => lb.peekUint8(have)],
];

test('reading more than is readable throws ShortBufferError and consumes nothing', () => {
  for (const [name, read] of overreads) {
    // Three bytes across three nodes: a partial copy must not move any offset.
    const lb = chunked('abc', [1, 1]);
    assert.throws(() => read(lb, 3), (e: unknown) => {
      assert.ok(e instanceof ShortBufferError, name);
      assert.ok(e instanceof LinkBufferError);
      assert.ok(e instanceof Error);
      assert.equal(e.code, 'ERR_SHORT_BUFFER');
      assert.equal(e.name, 'ShortBufferError');
      assert.equal(e.available, 3);
      assert.ok(e.requested > 3);
      return true;
    }, name);
    assert.equal(lb.length, 3, name);
    assert.equal(lb.readString(3), 'abc', name);
    finish(lb);
  }
  const empty = fresh();
  assert.throws(() => empty.readByte(), { code: 'ERR_SHORT_BUFFER', requested: 1, available: 0 });
  finish(empty);
});

test('a buffer with unflushed bytes only still has nothing to read', () => {
  const lb = new LinkBuffer({ pool: smallPool() });
  lb.writeString('pending');
  assert.throws(() => lb.next(1), ShortBufferError);
  assert.equal(lb.mallocLength, 7);
  lb.close();
});

test('every method except release/close throws BufferClosedError after close()', () => {
  const lb = small('some data');
  const pool = lb.pool;
  finish(lb);
  const other = new LinkBuffer({ pool });
  const calls: [string, () => unknown][] = [
    ['next', () => lb.next(1)],
    ['next(0)', () => lb.next(0)],
    ['peek', () => lb.peek(1)],
    ['skip', () => lb.skip(0)],
    ['until', () => lb.until(0x0a)],
    ['indexOf', () => lb.indexOf('x')],
    ['readString', () => lb.readString(0)],
    ['readBinary', () => lb.readBinary(0)],
    ['readByte', () => lb.readByte()],
    ['readInt16LE', () => lb.readInt16LE()],
    ['peekUint16BE', () => lb.peekUint16BE()],
    ['slice', () => lb.slice(0)],
    ['malloc', () => lb.malloc(1)],
    ['malloc(0)', () => lb.malloc(0)],
    ['mallocAck', () => lb.mallocAck(0)],
    ['flush', () => lb.flush()],
    ['writeByte', () => lb.writeByte(1)],
    ['writeString', () => lb.writeString('x')],
    ['writeString(empty)', () => lb.writeString('')],
    ['writeBinary', () => lb.writeBinary(bytes('x'))],
    ['writeDirect', () => lb.writeDirect(bytes('x'), 0)],
    ['writeUint32BE', () => lb.writeUint32BE(1)],
    ['writeBigInt64LE', () => lb.writeBigInt64LE(1n)],
    ['append', () => lb.append(other)],
    ['link', () => lb.link(bytes('x'))],
    ['views', () => lb.views()],
  ];
  for (const [name, call] of calls) {
    assert.throws(call, (e: unknown) => {
      assert.ok(e instanceof BufferClosedError, name);
      assert.equal(e.code, 'ERR_BUFFER_CLOSED');
      assert.equal(e.name, 'BufferClosedError');
      return true;
    }, name);
  }
  assert.equal(lb.closed, true);
  assert.equal(lb.length, 0);
  lb.release(); // allowed: a no-op
  lb.close(); // allowed: idempotent
  lb[Symbol.dispose]();
  assertAllBack(pool);
  other.close();
});

test('mallocAck beyond the malloc\'d bytes throws MallocAckError and changes nothing', () => {
  const lb = small();
  assert.throws(() => lb.mallocAck(1), { code: 'ERR_MALLOC_ACK_OVERFLOW' });
  lb.malloc(4).write('abcd', 'latin1');
  assert.throws(() => lb.mallocAck(5), (e: unknown) => {
    assert.ok(e instanceof MallocAckError);
    assert.ok(e instanceof LinkBufferError);
    assert.equal(e.code, 'ERR_MALLOC_ACK_OVERFLOW');
    assert.equal(e.name, 'MallocAckError');
    return true;
  });
  assert.equal(lb.mallocLength, 4);
  // writeDirect's remainCap is checked against the same malloc'd bytes.
  assert.throws(() => lb.writeDirect(bytes('p'), 5), MallocAckError);
  assert.equal(lb.mallocLength, 4);
  lb.flush();
  assert.equal(lb.readString(4), 'abcd');
  finish(lb);
});

test('negative, fractional, NaN and too-large sizes throw InvalidSizeError and change nothing', () => {
  const pool = smallPool();
  const lb = chunked('abcdef', [2], { pool, nodeSize: 16 });
  lb.writeString('xy');
  const sizeCalls: [string, (n: number) => unknown][] = [
    ['next', (n) => lb.next(n)],
    ['peek', (n) => lb.peek(n)],
    ['skip', (n) => lb.skip(n)],
    ['readString', (n) => lb.readString(n)],
    ['readBinary', (n) => lb.readBinary(n)],
    ['slice', (n) => lb.slice(n)],
    ['malloc', (n) => lb.malloc(n)],
    ['mallocAck', (n) => lb.mallocAck(n)],
    ['indexOf from', (n) => lb.indexOf(0x61, n)],
    ['peekUint8 offset', (n) => lb.peekUint8(n)],
    ['peekUint32BE offset', (n) => lb.peekUint32BE(n)],
    ['writeDirect remainCap', (n) => lb.writeDirect(bytes('p'), n)],
  ];
  // Options are not sizes of a call: they throw the option error every nocopy package uses.
  for (const bad of [-1, 1.5, NaN, 2 ** 32]) {
    assert.throws(() => new LinkBuffer({ nodeSize: bad }), { name: 'InvalidOptionError', code: 'ERR_INVALID_OPTION', option: 'nodeSize' });
    assert.throws(() => new LinkBuffer({ binaryInplaceThreshold: bad }), { name: 'InvalidOptionError', code: 'ERR_INVALID_OPTION', option: 'binaryInplaceThreshold' });
  }
  for (const [name, call] of sizeCalls) {
    for (const bad of [-1, 1.5, NaN, -Infinity, Infinity, 2 ** 32]) {
      assert.throws(() => call(bad), (e: unknown) => {
        assert.ok(e instanceof InvalidSizeError, `${name}(${bad})`);
        assert.equal(e.code, 'ERR_INVALID_SIZE');
        assert.equal(e.name, 'InvalidSizeError');
        assert.ok(Object.is(e.value, bad) || (Number.isNaN(bad) && Number.isNaN(e.value as number)));
        return true;
      }, `${name}(${bad})`);
    }
  }
  assert.equal(lb.length, 6);
  assert.equal(lb.mallocLength, 2);
  assert.deepEqual(contents(lb), bytes('abcdef'));
  finish(lb);
});

test('argument checks come before the closed check', () => {
  const lb = fresh();
  lb.close();
  const calls: [string, () => unknown][] = [
    ['next', () => lb.next(-1)],
    ['peek', () => lb.peek(1.5)],
    ['skip', () => lb.skip(NaN)],
    ['readString', () => lb.readString(-1)],
    ['readBinary', () => lb.readBinary(-1)],
    ['slice', () => lb.slice(-1)],
    ['malloc', () => lb.malloc(-1)],
    ['mallocAck', () => lb.mallocAck(-1)],
    ['indexOf', () => lb.indexOf(0x0a, -1)],
    ['peekUint16LE', () => lb.peekUint16LE(-1)],
    ['writeDirect', () => lb.writeDirect(bytes('p'), -1)],
  ];
  for (const [name, call] of calls) assert.throws(call, InvalidSizeError, name);
});

test('an integer peek past the end reports offset + width as requested', () => {
  const lb = chunked('abcdef', [3]);
  assert.throws(() => lb.peekUint32BE(3), { code: 'ERR_SHORT_BUFFER', requested: 7, available: 6 });
  assert.throws(() => lb.peekUint8(6), { code: 'ERR_SHORT_BUFFER', requested: 7, available: 6 });
  finish(lb);
});
