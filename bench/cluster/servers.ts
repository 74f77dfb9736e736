// The servers of bench/cluster, built the same way in a plain process and in a cluster worker:
//   rpc  — nocopy-rpc (framing 'framed') with `echo` (what bench/rpc measures)
//   echo — an EventLoop echoing 4-byte-length-prefixed frames (what bench/echo measures)
import { EventLoop, lengthField } from '@nocopy/transport';
import { createServer } from '@nocopy/rpc-demo';

export type Kind = 'rpc' | 'echo';

export interface BenchServer {
  serve(server: import('node:net').Server): unknown;
  listen(o: { port: number; host: string }): Promise<unknown>;
  address(): unknown;
  shutdown(o?: { timeout?: number }): Promise<unknown>;
}

export function makeServer(kind: Kind): BenchServer {
  if (kind === 'rpc') {
    const server = createServer({ framing: 'framed' });
    server.register('echo', (payload: Buffer) => payload);
    return server;
  }
  const frames = lengthField({ maxFrameLength: 1 << 20 });
  return new EventLoop((_ctx, conn) => {
    let f: Buffer | undefined;
    while ((f = frames.decode(conn.reader)) !== undefined) frames.encode(f, conn.writer);
    return conn.writer.flush();
  });
}
