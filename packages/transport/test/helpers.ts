// Shared fixtures for the transport tests: real sockets on 127.0.0.1 port 0, never mocks.
// (Node's runner also loads this file when given the whole directory; it defines no tests.)
import type { AddressInfo } from 'node:net';
import { EventLoop, type Connection, type EventLoopOptions, type ListenOptions, type OnRequest, lengthField } from '../src/index.js';
import { RawClient, frameEcho } from '@nocopy/test-kit';

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

/** What a probe connection sends first (see withProbe). */
const PROBE = 'P';

/**
 * `onRequest`, except on probe connections (their first byte is 'P'), which echo whatever they
 * get. For a test that must show something does NOT happen: probeRoundTrips() on the same loop
 * is then the positive sign that it would have happened by now, instead of a wall-clock wait.
 */
export function withProbe<C>(onRequest: OnRequest<C>): OnRequest<C> {
  const probes = new WeakSet<Connection<C>>();
  return (ctx, conn) => {
    if (!probes.has(conn) && conn.reader.length > 0 && conn.reader.peekUint8() === PROBE.charCodeAt(0)) probes.add(conn);
    if (!probes.has(conn)) return onRequest(ctx, conn);
    conn.writer.writeBinary(Buffer.from(conn.reader.readString(conn.reader.length)));
    return conn.writer.flush();
  };
}

/**
 * Round trips on a probe connection to a loop served withProbe(): the loop has read, dispatched
 * and written since, so a call, spin or close it had queued before would have happened by now.
 */
export async function probeRoundTrips(port: number, n = 3): Promise<void> {
  const probe = await RawClient.connect(port);
  try {
    for (let i = 0; i < n; i++) {
      await probe.write(PROBE);
      if ((await probe.read(1)).toString() !== PROBE) throw new Error('the probe connection did not echo');
    }
  } finally {
    probe.destroy();
  }
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

