// The RESP decoder of the example server on random pipelines cut into random chunks: every command
// comes out whole, in order, with its exact bytes, however the input is split across nodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkBuffer } from '@nocopy/linkbuffer';
import { RespDecoder, type RespCommands } from '@nocopy/examples/resp';
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
      let cmds: RespCommands | undefined;
      while ((cmds = dec.decode(lb)) !== undefined) for (let i = 0; i < cmds.count; i++) got.push(cmds.args(i).map((a) => a.toString('latin1')));
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
    else {
      assert.equal(r!.count, 1);
      assert.equal(r!.argc(0), 3);
    }
  }
  assert.ok(peeks <= 3, `parsed ${peeks} times for 101 arrivals`);
  lb.close();
});

test('one decode returns every whole command of the input; a malformed one is thrown after the ones before it', () => {
  const lb = new LinkBuffer();
  lb.link(Buffer.concat([multibulk([Buffer.from('SET'), Buffer.from('k'), Buffer.from('v')]), Buffer.from('\r\nPING\r\n*0\r\n'), multibulk([Buffer.from('GET'), Buffer.from('k')]), Buffer.from('*1\r\n$3\r\nabcde\r\n*1\r\n$4\r\nPING\r\n')]));
  const dec = new RespDecoder();
  const cmds = dec.decode(lb)!;
  assert.equal(cmds.count, 3);
  assert.deepEqual([0, 1, 2].map((i) => cmds.args(i).map((a) => a.toString())), [['SET', 'k', 'v'], ['PING'], ['GET', 'k']]);
  assert.equal(cmds.string(0, 2), 'v');
  assert.throws(() => dec.decode(lb), { code: 'ERR_RESP_PROTOCOL', message: 'Protocol error: bulk data not followed by CRLF' });
  lb.close();
});

test('whole commands before an incomplete one come out; the rest waits for its bytes', () => {
  const lb = new LinkBuffer();
  const get = multibulk([Buffer.from('GET'), Buffer.from('key')]);
  lb.link(Buffer.concat([get, get.subarray(0, 9)]));
  const dec = new RespDecoder();
  assert.equal(dec.decode(lb)!.count, 1);
  assert.equal(lb.length, 9);
  assert.equal(dec.decode(lb), undefined);
  assert.equal(lb.length, 9, 'nothing of an incomplete command is consumed');
  lb.release();
  lb.link(Buffer.from(get.subarray(9)));
  const c = dec.decode(lb)!;
  assert.equal(c.count, 1);
  assert.deepEqual(c.args(0).map(String), ['GET', 'key']);
  assert.equal(lb.length, 0);
  lb.close();
});
