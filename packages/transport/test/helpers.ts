// Shared fixtures for the transport tests: real sockets on 127.0.0.1 port 0, never mocks.
// (Node's runner also loads this file when given the whole directory; it defines no tests.)
import type { AddressInfo } from 'node:net';
import { EventLoop, type EventLoopOptions, type ListenOptions, type OnRequest, lengthField } from '../src/index.js';
import { frameEcho } from '@nocopy/test-kit';

export { sleep, within, until, deferred, frame, RawClient, readFrameFrom, freePort, rng } from '@nocopy/test-kit';

/** The tests' frames: a 4-byte big-endian length, then the payload (large enough for every test). */
export const frames = lengthField({ maxFrameLength: 1 << 30 });

/** Length-prefixed echo: every complete frame goes back; a partial frame waits. */
export const echoFrames: OnRequest<any> = frameEcho(frames);


/** `n` deterministic pseudo-random bytes for `seed` (so every byte of an echo can be verified). */
export function pattern(n: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = (seed * 2654435761 + 1) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}





export interface Served<C> {
  loop: EventLoop<C>;
  port: number;
}

/** An EventLoop listening on 127.0.0.1:0. */
export async function serve<C = unknown>(
  onRequest: OnRequest<C>,
  options: EventLoopOptions<C> = {},
  listen: ListenOptions = {},
): Promise<Served<C>> {
  const loop = new EventLoop<C>(onRequest, options);
  const addr = (await loop.listen(listen)) as AddressInfo;
  return { loop, port: addr.port };
}

// assertAllBack(pool): every block taken from a pool is back.
export { assertAllBack } from '@nocopy/test-kit';

