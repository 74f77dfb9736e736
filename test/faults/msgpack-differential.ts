// Differential fuzzing of the strict MessagePack codec against an independent implementation,
// @msgpack/msgpack. Inputs are MessagePack trees built byte by byte over every format (extension
// types included: msgpackr's bundled strings 0x62, structured-clone references 0x69/0x70, records
// 0x72, and random ones), with declared lengths that are right, off by a little, huge or
// "negative" (high bit set), then mutated (bytes flipped, cut short, spliced). The properties:
//   - decode: ours throws MalformedMessageError (never another error), or it returns exactly what
//     the reference returns for the same bytes; so nothing accepted can hold bytes from beyond
//     its own message, and no reference can make a value grow;
//   - encode: what ours writes, the reference decodes to the value encoded; what the reference
//     writes (standard types), ours decodes to the same value;
//   - framing: the stream scanner finds the end of each value exactly where the reference does;
//   - one rule: the browser client's check accepts exactly what our decoder accepts, and the stream
//     scanner frames every message the decoder accepts and refuses none of them.
// Run by the fuzz test (fixed seed) and, longer, by the soak (`npm run soak`).
// (Not a test file: it defines no tests.)
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decode as refDecode, encode as refEncode, ExtData } from '@msgpack/msgpack';
import { LinkBuffer } from '@nocopy/linkbuffer';
import { MalformedMessageError, MessageTooLargeError, msgpack } from '@nocopy/rpc-demo';
import { checkStrict } from '@nocopy/rpc-demo/browser';

// ---- inputs ----

type Node =
  | { t: 'raw'; bytes: number[] }
  | { t: 'str'; form: 0 | 1 | 2 | 3; body: Uint8Array; delta: Delta }
  | { t: 'bin'; form: 1 | 2 | 3; body: Uint8Array; delta: Delta }
  | { t: 'ext'; form: number; type: number; body: Uint8Array; delta: Delta }
  | { t: 'array'; form: 0 | 2 | 3; items: Node[]; delta: Delta }
  | { t: 'map'; form: 0 | 2 | 3; items: Node[]; delta: Delta };

/** How a declared length differs from the real one. */
type Delta = { kind: 'exact' } | { kind: 'plus'; n: number } | { kind: 'minus'; n: number } | { kind: 'huge' } | { kind: 'negative'; n: number };

const delta: fc.Arbitrary<Delta> = fc.oneof(
  { arbitrary: fc.constant({ kind: 'exact' } as Delta), weight: 12 },
  { arbitrary: fc.integer({ min: 1, max: 300 }).map((n): Delta => ({ kind: 'plus', n })), weight: 1 },
  { arbitrary: fc.integer({ min: 1, max: 8 }).map((n): Delta => ({ kind: 'minus', n })), weight: 1 },
  { arbitrary: fc.constant({ kind: 'huge' } as Delta), weight: 1 },
  { arbitrary: fc.integer({ min: 0, max: 0x7fffffff }).map((n): Delta => ({ kind: 'negative', n })), weight: 1 },
);

const utf8Text = fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => new Uint8Array(Buffer.from(s, 'utf8')));
const strBody = fc.oneof({ arbitrary: utf8Text, weight: 4 }, { arbitrary: fc.uint8Array({ maxLength: 40 }), weight: 1 });

// Extension types: the timestamp (-1, valid or not), msgpackr's, and any other.
const extType = fc.oneof(
  { arbitrary: fc.constant(0xff), weight: 4 },
  { arbitrary: fc.constantFrom(0x62, 0x69, 0x70, 0x72, 0x73, 0x65, 0x74, 0x78, 0x00), weight: 3 },
  { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 },
);
const timestampBody = fc.oneof(
  fc.integer({ min: 0, max: 0xffffffff }).map((s) => u32(s)),
  fc.tuple(fc.integer({ min: 0, max: 999_999_999 }), fc.integer({ min: 0, max: 0x3ffffffff })).map(([ns, s]) => {
    const hi = Math.floor(s / 2 ** 32);
    return concat(u32(((ns << 2) | hi) >>> 0), u32(s - hi * 2 ** 32));
  }),
  fc.tuple(fc.integer({ min: 0, max: 1_200_000_000 }), fc.integer({ min: -(2 ** 40), max: 2 ** 40 })).map(([ns, s]) => {
    const b = new Uint8Array(12);
    new DataView(b.buffer).setUint32(0, ns);
    new DataView(b.buffer).setBigInt64(4, BigInt(s));
    return b;
  }),
);

