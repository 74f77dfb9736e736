#!/usr/bin/env node
// tao's chat example on the nocopy session API: line-based, every line a client sends goes to every
// other client as "<name>: <line>". A heartbeat line every 10 s keeps idle clients alive, and a
// client silent for 30 s (no line, no heartbeat reply) is closed. Try it with two `nc` windows.
import { AttributeKey, type Session, createSessionServer, delimiter, mapFrames } from '@nocopy/transport';
import { runServer } from './cli.js';

const USAGE = `Usage: node examples/dist/chat-server.js [--port 7000] [--host 127.0.0.1]

A chat server: connect with \`nc 127.0.0.1 7000\`, type a line; every other client sees it.
"/nick NAME" sets your name, "/who" lists who is here. SIGINT or SIGTERM stops it.
`;

const kName = new AttributeKey<string>('name');
const MAX_LINE = 4096;

export interface ChatOptions {
  /** Heartbeat interval in ms (a "." line to each client). Default 10000. */
  heartbeat?: number;
  /** Close a client that sent nothing for this long, in ms. Default 3 x heartbeat. */
  timeout?: number;
}

export function createChatServer(options: ChatOptions = {}) {
  const interval = options.heartbeat ?? 10_000;
  const lines = mapFrames<string>(delimiter({ delimiter: '\n', maxFrameLength: MAX_LINE }), {
    decode: (f) => f.toString('utf8').replace(/\r$/, ''),
    encode: (m) => Buffer.from(m, 'utf8'),
  }, MAX_LINE);
  const server = createSessionServer<string>({
    codec: lines,
    heartbeat: { interval, timeout: options.timeout ?? 3 * interval, message: '.' },
    listener: {
      onOpen(s: Session<string>) {
        s.attributes.set(kName, `guest${s.id}`);
        void s.send(`* welcome, ${s.attributes.get(kName)}; ${server.size - 1} other(s) here`);
        server.broadcast(`* ${s.attributes.get(kName)} joined`, (o) => o !== s);
      },
      onMessage(s, line) {
        const name = s.attributes.get(kName)!;
        if (line === '' || line === '.') return; // empty lines and heartbeat replies
        if (line.startsWith('/nick ')) {
          const nick = line.slice(6).trim().slice(0, 32);
          if (!/^[\w.-]+$/.test(nick)) return void s.send('* a name is letters, digits, "_", "." or "-"');
          s.attributes.set(kName, nick);
          server.broadcast(`* ${name} is now ${nick}`);
          return;
        }
        if (line === '/who') {
          const names = [...server.sessions()].map((o) => o.attributes.get(kName)).join(', ');
          return void s.send(`* here: ${names}`);
        }
        server.broadcast(`${name}: ${line}`, (o) => o !== s);
      },
      onClose(s) {
        server.broadcast(`* ${s.attributes.get(kName)} left`, (o) => o !== s);
      },
    },
  });
  return server;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runServer('chat-server', USAGE, 7000, () => createChatServer());
}
