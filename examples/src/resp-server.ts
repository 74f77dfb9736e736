#!/usr/bin/env node
// A Redis-protocol (RESP2) server on the nocopy session API: the RESP codec turns input into
// commands, one onMessage per command runs it against an in-memory store and sends the reply.
// Replies of one read leave in one write. redis-cli and redis-benchmark drive it.
import { createSessionServer, type Session } from '@nocopy/transport';
import { ErrorReply, RespProtocolError, type RespReply, Store, respCodec } from './resp/index.js';
import { runServer } from './cli.js';

const USAGE = `Usage: node examples/dist/resp-server.js [--port 6380] [--host 127.0.0.1]

A Redis-protocol server (RESP2, inline and multibulk) with PING, ECHO, SET, GET, DEL, INCR, MGET
and EXISTS over one in-memory key space. SIGINT or SIGTERM stops it.
`;

export function createRespServer(store = new Store()) {
  return createSessionServer<Buffer[], RespReply>({
    codec: respCodec(),
    listener: {
      onMessage(session: Session<Buffer[], RespReply>, args: Buffer[]) {
        void session.send(store.execute(args));
      },
      onError(session, error) {
        // As Redis does: the client is told why, then the connection closes.
        if (error instanceof RespProtocolError) void session.send(new ErrorReply(`ERR ${error.message}`));
      },
    },
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runServer('resp-server', USAGE, 6380, () => createRespServer());
}
