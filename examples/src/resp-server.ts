#!/usr/bin/env node
// A Redis-protocol (RESP2) server on the nocopy session API: the RESP codec turns each read into
// its whole commands, one onMessage per read runs them in order against an in-memory store and
// sends each reply. Replies of one read leave in one write. redis-cli and redis-benchmark drive it.
import { createSessionServer, type Session } from '@nocopy/transport';
import { ErrorReply, type RespCommands, RespProtocolError, type RespReply, Store, respCodec } from './resp/index.js';
import { runServer } from './cli.js';

const USAGE = `Usage: node examples/dist/resp-server.js [--port 6380] [--host 127.0.0.1]

A Redis-protocol server (RESP2, inline and multibulk) with PING, ECHO, SET, GET, DEL, INCR, MGET
and EXISTS over one in-memory key space. SIGINT or SIGTERM stops it.
`;

export function createRespServer(store = new Store()) {
  return createSessionServer<RespCommands, RespReply>({
    codec: respCodec(),
    listener: {
      // Synchronous: the codec reuses `commands` for the next read of any session.
      onMessage(session: Session<RespCommands, RespReply>, commands: RespCommands) {
        for (let i = 0; i < commands.count; i++) void session.send(store.execute(commands, i));
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