const scalar: fc.Arbitrary<Node> = fc.oneof(
  fc.integer({ min: 0, max: 0x7f }).map((b): Node => ({ t: 'raw', bytes: [b] })),
  fc.integer({ min: 0xe0, max: 0xff }).map((b): Node => ({ t: 'raw', bytes: [b] })),
  fc.constantFrom(0xc0, 0xc2, 0xc3, 0xc1).map((b): Node => ({ t: 'raw', bytes: [b] })),
  // uint/int 8-64 and float 32/64, with random bytes
  fc.tuple(fc.constantFrom(0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xca, 0xcb), fc.uint8Array({ minLength: 8, maxLength: 8 })).map(([h, b]): Node => {
    const size: Record<number, number> = { 0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8, 0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8, 0xca: 4, 0xcb: 8 };
    return { t: 'raw', bytes: [h, ...b.subarray(0, size[h])] };
  }),
  fc.record({ t: fc.constant('str' as const), form: fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const), body: strBody, delta }),
  fc.record({ t: fc.constant('bin' as const), form: fc.constantFrom(1 as const, 2 as const, 3 as const), body: fc.uint8Array({ maxLength: 64 }), delta }),
  fc.record({
    t: fc.constant('ext' as const),
    // fixext 1/2/4/8/16, ext 8/16/32
    form: fc.constantFrom(0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xc7, 0xc8, 0xc9),
    type: extType,
    body: fc.oneof(timestampBody, fc.uint8Array({ maxLength: 20 })),
    delta,
  }),
);

const tree: fc.Arbitrary<Node> = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', maxDepth: 4, withCrossShrink: true },
    scalar,
    fc.record({ t: fc.constant('array' as const), form: fc.constantFrom(0 as const, 2 as const, 3 as const), items: fc.array(tie('node'), { maxLength: 5 }), delta }),
    fc.record({
      t: fc.constant('map' as const),
      form: fc.constantFrom(0 as const, 2 as const, 3 as const),
      items: fc.array(fc.tuple(fc.oneof({ arbitrary: scalar, weight: 1 }, { arbitrary: fc.record({ t: fc.constant('str' as const), form: fc.constant(0 as const), body: utf8Text, delta: fc.constant({ kind: 'exact' } as Delta) }), weight: 4 }), tie('node')), { maxLength: 4 }).map((kv) => kv.flat()),
      delta,
    }),
  ),
})).node;

function declared(real: number, d: Delta, width: number): number {
  const max = width === 1 ? 0xff : width === 2 ? 0xffff : 0xffffffff;
  switch (d.kind) {
    case 'exact':
      return real;
    case 'plus':
      return Math.min(max, real + d.n);
    case 'minus':
      return Math.max(0, real - d.n);
    case 'huge':
      return max;
    case 'negative':
      return width === 4 ? (0x80000000 + d.n) >>> 0 : max - (d.n % (max + 1));
  }
}

