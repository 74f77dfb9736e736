// fast-check arbitraries for the fuzz tests: MessagePack-RPC messages in a value domain that survives
// a round trip through any MessagePack codec unchanged, and hostile byte segments.
// (Not a test file: it defines no tests.)
import fc from 'fast-check';
import { decode, decodeMulti, encode } from '@msgpack/msgpack';

/**
 * Values that decode to what was encoded (after normalize()): no -0 (it decodes as 0), integers in
 * 32 bits (wider ones may come back as bigint), binary compared by bytes.
 */
export const value: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 3 },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
    fc.double().filter((d) => !Object.is(d, -0) && (!Number.isInteger(d) || Math.abs(d) > 2 ** 64)),
    fc.string({ maxLength: 24 }),
    fc.uint8Array({ maxLength: 48 }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => k !== '__proto__'), tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** Binary values compare by their bytes, whatever class the decoder chose (Buffer or Uint8Array). */
export function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bin: Array.from(v) };
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = normalize(x);
    return out;
  }
  return v;
}

const method = fc.string({ minLength: 1, maxLength: 12 });
const id = fc.integer({ min: 0, max: 0xffffffff });
const params = fc.array(value, { maxLength: 3 });

export const message: fc.Arbitrary<unknown[]> = fc.oneof(
  fc.tuple(fc.constant(0), id, method, params),
  fc.tuple(fc.constant(1), id, fc.oneof(fc.constant(null), value), value),
  fc.tuple(fc.constant(2), method, params),
);

/** One MessagePack-RPC message on the wire, encoded by an independent codec (@msgpack/msgpack). */
export function wire(framing: 'framed' | 'stream', msg: unknown): Buffer {
  const body = encode(msg);
  const b = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (framing === 'stream') return b;
  const out = Buffer.allocUnsafe(4 + b.length);
  out.writeUInt32BE(b.length, 0);
  out.set(b, 4);
  return out;
}

/**
 * Bytes that cannot be a message within `max`: for 'framed' a length prefix above max (and a few
 * bytes of body); for 'stream' either a complete message larger than max, or the header of a huge
 * bin32 followed by more than max bytes of its body.
 */
export function oversized(framing: 'framed' | 'stream', max: number): fc.Arbitrary<Buffer> {
  if (framing === 'framed') {
    return fc.tuple(fc.integer({ min: max + 1, max: 0xffffffff }), fc.uint8Array({ maxLength: 8 })).map(([len, body]) => {
      const out = Buffer.allocUnsafe(4 + body.length);
      out.writeUInt32BE(len, 0);
      out.set(body, 4);
      return out;
    });
  }
  return fc.oneof(
    fc.integer({ min: max + 1, max: max + 200 }).map((n) => wire('stream', [0, 1, 'echo', ['x'.repeat(n)]])),
    fc.integer({ min: max + 1, max: 0xffffffff }).map((len) => {
      const out = Buffer.alloc(5 + max + 1, 0x61);
      out[0] = 0xc6; // bin32
      out.writeUInt32BE(len, 1);
      return out;
    }),
  );
}

export type Segment = { kind: 'valid'; msg: unknown[]; bytes: Buffer } | { kind: 'garbage' | 'truncated' | 'oversized'; bytes: Buffer };

/** A valid message, arbitrary bytes, a valid message cut short, or an oversized one. */
export function segment(framing: 'framed' | 'stream', max: number, msg: fc.Arbitrary<unknown[]> = message): fc.Arbitrary<Segment> {
  return fc.oneof(
    { arbitrary: msg.map((m): Segment => ({ kind: 'valid', msg: m, bytes: wire(framing, m) })), weight: 6 },
    { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b): Segment => ({ kind: 'garbage', bytes: Buffer.from(b) })), weight: 2 },
    {
      arbitrary: fc.tuple(msg, fc.nat()).map(([m, cut]): Segment => {
        const b = wire(framing, m);
        return { kind: 'truncated', bytes: b.subarray(0, 1 + (cut % (b.length - 1))) };
      }),
      weight: 1,
    },
    { arbitrary: oversized(framing, max).map((b): Segment => ({ kind: 'oversized', bytes: b })), weight: 1 },
  );
}

/** Offsets at which to cut `total` bytes into pieces (the consumer sorts and dedups them). */
export const cuts: fc.Arbitrary<number[]> = fc.array(fc.nat(), { maxLength: 12 });

/** Cuts `bytes` at `cutPoints` taken modulo its length. */
export function split(bytes: Buffer, cutPoints: readonly number[]): Buffer[] {
  if (bytes.length === 0) return [];
  const pts = [...new Set(cutPoints.map((c) => c % bytes.length).filter((c) => c > 0))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of pts) {
    out.push(bytes.subarray(at, p));
    at = p;
  }
  out.push(bytes.subarray(at));
  return out;
}

/** Where the first non-valid segment starts: the messages before it are the valid prefix. */
export function validPrefix(segments: readonly Segment[]): { msgs: unknown[][]; firstFault: Segment | undefined; faultIndex: number } {
  const msgs: unknown[][] = [];
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    if (s.kind !== 'valid') return { msgs, firstFault: s, faultIndex: i };
    msgs.push(s.msg);
  }
  return { msgs, firstFault: undefined, faultIndex: segments.length };
}

/**
 * Decodes the messages in `got` (what a raw peer received) with the independent codec; stops at a
 * truncated last message (the server cut the connection): what came before counts.
 */
export function decodeAll(framing: 'framed' | 'stream', got: Buffer): unknown[][] {
  const out: unknown[][] = [];
  if (framing === 'stream') {
    try {
      for (const m of decodeMulti(got)) out.push(m as unknown[]);
    } catch {
      // the truncated tail
    }
    return out;
  }
  let at = 0;
  while (got.length - at >= 4) {
    const n = got.readUInt32BE(at);
    if (got.length - at < 4 + n) break;
    out.push(decode(got.subarray(at + 4, at + 4 + n)) as unknown[]);
    at += 4 + n;
  }
  return out;
}
