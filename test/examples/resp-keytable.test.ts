// The RESP example's byte-keyed hash table against a Map of latin1 strings: random inserts,
// lookups and deletes (many colliding probe runs in a small table) agree at every step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyTable } from '@nocopy/examples/resp';
import { rng } from '@nocopy/test-kit';

test('KeyTable agrees with a Map over random inserts, finds and deletes', () => {
  const rand = rng(0x4e7);
  const t = new KeyTable<number>();
  const m = new Map<string, number>();
  // Keys embedded at random offsets of a larger buffer, as they lie in a read.
  const key = (): [Buffer, number, number] => {
    const k = Buffer.from(Math.floor(rand() * 3000).toString(36), 'latin1');
    const pad = Math.floor(rand() * 5);
    const b = Buffer.alloc(pad + k.length + 3, 0xff);
    k.copy(b, pad);
    return [b, pad, k.length];
  };
  for (let step = 0; step < 60_000; step++) {
    const [b, off, len] = key();
    const s = b.toString('latin1', off, off + len);
    const e = t.find(b, off, len);
    assert.equal(e >= 0, m.has(s), `step ${step}: find ${s}`);
    if (e >= 0) assert.equal(t.value(e), m.get(s));
    const op = rand();
    if (op < 0.5) {
      if (e < 0) t.insert(b, off, len, step);
      else t.setValue(e, step);
      m.set(s, step);
    } else if (op < 0.8 && e >= 0) {
      t.delete(e);
      m.delete(s);
    }
    assert.equal(t.size, m.size);
  }
  for (const [s, v] of m) {
    const b = Buffer.from(s, 'latin1');
    assert.equal(t.value(t.find(b, 0, b.length)), v);
  }
  assert.equal(t.find(Buffer.from('not a key'), 0, 9), -1);
});

test('binary keys: bytes that differ only above 0x7f or in a NUL are different keys', () => {
  const t = new KeyTable<string>();
  const a = Buffer.from([0x61, 0x00, 0xe9]);
  const b = Buffer.from([0x61, 0x00, 0x69]);
  t.insert(a, 0, 3, 'a');
  assert.equal(t.find(b, 0, 3), -1);
  t.insert(b, 0, 3, 'b');
  assert.equal(t.value(t.find(a, 0, 3)), 'a');
  assert.equal(t.value(t.find(b, 0, 3)), 'b');
  assert.equal(t.find(a, 0, 2), -1);
});
