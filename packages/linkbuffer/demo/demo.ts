// A short tour of the LinkBuffer: nocopy writes and reads, views vs copies, and the pool's statistics.
// Run with `npm start` (until the RPC demo takes its place).
import { LinkBuffer, BlockPool } from '../src/index.js';

const pool = new BlockPool();
const show = (label: string) => {
  const s = pool.stats();
  console.log(`  pool after ${label}: ${s.blocksOutstanding} blocks out (${s.bytesOutstanding} B), ${s.idleBlocks} idle, hits ${s.hits}, misses ${s.misses}`);
};

console.log('nocopy LinkBuffer demo\n');

// 1. Writer: malloc, fill in place, flush. Frames are 4-byte length prefixes + payload.
const out = new LinkBuffer({ pool });
for (const text of ['hello', 'zero-copy', 'world']) {
  const header = out.malloc(4);
  const n = out.writeString(text);
  header.writeUInt32BE(n, 0);
}
out.flush();
console.log(`1. wrote 3 frames with malloc/writeString/flush: ${out.length} readable bytes in ${out.views().length} node(s)`);
show('writing');

// 2. The input side: bytes arrive as chunks split at awkward places; link() adds them without copying.
const wire = Buffer.concat(out.views());
out.close();
const input = new LinkBuffer({ pool });
const cuts = [3, 7, 8, 20, wire.length];
let at = 0;
for (const cut of cuts) {
  input.link(wire.subarray(at, cut));
  at = cut;
}
console.log(`2. linked ${cuts.length} chunks (${wire.length} bytes) as nodes; no byte was copied`);

// 3. Reader: peek the length (even across a seam), then next() returns a view or, across nodes, one copy.
while (input.length >= 4) {
  const len = input.peekUint32BE();
  if (input.length < 4 + len) break;
  input.skip(4);
  const payload = input.next(len);
  const isView = payload.buffer === wire.buffer;
  console.log(`3. frame ${JSON.stringify(payload.toString())} (${len} B): ${isView ? 'a view into the received chunk' : 'copied once into pooled scratch (it spanned nodes)'}`);
}
input.release();
show('reading and release()');

// 4. until() finds a delimiter across nodes with native indexOf per node.
const lines = new LinkBuffer({ pool });
lines.link(Buffer.from('GET / HTTP/1.1\r'));
lines.link(Buffer.from('\nHost: example\r\n'));
console.log(`4. until("\\r\\n") across a seam: ${JSON.stringify(lines.until('\r\n')?.toString())}, then ${JSON.stringify(lines.until('\r\n')?.toString())}`);
lines.close();

// 5. slice() shares memory: the slice and the source hold references to the same block.
const big = new LinkBuffer({ pool });
big.writeString('shared-bytes-and-more');
big.flush();
const head = big.slice(12);
console.log(`5. slice(12) -> ${JSON.stringify(head.readString(12))}; the source still reads ${JSON.stringify(big.readString(big.length))}`);
show('slice (the block is shared, one outstanding)');
head.close();
big.close();
show('closing everything');
console.log(pool.stats().blocksOutstanding === 0 ? '\nevery block is back in the pool.' : '\nLEAK: blocks outstanding!');
