// The peers of session-scale.test: a child process (its own file descriptors) that opens N plain
// TCP connections to the port in argv, answers each heartbeat line with "pong", and on the "mute"
// message stops answering on the odd-numbered half. Opens them 500 at a time, each batch once the
// server has answered every connection of the one before. Reports over IPC: { open } once open,
// { heartbeats, closed } on "report". A connection error while opening rejects the top-level await:
// the process exits non-zero, and the test sees that at once.
import net from 'node:net';

const port = Number(process.argv[2]);
const n = Number(process.argv[3]);
let muted = false;
let heartbeats = 0;
let closed = 0;
const sockets: net.Socket[] = [];

/**
 * Resolves at the connection's first heartbeat: the server has accepted it and opened its session.
 * (Resolving at 'connect' let 10,000 connects outrun a busy server's accepts: past the listen
 * backlog the kernel drops the handshake's last ACK and the server sees the connection only after
 * SYN-ACK retries, up to minutes later.)
 */
function open(i: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.setEncoding('latin1');
    s.on('data', (text: string) => {
      resolve();
      for (let j = text.indexOf('\n'); j >= 0; j = text.indexOf('\n', j + 1)) heartbeats++;
      if (!(muted && i % 2 === 1)) s.write('pong\n');
    });
    s.on('error', reject);
    s.on('close', () => void closed++);
    sockets.push(s);
  });
}

for (let i = 0; i < n; i += 500) {
  await Promise.all(Array.from({ length: Math.min(500, n - i) }, (_, k) => open(i + k)));
}
process.send!({ open: sockets.length });
process.on('message', (m: string) => {
  if (m === 'mute') muted = true;
  if (m === 'report') process.send!({ heartbeats, closed });
  if (m === 'exit') {
    for (const s of sockets) s.destroy();
    process.exit(0);
  }
});