function lenBytes(n: number, width: number): number[] {
  if (width === 1) return [n & 0xff];
  if (width === 2) return [(n >>> 8) & 0xff, n & 0xff];
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

/** The bytes of a tree, declared lengths as the tree says (which may be wrong). */
export function serialize(node: Node, out: number[] = []): number[] {
  switch (node.t) {
    case 'raw':
      out.push(...node.bytes);
      break;
    case 'str': {
      const n = node.body.length;
      if (node.form === 0 && n < 32 && node.delta.kind === 'exact') out.push(0xa0 | n);
      else {
        const form = node.form === 0 ? 1 : node.form;
        const width = form === 1 ? 1 : form === 2 ? 2 : 4;
        out.push([0, 0xd9, 0xda, 0xdb][form]!, ...lenBytes(declared(n, node.delta, width), width));
      }
      out.push(...node.body);
      break;
    }
    case 'bin': {
      const width = node.form === 1 ? 1 : node.form === 2 ? 2 : 4;
      out.push([0, 0xc4, 0xc5, 0xc6][node.form]!, ...lenBytes(declared(node.body.length, node.delta, width), width), ...node.body);
      break;
    }
    case 'ext': {
      const fixed: Record<number, number> = { 0xd4: 1, 0xd5: 2, 0xd6: 4, 0xd7: 8, 0xd8: 16 };
      const size = fixed[node.form];
      if (size !== undefined) {
        const body = new Uint8Array(size);
        body.set(node.body.subarray(0, size));
        out.push(node.form, node.type, ...body);
      } else {
        const width = node.form === 0xc7 ? 1 : node.form === 0xc8 ? 2 : 4;
        out.push(node.form, ...lenBytes(declared(node.body.length, node.delta, width), width), node.type, ...node.body);
      }
      break;
    }
    case 'array':
    case 'map': {
      const count = node.t === 'map' ? Math.floor(node.items.length / 2) : node.items.length;
      const fix = node.t === 'map' ? 0x80 : 0x90;
      const d = declared(count, node.delta, node.form === 3 ? 4 : 2);
      if (node.form === 0 && d < 16) out.push(fix | d);
      else {
        const form = node.form === 0 ? 2 : node.form;
        const head = node.t === 'map' ? (form === 2 ? 0xde : 0xdf) : form === 2 ? 0xdc : 0xdd;
        out.push(head, ...lenBytes(d, form === 2 ? 2 : 4));
      }
      for (const c of node.items.slice(0, node.t === 'map' ? count * 2 : count)) serialize(c, out);
      break;
    }
  }
  return out;
}

type Mutation = { kind: 'none' } | { kind: 'flip'; at: number; byte: number } | { kind: 'cut'; at: number } | { kind: 'splice'; at: number; bytes: Uint8Array };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { arbitrary: fc.constant({ kind: 'none' } as Mutation), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }), weight: 1 },
);

function mutate(bytes: number[], ms: Mutation[]): Uint8Array {
  const b = [...bytes];
  for (const m of ms) {
    if (b.length === 0) break;
    if (m.kind === 'flip') b[m.at % b.length] = m.byte;
    else if (m.kind === 'cut') b.length = m.at % b.length;
    else if (m.kind === 'splice') b.splice(m.at % (b.length + 1), 0, ...m.bytes);
  }
  return Uint8Array.from(b);
}

/** Hostile MessagePack: a tree serialized with its declared lengths, then a few mutations. */
export const hostileBytes: fc.Arbitrary<Uint8Array> = fc.tuple(tree, fc.array(mutation, { maxLength: 3 })).map(([t, ms]) => mutate(serialize(t), ms));

/** Standard values (the domain both codecs encode alike). */
export const standardValue: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
    fc.maxSafeInteger(),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
    fc.double().filter((d) => !Object.is(d, -0)),
    fc.string({ unit: 'grapheme', maxLength: 300 }),
    fc.uint8Array({ maxLength: 5000 }),
    fc.date({ noInvalidDate: true }),
    fc.array(tie('v'), { maxLength: 5 }),
    fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => k !== '__proto__'), tie('v'), { maxKeys: 5 }),
  ),
})).v;

// ---- comparison ----

