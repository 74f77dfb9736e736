// Shared pieces of the fault and fuzz tests: liveness bounds, framing, an in-process echo server
// with its own BlockPool, a well-behaved raw client, and the check that an error carries a code.
// (Not a test file: it defines no tests.)
import type { AddressInfo } from 'node:net';
import { BlockPool } from '@nocopy/linkbuffer';
import { EventLoop, type Connection, type EventLoopOptions, type ListenOptions } from '@nocopy/transport';

export { sleep, within, until, frame, RawClient } from '@nocopy/test-kit';
import { until } from '@nocopy/test-kit';
import { lengthPrefixedEcho as echoFrames } from '../support.js';
export { echoFrames };



// outcome(): a promise's settled outcome; codeOf(): an error's stable code, or a failed test.
export { outcome, codeOf, type Outcome } from '@nocopy/test-kit';



export interface EchoServer {
  loop: EventLoop<unknown>;
  port: number;
  pool: BlockPool;
  /** conn.error code of every server-side connection that closed with an error ('' for a clean close). */
  closeCodes: string[];
  /** Errors reported to onError. */
  errors: unknown[];
}

/** An EventLoop echo server on 127.0.0.1:0 with its own BlockPool. */
export async function startEcho(options: EventLoopOptions<unknown> = {}, listen: ListenOptions = {}): Promise<EchoServer> {
  const pool = new BlockPool();
  const closeCodes: string[] = [];
  const errors: unknown[] = [];
  const loop = new EventLoop<unknown>(echoFrames, {
    pool,
    onError: (e) => errors.push(e),
    onPrepare: (conn: Connection<unknown>) => {
      conn.addCloseCallback((c) => {
        closeCodes.push(c.error === undefined ? '' : String((c.error as { code?: unknown }).code ?? (c.error as Error).message));
      });
      return undefined;
    },
    ...options,
  });
  const addr = (await loop.listen({ host: '127.0.0.1', port: 0, ...listen })) as AddressInfo;
  return { loop, port: addr.port, pool, closeCodes, errors };
}


/** Waits until the pool has exactly `baseline` bytes outstanding (the blocks of live connections). */
export async function poolBackTo(pool: BlockPool, baseline: number, what: string, ms = 3000): Promise<void> {
  await until(() => pool.stats().bytesOutstanding === baseline, () => `${what}: pool bytesOutstanding ${pool.stats().bytesOutstanding}, baseline ${baseline}`, ms);
}

/** Resident set size in MiB. */
export function rssMiB(): number {
  return process.memoryUsage().rss / (1024 * 1024);
}
