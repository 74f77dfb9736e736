// The cluster tests' echo server: an EventLoop that greets each connection with "<slot> <pid>\n"
// (so a test knows which worker took it) and then echoes every line.
import { EventLoop, delimiter } from '@nocopy/transport';

export function greetingEcho(slot: number): EventLoop {
  const lines = delimiter({ delimiter: '\n', maxFrameLength: 1 << 16 });
  return new EventLoop(
    (_ctx, conn) => {
      let line: Buffer | undefined;
      while ((line = lines.decode(conn.reader)) !== undefined) lines.encode(line, conn.writer);
      return conn.writer.flush();
    },
    {
      onConnect: (_ctx, conn) => {
        conn.writer.writeString(`${slot} ${process.pid}\n`);
        return conn.writer.flush().then(() => undefined);
      },
    },
  );
}