/** A form both decoders' results compare in: binaries by bytes, safe BigInts as numbers, Dates by time. */
export function normalize(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) && BigInt(Number(v)) === v ? Number(v) : { bigint: v.toString() };
  if (v instanceof Uint8Array) return { bin: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') };
  if (v instanceof Date) return { date: v.getTime() };
  if (v instanceof ExtData) return { ext: v.type };
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) out[k] = normalize((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

const REF = { useBigInt64: true } as const;

export interface DifferentialStats {
  inputs: number;
  acceptedByBoth: number;
  rejectedByOurs: number;
  rejectedByBoth: number;
  /** Ours refused what the reference took: an extension type, invalid UTF-8, a float key, ... */
  strictnessRejects: number;
}

/** One hostile input through both decoders: asserts the property, returns which case it was. */
export function checkDecode(bytes: Uint8Array, stats: DifferentialStats): void {
  stats.inputs++;
  let ours: { ok: true; v: unknown } | { ok: false; e: unknown };
  try {
    ours = { ok: true, v: msgpack.decode(bytes) };
  } catch (e) {
    ours = { ok: false, e };
  }
  let ref: { ok: true; v: unknown } | { ok: false; e: unknown };
  try {
    ref = { ok: true, v: refDecode(bytes, REF) };
  } catch (e) {
    ref = { ok: false, e };
  }
  const hex = Buffer.from(bytes).toString('hex');
  checkSameRule(bytes, ours.ok, hex);
  if (!ours.ok) {
    assert.ok(ours.e instanceof MalformedMessageError, `ours threw something other than MalformedMessageError on ${hex}: ${String(ours.e)}`);
    stats.rejectedByOurs++;
    if (ref.ok) stats.strictnessRejects++;
    else stats.rejectedByBoth++;
    return;
  }
  assert.ok(ref.ok, `ours accepted what the reference rejects (${ref.ok ? '' : String(ref.e)}): ${hex}`);
  assert.deepStrictEqual(normalize(ours.v), normalize(ref.v), `ours and the reference disagree on ${hex}`);
  stats.acceptedByBoth++;
}

/** The browser check and the stream scanner against our decoder's verdict on the same bytes. */
function checkSameRule(bytes: Uint8Array, decoded: boolean, hex: string): void {
  let checked = true;
  try {
    checkStrict(bytes);
  } catch (e) {
    assert.equal((e as { code?: string }).code, 'ERR_MALFORMED_MESSAGE', String(e));
    checked = false;
  }
  assert.equal(checked, decoded, `the browser check ${checked ? 'took' : 'refused'} what the decoder ${decoded ? 'took' : 'refused'}: ${hex}`);
  let framed: number | Error;
  try {
    const b = Buffer.from(bytes);
    framed = new msgpack.ValueScanner().scan({ length: b.length, views: () => [b] }, b.length);
  } catch (e) {
    assert.ok(e instanceof MalformedMessageError || e instanceof MessageTooLargeError, `the scanner threw ${String(e)} on ${hex}`);
    framed = e;
  }
  if (decoded) assert.equal(framed, bytes.length, `the scanner did not frame what the decoder took: ${hex}`);
}

/** A standard value through both encoders and both decoders. */
export function checkRoundTrip(value: unknown): void {
  const ours = msgpack.encode(value);
  assert.deepStrictEqual(normalize(refDecode(ours, REF)), normalize(value), 'the reference reads what ours wrote');
  assert.deepStrictEqual(normalize(msgpack.decode(ours)), normalize(value), 'ours reads what ours wrote');
  const theirs = refEncode(value, { useBigInt64: true });
  assert.deepStrictEqual(normalize(msgpack.decode(theirs)), normalize(value), 'ours reads what the reference wrote');
}

/** Several values concatenated, fed in two pieces: the scanner finds each boundary. */
export function checkScanner(values: unknown[], cut: number): void {
  const parts = values.map((v) => Buffer.from(refEncode(v, { useBigInt64: true })));
  const all = Buffer.concat(parts);
  const lb = new LinkBuffer({ nodeSize: 64 });
  const scanner = new msgpack.ValueScanner();
  const at = all.length === 0 ? 0 : cut % (all.length + 1);
  const lengths: number[] = [];
  try {
    for (const piece of [all.subarray(0, at), all.subarray(at)]) {
      if (piece.length > 0) lb.link(Buffer.from(piece));
      for (;;) {
        const n = scanner.scan(lb, 1 << 24);
        if (n < 0) break;
        lengths.push(n);
        msgpack.decode(lb.next(n));
        lb.release();
      }
    }
    assert.deepEqual(lengths, parts.map((p) => p.length), 'value boundaries');
    assert.equal(lb.length, 0);
  } finally {
    lb.close();
  }
}

/** The whole differential run: `runs` hostile inputs, `runs / 4` round trips and scanner runs. */
export function runDifferential(runs: number, seed: number): DifferentialStats {
  const stats: DifferentialStats = { inputs: 0, acceptedByBoth: 0, rejectedByOurs: 0, rejectedByBoth: 0, strictnessRejects: 0 };
  fc.assert(fc.property(hostileBytes, (b) => checkDecode(b, stats)), { numRuns: runs, seed, includeErrorInReport: true });
  // Arbitrary bytes too: the cheapest way to reach every format byte at every position.
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => checkDecode(b, stats)), { numRuns: Math.ceil(runs / 2), seed: seed + 1, includeErrorInReport: true });
  fc.assert(fc.property(standardValue, (v) => checkRoundTrip(v)), { numRuns: Math.ceil(runs / 4), seed: seed + 2, includeErrorInReport: true });
  fc.assert(fc.property(fc.array(standardValue, { minLength: 1, maxLength: 4 }), fc.nat(), (vs, cut) => checkScanner(vs, cut)), { numRuns: Math.ceil(runs / 8), seed: seed + 3, includeErrorInReport: true });
  return stats;
}

function u32(n: number): Uint8Array {
  return Uint8Array.from(lenBytes(n >>> 0, 4));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
