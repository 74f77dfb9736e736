#!/usr/bin/env node
// A Redis-protocol (RESP2) server on the nocopy session API: the RESP codec turns each read into
// its whole commands, and one onMessage per read sends them as one Replies, whose encode runs them
// in order against an in-memory store and writes each reply. Replies of one read leave in one write. redis-cli and redis-benchmark drive it.
import { createSessionServer, type Session } from '@nocopy/transport';
import { ErrorReply, Replies, type RespCommands, type RespOut, RespProtocolError, Store, respCodec } from './resp/index.js';
import { runServer } from './cli.js';

const USAGE = `Usage: node examples/dist/resp-server.js [--port 6380] [--host 127.0.0.1]

A Redis-protocol server (RESP2, inline and multibulk) with PING, ECHO, SET, GET, DEL, INCR, MGET
and EXISTS over one in-memory key space. SIGINT or SIGTERM stops it.
`;

export function createRespServer(store = new Store()) {
  const replies = new Replies(store);
  return createSessionServer<RespCommands, RespOut>({
    codec: respCodec(),
    listener: {
      // Synchronous: the codec reuses `commands` for the next read of any session. One send per
      // read: its encode runs the commands and writes their replies.
      onMessage(session: Session<RespCommands, RespOut>, commands: RespCommands) {
        replies.commands = commands;
        void session.send(replies);
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
