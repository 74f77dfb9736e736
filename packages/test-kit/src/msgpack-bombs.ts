// The hostile MessagePack request of the amplification report, for the fuzz and hardening tests.

const u32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);

/**
 * The reference tree of the amplification report as the body of `echo([def(0)])`:
 * def(i) = d6 69 <i> 92 def(i+1) d6 70 <i+1>, def(depth) = d6 69 <depth> 90. With `framed`, behind
 * a 4-byte big-endian length, as the RPC server's 'framed' framing reads it.
 */
export function referenceBomb(depth: number, options: { framed?: boolean } = {}): Buffer {
  const def = (i: number): Buffer =>
    i === depth
      ? Buffer.concat([Buffer.from([0xd6, 0x69]), u32(i), Buffer.from([0x90])])
      : Buffer.concat([Buffer.from([0xd6, 0x69]), u32(i), Buffer.from([0x92]), def(i + 1), Buffer.from([0xd6, 0x70]), u32(i + 1)]);
  // [0, 1, "echo", [def(0)]]
  const body = Buffer.concat([Buffer.from([0x94, 0x00, 0x01, 0xa4, 0x65, 0x63, 0x68, 0x6f, 0x91]), def(0)]);
  return options.framed === true ? Buffer.concat([u32(body.length), body]) : body;
}
