// Random payloads for the soak, and the comparison that verifies what came back.
import { randomBytes } from 'node:crypto';

/** 4 MiB of random bytes; binary payloads are views of it at random offsets (never mutated). */
export const RANDOM: Buffer = randomBytes(4 * 1024 * 1024);

export function rand(n: number): number {
  return Math.floor(Math.random() * n);
}

export function chance(p: number): boolean {
  return Math.random() < p;
}

export function pick<T>(items: readonly T[]): T {
  return items[rand(items.length)]!;
}

/** Mostly small, sometimes tens of KiB, rarely up to 1 MiB. */
export function payloadSize(): number {
  const r = Math.random();
  if (r < 0.7) return rand(1025);
  if (r < 0.97) return 1024 + rand(63 * 1024);
  return 64 * 1024 + rand(960 * 1024);
}

/** A view of `n` random bytes. */
export function randomSlice(n: number): Buffer {
  const off = rand(RANDOM.length - n + 1);
  return RANDOM.subarray(off, off + n);
}

const CHARS = ['a', 'z', '0', ' ', 'é', 'ß', '中', '文', '😀', '\u0000', '"', '\\'];

function randomString(max: number): string {
  const n = rand(max + 1);
  let s = '';
  for (let i = 0; i < n; i++) s += pick(CHARS);
  return s;
}

/** A MessagePack-encodable value: strings, integers, floats, booleans, null, bytes, arrays and maps. */
export function randomValue(depth = 0): unknown {
  const r = rand(depth >= 3 ? 7 : 9);
  switch (r) {
    case 0:
      return randomString(40);
    case 1:
      return rand(2 ** 31) - 2 ** 30;
    case 2:
      return rand(1e6) / 64 - 7000.5;
    case 3:
      return chance(0.5);
    case 4:
      return null;
    case 5:
      return Buffer.from(randomSlice(rand(2048)));
    case 6:
      return randomString(2000);
    case 7: {
      const n = rand(6);
      const out: unknown[] = [];
      for (let i = 0; i < n; i++) out.push(randomValue(depth + 1));
      return out;
    }
    default: {
      const n = rand(6);
      const out: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) out[`k${rand(1000)}`] = randomValue(depth + 1);
      return out;
    }
  }
}

/** Deep equality where byte arrays (Buffer or Uint8Array) compare by content. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => sameValue(x, bb[i]));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
