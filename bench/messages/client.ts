// The load client of bench/messages, a process of its own: `node client.js ws|udp PORT CONNS INFLIGHT SIZE SECONDS`.
// Each connection (WebSocket) or socket (UDP) keeps INFLIGHT messages of SIZE bytes in flight and
// sends one more for each reply; replies are checked for length. Prints one JSON line:
// { messages, seconds, rate, sent, lost, cpuPercent }. For UDP, `lost` counts datagrams sent and not
// answered by the end (after a 200 ms grace); a lost datagram's slot is refilled after 50 ms.
import dgram from 'node:dgram';
import { WebSocket } from 'ws';
import { measureWindow } from '../lib/window.js';

const [kind, portText, connsText, inflightText, sizeText, secondsText] = process.argv.slice(2);
const port = Number(portText);
const conns = Number(connsText);
const inflight = Number(inflightText);
const size = Number(sizeText);
const seconds = Number(secondsText);
const payload = Buffer.alloc(size, 0x61);
let received = 0;
let sent = 0;
let bad = 0;
let measuring = false;
let measured = 0;

async function ws(): Promise<() => void> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < conns; i++) {
    const s = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
    await new Promise<void>((r, j) => {
      s.once('open', () => r());
      s.once('error', j);
    });
    s.on('message', (d: Buffer) => {
      if (d.length !== size) bad++;
      received++;
      if (measuring) measured++;
      sent++;
      s.send(payload);
    });
    sockets.push(s);
  }
  for (const s of sockets) for (let k = 0; k < inflight; k++) {
    sent++;
    s.send(payload);
  }
  return () => sockets.forEach((s) => s.terminate());
}

async function udp(): Promise<() => void> {
  const socks: dgram.Socket[] = [];
  for (let i = 0; i < conns; i++) {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.connect(port, '127.0.0.1', () => r()));
    s.setRecvBufferSize(1 << 20);
    let outstanding = 0;
    let last = Date.now();
    const send = () => {
      outstanding++;
      sent++;
      s.send(payload);
    };
    s.on('message', (d) => {
      if (d.length !== size) bad++;
      received++;
      if (measuring) measured++;
      outstanding--;
      last = Date.now();
      send();
    });
    // A window that lost datagrams is refilled after a quiet 50 ms: loss is counted, not stalled on.
    setInterval(() => {
      if (Date.now() - last > 50) while (outstanding < inflight) send();
    }, 25).unref();
    for (let k = 0; k < inflight; k++) send();
    socks.push(s);
  }
  return () => socks.forEach((s) => s.close());
}

const stop = await (kind === 'ws' ? ws() : udp());
const { seconds: wall, cpuPercent } = await measureWindow(500, seconds * 1000, () => (measuring = true), () => (measuring = false));
await new Promise((r) => setTimeout(r, 200));
const lost = sent - received - conns * inflight;
stop();
process.stdout.write(`${JSON.stringify({ messages: measured, seconds: wall, rate: measured / wall, sent, lost: Math.max(0, lost), bad, cpuPercent })}\n`);
process.exit(0);
