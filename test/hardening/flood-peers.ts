// A child process of the flood test: `peers` connections to 127.0.0.1:port that each send a
// 4-byte length prefix and then `mib` MiB of a message that never completes, then stall. Prints one
// JSON line when every connection has been closed by the server (or after `deadline` ms): for each
// peer, when it connected and when it saw the close, in ms since the process started.
// (Not a test file.)
import net from 'node:net';

const [port, peers, mib, declared, deadline] = process.argv.slice(2).map(Number) as [number, number, number, number, number];
const t0 = performance.now();
const chunk = Buffer.alloc(1024 * 1024, 0x41);
const results: { connected: number; closed: number; sent: number }[] = [];
let open = 0;

for (let i = 0; i < peers; i++) {
  const r = { connected: -1, closed: -1, sent: 0 };
  results.push(r);
  open++;
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  s.on('close', () => {
    r.closed = performance.now() - t0;
    if (--open === 0) finish();
  });
  s.on('connect', async () => {
    r.connected = performance.now() - t0;
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(declared);
    s.write(prefix);
    for (let k = 0; k < mib && !s.destroyed; k++) {
      r.sent += chunk.length;
      if (!s.write(chunk)) await new Promise((resolve) => s.once('drain', resolve).once('close', resolve));
    }
  });
}

let done = false;
function finish(): void {
  if (done) return;
  done = true;
  process.stdout.write(`${JSON.stringify(results)}\n`);
  process.exit(0);
}
setTimeout(finish, deadline).unref();
