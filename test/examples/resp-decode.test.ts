// The RESP decoder of the example server on random pipelines cut into random chunks: every command
// comes out whole, in order, with its exact bytes, however the input is split across nodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkBuffer } from '@nocopy/linkbuffer';
import { RespDecoder } from '@nocopy/examples/resp';
import { rng } from '@nocopy/test-kit';


function multibulk(args: Buffer[]): Buffer {
  return Buffer.concat([Buffer.from(`*${args.length}\r\n`), ...args.flatMap((a) => [Buffer.from(`$${a.length}\r\n`), a, Buffer.from('\r\n')])]);
}

test('random multibulk and inline pipelines, split at random, decode to the same commands', () => {
  const rand = rng(0x7e5);
  for (let round = 0; round < 300; round++) {
    const want: string[][] = [];
    const parts: Buffer[] = [];
    const n = 1 + Math.floor(rand() * 20);
    for (let i = 0; i < n; i++) {
      if (rand() < 0.2) {
        const words = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => Math.floor(rand() * 1e6).toString(36));
        want.push(words);
        parts.push(Buffer.from(`${words.join(rand() < 0.5 ? ' ' : '  ')}${rand() < 0.5 ? '\r\n' : '\n'}`));
      } else {
        const args = Array.from({ length: 1 + Math.floor(rand() * 5) }, () => {
          const len = rand() < 0.1 ? Math.floor(rand() * 20_000) : Math.floor(rand() * 40);
          return Buffer.from(Array.from({ length: len }, () => Math.floor(rand() * 256)));
        });
        want.push(args.map((a) => a.toString('latin1')));
        parts.push(multibulk(args));
      }
    }
    const all = Buffer.concat(parts);
    const lb = new LinkBuffer({ nodeSize: 64 });
    const dec = new RespDecoder();
    const got: string[][] = [];
    let at = 0;
    while (at < all.length) {
      const k = Math.min(all.length - at, 1 + Math.floor(rand() * (rand() < 0.5 ? 8 : 3000)));
      // Both ways input arrives: linked chunks and bytes written into pooled nodes.
      if (rand() < 0.5) lb.link(Buffer.from(all.subarray(at, at + k)));
      else {
        lb.writeBinary(all.subarray(at, at + k));
        lb.flush();
      }
      at += k;
      let cmd: Buffer[] | undefined;
      while ((cmd = dec.decode(lb)) !== undefined) got.push(cmd.map((a) => a.toString('latin1')));
      lb.release();
    }
    assert.deepEqual(got, want, `round ${round}`);
    assert.equal(lb.length, 0);
    lb.close();
  }
});

test('malformed headers and lengths past the limits are protocol errors', () => {
  const cases = ['*x\r\n', '*1\r\n$-1\r\n', '*1\r\n#3\r\nabc\r\n', '*1\r\n$3\r\nabcde\r\n', '*1\r\n$3x\r\n', '*2000000\r\n', '*1\r\n$99999999999\r\n'];
  for (const c of cases) {
    const lb = new LinkBuffer();
    lb.link(Buffer.from(c));
    assert.throws(() => new RespDecoder().decode(lb), { code: 'ERR_RESP_PROTOCOL' }, JSON.stringify(c));
    lb.close();
  }
  const lb = new LinkBuffer();
  lb.link(Buffer.alloc(70 * 1024, 0x61)); // an inline line longer than 64 KiB without its newline
  assert.throws(() => new RespDecoder().decode(lb), { code: 'ERR_RESP_PROTOCOL' });
  lb.close();
});

test('a value trickling in is not parsed again until the bytes it needs have arrived', () => {
  const lb = new LinkBuffer();
  const dec = new RespDecoder();
  const cmd = multibulk([Buffer.from('SET'), Buffer.from('k'), Buffer.alloc(100_000, 7)]);
  let peeks = 0;
  const counted = { get length() { return lb.length; }, peek: (n: number) => (peeks++, lb.peek(n)), skip: (n: number) => lb.skip(n), next: (n: number) => lb.next(n) };
  for (let at = 0; at < cmd.length; at += 1000) {
    lb.link(Buffer.from(cmd.subarray(at, at + 1000)));
    const r = dec.decode(counted);
    if (at + 1000 < cmd.length) assert.equal(r, undefined);
    else assert.equal(r!.length, 3);
  }
  assert.ok(peeks <= 3, `parsed ${peeks} times for 101 arrivals`);
  lb.close();
});
